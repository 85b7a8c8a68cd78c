"""Apps depend in one direction (pyproject's import-linter contract, also `lint-imports`): core at the
bottom, marketplace and sandbox above it, payments and vetting above those, acceptance (which puts vetting's
evaluation under milestones) on top; siblings never import each other.
Every import counts, those inside functions too."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import grimp
import pytest
from django.conf import settings

CONFIG = tomllib.loads((Path(settings.BASE_DIR) / "pyproject.toml").read_text())["tool"]["importlinter"]


def layers() -> list[grimp.Layer]:
    (contract,) = CONFIG["contracts"]
    return [grimp.Layer(*(name.strip() for name in layer.split("|"))) for layer in contract["layers"]]


def illegal(graph: grimp.ImportGraph) -> list[str]:
    return sorted(
        f"{dependency.importer} -> {dependency.imported}"
        for dependency in graph.find_illegal_dependencies_for_layers(layers=layers())
    )


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*CONFIG["root_packages"], include_external_packages=False)


def test_no_app_imports_a_higher_one_or_a_sibling(graph):
    assert illegal(graph) == []


def test_the_check_sees_an_upward_or_sideways_import(graph):
    upward = copy.deepcopy(graph)
    upward.add_import(
        importer="marketplace.matching", imported="vetting.models", line_number=1, line_contents=""
    )
    assert illegal(upward) == ["marketplace -> vetting"]
    sideways = copy.deepcopy(graph)
    sideways.add_import(importer="payments.tasks", imported="vetting.tasks", line_number=1, line_contents="")
    assert illegal(sideways) == ["payments -> vetting"]
