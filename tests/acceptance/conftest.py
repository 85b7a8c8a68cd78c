"""Acceptance fixtures: the tiny base model registered for the pipeline (the vetting pipeline's), its
settings, and a real LoRA adapter of the tiny model."""

from __future__ import annotations

import pytest

from tests.vetting.test_pipeline_support import (  # noqa: F401 - fixtures
    pipeline_settings,
    start_pipeline_worker,
    tiny_adapter_files,
    tiny_model_dir,
)


@pytest.fixture
def acceptance_settings(pipeline_settings):  # noqa: F811
    pipeline_settings.VETTING_SECRET_SEED = "test-secret-seed"
    pipeline_settings.VETTING_BOOTSTRAP_RESAMPLES = 300
    return pipeline_settings


@pytest.fixture(scope="session")
def adapter_bytes(tiny_model_dir, tmp_path_factory) -> dict[str, bytes]:  # noqa: F811
    uploads = tiny_adapter_files(tiny_model_dir, tmp_path_factory.mktemp("delivered-adapter"))
    return {upload.name: upload.data for upload in uploads}
