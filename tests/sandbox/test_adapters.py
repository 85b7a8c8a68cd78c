"""Uploaded-adapter validation: a real adapter (trained by the engine on the tiny model) passes, and
each hostile variant is refused with a reason that names the problem, without unpickling anything."""

# The fixtures are imported from engine_fixtures (tests/sandbox/conftest.py is shared), so their
# names are redefined as test parameters on purpose.

from __future__ import annotations

import json
import pickle
import shutil
import struct
from pathlib import Path

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from safetensors.torch import load_file, save_file

from sandbox.adapters import AdapterLimits, AdapterRejected, store_uploaded_adapter, validate_adapter_dir

LIMITS = AdapterLimits(max_rank=64, max_bytes=16 * 1024 * 1024, max_header_bytes=64 * 1024)
A_TENSOR = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"


class Boom:
    """Unpickling this creates a file: proof that nothing was unpickled is that the file is absent."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (open, (str(self.sentinel), "w"))


@pytest.fixture
def adapter(adapter_dir, tmp_path) -> Path:
    """A writable copy of the engine's adapter."""
    return Path(shutil.copytree(adapter_dir, tmp_path / "adapter"))


@pytest.fixture(autouse=True)
def _no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


def edit_config(folder: Path, **changes) -> None:
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def edit_tensors(folder: Path, edit) -> None:
    path = folder / "adapter_model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)


def rejection(folder: Path, base: Path, limits: AdapterLimits = LIMITS) -> list[str]:
    with pytest.raises(AdapterRejected) as caught:
        validate_adapter_dir(folder, base, limits)
    return caught.value.problems


def test_the_engines_adapter_is_accepted(adapter, tiny_model_dir):
    (adapter / "README.md").write_text("a model card")
    info = validate_adapter_dir(adapter, tiny_model_dir, LIMITS)
    assert info.rank == 8 and info.alpha == 16.0
    assert info.tensors == 2 * 7 * 2  # layers x linear modules x (A, B)
    assert info.size_bytes == (adapter / "adapter_model.safetensors").stat().st_size


def test_a_pickle_is_refused_by_name_and_never_opened(adapter, tiny_model_dir, tmp_path):
    sentinel = tmp_path / "unpickled"
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(Boom(sentinel)))
    (adapter / "adapter_model.safetensors").unlink()
    problems = rejection(adapter, tiny_model_dir)
    assert any(p.startswith("adapter_model.bin: pickle files are not accepted") for p in problems)
    assert "adapter_model.safetensors is missing" in problems
    assert not sentinel.exists()


def test_wrong_shapes_are_refused(adapter, tiny_model_dir):
    edit_tensors(adapter, lambda t: t.update({A_TENSOR: torch.zeros(8, 65)}))
    problems = rejection(adapter, tiny_model_dir)
    assert problems == [f"tensor {A_TENSOR!r} has shape [8, 65], expected [8, 64]"]


def test_missing_and_unexpected_tensors_are_refused(adapter, tiny_model_dir):
    def edit(tensors):
        del tensors[A_TENSOR]
        tensors["base_model.model.model.embed_tokens.weight"] = torch.zeros(512, 64)

    edit_tensors(adapter, edit)
    problems = rejection(adapter, tiny_model_dir)
    assert "unexpected tensor 'base_model.model.model.embed_tokens.weight'" in problems
    assert f"missing tensor {A_TENSOR!r}" in problems


def test_unknown_keys_and_hooks_are_refused_together(adapter, tiny_model_dir):
    edit_config(
        adapter,
        evil_hook="os.system",
        modules_to_save=["lm_head"],
        auto_mapping={"base_model_class": "Popen", "parent_library": "subprocess"},
        peft_type="PREFIX_TUNING",
    )
    problems = rejection(adapter, tiny_model_dir)
    assert "adapter_config.json: unknown key 'evil_hook'" in problems
    assert any("modules_to_save is not allowed" in p for p in problems)
    assert any("auto_mapping is not allowed" in p for p in problems)
    assert any("peft_type must be LORA" in p for p in problems)


def test_rank_cap_and_unknown_targets(adapter, tiny_model_dir):
    assert any(
        "above the rank cap of 4" in p for p in rejection(adapter, tiny_model_dir, AdapterLimits(max_rank=4))
    )
    edit_config(adapter, target_modules=["fc1"])
    assert "target module 'fc1' is not a linear layer of the base model" in rejection(adapter, tiny_model_dir)
    edit_config(adapter, target_modules=".*")
    assert any("a regular expression is not accepted" in p for p in rejection(adapter, tiny_model_dir))


def test_an_oversized_header_is_refused_before_it_is_read(adapter, tiny_model_dir):
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    problems = rejection(adapter, tiny_model_dir)
    assert problems == [
        f"adapter_model.safetensors: the header declares {10**12} bytes, above the cap of {LIMITS.max_header_bytes}"
    ]


def test_a_deeply_nested_config_or_header_is_refused_not_a_crash(adapter, tiny_model_dir):
    (adapter / "adapter_config.json").write_text("[" * 50_000)
    nested = b'{"a": ' * 10_000  # within the header cap
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(struct.pack("<Q", len(nested)) + nested)
    assert rejection(adapter, tiny_model_dir) == [
        "adapter_config.json is nested more than 32 levels deep",
        "adapter_model.safetensors: the header is nested more than 32 levels deep",
    ]


def test_a_malformed_header_and_bad_offsets_are_refused(adapter, tiny_model_dir):
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(struct.pack("<Q", 5) + b"nope!")
    assert rejection(adapter, tiny_model_dir) == [
        "adapter_model.safetensors: the header is not valid JSON: Expecting value at column 1"
    ]
    header = json.dumps({A_TENSOR: {"dtype": "F32", "shape": [8, 64], "data_offsets": [0, 10**9]}}).encode()
    weights.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)
    assert any("data offsets do not match" in p for p in rejection(adapter, tiny_model_dir))


def test_size_cap_and_non_finite_values(adapter, tiny_model_dir):
    small = AdapterLimits(max_rank=64, max_bytes=1000, max_header_bytes=64 * 1024)
    assert any("above the cap of 1000" in p for p in rejection(adapter, tiny_model_dir, small))
    edit_tensors(adapter, lambda t: t[A_TENSOR].__setitem__((0, 0), float("nan")))
    assert rejection(adapter, tiny_model_dir) == [f"tensor {A_TENSOR!r} holds NaN or infinite values"]


def test_a_symlink_is_refused(adapter, tiny_model_dir, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    (adapter / "adapter_config.json").unlink()
    (adapter / "adapter_config.json").symlink_to(secret)
    assert "adapter_config.json: only plain files are accepted" in rejection(adapter, tiny_model_dir)


def test_uploads_are_stored_unread_then_checked(adapter_dir, tiny_model_dir, tmp_path):
    def upload(name: str, content: bytes) -> SimpleUploadedFile:
        return SimpleUploadedFile(name, content)

    good = [upload(p.name, p.read_bytes()) for p in adapter_dir.iterdir()]
    store_uploaded_adapter(good, tmp_path / "ok", LIMITS)
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == sorted(
        p.name for p in adapter_dir.iterdir()
    )
    assert validate_adapter_dir(tmp_path / "ok", tiny_model_dir, LIMITS).rank == 8

    hostile = [*good, upload("adapter_model.pt", b"\x80\x04pickle")]
    with pytest.raises(AdapterRejected) as caught:
        store_uploaded_adapter(hostile, tmp_path / "bad", LIMITS)
    assert caught.value.problems[0].startswith("adapter_model.pt: pickle files are not accepted")
    assert not (tmp_path / "bad").exists()

    oversized = [
        upload("adapter_config.json", b"{}"),
        upload("adapter_model.safetensors", b"x" * (LIMITS.max_bytes + 1)),
    ]
    with pytest.raises(AdapterRejected):
        store_uploaded_adapter(oversized, tmp_path / "big", LIMITS)
    assert not (tmp_path / "big").exists()

    # Stored unread: a broken adapter is written, and the check that follows rejects it.
    broken = [upload("adapter_config.json", b"{}"), upload("adapter_model.safetensors", b"x" * 16)]
    store_uploaded_adapter(broken, tmp_path / "broken", LIMITS)
    with pytest.raises(AdapterRejected):
        validate_adapter_dir(tmp_path / "broken", tiny_model_dir, LIMITS)
