"""A request's prompting baseline: before anyone is hired, the platform measures what the registry's
base model does with prompting alone on a sample of the client's task (zero-shot, and few-shot with a
few of the client's own items as examples), so that "have you tried prompting?" is answered by a
measurement. One sandbox evaluation job; the result is shown in the request's readiness summary to
the client, staff and the engineers invited to consult. The items stay the client's."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.views.decorators.debug import sensitive_variables

from acceptance.dispatch import send_on_commit
from acceptance.metrics import METRICS
from acceptance.models import PromptingBaseline
from acceptance.services import check_metric, content_draw, parse_set
from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from core.transitions import transition_apply
from core.uploads import read_capped
from marketplace.models import Consultation, HiringRequest, User
from marketplace.selectors import request_get
from sandbox import registry
from sandbox.models import Job
from vetting.pipeline import ID_SEPARATOR, evaluate_job, read_generations
from vetting.scoring import bootstrap_ci, mean


def _key(baseline: PromptingBaseline) -> str:
    return f"prompting-baseline:{baseline.pk}"


# --- writes -------------------------------------------------------------------------------------


def baseline_measure(
    *, actor: User, request_id: int, eval_set: Any, metric: str, target: float | None = None
) -> PromptingBaseline:
    """Measure (again) the request's prompting baseline on the client's sample set; replaces the last
    measurement unless one is still running."""
    hiring_request = request_get(user=actor, request_id=request_id)
    if hiring_request.client_id != actor.pk:
        raise PermissionDeniedError("Only the request's client measures its prompting baseline.")
    errors = check_metric(metric)
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int | float) or not 0 <= target <= 1
    ):
        errors["target"] = ["Must be a number from 0 to 1."]
    if eval_set is None:
        errors["eval_set"] = ["Upload the sample set (JSONL)."]
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationError(f"{field}: {messages[0]}", details=errors)
    data = read_capped(eval_set, limit=settings.ACCEPTANCE_MAX_SET_BYTES, field="eval_set", what="sample set")
    records = parse_set(
        data,
        metric,
        min_items=settings.ACCEPTANCE_BASELINE_MIN_ITEMS,
        max_items=settings.ACCEPTANCE_BASELINE_MAX_ITEMS,
    )
    shots = content_draw(data, len(records), settings.ACCEPTANCE_BASELINE_SHOTS)
    items = [
        {"messages": record.messages, "target": record.target, "shot": index in shots}
        for index, record in enumerate(records)
    ]
    with transaction.atomic():
        HiringRequest.objects.select_for_update().get(pk=hiring_request.pk)
        previous = PromptingBaseline.objects.filter(request=hiring_request).first()
        if previous is not None and not previous.is_finished:
            raise InvalidTransitionError(
                "A measurement of this request is still running; wait for it to finish."
            )
        if previous is not None:
            previous.delete()
        baseline = PromptingBaseline.objects.create(
            request=hiring_request,
            metric=metric,
            base_model=registry.default_model_name(),
            target=target,
            items=items,
            item_count=len(items),
            eval_set_name=get_valid_filename(PurePath(getattr(eval_set, "name", "") or "sample.jsonl").name)[
                :255
            ],
            set_by=actor,
        )
        enqueue_advance(baseline.pk)
    return baseline


def enqueue_advance(baseline_id: int) -> None:
    send_on_commit("prompting_baseline_advance", baseline_id)


# --- reads --------------------------------------------------------------------------------------


def baseline_get(*, user: User, request_id: int) -> PromptingBaseline:
    """The request's baseline for its client, staff and the engineers invited to consult on it."""
    hiring_request = request_get(user=user, request_id=request_id)
    invited = Consultation.objects.filter(request=hiring_request, engineer=user).exists()
    visible = user.is_staff or user.pk == hiring_request.client_id or invited
    baseline = PromptingBaseline.objects.filter(request=hiring_request).first() if visible else None
    if baseline is None:
        raise NotFoundError("This request has no prompting baseline.", code="no_prompting_baseline")
    return baseline


# --- the job ------------------------------------------------------------------------------------


@sensitive_variables()
def baseline_advance(*, baseline_id: int) -> str:
    """Start the measurement's job, or record its result once the job has finished. Idempotent."""
    with transaction.atomic():
        baseline = PromptingBaseline.objects.select_for_update().filter(pk=baseline_id).first()
        if baseline is None:
            return "missing"
        now = timezone.now()
        if baseline.state == PromptingBaseline.State.QUEUED:
            try:
                base_dir = registry.base_model_dir(baseline.base_model)
            except registry.BaseModelError:
                return _error(
                    baseline, f"The base model {baseline.base_model} is not available on the platform."
                )
            metric = METRICS[baseline.metric]
            shots = [item for item in baseline.items if item["shot"]]
            examples = []
            for item in shots:
                examples += [turn for turn in item["messages"] if turn["role"] != "system"]
                examples.append({"role": "assistant", "content": metric.render(item["target"])})
            prompts = []
            for index, item in enumerate(baseline.items):
                if item["shot"]:
                    continue
                messages = item["messages"]
                system = messages[:1] if messages[0]["role"] == "system" else []
                prompts.append({"id": f"zero_shot{ID_SEPARATOR}{index}", "messages": messages})
                few_shot = [*system, *examples, *messages[len(system) :]]
                prompts.append({"id": f"few_shot{ID_SEPARATOR}{index}", "messages": few_shot})
            longest = max(len(metric.render(item["target"])) for item in baseline.items)
            job = evaluate_job(
                base_dir=base_dir,
                adapter_dir=None,
                prompts=prompts,
                max_new_tokens=max(16, min(512, longest // 3 + 8)),
            )
            transition_apply(
                instance=baseline, transition="start", actor=None, timeline_key=_key(baseline), job=job
            )
            return f"running (job {job.pk})"
        if baseline.state != PromptingBaseline.State.RUNNING:
            return f"nothing to do ({baseline.state})"
        job = Job.objects.get(pk=baseline.job_id)
        if not job.is_finished:
            return "waiting"
        if job.state != Job.State.SUCCEEDED:
            reason = (job.get_failure_reason_display() or job.get_state_display()).lower()
            return _error(baseline, f"The measurement did not finish ({reason}).")
        outputs = {
            config: {record["id"]: record["output"] for record in records}
            for config, records in read_generations(job).items()
        }
        scored = [(index, item) for index, item in enumerate(baseline.items) if not item["shot"]]
        metric = METRICS[baseline.metric]
        scores: dict[str, Any] = {"items": len(scored), "shots": len(baseline.items) - len(scored)}
        for config in ("zero_shot", "few_shot"):
            got = outputs.get(config, {})
            if len(got) < len(scored):
                return _error(baseline, "The measurement returned incomplete results.")
            values = [metric.score(str(got[str(index)]), item["target"]) for index, item in scored]
            scores[config] = round(mean(values), 4)
            scores[f"{config}_ci"] = list(
                bootstrap_ci(
                    values,
                    seed=settings.VETTING_BOOTSTRAP_SEED,
                    resamples=settings.VETTING_BOOTSTRAP_RESAMPLES,
                )
            )
        scores["device_seconds"] = (
            round((job.finished_at - job.started_at).total_seconds(), 1)
            if job.started_at and job.finished_at
            else 0.0
        )
        transition_apply(
            instance=baseline,
            transition="record",
            actor=None,
            timeline_key=_key(baseline),
            scores=scores,
            now=now,
        )
        return "done"


def _error(baseline: PromptingBaseline, message: str) -> str:
    transition_apply(
        instance=baseline,
        transition="error",
        actor=None,
        timeline_key=_key(baseline),
        message=message,
        now=timezone.now(),
    )
    return f"errored: {message}"
