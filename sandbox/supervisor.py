"""Run one command confined, watch it, and say how it ended.

The same code serves Celery jobs (sandbox.services drives it and streams progress into the Job) and
`python -m sandbox.exec`. It imports no Django: callers pass every setting in.

Limits: wall time is measured here and ends the whole process tree; memory is the resident set of
the whole process tree, polled with psutil (a cgroup v2 `memory.max` would need a delegated cgroup
subtree a worker cannot count on, and RLIMIT_AS would break PyTorch and CUDA, which reserve far more
address space than they use); output is the size of the writable folder, polled, with RLIMIT_FSIZE
as the backstop a fast writer cannot outrun between polls.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import resource
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psutil

from sandbox.isolation import Confinement, IsolationUnavailable, bwrap_command, find_bwrap, sandbox_env

logger = logging.getLogger(__name__)

MB = 1024 * 1024
# One line of output is cut at this length, so a process printing without newlines cannot grow the
# supervisor's memory.
MAX_LINE_BYTES = 64 * 1024
WATCH_INTERVAL = 0.1
OUTPUT_CHECK_INTERVAL = 0.5


class Ending(StrEnum):
    """Why a run did not succeed (the Job's failure reasons the supervisor can tell apart)."""

    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    OUTPUT_TOO_LARGE = "output_too_large"
    CRASHED = "crashed"
    INFRASTRUCTURE = "infrastructure"  # bubblewrap could not set the sandbox up: the host's fault
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Limits:
    wall_seconds: float
    memory_mb: int
    output_mb: int


@dataclass
class Outcome:
    returncode: int
    ending: Ending | None  # None: the command exited 0 within its limits
    message: str
    elapsed: float
    peak_memory_mb: float
    isolated: bool

    @property
    def succeeded(self) -> bool:
        return self.ending is None


# Called with ("stdout" | "stderr", line) for each line, on the supervising thread.
LineHandler = Callable[[str, str], None]
# Called every `poll_seconds`; returning True asks the supervisor to stop the run (cancellation).
PollHandler = Callable[[], bool]


def _limit_file_size(max_bytes: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write a core dump

    return apply


def _tree_rss_bytes(root: psutil.Process) -> int:
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue  # exited between listing and reading
    return total


def folder_usage(folder: Path) -> tuple[int, int]:
    """(total bytes, largest file's bytes) under folder, not following symlinks."""
    total = largest = 0
    stack = [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    size = entry.stat(follow_symlinks=False).st_size
                    total += size
                    largest = max(largest, size)
            except OSError:
                continue
    return total, largest


def _kill_tree(process: subprocess.Popen) -> None:
    try:
        root = psutil.Process(process.pid)
        descendants = root.children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    # A process that started its own session has left our group; it still dies.
    for child in descendants:
        try:
            child.kill()
        except psutil.Error:
            continue


def _pump(stream, name: str, lines: queue.Queue) -> None:
    with stream:
        for raw in iter(lambda: stream.readline(MAX_LINE_BYTES), b""):
            lines.put((name, raw.decode("utf-8", errors="replace").rstrip("\r\n")))


def _signal_of(returncode: int, isolated: bool) -> int | None:
    """The signal that ended the command, if one did. bwrap reports a signalled child as 128+N."""
    if returncode < 0:
        return -returncode
    if isolated and returncode > 128 and returncode - 128 in signal.valid_signals():
        return returncode - 128
    return None


def run_confined(
    command: Sequence[str],
    *,
    confinement: Confinement,
    limits: Limits,
    allow_unisolated: bool,
    on_line: LineHandler | None = None,
    on_poll: PollHandler | None = None,
    poll_seconds: float = 2.0,
) -> Outcome:
    """Run `command` confined and within `limits`; return how it ended. Never raises for the command's
    own failures; raises IsolationUnavailable when bubblewrap is missing and not explicitly waived.

    With `on_line` the command's stdout and stderr are read line by line; without it they are the
    caller's own (pass-through).
    """
    env = sandbox_env(confinement)
    bwrap = find_bwrap()
    if bwrap:
        argv = bwrap_command(bwrap=bwrap, confinement=confinement, command=command, env=env)
    elif allow_unisolated:
        logger.warning(
            "SANDBOX UNISOLATED: bubblewrap (bwrap) is not installed and SANDBOX_ALLOW_UNISOLATED is "
            "set, so %s runs with full access to this host's files, network and sockets.",
            " ".join(command),
        )
        argv = list(command)
    else:
        raise IsolationUnavailable(
            "bubblewrap (bwrap) is not installed, so the sandbox cannot isolate the command; install "
            "it, or set SANDBOX_ALLOW_UNISOLATED=true to run without isolation (unsafe)."
        )

    output_dir = Path(confinement.output_dir)
    output_cap = limits.output_mb * MB
    capture = on_line is not None
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=output_dir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        start_new_session=True,  # one process group to kill, away from the worker's signals
        preexec_fn=_limit_file_size(output_cap),  # before any thread of ours starts
    )
    lines: queue.Queue = queue.Queue(maxsize=10_000)  # full: the command blocks on its own output
    pumps = []
    if capture:
        for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            pump = threading.Thread(target=_pump, args=(stream, name, lines), daemon=True)
            pump.start()
            pumps.append(pump)

    watched = psutil.Process(process.pid)
    stderr_tail: deque[str] = deque(maxlen=20)
    ending: Ending | None = None
    message = ""
    peak = 0
    next_output_check = next_poll = started

    def drain() -> None:
        while True:
            try:
                name, line = lines.get_nowait()
            except queue.Empty:
                return
            if name == "stderr" and line.strip():
                stderr_tail.append(line)
            assert on_line is not None
            on_line(name, line)

    try:
        while process.poll() is None:
            now = time.monotonic()
            if capture:
                drain()
            rss = _tree_rss_bytes(watched)
            peak = max(peak, rss)
            if rss > limits.memory_mb * MB:
                ending = Ending.OUT_OF_MEMORY
                message = f"exceeded {limits.memory_mb} MB (resident {rss // MB} MB)"
            elif now - started > limits.wall_seconds:
                ending = Ending.TIMEOUT
                message = f"exceeded {limits.wall_seconds:g} s of wall time"
            elif now >= next_output_check:
                next_output_check = now + OUTPUT_CHECK_INTERVAL
                total, _ = folder_usage(output_dir)
                if total > output_cap:
                    ending = Ending.OUTPUT_TOO_LARGE
                    message = f"output exceeded {limits.output_mb} MB"
            if ending is None and on_poll is not None and now >= next_poll:
                next_poll = now + poll_seconds
                if on_poll():
                    ending = Ending.CANCELLED
                    message = "cancelled on request"
            if ending is not None:
                _kill_tree(process)
                break
            time.sleep(WATCH_INTERVAL)
    except BaseException:
        # A failing callback (the database gone) must not leave the command running unsupervised.
        _kill_tree(process)
        raise

    returncode = process.wait()
    if bwrap is None:
        _kill_tree(process)  # anything the command left running in its group
    for pump in pumps:
        pump.join(timeout=5)
    if capture:
        drain()
    elapsed = time.monotonic() - started

    if ending is None:
        total, largest = folder_usage(output_dir)
        signum = _signal_of(returncode, isolated=bwrap is not None)
        if total > output_cap or (returncode != 0 and largest >= output_cap):
            # Python ignores SIGXFSZ, so a file stopped by RLIMIT_FSIZE shows up as an EFBIG crash.
            ending = Ending.OUTPUT_TOO_LARGE
            message = f"output exceeded {limits.output_mb} MB"
        elif signum == signal.SIGKILL:
            ending = Ending.OUT_OF_MEMORY
            message = "killed by SIGKILL, most likely by the kernel's out-of-memory killer"
        elif signum == signal.SIGXFSZ:
            ending = Ending.OUTPUT_TOO_LARGE
            message = f"a file exceeded the output cap of {limits.output_mb} MB"
        elif bwrap and returncode == 1 and stderr_tail and stderr_tail[-1].startswith("bwrap: "):
            ending = Ending.INFRASTRUCTURE
            message = f"the sandbox could not be set up: {stderr_tail[-1]}"
        elif returncode != 0:
            ending = Ending.CRASHED
            cause = (
                f"killed by signal {signum} ({signal.strsignal(signum)})"
                if signum
                else f"exit status {returncode}"
            )
            message = f"{cause}: {stderr_tail[-1]}" if stderr_tail else cause
    return Outcome(
        returncode=returncode,
        ending=ending,
        message=message,
        elapsed=elapsed,
        peak_memory_mb=peak / MB,
        isolated=bwrap is not None,
    )
