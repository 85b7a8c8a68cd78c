"""What both engines share: the event channel, spec parsing, devices and model loading.

The engines run in a sandbox with a cleared environment and no network, so the Hugging Face libraries
are told to stay offline before anything imports them.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

for _name, _value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("HF_HUB_DISABLE_TELEMETRY", "1"),
    ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
):
    os.environ.setdefault(_name, _value)
if not os.environ.get("HF_HOME") and not os.environ.get("HOME"):
    # A cleared environment has no HOME; the libraries still want a cache folder they can create.
    os.environ["HF_HOME"] = os.path.join(tempfile.gettempdir(), "hf-home")

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

IGNORE_INDEX = -100
ROLES = frozenset({"system", "user", "assistant"})
MAX_LISTED_PROBLEMS = 10
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

EXIT_INVALID = 2  # the spec, data or hyperparameters were wrong: retrying will not help
EXIT_CRASHED = 1  # anything else


class EngineError(Exception):
    """A failure the user or operator can act on. Its message is reported as is."""


# --- the event channel ---------------------------------------------------------------------------

_events: TextIO | None = None


def claim_stdout() -> None:
    """Keep file descriptor 1 for events alone.

    The supervisor parses every stdout line as an event, so anything a library prints (a warning, a
    progress bar) is sent to stderr instead: fd 1 is duplicated for our events, then pointed at stderr.
    """
    global _events
    sys.stdout.flush()
    _events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def _json_safe(value: Any) -> Any:
    # JSON has no NaN or infinity; a diverged loss must still produce a parsable line.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def emit(event: str, **fields: Any) -> None:
    """Write one event as one JSON line and flush it, so the supervisor sees it at once."""
    stream = _events or sys.stdout
    stream.write(json.dumps(_json_safe({"event": event, **fields}), allow_nan=False) + "\n")
    stream.flush()


def log(message: str) -> None:
    emit("log", message=message)


class Progress:
    """Emits progress events and keeps the throughput figures."""

    def __init__(self, total_steps: int) -> None:
        self.total_steps = total_steps
        self.started = time.perf_counter()
        self.tokens = 0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def tokens_per_second(self) -> float:
        return self.tokens / max(self.elapsed, 1e-9)

    def step(self, step: int, tokens: int, **fields: Any) -> None:
        self.tokens += tokens
        emit(
            "progress",
            step=step,
            total_steps=self.total_steps,
            **fields,
            tokens_per_second=round(self.tokens_per_second(), 2),
            elapsed=round(self.elapsed, 3),
        )


def run_engine(main: Callable[[dict[str, Any], Path], dict[str, Any]], argv: list[str] | None = None) -> int:
    """The command-line contract: `python -m sandbox.engines.X SPEC.json OUTPUT_DIR`.

    Runs `main(spec, output_dir)`, writes the metrics it returns to OUTPUT_DIR/metrics.json and emits
    `done`; on failure emits one `error` event and returns a non-zero exit status.
    """
    claim_stdout()
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) != 2:
            raise EngineError("usage: python -m sandbox.engines.<engine> SPEC.json OUTPUT_DIR")
        spec = read_spec(Path(args[0]))
        output_dir = Path(args[1])
        output_dir.mkdir(parents=True, exist_ok=True)
        metrics = main(spec, output_dir)
        write_json(output_dir / "metrics.json", metrics)
        emit("done", **metrics)
        return 0
    except EngineError as exc:
        emit("error", message=str(exc))
        return EXIT_INVALID
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit("error", message=describe_crash(exc))
        return EXIT_CRASHED


def describe_crash(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or "OutOfMemory" in type(exc).__name__:
        return "out of memory: lower batch_size or max_seq_length"
    first_line = (str(exc).strip().splitlines() or [""])[0][:500]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


# --- spec files and inputs -----------------------------------------------------------------------


def read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EngineError(f"spec file {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise EngineError(f"spec file {path} is not readable JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise EngineError("spec: must be a JSON object")
    return spec


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(_json_safe(data), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def spec_dir(spec: dict[str, Any], key: str) -> Path:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise EngineError(f"{key}: must be a folder path")
    path = Path(value)
    if not path.is_dir():
        raise EngineError(f"{key}: {value} is not a folder")
    return path


def spec_file(spec: dict[str, Any], key: str) -> Path:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise EngineError(f"{key}: must be a file path")
    path = Path(value)
    if not path.is_file():
        raise EngineError(f"{key}: {value} is not a file")
    return path


def spec_int(spec: dict[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EngineError(f"{key}: must be an integer from {low} to {high}")
    return value


def read_jsonl(path: Path, label: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank line; malformed lines raise at once."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError as exc:
                raise EngineError(f"{label} line {number}: not valid JSON ({exc.msg})") from exc


MESSAGE_KEYS = ("role", "content")


def json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def message_problems(messages: Any) -> list[tuple[str, str]]:
    """(code, problem) for each thing wrong with a chat's messages: a non-empty list of objects with a
    `role` (system, user or assistant) and a string `content`, and nothing else. Messages count from 1.
    The one chat-format check: the engines raise on it, dataset validation reports it line by line."""
    if not isinstance(messages, list) or not messages:
        return [("invalid_messages", "'messages' must be a non-empty list")]
    problems = []
    for index, message in enumerate(messages, start=1):
        where = f"message {index}"
        if not isinstance(message, dict):
            problems.append(("not_object", f"{where} must be an object with 'role' and 'content'"))
            continue
        problems += [
            ("missing_key", f"{where}: missing key {key!r}") for key in MESSAGE_KEYS if key not in message
        ]
        problems += [
            ("unknown_key", f"{where}: unknown key {key!r}") for key in message if key not in MESSAGE_KEYS
        ]
        role = message.get("role")
        if "role" in message and role not in ROLES:
            shown = role if isinstance(role, str) and len(role) <= 20 else json_type(role)
            problems.append(
                ("unknown_role", f"{where}: unknown role {shown!r}; use system, user or assistant")
            )
        if "content" in message and not isinstance(message["content"], str):
            problems.append(("invalid_content", f"{where}: content must be a string"))
    return problems


def check_messages(messages: Any, where: str) -> list[dict[str, str]]:
    """Return the messages as plain {role, content} dicts or raise naming the line and each problem."""
    problems = message_problems(messages)
    if problems:
        raise EngineError(f"{where}: " + "; ".join(problem for _, problem in problems[:5]))
    return [{"role": message["role"], "content": message["content"]} for message in messages]


def raise_problems(title: str, problems: list[str]) -> None:
    if not problems:
        return
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(listed)
    suffix = f"; and {more} more" if more else ""
    raise EngineError(f"{title}: " + "; ".join(listed) + suffix)


# --- devices and models --------------------------------------------------------------------------

_DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")


def resolve_device(value: Any) -> torch.device:
    import torch

    if value is None:
        value = "cpu"
    if not isinstance(value, str) or not _DEVICE_PATTERN.match(value):
        raise EngineError("device: must be 'cpu', 'cuda' or 'cuda:N'")
    device = torch.device(value)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EngineError(f"device: {value} was requested but no CUDA device is visible to this job")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise EngineError(f"device: {value} does not exist; {torch.cuda.device_count()} visible")
        device = torch.device("cuda", index)
    return device


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configure_torch(device: torch.device, threads: Any = None) -> None:
    """Thread count and precision settings, once per process.

    `threads` is the spec's optional "cpu_threads"; by default the sandbox's share (OMP_NUM_THREADS,
    which the confinement sets from SANDBOX_CPU_THREADS), else every CPU this process may run on (torch's
    own default counts the host's cores, and a sandbox may be pinned to fewer).
    """
    import torch

    if threads is None:
        share = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(share) if share.isdigit() and int(share) > 0 else available_cpus()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 1024:
        raise EngineError("cpu_threads: must be an integer from 1 to 1024")
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    _quiet_transformers()


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def check_model_dir(path: Path, key: str = "base_model_dir") -> None:
    if not (path / "config.json").is_file():
        raise EngineError(f"{key}: {path} is not a prepared model checkpoint (no config.json)")


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    check_model_dir(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if not tokenizer.chat_template:
        raise EngineError(f"base_model_dir: the tokenizer in {model_dir} has no chat template")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def eos_token_ids(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel | None = None) -> set[int]:
    """Every id that ends a turn: the tokenizer's EOS and whatever the generation config lists."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, list):
        ids.update(int(item) for item in configured)
    if not ids:
        raise EngineError("base_model_dir: the tokenizer defines no end-of-sequence token")
    return ids


def linear_module_names(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    import torch

    return {name: module for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}


def forbid_pickles(folder: Path, key: str) -> None:
    """Refuse folders holding pickle checkpoints: loaders fall back to them, and unpickling runs code."""
    found = sorted(item.name for item in folder.iterdir() if item.name.lower().endswith(PICKLE_SUFFIXES))
    if found:
        raise EngineError(f"{key}: pickle files are not accepted ({', '.join(found)}); use safetensors")
