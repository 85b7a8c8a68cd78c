"""A hard cap on the processes and threads of one sandboxed run: a pids cgroup of its own.

RLIMIT_NPROC cannot serve: the kernel ignores it for root, and for any other user it counts every
task of that user on the host (in each user namespace up the chain), so a worker sharing its user
with anything else would fail at random. A pids cgroup counts exactly the run's process tree, and
a fork bomb inside it gets EAGAIN at the cap instead of taking the host's process table.

Where no pids cgroup can be made (no cgroup v1 `pids` hierarchy writable by the worker, and no
cgroup v2 folder with the `pids` controller delegated to it), the supervisor's watchdog still
counts the tree's tasks and ends the run at the cap; it polls, so a fast fork bomb can overshoot
between two polls. `SANDBOX_PIDS_CGROUP` names a delegated cgroup folder to create runs' cgroups in.

Nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_PREFIX = "sandbox-run-"
PROC_CGROUP = Path("/proc/self/cgroup")
PROC_MOUNTS = Path("/proc/self/mounts")


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, options) of every mount this process sees."""
    try:
        lines = PROC_MOUNTS.read_text().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 4:
            mounts.append((fields[1], fields[2], fields[3]))
    return mounts


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per hierarchy: {"pids": "/x"} for v1, {"": "/y"} for v2."""
    paths = {}
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def find_parent(configured: str = "") -> Path | None:
    """A cgroup folder this process may create pids-limited child cgroups in (the `configured` one,
    SANDBOX_PIDS_CGROUP, when given), or None."""
    if configured:
        return Path(configured)
    own = _own_cgroups()
    for mount_point, fs_type, options in _mounts():
        if fs_type == "cgroup" and "pids" in options.split(",") and "pids" in own:
            candidate = Path(mount_point) / own["pids"].lstrip("/")
        elif fs_type == "cgroup2" and "" in own:
            candidate = Path(mount_point) / own[""].lstrip("/")
            try:
                delegated = (candidate / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            if "pids" not in delegated:
                continue
        else:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return None


class PidsCgroup:
    """One run's pids cgroup: `join` in the child before exec, `current` while it runs, `remove` after."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self._procs = str(path / "cgroup.procs")

    @classmethod
    def create(cls, limit: int, parent: Path | None) -> PidsCgroup | None:
        """The run's cgroup, capped at `limit` tasks, or None where the host offers none."""
        if parent is None:
            return None
        _remove_abandoned(parent)
        path = parent / f"{CGROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(limit))
        except OSError as exc:
            logger.warning(
                "Could not create the pids cgroup %s (%s); the watchdog alone caps processes.", path, exc
            )
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path, limit)

    def join(self) -> None:
        """Move the calling process into the cgroup (the child, between fork and exec)."""
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def pids(self) -> list[int]:
        """The processes in the cgroup: the run's whole tree, every descendant included, read from one
        file (finding a tree by parent links reads every process on the host)."""
        try:
            return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def current(self) -> int:
        try:
            return int((self.path / "pids.current").read_text())
        except (OSError, ValueError):
            return 0

    def refused(self) -> int:
        """How many forks and thread starts the cap refused (a process that failed on one may
        have crashed before the watchdog saw the tree at the cap)."""
        try:
            events = (self.path / "pids.events").read_text().split()
        except OSError:
            return 0
        counts = dict(zip(events[::2], events[1::2], strict=False))
        return int(counts.get("max", "0") or 0)

    def remove(self) -> None:
        # The tree was killed; its last zombies may take a moment to be reaped.
        for _ in range(20):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    break
                time.sleep(0.05)
        logger.warning("Could not remove the pids cgroup %s; it is removed by the next run.", self.path)


def _remove_abandoned(parent: Path) -> None:
    """Run cgroups left by a worker that died; another live worker's are its own to remove (rmdir
    fails anyway on a cgroup with tasks, but not on one made a moment ago and not yet joined)."""
    with contextlib.suppress(OSError):
        for child in parent.iterdir():
            owner = child.name.removeprefix(CGROUP_PREFIX).partition("-")[0]
            if child.name.startswith(CGROUP_PREFIX) and owner.isdigit() and not _alive(int(owner)):
                with contextlib.suppress(OSError):
                    child.rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
