"""The base-model registry: names, clear errors, local folders from settings, linear-layer facts,
and (marked slow, about 20 s) the real conversion of the packaged GGUF through `prepare_models`."""

# The fixtures are imported from engine_fixtures (tests/sandbox/conftest.py is shared), so their
# names are redefined as test parameters on purpose.
# ruff: noqa: F811

from __future__ import annotations

import json
import re

import pytest
import torch
from django.core.management import call_command
from transformers import AutoModelForCausalLM, AutoTokenizer

from sandbox import registry
from tests.sandbox.engine_fixtures import tiny_model_dir  # noqa: F401 - fixture


@pytest.fixture
def cache(settings, tmp_path):
    settings.SANDBOX_MODEL_CACHE_DIR = tmp_path / "models"
    settings.BASE_MODELS_EXTRA = {}
    return settings.SANDBOX_MODEL_CACHE_DIR


def test_unknown_and_unprepared_models_say_what_to_do(cache):
    with pytest.raises(
        registry.BaseModelError, match=re.escape("unknown base model 'gpt-5'; registered: smollm2-")
    ):
        registry.base_model_dir("gpt-5")
    with pytest.raises(
        registry.BaseModelError, match=re.escape("is not prepared; run `python manage.py prepare_models`")
    ):
        registry.base_model_dir(registry.DEFAULT_BASE_MODEL)
    assert not registry.is_prepared(registry.DEFAULT_BASE_MODEL)


def test_local_folders_are_registered_by_setting(cache, settings, tiny_model_dir, tmp_path):
    settings.BASE_MODELS_EXTRA = {"tiny": str(tiny_model_dir), "missing": str(tmp_path / "nowhere")}
    assert set(registry.registry()) == {registry.DEFAULT_BASE_MODEL, "tiny", "missing"}
    assert registry.base_model_dir("tiny") == tiny_model_dir
    assert registry.prepare("tiny").converted is False
    with pytest.raises(registry.BaseModelError, match="holds no checkpoint"):
        registry.base_model_dir("missing")


def test_a_model_reached_through_a_link_is_given_by_its_real_path(settings, tiny_model_dir, tmp_path):
    # A job's sandbox binds the folder it is given; a link's own path would not exist inside it.
    (tmp_path / "linked").symlink_to(tiny_model_dir, target_is_directory=True)
    settings.BASE_MODELS_EXTRA = {"linked": str(tmp_path / "linked")}
    assert registry.base_model_dir("linked") == tiny_model_dir.resolve()


def test_linear_layers_come_from_the_config_alone(tiny_model_dir):
    layers = registry.linear_layers(tiny_model_dir)
    assert layers["model.layers.0.self_attn.q_proj"] == (64, 64)
    assert layers["model.layers.1.self_attn.k_proj"] == (32, 64)  # 2 key/value heads of 16
    assert layers["model.layers.1.mlp.down_proj"] == (64, 128)
    assert layers["lm_head"] == (512, 64)
    assert len(layers) == 2 * 7 + 1


@pytest.mark.slow
@pytest.mark.needs("smollm2-wheel")
def test_prepare_models_converts_the_packaged_gguf_once(cache, capsys):
    call_command("prepare_models")
    assert "prepared in" in capsys.readouterr().out
    folder = registry.base_model_dir(registry.DEFAULT_BASE_MODEL)
    assert folder == cache / registry.DEFAULT_BASE_MODEL
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert (folder / "model.safetensors").stat().st_mode & 0o044 == 0o044  # readable by the sandbox

    call_command("prepare_models")  # idempotent: found, not converted again
    assert "already prepared" in capsys.readouterr().out

    # The dequantized weights are the real model's: it knows the answer, greedily.
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        output = model.generate(**encoded, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(output[0, encoded["input_ids"].shape[1] :])
