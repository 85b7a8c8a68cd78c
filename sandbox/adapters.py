"""Validation of uploaded LoRA adapters, before anything loads them.

An adapter is two files: `adapter_config.json` and `adapter_model.safetensors`. Everything else is
refused, pickles by name (they are never opened: unpickling runs code). The config's keys are
allow-listed, each with the values it may take; the options that would replace base-model layers
(`modules_to_save`), import code (`auto_mapping`, `megatron_core`) or change what loading does are
refused. The safetensors header is parsed here, by hand, with its length capped before it is read;
then every tensor name, dtype and shape is compared with what a LoRA of that config on the chosen
base model has, and the data is read with safetensors (never torch.load) to refuse NaN or infinity.

`AdapterRejected.problems` lists every problem found, each a sentence a user can act on.
"""

from __future__ import annotations

import math
import re
import shutil
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core import jsonsafe
from sandbox.registry import linear_layers

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
IGNORED_NAMES = frozenset({"README.md"})  # written by peft's save_pretrained; never read
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2}
MAX_CONFIG_BYTES = 64 * 1024
MAX_LISTED = 20
_MODULE_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


class AdapterRejected(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("adapter rejected: " + "; ".join(problems))


@dataclass(frozen=True)
class AdapterLimits:
    max_rank: int = 64
    max_bytes: int = 256 * 1024 * 1024  # the safetensors file
    max_header_bytes: int = 1024 * 1024

    @classmethod
    def from_settings(cls) -> AdapterLimits:
        from django.conf import settings

        return cls(
            max_rank=settings.ADAPTER_MAX_RANK,
            max_bytes=settings.ADAPTER_MAX_BYTES,
            max_header_bytes=settings.ADAPTER_MAX_HEADER_BYTES,
        )


@dataclass(frozen=True)
class AdapterInfo:
    rank: int
    alpha: float
    target_modules: list[str]
    tensors: int
    parameters: int
    size_bytes: int


# --- adapter_config.json --------------------------------------------------------------------------


def _null(message: str) -> Callable[[Any], str | None]:
    return lambda value: None if value is None else message


def _empty(message: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in (None, [], {}) else message


def _false(key: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in (False, None) else f"{key} must be false (not supported)"


def _boolean(key: str) -> Callable[[Any], str | None]:
    return lambda value: None if isinstance(value, bool) else f"{key} must be true or false"


def _short_string(key: str, *, nullable: bool = True) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        return None if isinstance(value, str) and len(value) <= 300 else f"{key} must be a short string"

    return check


def _rank(limits: AdapterLimits) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return "r (the LoRA rank) must be a positive integer"
        return None if value <= limits.max_rank else f"r = {value} is above the rank cap of {limits.max_rank}"

    return check


def _number(key: str, low: float, high: float, *, low_open: bool) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        if ok:
            ok = (value > low if low_open else value >= low) and value <= high
        return None if ok else f"{key} must be a number in {'(' if low_open else '['}{low}, {high}]"

    return check


def _target_list(value: Any) -> str | None:
    if not isinstance(value, list) or not value or len(value) > 4096:
        return (
            "target_modules must be a non-empty list of module names (a regular expression is not accepted)"
        )
    bad = [item for item in value if not isinstance(item, str) or not _MODULE_PATH.match(item)]
    return f"target_modules: {bad[0]!r} is not a module name" if bad else None


def config_rules(limits: AdapterLimits) -> dict[str, Callable[[Any], str | None]]:
    """Every key adapter_config.json may hold, with a check of its value (None means accepted).

    These are the keys peft 0.21 writes for a LoRA. Keys for features this platform does not run are
    accepted only with their neutral value, so that configs saved by peft load; any other key is refused.
    """
    return {
        "peft_type": lambda v: None if v == "LORA" else f"peft_type must be LORA, not {v!r}",
        "task_type": lambda v: None if v in ("CAUSAL_LM", None) else "task_type must be CAUSAL_LM",
        "r": _rank(limits),
        "lora_alpha": _number("lora_alpha", 0, 4096, low_open=True),
        "lora_dropout": _number("lora_dropout", 0, 1, low_open=False),
        "target_modules": _target_list,
        "bias": lambda v: (
            None if v in ("none", None) else "bias must be 'none' (bias training is not supported)"
        ),
        "use_rslora": _boolean("use_rslora"),
        "inference_mode": _boolean("inference_mode"),
        "init_lora_weights": _boolean("init_lora_weights"),  # strings (pissa, olora...) rewrite base weights
        "base_model_name_or_path": _short_string("base_model_name_or_path"),
        "revision": _short_string("revision"),
        "peft_version": _short_string("peft_version"),
        "modules_to_save": _empty(
            "modules_to_save is not allowed: it would replace whole layers of the base model"
        ),
        "auto_mapping": _null("auto_mapping is not allowed: it names classes to import"),
        "megatron_core": lambda v: (
            None if v in ("megatron.core", None) else "megatron_core names a module to import"
        ),
        "megatron_config": _null("megatron_config is not allowed"),
        "exclude_modules": _empty("exclude_modules is not supported"),
        "layers_to_transform": _null("layers_to_transform is not supported"),
        "layers_pattern": _null("layers_pattern is not supported"),
        "layer_replication": _null("layer_replication is not allowed: it rebuilds the base model's layers"),
        "rank_pattern": _empty("rank_pattern is not supported: use one rank"),
        "alpha_pattern": _empty("alpha_pattern is not supported: use one lora_alpha"),
        "loftq_config": _empty("loftq_config is not supported"),
        "eva_config": _null("eva_config is not supported"),
        "corda_config": _null("corda_config is not supported"),
        "lora_ga_config": _null("lora_ga_config is not supported"),
        "velora_config": _null("velora_config is not supported"),
        "monteclora_config": _null("monteclora_config is not supported"),
        "kasa_config": _null("kasa_config is not supported"),
        "arrow_config": _null("arrow_config is not supported"),
        "alora_invocation_tokens": _null("alora_invocation_tokens is not supported"),
        "trainable_token_indices": _null("trainable_token_indices is not allowed: it changes embeddings"),
        "target_parameters": _null("target_parameters is not supported"),
        "use_bdlora": _null("use_bdlora is not supported"),
        "use_dora": _false("use_dora"),
        "use_qalora": _false("use_qalora"),
        "lora_bias": _false("lora_bias"),
        "fan_in_fan_out": _false("fan_in_fan_out"),
        "ensure_weight_tying": _false("ensure_weight_tying"),
        "qalora_group_size": lambda v: (
            None if isinstance(v, int) and not isinstance(v, bool) else "bad qalora_group_size"
        ),
    }


def config_problems(config: Any, limits: AdapterLimits) -> list[str]:
    if not isinstance(config, dict):
        return [f"{CONFIG_NAME} must hold a JSON object"]
    rules = config_rules(limits)
    problems = [f"{CONFIG_NAME}: unknown key {key!r}" for key in config if key not in rules]
    for key, value in config.items():
        if key in rules and (problem := rules[key](value)):
            problems.append(f"{CONFIG_NAME}: {problem}")
    for required in ("peft_type", "r", "lora_alpha", "target_modules"):
        if required not in config:
            problems.append(f"{CONFIG_NAME}: {required} is missing")
    return problems


def targeted_layers(targets: list[str], layers: dict[str, tuple[int, int]]) -> tuple[list[str], list[str]]:
    """The base model's linear layers that peft would wrap, and the targets matching none.

    peft's rule: a module is wrapped when its path equals a target or ends with "." + target.
    """
    matched = [name for name in layers if any(name == t or name.endswith("." + t) for t in targets)]
    unmatched = [t for t in targets if not any(name == t or name.endswith("." + t) for name in layers)]
    return matched, unmatched


def expected_tensors(config: dict[str, Any], layers: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    """Tensor name -> shape of a LoRA with this config on this base model, as peft saves it."""
    matched, _ = targeted_layers(config["target_modules"], layers)
    rank = config["r"]
    shapes: dict[str, list[int]] = {}
    for name in matched:
        out_features, in_features = layers[name]
        shapes[f"base_model.model.{name}.lora_A.weight"] = [rank, in_features]
        shapes[f"base_model.model.{name}.lora_B.weight"] = [out_features, rank]
    return shapes


# --- adapter_model.safetensors --------------------------------------------------------------------


def read_safetensors_header(path: Path, limits: AdapterLimits) -> tuple[dict[str, Any], list[str]]:
    """Parse the header ourselves: an 8-byte little-endian length, then that many bytes of JSON.

    Returns the tensor entries and the problems found. The length is checked against the cap before
    a single byte of the header is read, and the offsets must tile the data exactly.
    """
    size = path.stat().st_size
    if size > limits.max_bytes:
        return {}, [f"{WEIGHTS_NAME} is {size} bytes, above the cap of {limits.max_bytes}"]
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return {}, [f"{WEIGHTS_NAME} is not a safetensors file (too short)"]
        (header_length,) = struct.unpack("<Q", prefix)
        if header_length > limits.max_header_bytes:
            return {}, [
                f"{WEIGHTS_NAME}: the header declares {header_length} bytes, above the cap of {limits.max_header_bytes}"
            ]
        if 8 + header_length > size:
            return {}, [f"{WEIGHTS_NAME}: the header runs past the end of the file"]
        raw = handle.read(header_length)
    try:
        header = jsonsafe.loads(raw)
    except jsonsafe.JSONInputError as exc:
        return {}, [f"{WEIGHTS_NAME}: the header is {exc}"]
    if not isinstance(header, dict):
        return {}, [f"{WEIGHTS_NAME}: the header is not a JSON object"]
    metadata = header.pop("__metadata__", None)
    problems = []
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        problems.append(f"{WEIGHTS_NAME}: __metadata__ must map strings to strings")
    problems += _check_layout(header, size - 8 - header_length)
    return header, problems


def _check_layout(header: dict[str, Any], data_bytes: int) -> list[str]:
    problems: list[str] = []
    spans: list[tuple[int, int]] = []
    for name, entry in header.items():
        where = f"{WEIGHTS_NAME}: tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            problems.append(f"{where} has a malformed entry")
            continue
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_BYTES:
            problems.append(f"{where} has dtype {dtype!r}; use F32, F16 or BF16")
            continue
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            problems.append(f"{where} has a malformed shape")
            continue
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            problems.append(f"{where} has malformed data offsets")
            continue
        begin, end = offsets
        if not 0 <= begin <= end <= data_bytes or end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
            problems.append(f"{where}: its data offsets do not match its shape and dtype")
            continue
        spans.append((begin, end))
    if not problems:
        position = 0
        for begin, end in sorted(spans):
            if begin != position:
                problems.append(f"{WEIGHTS_NAME}: tensor data overlaps or leaves gaps")
                break
            position = end
        else:
            if position != data_bytes:
                problems.append(f"{WEIGHTS_NAME}: the file holds bytes that belong to no tensor")
    return problems


def compare_tensors(header: dict[str, Any], expected: dict[str, list[int]]) -> list[str]:
    problems = [f"unexpected tensor {name!r}" for name in header if name not in expected]
    problems += [f"missing tensor {name!r}" for name in expected if name not in header]
    for name, shape in expected.items():
        if name in header and header[name]["shape"] != shape:
            problems.append(f"tensor {name!r} has shape {header[name]['shape']}, expected {shape}")
    return problems


def non_finite_tensors(path: Path) -> list[str]:
    import torch
    from safetensors import safe_open

    found = []
    with safe_open(str(path), framework="pt") as handle:
        for name in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
            if not bool(torch.isfinite(handle.get_tensor(name)).all()):
                found.append(f"tensor {name!r} holds NaN or infinite values")
    return found


# --- the folder -----------------------------------------------------------------------------------


def check_files(folder: Path) -> list[str]:
    problems = []
    for item in sorted(folder.iterdir()):
        name = item.name
        if name.lower().endswith(PICKLE_SUFFIXES):
            problems.append(
                f"{name}: pickle files are not accepted (loading one runs code); upload safetensors"
            )
        elif item.is_symlink() or not item.is_file():
            problems.append(f"{name}: only plain files are accepted")
        elif name not in (CONFIG_NAME, WEIGHTS_NAME) and name not in IGNORED_NAMES:
            problems.append(f"{name}: unexpected file; an adapter is {CONFIG_NAME} and {WEIGHTS_NAME}")
    for required in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / required).is_file():
            problems.append(f"{required} is missing")
    return problems


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return [*problems[:MAX_LISTED], f"... and {len(problems) - MAX_LISTED} more problems"]


def validate_adapter_dir(
    folder: Path, base_model_dir: Path, limits: AdapterLimits | None = None
) -> AdapterInfo:
    """Check an adapter folder against a base model; raise AdapterRejected listing every problem."""
    limits = limits or AdapterLimits.from_settings()
    folder = Path(folder)
    problems = check_files(folder)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    config: Any = None
    if config_path.is_file() and not config_path.is_symlink():
        if config_path.stat().st_size > MAX_CONFIG_BYTES:
            problems.append(f"{CONFIG_NAME} is larger than {MAX_CONFIG_BYTES} bytes")
        else:
            try:
                config = jsonsafe.loads(config_path.read_bytes())
            except jsonsafe.JSONInputError as exc:
                problems.append(f"{CONFIG_NAME} is {exc}")
            else:
                problems += config_problems(config, limits)
    config_ok = config is not None and not config_problems(config, limits)
    header: dict[str, Any] = {}
    header_ok = False
    if weights_path.is_file() and not weights_path.is_symlink():
        header, header_problems = read_safetensors_header(weights_path, limits)
        problems += header_problems
        header_ok = not header_problems
    if config_ok:
        # Names and shapes can only be predicted from a config that passed every check.
        layers = linear_layers(base_model_dir)
        _, unmatched = targeted_layers(config["target_modules"], layers)
        problems += [f"target module {t!r} is not a linear layer of the base model" for t in unmatched]
        if not unmatched and header_ok:
            problems += compare_tensors(header, expected_tensors(config, layers))
    if problems:
        raise AdapterRejected(_listed(problems))
    problems = non_finite_tensors(weights_path)
    if problems:
        raise AdapterRejected(_listed(problems))
    return AdapterInfo(
        rank=config["r"],
        alpha=float(config["lora_alpha"]),
        target_modules=list(config["target_modules"]),
        tensors=len(header),
        parameters=sum(math.prod(entry["shape"]) for entry in header.values()),
        size_bytes=weights_path.stat().st_size,
    )


# --- uploads --------------------------------------------------------------------------------------


class Upload(Protocol):
    """What Django's UploadedFile offers and this module uses."""

    name: str | None
    size: int | None

    def chunks(self, chunk_size: int | None = None) -> Iterable[bytes]: ...


def store_uploaded_adapter(files: Iterable[Upload], destination: Path, limits: AdapterLimits) -> None:
    """Write uploaded adapter files into `destination` (a new folder), reading none of them: names are
    checked before any byte is written, and writing stops at the size cap (AdapterRejected; the folder
    is removed). `validate_adapter_dir` checks the contents."""
    uploads = list(files)
    names = [Path(upload.name or "").name for upload in uploads]
    problems = []
    for name in names:
        if name.lower().endswith(PICKLE_SUFFIXES):
            problems.append(
                f"{name}: pickle files are not accepted (loading one runs code); upload safetensors"
            )
        elif name not in (CONFIG_NAME, WEIGHTS_NAME) and name not in IGNORED_NAMES:
            problems.append(
                f"{name or '(no name)'}: unexpected file; an adapter is {CONFIG_NAME} and {WEIGHTS_NAME}"
            )
    problems += [f"{name}: uploaded twice" for name in sorted(set(names)) if names.count(name) > 1]
    if problems:
        raise AdapterRejected(_listed(problems))
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=False)
    try:
        for name, upload in zip(names, uploads, strict=True):
            cap = MAX_CONFIG_BYTES if name == CONFIG_NAME else limits.max_bytes
            _write_capped(upload, destination / name, cap)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise


def _write_capped(upload: Upload, path: Path, cap: int) -> None:
    if upload.size is not None and upload.size > cap:
        raise AdapterRejected([f"{path.name} is {upload.size} bytes, above the cap of {cap}"])
    written = 0
    with path.open("wb") as handle:
        for chunk in upload.chunks():
            written += len(chunk)
            if written > cap:
                raise AdapterRejected([f"{path.name} is larger than the cap of {cap} bytes"])
            handle.write(chunk)
