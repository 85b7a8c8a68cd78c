"""Every write to an acceptance test. The client sets the terms while the milestone awaits funding;
funding locks them (the milestone row lock orders a terms change against the funding)."""

from __future__ import annotations

import hashlib
import random
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.text import get_valid_filename

from acceptance.metrics import METRICS
from acceptance.models import AcceptanceItem, AcceptanceTest
from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from core.uploads import read_capped
from marketplace.models import Milestone, User
from marketplace.selectors import milestone_get
from marketplace.services.notifications import notify
from sandbox import registry
from vetting.datasets import PromptRecord, parse_prompt_set

LOCKED = "The acceptance test is locked: it can change only while the milestone awaits funding."


def check_metric(metric: str) -> dict[str, list[str]]:
    return {} if metric in METRICS else {"metric": ["Choose one of " + ", ".join(METRICS) + "."]}


def _check_terms(
    *,
    metric: str,
    pass_mark: Any,
    base_model: str,
    forgetting_floor: Any,
    public_sample_size: Any,
    training_budget_minutes: Any,
) -> dict[str, list[str]]:
    errors = check_metric(metric)
    most = settings.ACCEPTANCE_MAX_TRAINING_MINUTES
    if isinstance(training_budget_minutes, bool) or not isinstance(training_budget_minutes, int):
        errors["training_budget_minutes"] = ["Must be a whole number of minutes."]
    elif not 0 <= training_budget_minutes <= most:
        errors["training_budget_minutes"] = [f"Must be from 0 (adapters only) to {most}."]
    for field, value in (("pass_mark", pass_mark), ("forgetting_floor", forgetting_floor)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            errors[field] = ["Must be a number from 0 to 1."]
    if base_model not in registry.registry():
        errors["base_model"] = ["Choose one of " + ", ".join(sorted(registry.registry())) + "."]
    limit = settings.ACCEPTANCE_MAX_PUBLIC_SAMPLE
    if isinstance(public_sample_size, bool) or not isinstance(public_sample_size, int):
        errors["public_sample_size"] = ["Must be a whole number."]
    elif not 0 <= public_sample_size <= limit:
        errors["public_sample_size"] = [f"Must be from 0 to {limit}."]
    return errors


def content_draw(data: bytes, population: int, count: int) -> set[int]:
    """`count` of `population` indexes, drawn from the file's content: the same file, the same draw."""
    seed = int(hashlib.sha256(data).hexdigest()[:16], 16)
    return set(random.Random(seed).sample(range(population), count))  # noqa: S311 - reproducible, not secret


def _at_line(error: dict[str, Any]) -> str:
    return f"line {error['line']}: {error['message']}" if error["line"] else error["message"]


def parse_set(data: bytes, metric: str, *, min_items: int, max_items: int) -> list[PromptRecord]:
    """The items of a client's set, or a ValidationError listing every problem by its line."""
    records, errors = parse_prompt_set(data, metric=METRICS[metric], min_items=min_items, max_items=max_items)
    if errors:
        raise ValidationError(
            f"The evaluation set has {len(errors)} problem(s); {_at_line(errors[0])}",
            code="invalid_eval_set",
            details={"eval_set": [_at_line(error) for error in errors]},
        )
    return records


def _editable_milestone(actor: User, milestone_id: int, *, lock: bool) -> Milestone:
    milestone = milestone_get(user=actor, milestone_id=milestone_id)  # 404 for whoever may not see it
    if milestone.engagement.client_id != actor.pk:
        raise PermissionDeniedError("Only the client sets a milestone's acceptance test.")
    if lock:
        milestone = Milestone.objects.select_for_update().select_related("engagement").get(pk=milestone.pk)
    if milestone.state != Milestone.State.PENDING_FUNDING:
        raise InvalidTransitionError(LOCKED, code="acceptance_locked")
    return milestone


def _milestone_url(milestone: Milestone) -> str:
    return reverse("engagement-detail", args=[milestone.engagement_id]) + f"#milestone-{milestone.pk}"


def acceptance_terms_set(
    *,
    actor: User,
    milestone_id: int,
    eval_set: Any,
    metric: str,
    pass_mark: float,
    base_model: str | None = None,
    forgetting_floor: float | None = None,
    public_sample_size: int | None = None,
    training_budget_minutes: int = 0,
) -> AcceptanceTest:
    """Attach (or replace) the milestone's acceptance test: its terms and the client's private items.

    Everything is checked before anything is written; a replaced set is removed whole. The public
    sample is drawn from the set (seeded by its content, so the same file gives the same sample).
    """
    base_model = base_model or registry.default_model_name()
    if forgetting_floor is None:
        forgetting_floor = settings.ACCEPTANCE_FORGETTING_FLOOR
    if public_sample_size is None:
        public_sample_size = settings.ACCEPTANCE_PUBLIC_SAMPLE_SIZE
    _editable_milestone(actor, milestone_id, lock=False)
    errors = _check_terms(
        metric=metric,
        pass_mark=pass_mark,
        base_model=base_model,
        forgetting_floor=forgetting_floor,
        public_sample_size=public_sample_size,
        training_budget_minutes=training_budget_minutes,
    )
    if eval_set is None:
        errors["eval_set"] = ["Upload the evaluation set (JSONL)."]
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationError(f"{field}: {messages[0]}", details=errors)
    data = read_capped(
        eval_set, limit=settings.ACCEPTANCE_MAX_SET_BYTES, field="eval_set", what="evaluation set"
    )
    records = parse_set(
        data, metric, min_items=settings.ACCEPTANCE_MIN_ITEMS, max_items=settings.ACCEPTANCE_MAX_ITEMS
    )
    if public_sample_size > len(records) // 4:
        raise ValidationError(
            f"public_sample_size: at most a quarter of the {len(records)} items may be shown to the engineer.",
            details={"public_sample_size": [f"At most {len(records) // 4} for {len(records)} items."]},
        )
    digest = hashlib.sha256(data).hexdigest()
    public = content_draw(data, len(records), public_sample_size)
    name = get_valid_filename(PurePath(getattr(eval_set, "name", "") or "eval_set.jsonl").name)[:255]

    with transaction.atomic():
        milestone = _editable_milestone(actor, milestone_id, lock=True)
        AcceptanceTest.objects.filter(milestone=milestone).delete()
        test = AcceptanceTest.objects.create(
            milestone=milestone,
            metric=metric,
            pass_mark=pass_mark,
            base_model=base_model,
            forgetting_floor=forgetting_floor,
            public_sample_size=public_sample_size,
            training_budget_minutes=training_budget_minutes,
            item_count=len(records),
            eval_set_name=name,
            eval_set_sha256=digest,
            set_by=actor,
        )
        AcceptanceItem.objects.bulk_create(
            AcceptanceItem(
                test=test,
                position=position,
                line=record.line,
                messages=record.messages,
                target=record.target,
                is_public=position in public,
            )
            for position, record in enumerate(records)
        )
        notify(
            user=milestone.engagement.engineer,
            kind="acceptance_terms",
            message=(
                f"{actor.display_name} set an acceptance test on “{milestone.title}”: "
                f"{test.get_metric_display()}, pass mark {pass_mark:.2f}, {test.private_count} private items."
            ),
            url=_milestone_url(milestone),
            actor=actor,
        )
    return test


@transaction.atomic
def acceptance_terms_remove(*, actor: User, milestone_id: int) -> None:
    milestone = _editable_milestone(actor, milestone_id, lock=True)
    deleted, _ = AcceptanceTest.objects.filter(milestone=milestone).delete()
    if not deleted:
        raise NotFoundError("This milestone has no acceptance test.")
