"""`python -m sandbox.exec`: its command-line contract and the limits it enforces."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from tests.sandbox.conftest import PROJECT_DIR

pytestmark = pytest.mark.needs("bwrap")

GROW_MEMORY = """
import time
hoard = []
while True:
    hoard.append(bytearray(16 * 1024 * 1024))
    time.sleep(0.01)
"""


def run_exec(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m sandbox.exec ARGS`, finished; `.pid` is the supervisor's (its cgroup carries it)."""
    command = [sys.executable, "-m", "sandbox.exec", *args]
    with subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    completed.pid = process.pid
    return completed


def test_passes_output_through_and_exits_with_the_commands_status():
    result = run_exec("--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert result.returncode == 7
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


def test_a_command_killed_by_a_signal_exits_like_a_shell_reports_it():
    result = run_exec("--", "sh", "-c", "kill -TERM $$")
    assert result.returncode == 128 + 15


def test_wall_time_limit():
    started = time.monotonic()
    result = run_exec("--wall-seconds", "1", "--", "sleep", "30")
    assert time.monotonic() - started < 15
    assert result.returncode == 124
    assert result.stderr.strip().splitlines()[-1] == "sandbox: timeout: exceeded 1 s of wall time"


def test_memory_limit_kills_the_whole_process_tree():
    # The hog is a grandchild: the watchdog measures the tree, not only the first process.
    result = run_exec("--memory-mb", "256", "--", "sh", "-c", f"python -c '{GROW_MEMORY}'; echo survived")
    assert result.returncode == 137
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sandbox: out_of_memory: exceeded 256 MB"), result.stderr
    assert "survived" not in result.stdout


def test_output_limit_for_one_large_file(tmp_path):
    result = run_exec(
        "--output-mb",
        "8",
        "--output-dir",
        str(tmp_path),
        "--",
        "sh",
        "-c",
        "head -c 100000000 /dev/zero > big",
    )
    assert result.returncode == 153
    assert result.stderr.strip().splitlines()[-1] == "sandbox: output_too_large: output exceeded 8 MB"
    assert (tmp_path / "big").stat().st_size <= 8 * 1024 * 1024


def test_output_limit_for_many_small_files(tmp_path):
    # No single file reaches the cap (so no RLIMIT_FSIZE); the folder poll has to catch it.
    writer = "i=0; while true; do head -c 1000000 /dev/zero > f$i; i=$((i+1)); done"
    result = run_exec("--output-mb", "8", "--output-dir", str(tmp_path), "--", "sh", "-c", writer)
    assert result.returncode == 153
    assert "sandbox: output_too_large" in result.stderr


def test_many_empty_files_are_refused_in_the_output_folder(tmp_path):
    maker = "for i in range(100_000): open(f'f{i}', 'w').close()"
    result = run_exec("--output-dir", str(tmp_path), "--", "python", "-c", maker)
    assert result.returncode == 153
    last = result.stderr.strip().splitlines()[-1]
    assert last == "sandbox: output_too_large: created more than 10000 files and folders"
    assert len(os.listdir(tmp_path)) < 100_000


def test_many_empty_files_are_refused_in_tmp():
    # tmpfs inodes are kernel memory: /tmp and /dev/shm count toward the same cap.
    maker = "for i in range(100_000): open(f'/tmp/f{i}', 'w').close()"
    result = run_exec("--max-files", "5000", "--", "python", "-c", maker)
    assert result.returncode == 153
    last = result.stderr.strip().splitlines()[-1]
    assert last == "sandbox: output_too_large: created more than 5000 files and folders"


def test_tmp_and_shm_count_toward_the_memory_budget():
    # 2 x 120 MB of tmpfs pages plus a 40 MB process: each alone fits in 256 MB, together they do not.
    fill = "head -c 120000000 /dev/zero > /dev/shm/a && head -c 120000000 /dev/zero > /tmp/b"
    hold = "python -c 'import time; hoard = bytearray(40_000_000); time.sleep(30)'"
    result = run_exec("--memory-mb", "256", "--", "sh", "-c", f"{fill} && {hold}")
    assert result.returncode == 137
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sandbox: out_of_memory: exceeded 256 MB (resident "), result.stderr
    assert "/tmp and /dev/shm 228 MB)" in last


def test_filling_shm_past_the_budget_fails():
    result = run_exec("--memory-mb", "256", "--", "sh", "-c", "head -c 300000000 /dev/zero > /dev/shm/fill")
    assert result.returncode != 0
    assert "No space left on device" in result.stderr


FORK_BOMB = """
import os
while True:
    try:
        if os.fork() == 0:
            os.write(1, b"+")
    except OSError:
        pass
"""


@pytest.mark.needs("pids-cgroup")
def test_a_fork_bomb_ends_the_run_at_the_process_cap_and_the_host_is_unaffected():
    from sandbox.pids import CGROUP_PREFIX, find_parent

    result = run_exec("--max-tasks", "64", "--wall-seconds", "60", "--", "python", "-c", FORK_BOMB)
    assert result.returncode == 137
    last = result.stderr.strip().splitlines()[-1]
    assert last == "sandbox: too_many_processes: reached the limit of 64 processes and threads"
    # The cgroup refused every fork past the cap (a watchdog alone would overshoot by thousands).
    assert 0 < result.stdout.count("+") < 64
    assert not [
        p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["python", "-c", FORK_BOMB]
    ]
    # Its cgroup is gone (others' may be there: sandboxes of test processes running beside this one,
    # and those a killed supervisor left until the next sweep).
    left = [
        path.name for path in find_parent().iterdir() if path.name.startswith(f"{CGROUP_PREFIX}{result.pid}-")
    ]
    assert left == []


def test_the_sandbox_dies_with_its_supervisor(tmp_path):
    marker = tmp_path / "started"
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.exec",
            "--output-dir",
            str(tmp_path),
            "--",
            "sh",
            "-c",
            "touch started; exec sleep 1234",
        ],
        cwd=PROJECT_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
    )
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists()
    sleepers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "1234"]]
    assert sleepers
    supervisor.kill()
    supervisor.wait()
    _, alive = psutil.wait_procs(sleepers, timeout=10)
    assert not alive


def test_bad_arguments_are_usage_errors():
    missing = run_exec("--input", "/nonexistent/file", "--", "true")
    assert missing.returncode == 2
    assert "--input /nonexistent/file: no such file or directory" in missing.stderr
    assert run_exec("--memory-mb", "0", "--", "true").returncode == 2
    assert "--max-tasks must be positive" in run_exec("--max-tasks", "0", "--", "true").stderr
    assert run_exec("--device", "tpu", "--", "true").returncode == 2
    no_command = run_exec("--memory-mb", "100")
    assert no_command.returncode == 2
    assert "give the command after --" in no_command.stderr
