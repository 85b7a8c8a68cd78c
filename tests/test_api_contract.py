"""The API keeps its published contract: Schemathesis runs the whole OpenAPI schema against the live
test server, as a client, an engineer and staff, in its default phases (coverage, fuzzing, and stateful
sequences that follow the links it infers), and every answer must be documented: no 5xx, a documented
status and content type, and a body that matches the schema for that status.

The data is the demo marketplace (`seed_demo`), so ids in the schema's examples and links lead to real
requests, consultations, engagements, milestones and challenges; payout accounts talk to the local
Stripe server. The budget is fixed (examples per operation, one seed), so a run is the same every time.
"""

import subprocess
import sys

import pytest
from celery._state import _set_task_join_will_block
from django.core.management import call_command
from django.test.testcases import QuietWSGIRequestHandler

from marketplace.models import User
from marketplace.services.users import api_token_issue
from tests.payments.stripe_server import API_KEY, local_stripe, local_stripe_server  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROLES = {"client": "client", "engineer": "maya", "staff": "admin"}
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 5  # per operation and phase
SEED = 20261203
# The operations that end the session the run is authenticated with (rotate or revoke its token) would
# turn the rest of the run into 401s; tests/marketplace/test_api_auth.py checks them, answer by answer.
SESSION_ENDING = "^/api/v1/auth/(token/refresh|logout|logout-all)/$"


@pytest.fixture
def demo_marketplace(live_server, local_stripe, settings, monkeypatch):  # noqa: F811 - the fixture, by name
    # One request per connection, as a production server in front of the app would treat what follows:
    # Django's test server cannot read a chunked request body (Schemathesis sends some), and on a kept-alive
    # connection the unread chunks would be taken for the next request; and on a kept-alive connection
    # each answer's second write waits for the client's delayed ACK (~40 ms a request, most of the run).
    monkeypatch.setattr(QuietWSGIRequestHandler, "protocol_version", "HTTP/1.0")
    settings.STRIPE_USES_LOCAL_SERVER = True
    settings.STRIPE_LOCAL_URL = local_stripe.url
    settings.STRIPE_SECRET_KEY = API_KEY
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    yield live_server
    # Tasks run eagerly in the live server's request threads, each inside Celery's process-wide "no
    # joining results here" flag, saved and restored per call; two such calls in overlapping threads
    # can leave it set for the rest of this test process, where a test's own `.delay().get()` then fails.
    _set_task_join_will_block(False)


@pytest.mark.parametrize("role", ROLES)
def test_every_answer_of_the_api_is_the_one_its_schema_documents(role, demo_marketplace, tmp_path):
    user = User.objects.get(username=ROLES[role])
    token, _ = api_token_issue(user=user)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{demo_marketplace.url}/api/schema/",
        f"--header=Authorization: Token {token}",
        f"--checks={CHECKS}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        f"--exclude-path-regex={SESSION_ENDING}",
        "--workers=1",  # CPython 3.11's parser is not safe for Hypothesis' threads (SystemError in ast)
        "--generation-database=none",
        "--no-color",
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    report = run.stdout[run.stdout.find("\n_____") :] if "\n_____" in run.stdout else run.stdout[-4000:]
    assert run.returncode == 0, f"Schemathesis as {role}:\n{report[:30000]}\n{run.stderr[-2000:]}"
    assert " passed" in run.stdout and "generated" in run.stdout
