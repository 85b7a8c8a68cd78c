"""Sandbox test fixtures: a stand-in engine for the supervisor's own tests, and real Celery workers.

The stand-in engine is a real program run by the real supervisor under real bubblewrap; only what it
computes is fake. Its spec says what to do ("behaviour"), so one engine covers success, crashes and
every limit. It lives in a temporary package that the sandbox binds like the project's engines.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.models import Job
from tests.celery_worker import Worker
from tests.sandbox.engine_fixtures import adapter_dir, colour_dataset, tiny_model_dir, trained  # noqa: F401 - fixtures

PROJECT_DIR = Path(__file__).resolve().parents[2]
FAKE_PACKAGE = "sandbox_fake_engine"
FAKE_ENGINES = {"train": f"{FAKE_PACKAGE}.engine", "evaluate": f"{FAKE_PACKAGE}.engine"}

FAKE_ENGINE = textwrap.dedent(
    '''
    """Stand-in engine: `python -m sandbox_fake_engine.engine SPEC.json OUTPUT_DIR`."""
    import json, os, socket, sys, time
    from pathlib import Path

    def emit(**event):
        print(json.dumps(event), flush=True)

    spec = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    behaviour = spec["behaviour"]

    if behaviour == "train":
        steps = spec.get("steps", 5)
        for step in range(1, steps + 1):
            time.sleep(spec.get("step_seconds", 0.05))
            emit(event="progress", step=step, total_steps=steps, loss=round(3.0 / step, 4),
                 tokens_per_second=1000.0 + step, elapsed=step * 0.05)
        emit(event="log", message="saving adapter")
        print("a plain line on stderr", file=sys.stderr)
        (out / "adapter").mkdir()
        (out / "adapter" / "adapter_model.safetensors").write_bytes(b"0" * 1234)
        (out / "adapter" / "adapter_config.json").write_text("{}")
        (out / "metrics.json").write_text(json.dumps({"train_loss": 0.6}))
        os.symlink("/etc/hostname", out / "adapter" / "tokenizer.json")  # to a host file
        os.mkfifo(out / "pipe")
        emit(event="done", train_loss=0.6, device=spec["device"])
    elif behaviour == "crash":
        emit(event="progress", step=1, total_steps=10, loss=2.0)
        emit(event="error", message="dataset line 3: missing assistant turn")
        sys.exit(2)
    elif behaviour == "sleep":
        for step in range(1, 100_000):
            emit(event="progress", step=step, total_steps=100_000, loss=1.0)
            time.sleep(0.2)
    elif behaviour == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(32 * 1024 * 1024))
            time.sleep(0.02)
    elif behaviour == "threads":
        import threading
        for _ in range(spec["threads"]):
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        time.sleep(60)
    elif behaviour == "output":
        with open(out / "huge.bin", "wb") as f:
            while True:
                f.write(b"x" * 1024 * 1024)
                f.flush()
    elif behaviour == "probe":
        found = {}
        for port in spec.get("ports", [5432, 6379]):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", port))
                found[f"tcp_{port}"] = "connected"
            except OSError as exc:
                found[f"tcp_{port}"] = f"refused: {exc}"
            finally:
                s.close()
        found["visible"] = [p for p in spec["forbidden"] if os.path.exists(p)]
        readable = []
        for p in spec["forbidden"]:
            try:
                Path(p).read_bytes()
                readable.append(p)
            except OSError:
                pass
        found["readable"] = readable
        found["input_text"] = Path(spec["dataset_path"]).read_text()
        try:
            Path(spec["dataset_path"]).write_text("overwritten")
            found["input_writable"] = True
        except OSError:
            found["input_writable"] = False
        found["env"] = sorted(os.environ)
        emit(event="done", **found)
    '''
)


@pytest.fixture(scope="session")
def fake_engine_path(tmp_path_factory) -> Path:
    """The folder holding the stand-in engine package, importable by the test process."""
    root = tmp_path_factory.mktemp("engines")
    package = root / FAKE_PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "engine.py").write_text(FAKE_ENGINE)
    sys.path.insert(0, str(root))
    return root


@pytest.fixture(scope="session")
def sandbox_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sandbox-root")


@pytest.fixture
def sandbox_settings(settings, sandbox_root, fake_engine_path):
    """Jobs in this process run the stand-in engine, with short heartbeats."""
    settings.SANDBOX_ROOT = sandbox_root
    settings.SANDBOX_ENGINES = FAKE_ENGINES
    settings.SANDBOX_HEARTBEAT_SECONDS = 1
    settings.SANDBOX_STALE_SECONDS = 3
    settings.SANDBOX_ALLOW_UNISOLATED = False
    return settings


@pytest.fixture
def dataset(tmp_path) -> Path:
    path = tmp_path / "inputs" / "dataset.jsonl"
    path.parent.mkdir()
    path.write_text('{"messages": []}\n')
    return path


def job_state(job_id: int) -> Job:
    return Job.objects.get(pk=job_id)


@pytest.fixture
def start_worker(
    transactional_db, sandbox_settings, fake_engine_path, start_celery_worker
) -> Callable[..., Worker]:
    """Start real gpu workers: `start_worker()` runs the stand-in engine, `start_worker(engines=None)`
    the project's engines (start_celery_worker: jobs go through the broker)."""

    def start(*, engines: dict[str, str] | None = FAKE_ENGINES) -> Worker:
        overrides = {
            "SANDBOX_ROOT": str(sandbox_settings.SANDBOX_ROOT),
            "SANDBOX_HEARTBEAT_SECONDS": 1,
            "SANDBOX_STALE_SECONDS": 3,
            **({"SANDBOX_ENGINES": engines} if engines else {}),
        }
        return start_celery_worker("gpu", settings=overrides, pythonpath=[fake_engine_path])

    return start
