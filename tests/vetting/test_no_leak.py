"""No hidden item and no final-split figure leaves the server: after full pipeline runs through a real
worker (a dataset submission scored end to end, and an adapter whose evaluation crashes), every
engineer-facing response, every job's log and failure message, every submission's stored text, the
transition log, the test process's log records and the worker's log hold none of the hidden items'
texts; the engineer's pages and API hold no final-split figure; and hostile uploads (deeply nested,
huge, binary, invalid UTF-8) answered with DEBUG on are clear errors that hold neither.

The vetting pages and API are found from the URL configuration (any route under vetting/), so the
test covers whatever exists.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import logging
import random
import re
import struct
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.models import TransitionLog
from sandbox.models import Job
from tests.celery_worker import wait_for
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
    start_pipeline_worker, engineer_user, client, caplog, tiny_model_dir, tmp_path, settings
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
    scored = finished_submission(scored.pk, workers=[worker])
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
    crashed = finished_submission(crashed.pk, workers=[worker])
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
    assert client.get(reverse("api-sandbox-job", args=[scored.job_ids[pipeline.TUNED]])).status_code == 404
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

    # Final-split figures made distinctive, so that any surface showing one is caught.
    final_figures = seal_final_figures(scored)
    assert figure_leaks({"probe": "<td>final 61.4%</td>"}, final_figures)  # the search can fail
    assert figure_leaks({"probe": '{"score": 57.91, "at": "02:37:10"}'}, final_figures)
    assert not figure_leaks({"probe": '{"created_at": "2026-12-05T02:37:57.912345Z"}'}, final_figures)

    # The engineer-facing vetting pages and API, wherever they are.
    routes = [route for route in engineer_routes() if "vetting" in route]
    assert routes, "the vetting pages and API are routed"
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
    assert not figure_leaks(pages, final_figures)

    # Hostile uploads, answered with DEBUG on (where an error page would print local variables).
    responses = hostile_upload_responses(client, challenge, settings)
    statuses = {where.rsplit(" ", 1)[1] for where in responses}
    # Received for the worker to validate (202), or refused at once: never a crash.
    assert statuses <= {"(200)", "(202)", "(400)", "(413)"}, sorted(responses)
    wait_for(
        lambda: not Submission.objects.filter(state=Submission.State.VALIDATING).exists(),
        timeout=120,
        what="the worker to validate the hostile uploads",
    )
    hostile = Submission.objects.filter(state=Submission.State.REJECTED)
    assert hostile.count() >= len(responses) // 2, worker.log()
    for submission in hostile:
        for url in (
            reverse("vetting:submission-validation", args=[submission.pk]),
            f"/api/v1/vetting/submissions/{submission.pk}/",
        ):
            response = client.get(url)
            responses[f"GET {url} ({response.status_code})"] = response.content.decode(errors="replace")
    assert not leaks(responses, fragments)
    assert not figure_leaks(responses, final_figures)


def seal_final_figures(submission: Submission) -> list[str]:
    """Give the submission's final-split figures (and its badge's score) values found nowhere else, and
    return the ways a page could print them."""
    final = dict(submission.figures.get("final", {}))
    final.update(fine_tuned=0.6137, fine_tuned_all_items=0.6137, fine_tuned_ci=[0.5791, 0.6483])
    Submission.objects.filter(pk=submission.pk).update(
        fine_tuned_score=0.6137,
        fine_tuned_ci=[0.5791, 0.6483],
        delta_ci=[0.2113, 0.3371],
        figures={**submission.figures, "final": final},
    )
    Badge.objects.filter(submission=submission).update(score=0.6137)
    figures = []
    for value in (0.6137, 0.5791, 0.6483, 0.2113, 0.3371):
        figures += [f"{value:.4f}", f"{value:.3f}", f"{value * 100:.1f}%", f"{value * 100:.2f}"]
    return figures


# A time of day, as timestamps print it: its seconds are no figure ("57.91" in "02:37:57.912345").
TIME_OF_DAY = re.compile(r"\d{2}:\d{2}:\d{2}(?:\.\d+)?")


def figure_leaks(surfaces: dict[str, str], figures: list[str]) -> list[str]:
    """Where a figure is printed: as a number of its own or the start of a longer one ("0.3371" in
    "0.33710"), not inside another number's integer part ("0.337" in a duration of "10.337" s) nor as
    a timestamp's seconds."""
    return [
        f"{where}: {figure}"
        for where, body in surfaces.items()
        for figure in figures
        if re.search(rf"(?<!\d){re.escape(figure)}", TIME_OF_DAY.sub(" ", readable(body)))
    ]


def hostile_upload_responses(client, challenge: Challenge, settings) -> dict[str, str]:
    settings.DEBUG = True
    settings.VETTING_MAX_DATASET_BYTES = 256 * 1024
    client.raise_request_exception = False
    nested_header = b'{"a": ' * 10_000
    junk = random.Random(0).randbytes(4096)
    datasets = {
        "nested line": b"[" * 50_000 + b"\n",
        "nested object": b'{"messages": ' * 20_000 + b"\n",
        "huge": b'{"messages": []}\n' * 20_000,
        "binary": junk,
        "invalid utf-8": b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}\n',
    }
    adapters = {
        "nested config": {"adapter_config": b"[" * 50_000, "adapter_model": b"\0" * 16},
        "nested header": {
            "adapter_config": b'{"peft_type": "LORA"}',
            "adapter_model": struct.pack("<Q", len(nested_header)) + nested_header,
        },
        "binary adapter": {"adapter_config": junk, "adapter_model": junk},
    }
    responses: dict[str, str] = {}

    def record(where: str, response) -> None:
        responses[f"{where} ({response.status_code})"] = response.content.decode(errors="replace")

    def files(**named: bytes) -> dict[str, SimpleUploadedFile]:
        return {name: SimpleUploadedFile(f"{name}.bin", data) for name, data in named.items()}

    page = reverse("vetting:submission-create", args=[challenge.slug])
    for name, data in datasets.items():
        record(
            f"API dataset {name}",
            client.post("/api/v1/vetting/submissions/", {"challenge": challenge.slug, **files(dataset=data)}),
        )
        record(
            f"page dataset {name}", client.post(page, {"kind": "dataset", **files(dataset=data)}, follow=True)
        )
    record(
        "API hyperparameters nested",
        client.post(
            "/api/v1/vetting/submissions/",
            {"challenge": challenge.slug, "hyperparameters": "[" * 50_000, **files(dataset=b"{}\n")},
        ),
    )
    for name, parts in adapters.items():
        record(
            f"API adapter {name}",
            client.post(
                "/api/v1/vetting/submissions/",
                {"challenge": challenge.slug, "kind": "adapter", **files(**parts)},
            ),
        )
        record(f"page adapter {name}", client.post(page, {"kind": "adapter", **files(**parts)}, follow=True))
    return responses
