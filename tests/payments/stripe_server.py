"""The local Stripe-compatible server (`devtools.localstripe`) for tests: one subprocess per session.

`local_stripe_server` starts it on a free port and stops it at the end; `local_stripe` gives each test
a fresh server state and points the global `stripe` client at it (restoring the client afterwards).
Import both into a test module: `from tests.payments.stripe_server import local_stripe, ...`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import stripe

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_local"
START_TIMEOUT_S = 30


def open_url(request: str | urllib.request.Request, timeout: float = 10):
    """urlopen for the local servers the tests talk to (plain http only)."""
    url = request.full_url if isinstance(request, urllib.request.Request) else request
    if not url.startswith("http://"):
        raise ValueError(f"tests only open local http URLs, not {url}")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked above


@dataclass(frozen=True)
class LocalStripe:
    url: str

    def control(self, method: str, path: str, payload: dict | None = None) -> dict:
        """Call a control endpoint (`/_test/...`, `/_config/...`); they need no API key."""
        body = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - self.url is the local server's http URL
            self.url + path, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        with open_url(request) as response:
            text = response.read().decode()
        return json.loads(text) if text else {}

    def reset(self) -> None:
        self.control("POST", "/_test/reset")

    def add_fault(self, path_prefix: str, mode: str, **options) -> dict:
        return self.control("POST", "/_test/faults", {"path_prefix": path_prefix, "mode": mode, **options})

    def register_webhook(self, name: str, url: str, secret: str) -> None:
        self.control("POST", f"/_config/webhooks/{name}", {"url": url, "secret": secret})

    def remove_webhook(self, name: str) -> None:
        self.control("DELETE", f"/_config/webhooks/{name}")


def _wait_until_answering(process: subprocess.Popen, port_file: Path, log_path: Path) -> LocalStripe:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"local Stripe server exited with {process.returncode}:\n{log_path.read_text()}"
            )
        if port_file.exists():
            server = LocalStripe(f"http://127.0.0.1:{port_file.read_text().strip()}")
            try:
                server.control("GET", "/_test/faults")
                return server
            except (urllib.error.URLError, ConnectionError):
                pass
        time.sleep(0.05)
    raise RuntimeError(f"local Stripe server did not answer in {START_TIMEOUT_S} s:\n{log_path.read_text()}")


@contextlib.contextmanager
def running_server(workdir: Path, *options: str) -> Iterator[LocalStripe]:
    """Run `python -m devtools.localstripe` on a free port until the block ends."""
    port_file, log_path = workdir / "port", workdir / "server.log"
    port_file.unlink(missing_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devtools.localstripe",
                "--port",
                "0",
                "--port-file",
                str(port_file),
                *options,
            ],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield _wait_until_answering(process, port_file, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def local_stripe_server(tmp_path_factory) -> Iterator[LocalStripe]:
    with running_server(tmp_path_factory.mktemp("local-stripe")) as server:
        yield server


@pytest.fixture
def local_stripe(local_stripe_server: LocalStripe) -> Iterator[LocalStripe]:
    """A fresh server state, and `stripe` pointed at it with automatic retries off, so each test
    sees failures exactly as they happen and retries them itself."""
    local_stripe_server.reset()
    saved = (stripe.api_base, stripe.api_key, stripe.max_network_retries, stripe.default_http_client)
    stripe.api_base, stripe.api_key, stripe.max_network_retries = local_stripe_server.url, API_KEY, 0
    try:
        yield local_stripe_server
    finally:
        stripe.api_base, stripe.api_key, stripe.max_network_retries, stripe.default_http_client = saved
