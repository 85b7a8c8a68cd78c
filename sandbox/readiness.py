"""Can this host run sandbox jobs? One real, tiny confined process answers it.

bubblewrap being installed is not enough: some containers and hardened kernels forbid the user
namespaces it needs, and then every job would fail at its first submission. The system checks
(`manage.py check`) and the gpu worker's start-up call this, so that a host which cannot sandbox says
so before anyone submits.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sandbox.isolation import Confinement, IsolationUnavailable
from sandbox.supervisor import Limits, run_confined

PROBE_LIMITS = Limits(wall_seconds=30, memory_mb=256, output_mb=1)

INSTALL_HINT = (
    "install bubblewrap (`sudo apt-get install -y bubblewrap`, or `make run`, which installs it) and "
    "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; in a container, "
    "run it with user namespaces permitted)"
)


def sandbox_problem() -> str | None:
    """Why a confined process cannot start on this host, or None when it can."""
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as output_dir:
        try:
            outcome = run_confined(
                ["true"],
                confinement=Confinement(output_dir=Path(output_dir), memory_mb=PROBE_LIMITS.memory_mb),
                limits=PROBE_LIMITS,
                allow_unisolated=False,
                on_line=lambda _stream, line: lines.append(line.strip()),
            )
        except IsolationUnavailable:
            return "bubblewrap (bwrap) is not installed"
        except OSError as exc:
            return f"bubblewrap could not be started: {exc}"
    if outcome.ending is None and outcome.returncode == 0:
        return None
    said = next((line for line in reversed(lines) if line), "")
    detail = outcome.message or f"exit status {outcome.returncode}"
    return f"a confined test process failed ({detail}){': ' + said if said and said not in detail else ''}"
