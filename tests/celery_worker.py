"""Real Celery workers for end-to-end tests: each in its own process group, on the test database and the
real broker, started by the one fixture `start_celery_worker`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _die_with_parent() -> None:
    import ctypes

    # SIGQUIT: Celery's cold shutdown, which ends the task in hand (SIGTERM would wait for a training
    # job to finish, keeping the worker and its test database busy long after the test process died).
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGQUIT)


PR_SET_PDEATHSIG = 1


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Worker:
    """A real `celery -A config worker` in its own process group, sharing the test database."""

    def __init__(
        self,
        *,
        queues: str,
        settings_module: str,
        pythonpath: str,
        log_path: Path,
        purge: bool,
        beat: bool = False,
    ) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "PYTHONPATH": pythonpath,
        }
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-c",
            "1",
            "-P",
            "prefork",
            "-l",
            "INFO",
            "-n",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *(["--purge"] if purge else []),
            *(["--beat", "--schedule", str(log_path.with_suffix(".beat"))] if beat else []),
        ]
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # If the test process dies (a timeout, a kill), the worker goes too: a worker left behind
            # would hold the test database open and take the next run's tasks.
            preexec_fn=_die_with_parent,
        )
        wait_for(self._ready, timeout=60, what=f"the Celery worker to start (log: {log_path})")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited: {self.log()}")
        return b" ready." in self.log_path.read_bytes()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """What a crashed machine does: every process of the worker dies at once, without cleanup."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.alive:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def _reset_producer_pool() -> None:
    """Drop the test process's broker connections: they were made with the options of the moment."""
    from kombu import pools

    from config.celery import app as celery_app

    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _settings_module(folder: Path, name: str, overrides: dict[str, Any]) -> str:
    from django.db import connection

    lines = [
        "from config.settings_test import *  # noqa",
        "CELERY_TASK_ALWAYS_EAGER = False",
        f"DATABASES['default']['NAME'] = {connection.settings_dict['NAME']!r}",
    ]
    lines += [f"{key} = {value!r}" for key, value in overrides.items()]
    (folder / f"{name}.py").write_text("\n".join(lines) + "\n")
    return name


@pytest.fixture
def start_celery_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """The one way a test starts real Celery workers:
    `start_celery_worker("gpu,default", settings={...}, beat=False, pythonpath=[...])`.

    Each worker runs the test settings with the test's database and the given overrides. The test
    process stops running tasks eagerly, so every task goes through the broker; with the file-system
    broker the test and its workers get a broker folder of their own (so other tests' workers never take
    or purge these tasks); a Redis broker is per test process already (config.settings_test). The first
    worker purges the queues it serves."""
    from django.conf import settings as django_settings

    from config.celery import app as celery_app

    eager = celery_app.conf.task_always_eager
    transport = dict(celery_app.conf.broker_transport_options or {})
    filesystem = django_settings.CELERY_BROKER_URL.startswith("filesystem")
    isolated: dict[str, Any] = {}
    if filesystem:
        broker = tmp_path / "broker"
        for folder in ("queue", "processed", "control"):
            (broker / folder).mkdir(parents=True)
        isolated = {
            **transport,
            "data_folder_in": str(broker / "queue"),
            "data_folder_out": str(broker / "queue"),
            "processed_folder": str(broker / "processed"),
            "control_folder": str(broker / "control"),
        }
        celery_app.conf.broker_transport_options = isolated
        _reset_producer_pool()
    celery_app.conf.task_always_eager = False
    workers: list[Worker] = []

    def start(
        queues: str,
        *,
        settings: dict[str, Any] | None = None,
        beat: bool = False,
        pythonpath: Sequence[Path] = (),
    ) -> Worker:
        number = len(workers)
        overrides = {
            **({"CELERY_BROKER_TRANSPORT_OPTIONS": isolated} if filesystem else {}),
            **(settings or {}),
        }
        worker = Worker(
            queues=queues,
            settings_module=_settings_module(tmp_path, f"celery_worker_settings_{number}", overrides),
            pythonpath=os.pathsep.join([str(tmp_path), *map(str, pythonpath), str(PROJECT_DIR)]),
            log_path=tmp_path / f"worker-{number}.log",
            purge=not workers,
            beat=beat,
        )
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        celery_app.conf.task_always_eager = eager
        if filesystem:
            celery_app.conf.broker_transport_options = transport
            _reset_producer_pool()
