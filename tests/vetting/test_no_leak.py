"""No hidden item leaves the server: after full pipeline runs through a real worker (a dataset
submission scored end to end, and an adapter whose evaluation crashes), every engineer-facing
response, every job's log and failure message, every submission's stored text, the transition log,
the test process's log records and the worker's log hold none of the hidden items' texts.

The vetting pages and API are found from the URL configuration (any route under vetting/), so the
test covers whatever exists; when none exists yet, that part is skipped, saying so.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import logging
import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.models import TransitionLog
from sandbox.models import Job
from tests.vetting import test_pipeline_support as support
from tests.vetting.conftest import task_dataset
from tests.vetting.test_pipeline_support import finished_submission, make_tiny_challenge, tiny_adapter_files
from vetting import pipeline
from vetting.challenges import GENERAL_METRIC
from vetting.models import Badge, Challenge, EvalItem, EvalSetVersion, Submission
from vetting.selectors import submission_public

# Fixtures (see test_pipeline_support).
pipeline_settings = support.pipeline_settings
start_pipeline_worker = support.start_pipeline_worker
tiny_model_dir = support.tiny_model_dir

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.needs("bwrap"),
]

MIN_FRAGMENT = 40
ENGINEER_ROUTE = re.compile(r"vetting|sandbox|challenge|submission|badge|leaderboard")
PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def normalise(text: str) -> str:
    return " ".join(html.unescape(text).split())


def flatten(value: Any) -> str:
    """Every string inside a JSON value, joined: what a JSON body says once its escapes are undone."""
    if isinstance(value, dict):
        return " \n ".join(flatten(key) + " \n " + flatten(item) for key, item in value.items())
    if isinstance(value, list):
        return " \n ".join(flatten(item) for item in value)
    return str(value)


def readable(body: str) -> str:
    text = normalise(body)
    with contextlib.suppress(ValueError):
        text += " \n " + normalise(flatten(json.loads(body)))
    return text


def hidden_fragments(public: str) -> dict[str, str]:
    """{fragment: item key}: each hidden input whole, each of its lines long enough to be its own,
    and each target rendering that is distinctive (in no public text, training set or example)."""
    public = normalise(public)
    fragments: dict[str, str] = {}
    for item in EvalItem.objects.select_related("eval_set__challenge"):
        fragments[normalise(item.input)] = item.key
        for line in item.input.splitlines():
            line = normalise(line)
            if len(line) >= MIN_FRAGMENT and line not in public:
                fragments[line] = item.key
        metric = GENERAL_METRIC if item.split == "general" else item.eval_set.challenge.metric_obj
        target = normalise(metric.render(item.target))
        if len(target) >= MIN_FRAGMENT and target not in public:
            fragments[target] = item.key
    return fragments


def leaks(surfaces: dict[str, str], fragments: dict[str, str]) -> list[str]:
    found = []
    for where, body in surfaces.items():
        text = readable(body)
        hits = sorted({key for fragment, key in fragments.items() if fragment in text})
        if hits:
            found.append(f"{where}: {len(hits)} item(s), e.g. {hits[0]}")
    return found


def engineer_routes() -> list[str]:
    """Every route of the site (as a pattern string) that an engineer's vetting or job pages use."""
    routes: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            text = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, text)
            elif (
                isinstance(entry, URLPattern)
                and ENGINEER_ROUTE.search(text)
                and not text.startswith("admin/")
            ):
                routes.append(text)

    walk(get_resolver().url_patterns, "")
    return routes


def fill(route: str, values: dict[str, list[str]], limit: int = 300) -> list[str]:
    """The route with every combination of plausible values for its parameters."""
    if "^" in route or "(?P" in route:
        return []
    parameters = list(PARAMETER.finditer(route))
    options = [values.get(match["converter"] or "str", values["str"]) for match in parameters]
    urls = []
    for combination in itertools.islice(itertools.product(*options), limit):
        url = route
        for match, value in zip(parameters, combination, strict=True):
            url = url.replace(match.group(0), value, 1)
        urls.append("/" + url)
    return urls


def test_no_hidden_item_leaves_the_server(
    start_pipeline_worker, engineer_user, client, caplog, tiny_model_dir, tmp_path
):
    caplog.set_level(logging.DEBUG)
    worker = start_pipeline_worker()
    challenge = make_tiny_challenge()
    dataset = task_dataset(challenge, 24)

    scored = pipeline.submission_submit(
        actor=engineer_user,
        challenge_id=challenge.pk,
        kind="dataset",
        dataset=dataset,
        hyperparameters={"rank": 4, "epochs": 1, "batch_size": 8, "learning_rate": 1e-2},
    )
    scored = finished_submission(scored.pk, worker=worker)
    assert scored.state in (Submission.State.PASSED, Submission.State.FAILED), (
        scored.failure_message,
        worker.log(),
    )
    # An evaluation engine that fails: its error must not travel either.
    Challenge.objects.filter(pk=challenge.pk).update(max_new_tokens=5000)
    crashed = pipeline.submission_submit(
        actor=engineer_user,
        challenge_id=challenge.pk,
        kind="adapter",
        adapter_files=tiny_adapter_files(tiny_model_dir, tmp_path / "adapter"),
    )
    crashed = finished_submission(crashed.pk, worker=worker)
    assert (crashed.state, crashed.failure_step) == (Submission.State.ERRORED, "evaluate")

    public_text = dataset.decode() + json.dumps(
        [challenge.instructions, challenge.system_prompt, challenge.user_template, challenge.public_examples]
    )
    fragments = hidden_fragments(public_text)
    assert len(fragments) > EvalItem.objects.count()
    # The search finds an item where there is one (the test can fail).
    probe = EvalItem.objects.filter(split="final").first()
    assert leaks({"probe": json.dumps({"x": f"<p>{html.escape(probe.input)}</p>"})}, fragments)

    surfaces: dict[str, str] = {}
    # Jobs: logs, failure messages, metrics, artifact names (every job, the platform's included).
    for job in Job.objects.all():
        surfaces[f"job {job.pk} record"] = json.dumps(
            [job.log_tail, job.failure_message, job.metrics, list(job.artifacts), job.spec], default=str
        )
    # The job pages and API as the engineer (their own train job is visible; the rest 404).
    client.force_login(engineer_user)
    for job in Job.objects.all():
        for url in (
            reverse("sandbox:job-detail", args=[job.pk]),
            reverse("sandbox:job-status", args=[job.pk]),
            reverse("api-sandbox-job", args=[job.pk]),
            reverse("api-sandbox-job-progress", args=[job.pk]),
        ):
            response = client.get(url)
            surfaces[f"GET {url} ({response.status_code})"] = response.content.decode(errors="replace")
    train = Job.objects.get(pk=scored.job_ids["train"])
    assert client.get(reverse("api-sandbox-job", args=[train.pk])).status_code == 200
    assert (
        client.get(reverse("api-sandbox-job", args=[scored.job_ids[pipeline.TUNED_TASK]])).status_code == 404
    )
    # Submissions: everything stored as text, and what the engineer's view of them says.
    for submission in Submission.objects.all():
        surfaces[f"submission {submission.pk}"] = json.dumps(
            [
                submission.steps,
                submission.failure_message,
                submission.verdict,
                submission.validation_report,
                submission.figures,
                submission_public(submission=submission),
            ],
            default=str,
        )
    surfaces["transition log"] = json.dumps(list(TransitionLog.objects.values_list("note", flat=True)))
    surfaces["log records (test process)"] = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    surfaces["worker log"] = worker.log_path.read_text(errors="replace")

    assert not leaks(surfaces, fragments)

    # The engineer-facing vetting pages and API, wherever they are.
    routes = [route for route in engineer_routes() if "vetting" in route]
    if not routes:
        pytest.skip(
            "no vetting pages or API routes exist yet (vetting/urls.py is empty); jobs, logs and errors were checked"
        )
    ints = {
        str(pk)
        for model in (Submission, Challenge, Job, EvalSetVersion, Badge)
        for pk in model.objects.values_list("pk", flat=True)
    }
    values = {
        "int": sorted(ints),
        "slug": [challenge.slug],
        "str": [challenge.slug, engineer_user.username],
        "path": [challenge.slug],
        "uuid": [],
    }
    pages: dict[str, str] = {}
    for route in routes:
        for url in fill(route, values):
            response = client.get(url)
            pages[f"GET {url} ({response.status_code})"] = response.content.decode(errors="replace")
    answered = [where for where in pages if where.endswith("(200)")]
    assert answered, f"no vetting route answered the engineer: {sorted(pages)[:10]}"
    assert not leaks(pages, fragments)
