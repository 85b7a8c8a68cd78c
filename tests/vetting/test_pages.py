"""The vetting pages, per role: challenges, the submission form and its validation report, live progress,
the result (verdict, chart, forgetting, costs, never a final-split figure), the leaderboard and the
staff pages. Nobody sees another engineer's submission, and no hidden item reaches any page."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from sandbox.models import Job
from tests.factories import ClientFactory, EngineerFactory, StaffFactory
from tests.vetting.conftest import evaluated_submission, scored, task_dataset
from tests.vetting.test_services import _adapter_upload
from tests.vetting.test_visibility import leaked_items
from vetting import services
from vetting.datasets import hyperparameter_schema
from vetting.models import Badge, LeaderboardOptIn, Submission
from vetting.selectors import evalset_items_for_staff

pytestmark = pytest.mark.django_db

S = Submission.State


@pytest.fixture(autouse=True)
def pipeline(pipeline_entry) -> list[int]:
    return pipeline_entry


def logged_in(client, user):
    client.force_login(user)
    return client


def bad_dataset(challenge) -> bytes:
    """30 good lines, then line 31 not JSON and line 32 with no assistant turn."""
    good = task_dataset(challenge, 30).decode().splitlines()
    no_assistant = json.dumps({"messages": [{"role": "user", "content": "Where is my invoice?"}]})
    return ("\n".join([*good, '{"messages": [', no_assistant]) + "\n").encode()


def upload(data: bytes, name: str = "train.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/jsonl")


def form_data(challenge, **overrides) -> dict:
    """A complete submission form with every hyperparameter at its default."""
    data = {"kind": "dataset", "dataset": upload(task_dataset(challenge, 40))}
    for key, spec in hyperparameter_schema(challenge.hyperparameter_limits).items():
        if spec["type"] == "boolean":
            continue
        data[key] = spec["default"]
    data.update(overrides)
    return data


def train_job(owner, *, kind=Job.Kind.TRAIN, step: int = 30, total: int = 60) -> Job:
    """A job as its supervisor leaves it mid-run (no engine needs to run for a page)."""
    now = timezone.now()
    return Job.objects.create(
        kind=kind,
        owner=owner,
        spec={},
        wall_seconds=600,
        memory_mb=1024,
        output_mb=64,
        max_attempts=2,
        state=Job.State.RUNNING,
        attempt=1,
        started_at=now - timedelta(seconds=90),
        heartbeat_at=now,
        progress_step=step,
        progress_total=total,
        loss_history=[[s, round(2.4 / (1 + s / 8), 4)] for s in range(1, step + 1)],
        tokens_per_second=2100.0,
    )


# --- challenges -------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client, ticket, engineer_user):
    submission = scored(ticket, engineer_user)
    urls = [
        reverse("vetting:challenge-list"),
        reverse("vetting:challenge-detail", args=[ticket.slug]),
        reverse("vetting:submission-create", args=[ticket.slug]),
        reverse("vetting:leaderboard", args=[ticket.slug]),
        reverse("vetting:submission-list"),
        reverse("vetting:staff-submissions"),
        reverse("vetting:staff-submission", args=[submission.pk]),
        reverse("vetting:staff-badges"),
        *submission_urls(submission),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_engineer_sees_challenges_with_attempts_best_score_and_badge(client, seeded, engineer_user):
    ticket = seeded["support-ticket-json"]
    scored(ticket, engineer_user)
    text = logged_in(client, engineer_user).get(reverse("vetting:challenge-list")).content.decode()
    for challenge in seeded.values():
        assert challenge.title in text
        assert reverse("vetting:challenge-detail", args=[challenge.slug]) in text
    assert "JSON extraction" in text and "Structured JSON extraction" in text
    assert "2 attempts left" in text and "3 attempts left" in text
    assert 'data-testid="best-released">0.50<' in text
    assert "band-pass" in text
    assert 'href="/vetting/"' in text and ">Challenges</a>" in text  # the nav link


def test_client_reads_challenges_but_cannot_submit(client, ticket, client_user):
    client = logged_in(client, client_user)
    listing = client.get(reverse("vetting:challenge-list")).content.decode()
    assert ticket.title in listing and "attempts left" not in listing
    detail = client.get(reverse("vetting:challenge-detail", args=[ticket.slug]))
    assert detail.status_code == 200
    assert reverse("vetting:submission-create", args=[ticket.slug]) not in detail.content.decode()
    for response in (
        client.get(reverse("vetting:submission-create", args=[ticket.slug])),
        client.post(reverse("vetting:submission-create", args=[ticket.slug]), form_data(ticket)),
    ):
        assert response.status_code == 403
        assert "As a client you can read every challenge" in response.content.decode()
    assert not Submission.objects.exists()


def test_challenge_page_publishes_the_exact_prompt_examples_budgets_and_rules(client, ticket, engineer_user):
    response = logged_in(client, engineer_user).get(reverse("vetting:challenge-detail", args=[ticket.slug]))
    assert response.status_code == 200
    text = response.content.decode()
    page = response.context
    assert page["public"]["evaluation_prompt"] == {
        "system": ticket.system_prompt,
        "user_template": ticket.user_template,
    }
    # The system message exactly as the model gets it, and the user turn around the input mark.
    prefix, suffix = ticket.user_template.split("{input}")
    assert f'data-testid="system-prompt">{escape(ticket.system_prompt)}</pre>' in text
    assert (
        f'data-testid="user-template">{escape(prefix)}<span class="mark-input">{{input}}</span>{escape(suffix)}'
        in text
    )
    for example in ticket.public_examples:
        assert escape(example["input"]) in text and escape(example["output"]) in text
    assert f"≤ {ticket.max_lora_rank}" in text and f"≤ {ticket.max_epochs}" in text
    assert f"≥ <strong>{ticket.pass_threshold}</strong>" in text
    assert 'data-testid="attempts-left">3<' in text
    assert reverse("vetting:leaderboard", args=[ticket.slug]) in text
    assert reverse("vetting:submission-create", args=[ticket.slug]) in text


def test_unknown_challenge_is_404(client, seeded, engineer_user):
    client = logged_in(client, engineer_user)
    assert client.get(reverse("vetting:challenge-detail", args=["no-such"])).status_code == 404
    assert client.get(reverse("vetting:submission-create", args=["no-such"])).status_code == 404


# --- submitting ----------------------------------------------------------------------------------


def test_form_shows_each_hyperparameter_with_its_default_and_bounds(client, ticket, engineer_user):
    text = logged_in(client, engineer_user).get(reverse("vetting:submission-create", args=[ticket.slug]))
    text = text.content.decode()
    assert 'name="rank" value="16"' in text and f"Default 16; allowed 1 to {ticket.max_lora_rank}." in text
    assert 'name="learning_rate" value="0.0002"' in text and "allowed 1e-06 to 0.01" in text
    assert f"Default 2; allowed 1 to {ticket.max_epochs}." in text
    assert 'name="adapter_model"' in text and 'name="adapter_config"' in text
    assert 'name="leaderboard_opt_in"' in text


def test_a_bad_dataset_gets_a_line_numbered_report_and_starts_nothing(
    client, ticket, engineer_user, pipeline
):
    client = logged_in(client, engineer_user)
    response = client.post(
        reverse("vetting:submission-create", args=[ticket.slug]),
        form_data(ticket, dataset=upload(bad_dataset(ticket))),
    )
    submission = Submission.objects.get()
    assert submission.state == S.REJECTED
    assert response.status_code == 302
    assert response["Location"] == reverse("vetting:submission-validation", args=[submission.pk])
    assert pipeline == [] and not Job.objects.exists()

    page = client.get(response["Location"])
    text = page.content.decode()
    assert page.status_code == 200
    assert "Rejected before anything ran: no job was started and no attempt was used." in text
    assert '<td class="line-no">Line 31</td><td>not valid JSON' in text
    assert '<td class="line-no">Line 32</td><td>no assistant message' in text
    assert "2 problems" in text
    assert 'data-testid="validation-stats"' in text and "Billable tokens" in text and "Est. cost" in text
    assert reverse("vetting:submission-create", args=[ticket.slug]) in text  # fix and submit again

    # Its progress page reads as a rejection, and the steps after validation as not run.
    progress = client.get(reverse("vetting:submission-detail", args=[submission.pk])).content.decode()
    assert "callout-success" not in progress
    assert "callout-error" in progress
    for step in ("train", "evaluate", "score", "verdict"):
        assert re.search(rf'data-step="{step}" data-status="not_run">.*?not run</span>', progress, re.S)


def test_a_dataset_over_the_cap_is_dropped_while_it_streams_and_answered_on_the_form(
    client, ticket, engineer_user, settings, pipeline
):
    settings.VETTING_MAX_DATASET_BYTES = 1024 * 1024
    client = logged_in(client, engineer_user)
    response = client.post(
        reverse("vetting:submission-create", args=[ticket.slug]),
        form_data(ticket, dataset=upload(b'{"messages": []}\n' * 200_000), rank=8),
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "The dataset is larger than 1 MB." in text
    assert 'name="rank" value="8"' in text  # what was typed is kept
    assert not Submission.objects.exists() and pipeline == []


def test_a_valid_dataset_is_queued_handed_to_the_pipeline_and_opted_in(
    client, ticket, engineer_user, pipeline
):
    client = logged_in(client, engineer_user)
    response = client.post(
        reverse("vetting:submission-create", args=[ticket.slug]),
        form_data(ticket, rank=8, epochs=3, target_modules="q_proj, v_proj", leaderboard_opt_in="on"),
    )
    submission = Submission.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("vetting:submission-detail", args=[submission.pk])
    assert submission.state == S.QUEUED and pipeline == [submission.pk]
    assert submission.hyperparameters["rank"] == 8 and submission.hyperparameters["epochs"] == 3
    assert submission.hyperparameters["target_modules"] == ["q_proj", "v_proj"]
    assert LeaderboardOptIn.objects.filter(engineer=engineer_user, challenge=ticket).exists()


def test_out_of_bounds_hyperparameters_are_named_next_to_their_fields(
    client, ticket, engineer_user, pipeline
):
    response = logged_in(client, engineer_user).post(
        reverse("vetting:submission-create", args=[ticket.slug]),
        form_data(ticket, rank=ticket.max_lora_rank + 1, dropout=0.9, target_modules="q_proj, lm_head"),
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["rank"] == [f"Ensure this value is less than or equal to {ticket.max_lora_rank}."]
    assert form.errors["dropout"] == ["Ensure this value is less than or equal to 0.5."]
    assert "Unknown module 'lm_head'" in form.errors["target_modules"][0]
    assert not Submission.objects.exists() and pipeline == []


def test_too_many_examples_is_reported(client, ticket, engineer_user):
    ticket.max_examples = 25
    ticket.save(update_fields=["max_examples"])
    response = logged_in(client, engineer_user).post(
        reverse("vetting:submission-create", args=[ticket.slug]), form_data(ticket), follow=True
    )
    text = response.content.decode()
    assert '<td class="line-no">File</td><td>more than 25 examples; at most 25 allowed</td>' in text
    assert Submission.objects.get().state == S.REJECTED


def test_missing_files_are_named(client, ticket, engineer_user):
    client = logged_in(client, engineer_user)
    url = reverse("vetting:submission-create", args=[ticket.slug])
    response = client.post(url, {**form_data(ticket), "dataset": ""})
    assert response.status_code == 400 and response.context["form"].errors["dataset"] == [
        "Upload a JSONL dataset."
    ]
    response = client.post(url, {**form_data(ticket), "kind": "adapter"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"adapter_model", "adapter_config"}


def test_exhausted_attempts_answer_429_with_when_the_next_one_comes(client, ticket, engineer_user, pipeline):
    client = logged_in(client, engineer_user)
    url = reverse("vetting:submission-create", args=[ticket.slug])
    for _ in range(3):
        assert client.post(url, form_data(ticket)).status_code == 302
    response = client.post(url, form_data(ticket))
    assert response.status_code == 429
    text = response.content.decode()
    assert "You have used your 3 attempts of the last 7 days on this challenge" in text
    assert len(pipeline) == 3
    detail = client.get(reverse("vetting:challenge-detail", args=[ticket.slug])).content.decode()
    assert "The next one is available from" in detail and 'aria-disabled="true"' in detail


def test_an_adapter_upload_is_checked_and_queued_without_training(
    client, ticket, engineer_user, settings, tmp_path, pipeline
):
    files = {upload.name: upload.data for upload in _adapter_upload(tmp_path, settings, ticket)}
    client = logged_in(client, engineer_user)
    url = reverse("vetting:submission-create", args=[ticket.slug])
    # The files' own names do not matter: each field says which file it is.
    response = client.post(
        url,
        {
            "kind": "adapter",
            "adapter_model": SimpleUploadedFile("my-lora.safetensors", files["adapter_model.safetensors"]),
            "adapter_config": SimpleUploadedFile("config (1).json", files["adapter_config.json"]),
        },
    )
    submission = Submission.objects.get()
    assert response.status_code == 302, response.context and response.context["form"].errors
    assert submission.kind == "adapter" and submission.state == S.QUEUED and pipeline == [submission.pk]
    assert submission.steps["train"]["status"] == "skipped"
    text = client.get(reverse("vetting:submission-validation", args=[submission.pk])).content.decode()
    assert "Trainable params" in text and "1,792" in text and "q_proj" in text and "v_proj" in text

    response = client.post(
        url,
        {
            "kind": "adapter",
            "adapter_model": SimpleUploadedFile("a.safetensors", b"not safetensors at all"),
            "adapter_config": SimpleUploadedFile("a.json", files["adapter_config.json"]),
        },
        follow=True,
    )
    rejected = Submission.objects.exclude(pk=submission.pk).get()
    assert rejected.state == S.REJECTED and pipeline == [submission.pk]
    assert "adapter_rejected" in response.content.decode()


# --- progress ----------------------------------------------------------------------------------------


def test_progress_page_shows_steps_and_the_training_job_only(client, ticket, engineer_user):
    submission = services.submissions.submission_create(
        actor=engineer_user, challenge_id=ticket.pk, kind="dataset", dataset=task_dataset(ticket, 40)
    )
    job = train_job(engineer_user)
    services.submissions.submission_start_training(submission_id=submission.pk, job_id=job.pk)
    client = logged_in(client, engineer_user)
    text = client.get(reverse("vetting:submission-detail", args=[submission.pk])).content.decode()
    assert 'data-step="validate" data-status="done"' in text
    assert 'data-step="train" data-status="running"' in text
    assert 'data-step="evaluate" data-status="pending"' in text
    assert 'aria-valuenow="50"' in text and "Step 30 of 60 (50%)" in text
    assert 'data-testid="loss-curve"' in text and "<polyline points=" in text
    assert reverse("sandbox:job-detail", args=[job.pk]) in text
    assert f'hx-get="{reverse("vetting:submission-status", args=[submission.pk])}"' in text

    # Evaluation jobs ran on hidden items: never linked or shown.
    evaluation = train_job(None, kind=Job.Kind.EVALUATE)
    services.submissions.submission_start_evaluation(
        submission_id=submission.pk, job_ids={"evaluate": evaluation.pk}
    )
    partial = client.get(reverse("vetting:submission-status", args=[submission.pk]), HTTP_HX_REQUEST="true")
    text = partial.content.decode()
    assert partial.status_code == 200 and "HX-Redirect" not in partial
    assert 'data-step="evaluate" data-status="running"' in text
    assert reverse("sandbox:job-detail", args=[evaluation.pk]) not in text
    assert reverse("sandbox:job-detail", args=[job.pk]) in text


def test_status_partial_moves_to_the_result_once_the_verdict_is_in(client, ticket, engineer_user):
    submission = scored(ticket, engineer_user)
    client = logged_in(client, engineer_user)
    partial = client.get(reverse("vetting:submission-status", args=[submission.pk]), HTTP_HX_REQUEST="true")
    assert partial["HX-Redirect"] == reverse("vetting:submission-result", args=[submission.pk])
    page = client.get(reverse("vetting:submission-detail", args=[submission.pk])).content.decode()
    assert "hx-get" not in page.split('id="submission-progress"')[1].split(">")[0]  # no more polling
    assert reverse("vetting:submission-result", args=[submission.pk]) in page


# --- result ------------------------------------------------------------------------------------------


def test_result_page_shows_verdict_rules_chart_forgetting_costs_and_no_final_split_figure(
    client, ticket, engineer_user
):
    submission = scored(ticket, engineer_user)
    assert submission.fine_tuned_score == 0.83 and submission.state == S.PASSED
    response = logged_in(client, engineer_user).get(
        reverse("vetting:submission-result", args=[submission.pk])
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "Passed" in text and 'data-testid="band">Pass band' in text
    for rule in ("final_score", "beats_few_shot", "forgetting", "budget"):
        assert f'data-rule="{rule}"' in text
    assert text.count("hidden (final split)") == 2
    # The chart: base zero-shot, few-shot and the released fine-tuned score, drawn inline.
    assert 'data-testid="task-chart"' in text and 'data-testid="general-chart"' in text
    assert ">0.00</text>" in text and ">0.30</text>" in text and ">0.50</text>" in text
    assert 'data-testid="released-score">0.50<' in text and "New: this run improved" in text
    assert 'data-testid="forgetting-ratio">100%<' in text
    # The forgetting rule's figure is the interval that decides it, with the ratio beside it.
    low, high = submission.general_delta_ci
    assert f'data-testid="forgetting-figure">change {low:.2f} to {high:.2f}<' in text
    assert f'data-testid="general-delta-ci">{low:.2f} to {high:.2f}<' in text
    assert "24,000" in text and "460,000" in text and "120.0 s" in text
    # Never a final-split figure: not the score, not its intervals.
    for value in (submission.fine_tuned_score, *submission.fine_tuned_ci, *submission.delta_ci):
        for shown in (f"{value:.3f}", f"{value:.4f}", f"{round(value * 100)}%"):
            assert shown not in text, shown
    assert "0.83" not in text
    assert '<script src="http' not in text and "cdn" not in text.lower()


def test_a_failed_run_lists_its_reasons_and_a_later_one_shows_the_previous_figure(
    client, ticket, engineer_user
):
    first = scored(ticket, engineer_user)
    second = scored(ticket, engineer_user, general_after=0.2)
    assert second.state == S.FAILED
    text = (
        logged_in(client, engineer_user).get(reverse("vetting:submission-result", args=[second.pk])).content
    )
    text = text.decode()
    assert "Did not pass" in text and "Tuning cost too much general ability" in text
    assert "Unchanged: this run did not beat your best shown score" in text
    assert 'data-testid="released-score">0.50<' in text
    assert first.released_feedback_score == 0.5


def test_result_of_an_unfinished_submission_goes_to_its_progress(client, ticket, engineer_user):
    submission = evaluated_submission(ticket, engineer_user)
    response = logged_in(client, engineer_user).get(
        reverse("vetting:submission-result", args=[submission.pk])
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("vetting:submission-detail", args=[submission.pk])


# --- visibility --------------------------------------------------------------------------------------


def submission_urls(submission) -> list[str]:
    return [
        reverse(name, args=[submission.pk])
        for name in (
            "vetting:submission-detail",
            "vetting:submission-status",
            "vetting:submission-validation",
            "vetting:submission-result",
        )
    ]


def test_engineers_see_only_their_own_submissions(client, ticket, engineer_user):
    submission = scored(ticket, engineer_user)
    for user in (EngineerFactory(), ClientFactory()):
        client = logged_in(client, user)
        for url in submission_urls(submission):
            assert client.get(url).status_code == 404, (user, url)
        listing = client.get(reverse("vetting:submission-list")).content.decode()
        assert f"/vetting/submissions/{submission.pk}/" not in listing
    client = logged_in(client, engineer_user)
    for url in submission_urls(submission):
        assert client.get(url).status_code == 200, url
    assert (
        reverse("vetting:submission-result", args=[submission.pk])
        in client.get(reverse("vetting:submission-list")).content.decode()
    )
    client = logged_in(client, StaffFactory())
    for url in submission_urls(submission):
        assert client.get(url).status_code == 200, url


def test_no_hidden_item_reaches_any_page(client, seeded, engineer_user):
    ticket = seeded["support-ticket-json"]
    services.badges.leaderboard_set_opt_in(actor=engineer_user, challenge_id=ticket.pk, opted_in=True)
    passed = scored(ticket, engineer_user)
    failed = scored(ticket, engineer_user, general_after=0.2)
    eval_set = passed.eval_set
    staff = StaffFactory()
    hidden = list(
        evalset_items_for_staff(actor=staff, evalset_id=eval_set.pk).values_list("input", flat=True)
    )
    rejected = services.submissions.submission_create(
        actor=engineer_user,
        challenge_id=ticket.pk,
        kind="dataset",
        dataset=task_dataset(ticket, 30)
        + json.dumps({"messages": [{"role": "user", "content": hidden[0]}]}).encode(),
    )
    errored = evaluated_submission(ticket, engineer_user)
    services.submissions.submission_error(
        submission_id=errored.pk, step="evaluate", message=f"crashed on: {hidden[1]}", platform_fault=True
    )
    assert rejected.state == S.REJECTED

    pages = [reverse("vetting:challenge-list"), reverse("vetting:submission-list")]
    for challenge in seeded.values():
        pages += [
            reverse("vetting:challenge-detail", args=[challenge.slug]),
            reverse("vetting:submission-create", args=[challenge.slug]),
            reverse("vetting:leaderboard", args=[challenge.slug]),
        ]
    for submission in (passed, failed, rejected, errored):
        pages += submission_urls(submission)
    client = logged_in(client, engineer_user)
    rendered = ""
    for url in pages:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        rendered += response.content.decode()
    assert hidden and not leaked_items(rendered)
    assert "crashed on" not in rendered

    staff_pages = [reverse("vetting:staff-submissions"), reverse("vetting:staff-badges")]
    staff_pages += [reverse("vetting:staff-submission", args=[s.pk]) for s in (passed, failed, rejected)]
    client = logged_in(client, staff)
    rendered = "".join(client.get(url).content.decode() for url in staff_pages)
    assert not leaked_items(rendered)


# --- leaderboard -------------------------------------------------------------------------------------


def test_leaderboard_lists_opted_in_engineers_by_released_score(client, ticket, engineer_user):
    scored(ticket, engineer_user)
    hidden_engineer = EngineerFactory()
    scored(ticket, hidden_engineer)
    client = logged_in(client, engineer_user)
    url = reverse("vetting:leaderboard", args=[ticket.slug])
    assert engineer_user.display_name not in client.get(url).content.decode()
    response = client.post(reverse("vetting:leaderboard-opt-in", args=[ticket.slug]), {"opted_in": "1"})
    assert response.status_code == 302
    text = client.get(url).content.decode()
    assert engineer_user.display_name in text and hidden_engineer.display_name not in text
    assert "<strong>0.50</strong>" in text and "Leave the leaderboard" in text
    client.post(reverse("vetting:leaderboard-opt-in", args=[ticket.slug]), {"opted_in": "0"})
    assert engineer_user.display_name not in client.get(url).content.decode()


def test_clients_read_the_leaderboard_but_cannot_join(client, ticket, client_user):
    client = logged_in(client, client_user)
    text = client.get(reverse("vetting:leaderboard", args=[ticket.slug])).content.decode()
    assert "Join the leaderboard" not in text
    response = client.post(reverse("vetting:leaderboard-opt-in", args=[ticket.slug]), {"opted_in": "1"})
    assert (
        response.status_code == 403 and "Only engineers appear on leaderboards." in response.content.decode()
    )


# --- staff -------------------------------------------------------------------------------------------


def test_staff_see_full_figures_and_revoke_a_badge(client, ticket, engineer_user):
    submission = scored(ticket, engineer_user)
    badge = Badge.objects.get(submission=submission)
    client = logged_in(client, StaffFactory())
    dashboard = client.get(reverse("vetting:challenge-list")).content.decode()
    assert f'href="{reverse("vetting:staff-submissions")}"' in dashboard and ">Vetting</a>" in dashboard

    listing = client.get(reverse("vetting:staff-submissions")).content.decode()
    assert "0.830" in listing and engineer_user.display_name in listing
    assert reverse("admin:vetting_evalsetversion_changelist") in listing
    assert reverse("admin:vetting_challenge_changelist") in listing
    report = client.get(reverse("vetting:staff-submission", args=[submission.pk])).content.decode()
    # Figures formatted as people read them: scores to three places, intervals in words, booleans as
    # yes/no, seconds with their unit.
    assert "<strong>0.830</strong>" in report and f"{submission.delta_ci[0]:.3f} to " in report
    assert "<dt>Valid</dt><dd>yes</dd>" in report and "True" not in report and "False" not in report
    assert re.search(r"<dt>Device seconds</dt><dd>[\d,.]+ s</dd>", report)
    assert reverse("vetting:staff-badge-revoke", args=[badge.pk]) in report

    response = client.post(reverse("vetting:staff-badge-revoke", args=[badge.pk]), {"reason": ""})
    assert response.status_code == 302
    badge.refresh_from_db()
    assert badge.active
    response = client.post(
        reverse("vetting:staff-badge-revoke", args=[badge.pk]), {"reason": "Dataset copied from a peer."}
    )
    assert response["Location"] == reverse("vetting:staff-submission", args=[submission.pk])
    badge.refresh_from_db()
    assert not badge.active and badge.revoked_reason == "Dataset copied from a peer."
    assert "Revoked" in client.get(reverse("vetting:staff-badges") + "?show=all").content.decode()


def test_staff_pages_are_for_staff_only(client, ticket, engineer_user):
    submission = scored(ticket, engineer_user)
    badge = Badge.objects.get(submission=submission)
    for user in (engineer_user, ClientFactory()):
        client = logged_in(client, user)
        for url in (
            reverse("vetting:staff-submissions"),
            reverse("vetting:staff-submission", args=[submission.pk]),
            reverse("vetting:staff-badges"),
        ):
            response = client.get(url)
            assert response.status_code == 403 and "This page is for staff." in response.content.decode()
        response = client.post(reverse("vetting:staff-badge-revoke", args=[badge.pk]), {"reason": "x"})
        assert response.status_code == 403
    badge.refresh_from_db()
    assert badge.active
