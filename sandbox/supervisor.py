"""Run one command confined, watch it, and say how it ended.

The same code serves Celery jobs (sandbox.services drives it and streams progress into the Job) and
`python -m sandbox.exec`. It imports no Django: callers pass every setting in.

Limits: wall time is measured here and ends the whole process tree; memory is the resident set of
the whole process tree plus what the sandbox keeps in its private /tmp and /dev/shm (tmpfs pages
are memory no process's RSS shows), polled with psutil (a cgroup v2 `memory.max` would need a
delegated cgroup subtree a worker cannot count on, and RLIMIT_AS would break PyTorch and CUDA,
which reserve far more address space than they use); output is the size of the writable folder,
polled, with RLIMIT_FSIZE as the backstop a fast writer cannot outrun between polls, and the files
and folders in it, /tmp and /dev/shm together; processes and threads are capped by a pids cgroup
where the host has one (sandbox.pids) and counted by the watchdog everywhere.
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

from sandbox.isolation import (
    SANDBOX_SHM,
    SANDBOX_TMP,
    Confinement,
    IsolationUnavailable,
    bwrap_command,
    find_bwrap,
    sandbox_env,
    tmpfs_bytes,
)
from sandbox.pids import PidsCgroup, find_parent

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
    TOO_MANY_PROCESSES = "too_many_processes"
    CRASHED = "crashed"
    INFRASTRUCTURE = "infrastructure"  # bubblewrap could not set the sandbox up: the host's fault
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Limits:
    wall_seconds: float
    memory_mb: int
    output_mb: int
    # Processes and threads of the whole tree (the kernel counts both as tasks); PyTorch alone
    # starts a few dozen threads.
    max_tasks: int = 512
    # Files and folders in the output folder, /tmp and /dev/shm together (each costs an inode,
    # and tmpfs inodes are kernel memory).
    max_files: int = 10_000


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


def _confine_child(max_file_bytes: int, cgroup: PidsCgroup | None) -> Callable[[], None]:
    """What the child does between fork and exec: nothing it starts escapes these."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write a core dump
        if cgroup is not None:
            cgroup.join()

    return apply


def _tree_usage(root: psutil.Process, cgroup: PidsCgroup | None) -> tuple[int, int]:
    """(resident bytes, tasks) of the process tree under root. With a pids cgroup, the tree is the
    cgroup's processes and the cgroup counts the tasks; without one, the tree is found by parent links
    (psutil reads every process on the host for that, milliseconds a poll) and its threads counted."""
    if cgroup is not None:
        processes = []
        for pid in cgroup.pids():
            try:
                processes.append(psutil.Process(pid))
            except psutil.Error:
                continue  # exited between listing and reading
    else:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0, 0
    rss = tasks = 0
    for process in processes:
        try:
            rss += process.memory_info().rss
            if cgroup is None:
                tasks += process.num_threads()
        except psutil.Error:
            continue  # exited between listing and reading
    return rss, cgroup.current() if cgroup is not None else tasks


@dataclass
class FolderUsage:
    total: int = 0  # bytes
    largest: int = 0  # the largest file's bytes
    entries: int = 0  # files, folders and anything else


def folder_usage(folder: Path) -> FolderUsage:
    """What is under folder, not following symlinks."""
    usage = FolderUsage()
    stack = [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        usage.entries += len(entries)
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    size = entry.stat(follow_symlinks=False).st_size
                    usage.total += size
                    usage.largest = max(usage.largest, size)
            except OSError:
                continue
    return usage


class PrivateMounts:
    """The sandbox's own /tmp and /dev/shm, read from outside through /proc/PID/root of the
    sandbox's first process (once it has its own mount namespace; bwrap's outer process does not).

    While bwrap sets the sandbox up, that process's root is still the host's (or bwrap's scaffolding),
    so a mount counts only once it is one of the sandbox's own: a tmpfs of exactly the size given it."""

    def __init__(self, bwrap_process: psutil.Process, size: int) -> None:
        self._outer = bwrap_process
        self._size = size
        self._own_namespace = os.readlink("/proc/self/ns/mnt")
        self._pid: int | None = None

    def _inner_pid(self) -> int | None:
        if self._pid is None:
            try:
                for child in self._outer.children():
                    if os.readlink(f"/proc/{child.pid}/ns/mnt") != self._own_namespace:
                        self._pid = child.pid
                        break
            except (psutil.Error, OSError):
                return None
        return self._pid

    def usage(self) -> tuple[int, int]:
        """(bytes, inodes) in use in the sandbox's /tmp and /dev/shm; (0, 0) before it has them."""
        pid = self._inner_pid()
        used = inodes = 0
        if pid is None:
            return 0, 0
        for mount in (SANDBOX_TMP, SANDBOX_SHM):
            try:
                stats = os.statvfs(f"/proc/{pid}/root{mount}")
            except OSError:
                continue
            if stats.f_blocks * stats.f_frsize != self._size:
                continue  # not the sandbox's tmpfs (yet)
            used += (stats.f_blocks - stats.f_bfree) * stats.f_frsize
            inodes += stats.f_files - stats.f_ffree
        return used, inodes


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
    pids_cgroup: str = "",
) -> Outcome:
    """Run `command` confined and within `limits`; return how it ended. Never raises for the command's
    own failures; raises IsolationUnavailable when bubblewrap is missing and not explicitly waived.

    With `on_line` the command's stdout and stderr are read line by line; without it they are the
    caller's own (pass-through). `pids_cgroup` is the cgroup folder the run's pids cgroup is made
    in (SANDBOX_PIDS_CGROUP); empty finds one (sandbox.pids).
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
    cgroup = PidsCgroup.create(limits.max_tasks, find_parent(pids_cgroup))
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=output_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            start_new_session=True,  # one process group to kill, away from the worker's signals
            preexec_fn=_confine_child(output_cap, cgroup),  # before any thread of ours starts
        )
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        raise
    try:
        return _supervise(
            process,
            output_dir=output_dir,
            limits=limits,
            isolated=bwrap is not None,
            tmpfs_size=tmpfs_bytes(confinement.memory_mb),
            cgroup=cgroup,
            on_line=on_line,
            on_poll=on_poll,
            poll_seconds=poll_seconds,
            started=started,
        )
    finally:
        if cgroup is not None:
            cgroup.remove()


def _supervise(
    process: subprocess.Popen,
    *,
    output_dir: Path,
    limits: Limits,
    isolated: bool,
    tmpfs_size: int,
    cgroup: PidsCgroup | None,
    on_line: LineHandler | None,
    on_poll: PollHandler | None,
    poll_seconds: float,
    started: float,
) -> Outcome:
    output_cap = limits.output_mb * MB
    capture = on_line is not None
    lines: queue.Queue = queue.Queue(maxsize=10_000)  # full: the command blocks on its own output
    pumps = []
    if capture:
        for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            pump = threading.Thread(target=_pump, args=(stream, name, lines), daemon=True)
            pump.start()
            pumps.append(pump)

    watched = psutil.Process(process.pid)
    private_mounts = PrivateMounts(watched, tmpfs_size) if isolated else None
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
            rss, tasks = _tree_usage(watched, cgroup)
            in_tmpfs, tmpfs_inodes = private_mounts.usage() if private_mounts else (0, 0)
            peak = max(peak, rss + in_tmpfs)
            if rss + in_tmpfs > limits.memory_mb * MB:
                ending = Ending.OUT_OF_MEMORY
                message = f"exceeded {limits.memory_mb} MB (resident {rss // MB} MB"
                message += f", /tmp and /dev/shm {in_tmpfs // MB} MB)" if in_tmpfs >= MB else ")"
            elif tasks >= limits.max_tasks:
                ending = Ending.TOO_MANY_PROCESSES
                message = f"reached the limit of {limits.max_tasks} processes and threads"
            elif now - started > limits.wall_seconds:
                ending = Ending.TIMEOUT
                message = f"exceeded {limits.wall_seconds:g} s of wall time"
            elif now >= next_output_check:
                next_output_check = now + OUTPUT_CHECK_INTERVAL
                usage = folder_usage(output_dir)
                if usage.total > output_cap:
                    ending = Ending.OUTPUT_TOO_LARGE
                    message = f"output exceeded {limits.output_mb} MB"
                elif usage.entries + tmpfs_inodes > limits.max_files:
                    ending = Ending.OUTPUT_TOO_LARGE
                    message = f"created more than {limits.max_files} files and folders"
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
    if not isolated:
        _kill_tree(process)  # anything the command left running in its group
    for pump in pumps:
        pump.join(timeout=5)
    if capture:
        drain()
    elapsed = time.monotonic() - started

    if ending is None:
        usage = folder_usage(output_dir)
        signum = _signal_of(returncode, isolated=isolated)
        if usage.total > output_cap or (returncode != 0 and usage.largest >= output_cap):
            # Python ignores SIGXFSZ, so a file stopped by RLIMIT_FSIZE shows up as an EFBIG crash.
            ending = Ending.OUTPUT_TOO_LARGE
            message = f"output exceeded {limits.output_mb} MB"
        elif usage.entries > limits.max_files:
            ending = Ending.OUTPUT_TOO_LARGE
            message = f"created more than {limits.max_files} files and folders"
        elif returncode != 0 and cgroup is not None and cgroup.refused():
            ending = Ending.TOO_MANY_PROCESSES
            message = f"reached the limit of {limits.max_tasks} processes and threads"
        elif signum == signal.SIGKILL:
            ending = Ending.OUT_OF_MEMORY
            message = "killed by SIGKILL, most likely by the kernel's out-of-memory killer"
        elif signum == signal.SIGXFSZ:
            ending = Ending.OUTPUT_TOO_LARGE
            message = f"a file exceeded the output cap of {limits.output_mb} MB"
        elif isolated and returncode == 1 and stderr_tail and stderr_tail[-1].startswith("bwrap: "):
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
        isolated=isolated,
    )
