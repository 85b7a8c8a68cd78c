"""Isolation: the bwrap command line, and what a confined process can and cannot reach, checked from
inside through `python -m sandbox.exec` and through real jobs (the supervisor in this process)."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox import services
from sandbox.isolation import SANDBOX_PACKAGE_DIR, Confinement, bwrap_command, gpu_index, sandbox_env
from sandbox.models import Job
from tests.sandbox.conftest import PROJECT_DIR

pytestmark = pytest.mark.needs("bwrap")

SECRETS = {
    "SECRET_KEY": "django-secret-value-1",
    "STRIPE_SECRET_KEY": "sk_live_secret_value_2",
    "DATABASE_URL": "postgres://app:db-password-3@db.internal:5432/app",
    "CELERY_BROKER_URL": "redis://:broker-password-4@redis.internal:6379/0",
}
HOST_SOCKETS = [
    "/var/run/postgresql/.s.PGSQL.5432",
    "/run/postgresql/.s.PGSQL.5432",
    "/tmp/.s.PGSQL.5432",
    "/run/redis/redis-server.sock",
    "/var/run/redis/redis.sock",
    "/tmp/redis.sock",
]


def run_exec(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.exec", *args],
        cwd=PROJECT_DIR,
        env=env or {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


PROBE = textwrap.dedent(
    """
    import json, os, socket, sys
    args = json.loads(sys.argv[1])
    found = {"tcp": {}, "visible": [], "readable": []}
    for host, port in args["tcp"]:
        s = socket.socket(); s.settimeout(2)
        try:
            s.connect((host, port)); found["tcp"][str(port)] = "connected"
        except OSError as exc:
            found["tcp"][str(port)] = str(exc)
        s.close()
    for path in args["paths"]:
        if os.path.exists(path):
            found["visible"].append(path)
        try:
            open(path, "rb").read(); found["readable"].append(path)
        except OSError:
            pass
    found["env"] = dict(os.environ)
    found["capabilities"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
    found["uid"] = os.getuid()
    print(json.dumps(found))
    """
)


@pytest.fixture
def host_listener():
    """A TCP port and a Unix socket served on the host right now, so "unreachable" means something."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    folder = Path(f"/tmp/sandbox-test-sock-{os.getpid()}")
    folder.mkdir(exist_ok=True)
    unix_path = folder / ".s.PGSQL.5432"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(unix_path))
    unix.listen()
    yield tcp.getsockname()[1], unix_path
    tcp.close()
    unix.close()
    unix_path.unlink()
    folder.rmdir()


@pytest.fixture
def private_files(tmp_path):
    """Files the sandbox must not read: another job's output and a hidden eval file."""
    other_job = tmp_path / "sandbox" / "jobs" / "999" / "attempt-1" / "output" / "adapter_model.safetensors"
    other_job.parent.mkdir(parents=True)
    other_job.write_bytes(b"someone else's adapter")
    hidden = tmp_path / "eval" / "hidden.jsonl"
    hidden.parent.mkdir()
    hidden.write_text('{"input": "hidden item", "expected": "secret answer"}\n')
    visible = tmp_path / "given" / "dataset.jsonl"
    visible.parent.mkdir()
    visible.write_text("the input\n")
    return {"other_job": other_job, "hidden": hidden, "input": visible}


# -- the command line -----------------------------------------------------------------------------


def _pairs(argv: list[str], option: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == option]


def test_command_line_confines_to_what_the_job_needs(tmp_path):
    output = tmp_path / "out"
    dataset = tmp_path / "data.jsonl"
    output.mkdir()
    dataset.write_text("")
    confinement = Confinement(output_dir=output, inputs=[dataset], memory_mb=1000, cpu_threads=3)
    env = sandbox_env(confinement)
    argv = bwrap_command(bwrap="/usr/bin/bwrap", confinement=confinement, command=["python", "x.py"], env=env)

    head = argv[: argv.index("--")]
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--unshare-user"):
        assert flag in head
    assert ("--cap-drop", "ALL") in itertools.pairwise(head)
    assert argv[argv.index("--") + 1 :] == ["python", "x.py"]

    # One writable folder: the output. Everything else read-only, and nothing of the host's
    # sockets, /tmp, /run, /var or /home; of /etc only the loader cache and time zone.
    assert _pairs(head, "--bind") == [(str(output), str(output))]
    read_only = [src for src, _ in _pairs(head, "--ro-bind") + _pairs(head, "--ro-bind-try")]
    assert str(dataset) in read_only
    assert str(SANDBOX_PACKAGE_DIR) in read_only
    assert str(PROJECT_DIR) not in read_only  # not var/, media/ or .env
    for path in read_only:
        assert not path.startswith(("/run", "/var", "/tmp/.s", "/home"))
        assert path == "/usr" or not path.startswith("/etc") or path in ("/etc/ld.so.cache", "/etc/localtime")
    assert "/etc" not in read_only
    assert "/tmp" not in read_only
    tmpfs = [head[i + 1] for i, arg in enumerate(head) if arg == "--tmpfs"]
    assert tmpfs == ["/tmp", "/dev/shm"]
    assert "--dev-bind" not in head

    assert env["HOME"] == "/tmp"
    assert env["HF_HUB_OFFLINE"] == env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["OMP_NUM_THREADS"] == "3"
    assert env["PYTHONPATH"] == str(PROJECT_DIR)
    assert "CUDA_VISIBLE_DEVICES" not in env
    assert [head[i + 1] for i, arg in enumerate(head) if arg == "--setenv"] == list(env)


def test_command_line_binds_only_the_assigned_gpu(tmp_path):
    confinement = Confinement(output_dir=tmp_path, device="cuda:1")
    env = sandbox_env(confinement)
    argv = bwrap_command(bwrap="/usr/bin/bwrap", confinement=confinement, command=["true"], env=env)

    assert _pairs(argv, "--dev-bind") == [("/dev/nvidia1", "/dev/nvidia1")]
    assert {src for src, _ in _pairs(argv, "--dev-bind-try")} == {
        "/dev/nvidiactl",
        "/dev/nvidia-uvm",
        "/dev/nvidia-uvm-tools",
    }
    assert not any("/dev/nvidia0" in arg for arg in argv)
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_unknown_device_is_refused():
    assert gpu_index("cpu") is None
    assert gpu_index("cuda") == 0
    assert gpu_index("cuda:3") == 3
    with pytest.raises(ValueError, match="Unknown device"):
        gpu_index("tpu:0")


# -- from inside, through sandbox.exec ------------------------------------------------------------


def test_exec_cannot_reach_network_sockets_files_or_secrets(host_listener, private_files):
    port, unix_path = host_listener
    probe = {
        "tcp": [["127.0.0.1", 5432], ["127.0.0.1", 6379], ["127.0.0.1", port]],
        "paths": [
            *HOST_SOCKETS,
            str(unix_path),
            str(private_files["other_job"]),
            str(private_files["hidden"]),
            str(private_files["input"]),
            "/etc/passwd",
            "/etc/shadow",
            str(PROJECT_DIR / "var"),
        ],
    }
    env = {**os.environ, **SECRETS, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    env.pop("DATABASE_URL")  # this process's own settings read it; the child gets it via SECRETS below
    env["DATABASE_URL"] = os.environ.get("DATABASE_URL", "sqlite:////tmp/x.sqlite3")
    result = run_exec(
        "--input", str(private_files["input"]), "--", "python", "-c", PROBE, json.dumps(probe), env={**env}
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)

    # The same host port is reachable from outside the sandbox: the refusal inside is the sandbox's.
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert all(outcome != "connected" for outcome in found["tcp"].values()), found["tcp"]
    assert found["visible"] == [str(private_files["input"])]
    assert found["readable"] == [str(private_files["input"])]
    for name, value in {**SECRETS, "DATABASE_URL": env["DATABASE_URL"]}.items():
        assert name not in found["env"]
        assert value not in json.dumps(found["env"])
    assert found["capabilities"] == "0000000000000000"
    assert found["uid"] != 0


def test_exec_secrets_in_parent_environment_do_not_reach_the_command():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", **SECRETS}
    result = run_exec("--", "sh", "-c", "env", env=env)
    assert result.returncode == 0, result.stderr
    for name, value in SECRETS.items():
        assert name not in result.stdout
        assert value not in result.stdout
    assert "HF_HUB_OFFLINE=1" in result.stdout


def test_exec_inputs_are_read_only(private_files):
    path = private_files["input"]
    result = run_exec("--input", str(path), "--", "sh", "-c", f"cat {path}; echo changed > {path}")
    assert result.stdout == "the input\n"
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr
    assert path.read_text() == "the input\n"


def test_exec_refuses_without_bubblewrap_unless_explicitly_allowed(tmp_path):
    no_bwrap = {**os.environ, "PATH": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    refused = run_exec("--", sys.executable, "-c", "print('ran')", env=no_bwrap)
    assert refused.returncode == 125
    assert refused.stdout == ""
    assert "sandbox: infrastructure: bubblewrap (bwrap) is not installed" in refused.stderr

    (tmp_path / "allow_unisolated.py").write_text(
        "from config.settings_test import *  # noqa\nSANDBOX_ALLOW_UNISOLATED = True\n"
    )
    allowed_env = {
        **no_bwrap,
        "DJANGO_SETTINGS_MODULE": "allow_unisolated",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{PROJECT_DIR}",
    }
    allowed = run_exec("--", sys.executable, "-c", "print('ran')", env=allowed_env)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == "ran\n"
    assert "SANDBOX UNISOLATED" in allowed.stderr


# -- from inside, through real jobs ---------------------------------------------------------------


def test_job_cannot_reach_network_sockets_other_files_or_secrets(
    db, sandbox_settings, dataset, private_files, host_listener, monkeypatch
):
    port, unix_path = host_listener
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    other_job_file = sandbox_settings.SANDBOX_ROOT / "jobs" / "0" / "attempt-1" / "output" / "adapter.bin"
    other_job_file.parent.mkdir(parents=True, exist_ok=True)
    other_job_file.write_bytes(b"other job")
    forbidden = [
        *HOST_SOCKETS,
        str(unix_path),
        str(other_job_file),
        str(private_files["hidden"]),
        str(PROJECT_DIR / "var"),
    ]
    job = services.job_create(
        kind=Job.Kind.TRAIN,
        spec={
            "behaviour": "probe",
            "dataset_path": str(dataset),
            "forbidden": forbidden,
            "ports": [5432, 6379, port],
        },
        wall_seconds=60,
        memory_mb=512,
    )
    job = services.job_run(job_id=job.pk)

    assert job.state == Job.State.SUCCEEDED, (job.failure_message, job.log_tail)
    found = job.metrics
    socket.create_connection(("127.0.0.1", port), timeout=2).close()  # open, outside the sandbox
    for probed in (5432, 6379, port):
        assert found[f"tcp_{probed}"].startswith("refused"), found
    assert found["visible"] == [] and found["readable"] == []
    assert found["input_text"] == dataset.read_text()
    assert found["input_writable"] is False
    assert not set(SECRETS) & set(found["env"])
    assert "DJANGO_SETTINGS_MODULE" not in found["env"]
