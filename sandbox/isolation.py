"""The bubblewrap command line that confines one sandboxed process (DESIGN.md section 8).

Nothing here imports Django: `python -m sandbox.exec` and the job supervisor build the same
confinement from plain values. The sandbox sees a read-only minimal root (system libraries, the
Python installation and virtualenv, the project's engine code), the inputs it was given read-only,
one writable output folder, private /tmp and /dev/shm, no network and none of the host's
environment. Everything it may see is named here; anything not bound does not exist inside.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Only the `sandbox` package is project code the engines need; binding the whole project would
# expose var/ (databases, other jobs' folders), media/ (uploads, hidden eval sets) and .env.
SANDBOX_PACKAGE_DIR = Path(__file__).resolve().parent

# The only pieces of /etc a Python process needs: the dynamic loader's cache and the time zone.
# Not /etc/passwd, /etc/hosts, /etc/ssl or the rest: there is no network and no user database.
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
# Top-level directories that are symlinks into /usr on merged-/usr systems and real ones elsewhere.
ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The sandbox's own private tmpfs mounts (never the host's /tmp or /dev/shm).
SANDBOX_TMP = "/tmp"  # noqa: S108
SANDBOX_SHM = "/dev/shm"  # noqa: S108
# Unprivileged uid/gid inside the sandbox's user namespace.
SANDBOX_UID = 65534

CUDA_DEVICE = re.compile(r"^cuda(?::(\d+))?$")
# Shared NVIDIA control nodes every CUDA process opens, besides its own /dev/nvidiaN.
NVIDIA_CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")


class IsolationUnavailable(RuntimeError):
    """bubblewrap is missing and unisolated execution was not explicitly allowed."""


@dataclass(frozen=True)
class Confinement:
    """What one sandboxed process may see and use."""

    output_dir: Path
    inputs: Sequence[Path] = ()
    device: str = "cpu"
    memory_mb: int = 1024
    cpu_threads: int = 1
    # Directories of Python packages the command imports, each bound read-only at its own path,
    # with their parents on PYTHONPATH.
    code_dirs: Sequence[Path] = field(default_factory=lambda: (SANDBOX_PACKAGE_DIR,))


def tmpfs_bytes(memory_mb: int) -> int:
    """The size of each of the sandbox's tmpfs mounts (/tmp, /dev/shm): half the memory budget, as
    their pages are memory that no process's resident set shows (the supervisor adds them to it)."""
    return max(memory_mb // 2, 16) * 1024 * 1024


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=4)
def _bwrap_supports(bwrap: str, option: str) -> bool:
    result = subprocess.run([bwrap, "--help"], capture_output=True, text=True, check=False)
    return option in result.stdout


def gpu_index(device: str) -> int | None:
    """The host GPU index of a `cuda:N` device, None for the CPU; ValueError for anything else."""
    if device == "cpu":
        return None
    match = CUDA_DEVICE.match(device)
    if not match:
        raise ValueError(f"Unknown device {device!r}: expected 'cpu' or 'cuda:N'.")
    return int(match.group(1) or 0)


def engine_device(device: str) -> str:
    """The device name the engine uses inside the sandbox, where its GPU is the only one visible."""
    return "cpu" if gpu_index(device) is None else "cuda:0"


def python_dirs() -> list[Path]:
    """The Python installation and virtualenv the sandbox runs (outside /usr, which is bound anyway)."""
    dirs: list[Path] = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        path = Path(prefix).resolve()
        if path.is_relative_to("/usr") or path in dirs:
            continue
        dirs.append(path)
    return dirs


def sandbox_env(confinement: Confinement) -> dict[str, str]:
    """The whole environment of the sandboxed process: nothing is inherited from the host."""
    pythonpath = []
    for code_dir in confinement.code_dirs:
        parent = str(Path(code_dir).resolve().parent)
        if parent not in pythonpath:
            pythonpath.append(parent)
    threads = str(confinement.cpu_threads)
    env = {
        "PATH": f"{Path(sys.prefix).resolve() / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": SANDBOX_TMP,
        "USER": "sandbox",  # libraries that ask for a user name must not need /etc/passwd
        "LOGNAME": "sandbox",
        "LANG": "C.UTF-8",
        "TMPDIR": SANDBOX_TMP,
        "PYTHONPATH": ":".join(pythonpath),
        "PYTHONUNBUFFERED": "1",  # progress events must reach the supervisor as they happen
        "PYTHONDONTWRITEBYTECODE": "1",  # the code is read-only
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": f"{SANDBOX_TMP}/huggingface",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    index = gpu_index(confinement.device)
    if index is not None:
        # Only this GPU's node is bound; the ordering makes CUDA's index match the node number.
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env["CUDA_VISIBLE_DEVICES"] = str(index)
    return env


def bwrap_command(
    *, bwrap: str, confinement: Confinement, command: Sequence[str], env: dict[str, str]
) -> list[str]:
    """The full argv: bwrap with its options, then the confined command."""
    args = [
        bwrap,
        "--unshare-all",  # network, pid, ipc, uts, cgroup and user namespaces
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--cap-drop",
        "ALL",  # a root worker must not hand root's capabilities (mknod, mount) to the job
        "--die-with-parent",
        "--new-session",  # no TIOCSTI into the worker's terminal
        "--hostname",
        "sandbox",
        "--clearenv",
    ]
    if _bwrap_supports(bwrap, "--disable-userns"):
        args.append("--disable-userns")  # no nested user namespace to regain capabilities in
    for name, value in env.items():
        args += ["--setenv", name, value]

    args += ["--ro-bind", "/usr", "/usr"]
    for link in ROOT_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for etc_file in ETC_FILES:
        args += ["--ro-bind-try", etc_file, etc_file]
    size = str(tmpfs_bytes(confinement.memory_mb))
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", size, "--tmpfs", SANDBOX_TMP, "--size", size, "--tmpfs", SANDBOX_SHM]

    # Mounted after /tmp's tmpfs, so that nothing bound below /tmp is hidden by it.
    for path in python_dirs():
        args += ["--ro-bind", str(path), str(path)]
    for code_dir in confinement.code_dirs:
        resolved = str(Path(code_dir).resolve())
        args += ["--ro-bind", resolved, resolved]

    index = gpu_index(confinement.device)
    if index is not None:
        args += ["--dev-bind", f"/dev/nvidia{index}", f"/dev/nvidia{index}"]
        for node in NVIDIA_CONTROL_NODES:
            args += ["--dev-bind-try", node, node]

    for input_path in confinement.inputs:
        resolved = str(Path(input_path).resolve())
        args += ["--ro-bind", resolved, resolved]
    output = str(Path(confinement.output_dir).resolve())
    args += ["--bind", output, output, "--chdir", output]
    return [*args, "--", *command]
