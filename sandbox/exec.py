"""`python -m sandbox.exec`: run any command under the jobs' isolation and limits.

    python -m sandbox.exec [--memory-mb N] [--wall-seconds S] [--output-mb M] [--max-tasks T]
        [--max-files F] [--input PATH]... [--output-dir DIR] [--device cpu|cuda:N] -- CMD [ARG...]

Prints what the command prints and exits with its status; when a limit ended it, exits non-zero
with one line on stderr such as `sandbox: out_of_memory: exceeded 256 MB`. Operators use it to check
a host; the tests use it. Defaults and SANDBOX_ALLOW_UNISOLATED come from the Django settings
(DJANGO_SETTINGS_MODULE, config.settings unless set), read without starting Django.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from sandbox.isolation import Confinement, IsolationUnavailable, gpu_index
from sandbox.supervisor import Ending, Limits, run_confined

# Exit statuses when the sandbox, not the command, ended the run: the conventions of timeout(1)
# and of a shell reporting SIGKILL / SIGXFSZ.
EXIT_STATUS = {
    Ending.TIMEOUT: 124,
    Ending.OUT_OF_MEMORY: 137,
    Ending.OUTPUT_TOO_LARGE: 153,
    Ending.TOO_MANY_PROCESSES: 137,
    Ending.CANCELLED: 130,
    Ending.INFRASTRUCTURE: 125,
}
EXIT_UNAVAILABLE = 125


def _settings():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    return settings


def _parser(settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.exec",
        description="Run a command under the sandbox's isolation and limits.",
    )
    parser.add_argument("--memory-mb", type=int, default=settings.SANDBOX_DEFAULT_MEMORY_MB)
    parser.add_argument("--wall-seconds", type=float, default=settings.SANDBOX_DEFAULT_WALL_SECONDS)
    parser.add_argument("--output-mb", type=int, default=settings.SANDBOX_DEFAULT_OUTPUT_MB)
    parser.add_argument(
        "--max-tasks", type=int, default=settings.SANDBOX_MAX_TASKS, help="processes and threads at once"
    )
    parser.add_argument(
        "--max-files", type=int, default=settings.SANDBOX_MAX_FILES, help="files and folders created"
    )
    parser.add_argument(
        "--input", action="append", default=[], metavar="PATH", help="bound read-only; repeatable"
    )
    parser.add_argument(
        "--output-dir", help="the writable folder and working directory (default: a temporary one)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    return parser


def main(argv: list[str] | None = None) -> int:
    settings = _settings()
    parser = _parser(settings)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    for number, name in (
        (args.memory_mb, "--memory-mb"),
        (args.wall_seconds, "--wall-seconds"),
        (args.output_mb, "--output-mb"),
        (args.max_tasks, "--max-tasks"),
        (args.max_files, "--max-files"),
    ):
        if number <= 0:
            parser.error(f"{name} must be positive")
    try:
        gpu_index(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    inputs = [Path(path) for path in args.input]
    for path in inputs:
        if not path.exists():
            parser.error(f"--input {path}: no such file or directory")

    temporary = args.output_dir is None
    output_dir = Path(args.output_dir or tempfile.mkdtemp(prefix="sandbox-exec-"))
    output_dir.mkdir(parents=True, exist_ok=True)
    threads = settings.SANDBOX_CPU_THREADS or len(os.sched_getaffinity(0))
    confinement = Confinement(
        output_dir=output_dir,
        inputs=inputs,
        device=args.device,
        memory_mb=args.memory_mb,
        cpu_threads=threads,
    )
    limits = Limits(
        wall_seconds=args.wall_seconds,
        memory_mb=args.memory_mb,
        output_mb=args.output_mb,
        max_tasks=args.max_tasks,
        max_files=args.max_files,
    )
    try:
        outcome = run_confined(
            command,
            confinement=confinement,
            limits=limits,
            allow_unisolated=settings.SANDBOX_ALLOW_UNISOLATED,
            pids_cgroup=settings.SANDBOX_PIDS_CGROUP,
        )
    except IsolationUnavailable as exc:
        print(f"sandbox: infrastructure: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        if temporary:
            shutil.rmtree(output_dir, ignore_errors=True)

    if outcome.ending in EXIT_STATUS:
        print(f"sandbox: {outcome.ending}: {outcome.message}", file=sys.stderr)
        return EXIT_STATUS[outcome.ending]
    returncode = outcome.returncode
    return 128 - returncode if returncode < 0 else returncode


if __name__ == "__main__":
    sys.exit(main())
