"""Submissions as the engineer sees them: the form, the validation report, the live progress page
(steps, and the training job's progress bar and loss curve, refreshed by htmx) and the result page.

Submitting goes through `pipeline.submission_submit`: validation with the base model's tokenizer,
then, when accepted, the pipeline takes it (train -> evaluate -> score -> verdict).
Everything shown comes from `selectors.submission_public`: no final-split figure beyond pass/fail and
band, no per-item result. Only the training job is ever looked up (evaluation jobs ran on hidden items
and belong to the platform).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from core.pages import Failed, attempt, fetch
from core.uploads import upload_caps
from sandbox.adapters import MAX_CONFIG_BYTES
from sandbox.models import Job
from sandbox.selectors import job_progress, jobs_visible_to
from vetting import pipeline, selectors
from vetting.forms import SubmissionForm
from vetting.models import Submission
from vetting.views.charts import Bar, loss_curve, score_chart
from vetting.views.common import CLIENTS_CANNOT_SUBMIT, forbidden, takes_challenges

S = Submission.State
RESULT_STATES = (S.PASSED, S.FAILED)
STEP_LABELS = {
    "validate": "Validate the dataset",
    "train": "Train the LoRA adapter",
    "evaluate": "Evaluate on the hidden sets",
    "score": "Score against the baselines",
    "verdict": "Verdict",
}
# Attempts are a rolling budget: running out is "too many requests for now", with a time to retry.


@upload_caps(
    dataset=lambda: settings.VETTING_MAX_DATASET_BYTES,
    adapter_model=lambda: settings.ADAPTER_MAX_BYTES,
    adapter_config=MAX_CONFIG_BYTES,
)
@login_required
@require_http_methods(["GET", "POST"])
def submission_create(request, slug: str):
    user = request.user
    challenge = fetch(selectors.challenge_get, slug=slug, actor=user)
    if not takes_challenges(user):
        return forbidden(request, CLIENTS_CANNOT_SUBMIT)
    public = selectors.challenge_public(challenge=challenge, actor=user)
    opted_in = selectors.leaderboard_opted_in(engineer=user, challenge=challenge)
    form = SubmissionForm(
        request.POST or None,
        request.FILES or None,
        schema=public["hyperparameters"],
        show_opt_in=user.is_engineer,
        initial={"leaderboard_opt_in": opted_in},
    )
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            messages.error(request, "Please correct the fields marked below.")
            status = 400
        else:
            data = form.cleaned_data
            submission = attempt(
                request,
                pipeline.submission_submit,
                actor=user,
                challenge_id=challenge.pk,
                kind=data["kind"],
                dataset=data.get("dataset"),
                hyperparameters=form.hyperparameters(),
                adapter_files=form.adapter_files() if data["kind"] == Submission.Kind.ADAPTER else None,
                leaderboard_opt_in=data["leaderboard_opt_in"]
                if "leaderboard_opt_in" in form.fields
                else None,
            )
            if isinstance(submission, Failed):
                status = submission.status
            else:
                if submission.state == S.REJECTED:
                    return redirect("vetting:submission-validation", pk=submission.pk)
                if submission.state == S.VALIDATING:
                    messages.success(request, "Submission received: it is being validated.")
                else:
                    messages.success(
                        request, "Submission accepted: it is queued for training and evaluation."
                    )
                return redirect("vetting:submission-detail", pk=submission.pk)
    context = {"challenge": challenge, "public": public, "form": form}
    return render(request, "vetting/submission_form.html", context, status=status)


@login_required
@require_GET
def submission_list(request):
    if request.user.is_staff:
        return redirect("vetting:staff-submissions")
    submissions = selectors.submission_list(actor=request.user)
    return render(request, "vetting/submission_list.html", {"submissions": submissions[:100]})


def _training_job(request, submission: Submission) -> Job | None:
    job_id = submission.job_ids.get("train")
    if job_id is None:
        return None
    return jobs_visible_to(user=request.user).filter(pk=job_id, kind=Job.Kind.TRAIN).first()


def _progress_context(request, submission: Submission) -> dict[str, Any]:
    public = selectors.submission_public(submission=submission)
    steps = [
        {"name": name, "label": STEP_LABELS[name], **public["steps"][name]}
        for name in Submission.STEPS
        if name in public["steps"]
    ]
    if submission.state == S.REJECTED:
        # Nothing after validation ran: say so, rather than show the steps as waiting or skipped.
        steps = [
            step if step["name"] == "validate" else {**step, "status": "not_run", "detail": ""}
            for step in steps
        ]
    job = _training_job(request, submission)
    return {
        "submission": submission,
        "public": public,
        "steps": steps,
        "job": job,
        "progress": job_progress(job=job) if job else None,
        "curve": loss_curve(job.loss_history) if job else None,
    }


def _finished_page(submission: Submission) -> str | None:
    if submission.state in RESULT_STATES:
        return reverse("vetting:submission-result", args=[submission.pk])
    if submission.state == S.REJECTED:
        return reverse("vetting:submission-validation", args=[submission.pk])
    return None


@login_required
@require_GET
def submission_detail(request, pk: int):
    submission = fetch(selectors.submission_get, actor=request.user, submission_id=pk)
    context = {**_progress_context(request, submission), "finished_page": _finished_page(submission)}
    return render(request, "vetting/submission_progress.html", context)


@login_required
@require_GET
def submission_status(request, pk: int):
    """The progress block the page polls; once the verdict is in, the page moves to the result."""
    submission = fetch(selectors.submission_get, actor=request.user, submission_id=pk)
    finished_page = _finished_page(submission)
    response = render(
        request,
        "vetting/_progress.html",
        {**_progress_context(request, submission), "finished_page": finished_page},
    )
    if finished_page and request.headers.get("HX-Request"):
        response["HX-Redirect"] = finished_page
    return response


@login_required
@require_GET
def submission_validation(request, pk: int):
    submission = fetch(selectors.submission_get, actor=request.user, submission_id=pk)
    report = selectors.submission_public(submission=submission)["validation"]
    return render(
        request,
        "vetting/validation_report.html",
        {"submission": submission, "report": report, "error_total": error_total(report)},
    )


def error_total(report: dict[str, Any]) -> int:
    """Every error found, listed or not (the report lists the first few of each kind)."""
    return sum(report.get("stats", {}).get("error_counts", {}).values())


def _charts(public: dict[str, Any]) -> dict[str, Any]:
    feedback, general = public["feedback"], public["general"]
    return {
        "task": score_chart(
            [
                Bar("Base model", "zero-shot", feedback["base"], "base"),
                Bar("Base model", "few-shot", feedback["few_shot"], "prompt"),
                Bar("Fine-tuned", "released", feedback["fine_tuned_released"], "tuned"),
            ]
        ),
        "general": score_chart(
            [
                Bar("General set", "before", general["base"], "before"),
                Bar("General set", "after", general["fine_tuned"], "after"),
            ]
        ),
    }


@login_required
@require_GET
def submission_result(request, pk: int):
    submission = fetch(selectors.submission_get, actor=request.user, submission_id=pk)
    if submission.state not in RESULT_STATES:
        return redirect("vetting:submission-detail", pk=pk)
    public = selectors.submission_public(submission=submission)
    context = {
        "submission": submission,
        "public": public,
        "verdict": public["verdict"],
        "charts": _charts(public),
        "cost": public["cost"],
    }
    return render(request, "vetting/result.html", context)
