"""Challenges and their eval-set versions (staff): built-in challenges synced from their specs,
versions generated from a generator or uploaded, and rotation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_variables

from core.errors import (
    NotFoundError,
    ValidationError,
    full_clean_or_raise,
)
from marketplace.models import Skill, User
from vetting.challenges import GENERAL_METRIC, Split, generated_specs, hidden_items
from vetting.challenges.base import derive_rng
from vetting.challenges.general import GENERAL_SIZE, generate_general
from vetting.conf import secret_seed
from vetting.datasets import (
    evalset_stats,
    parse_evalset,
)
from vetting.models import (
    Challenge,
    EvalItem,
    EvalSetVersion,
)
from vetting.services.common import challenge_get, require_staff

_DEMO_HINT = (
    " (the repository's demo challenges need VETTING_ALLOW_DEMO_CHALLENGES; a deployment's own come from "
    "VETTING_CHALLENGE_MODULES)"
)


@transaction.atomic
def challenge_sync_builtin(*, slug: str) -> tuple[Challenge, bool]:
    """Create or update a built-in challenge from its code. (challenge, created)

    What the code owns (texts, prompt, metric, public examples) is rewritten; what staff calibrate
    (budgets, thresholds, attempt limits, active flag) is set only when the challenge is created.
    """
    spec = generated_specs().get(slug)
    if spec is None:
        raise NotFoundError(f"No generated challenge {slug!r} on this deployment{_DEMO_HINT}.")
    owned = {
        "title": spec.title,
        "summary": spec.summary,
        "task_type": spec.task_type,
        "metric": spec.metric.name,
        "instructions": spec.instructions,
        "system_prompt": spec.prompt.system,
        "user_template": spec.prompt.user_template,
        "public_examples": spec.public_examples(),
        "max_new_tokens": spec.max_new_tokens,
        "is_builtin": True,
    }
    challenge = Challenge.objects.select_for_update().filter(slug=slug).first()
    created = challenge is None
    if created:
        budgets = spec.budgets
        challenge = Challenge(
            slug=slug,
            min_examples=budgets.min_examples,
            max_examples=budgets.max_examples,
            max_tokens_per_example=budgets.max_tokens_per_example,
            max_epochs=budgets.max_epochs,
            max_lora_rank=budgets.max_lora_rank,
            max_wall_seconds=budgets.max_wall_seconds,
            pass_threshold=spec.pass_threshold,
            band_strong=spec.band_strong,
            band_exceptional=spec.band_exceptional,
            forgetting_margin=(
                settings.VETTING_FORGETTING_MARGIN
                if spec.forgetting_margin is None
                else spec.forgetting_margin
            ),
            attempt_limit=settings.VETTING_ATTEMPT_LIMIT,
            attempt_window_days=settings.VETTING_ATTEMPT_WINDOW_DAYS,
        )
    for field, value in owned.items():
        setattr(challenge, field, value)
    full_clean_or_raise(challenge)
    challenge.save()
    skills = [
        Skill.objects.get_or_create(slug=slugify(name), defaults={"name": name})[0] for name in spec.skills
    ]
    challenge.skills.set(skills)
    return challenge, created


def _min_sizes() -> dict[str, int]:
    return {
        Split.FEEDBACK: settings.VETTING_MIN_FEEDBACK_ITEMS,
        Split.FINAL: settings.VETTING_MIN_FINAL_ITEMS,
        Split.GENERAL: settings.VETTING_MIN_GENERAL_ITEMS,
    }


@sensitive_variables()
def _evalset_create(
    *,
    actor: User | None,
    challenge: Challenge,
    records: Iterable[tuple[str, str, Any]],
    source: str,
    activate: bool,
    notes: str = "",
    version: int | None = None,
) -> EvalSetVersion:
    """A new version from (split, input, target) triples; the challenge row must be locked."""
    records = list(records)
    if version is None:
        version = (challenge.eval_sets.aggregate(last=Max("version"))["last"] or 0) + 1
    eval_set = EvalSetVersion.objects.create(
        challenge=challenge,
        version=version,
        source=source,
        notes=notes,
        created_by=actor if getattr(actor, "pk", None) else None,
        stats=evalset_stats(records, metric=challenge.metric_obj),
    )
    counters: dict[str, int] = {}
    items = []
    for position, (split, text, target) in enumerate(records, start=1):
        counters[split] = counters.get(split, 0) + 1
        label = "" if split == Split.GENERAL else challenge.metric_obj.primary_label(target)
        items.append(
            EvalItem(
                eval_set=eval_set,
                split=split,
                key=f"{split}-{counters[split]:04d}",
                position=position,
                input=text,
                target=target,
                label=label[:64],
            )
        )
    EvalItem.objects.bulk_create(items, batch_size=500)
    if activate:
        _activate(eval_set)
    return eval_set


def _activate(eval_set: EvalSetVersion) -> None:
    EvalSetVersion.objects.filter(challenge_id=eval_set.challenge_id, is_active=True).exclude(
        pk=eval_set.pk
    ).update(is_active=False)
    if not eval_set.is_active:
        eval_set.is_active = True
        eval_set.save(update_fields=["is_active", "updated_at"])


@transaction.atomic
@sensitive_variables()
def evalset_generate(*, actor: User | None, challenge_id: int, activate: bool = True) -> EvalSetVersion:
    """The next version of a built-in challenge's hidden items, generated from the secret seed.

    `actor` None is the platform itself (the seeding command); a person must be staff.
    """
    if actor is not None:
        require_staff(actor)
    challenge = challenge_get(challenge_id, lock=True)
    spec = generated_specs().get(challenge.slug)
    if spec is None or not challenge.is_builtin:
        raise ValidationError(
            f"Only generated challenges generate their items{_DEMO_HINT}; upload a JSONL file instead."
        )
    version = (challenge.eval_sets.aggregate(last=Max("version"))["last"] or 0) + 1
    sizes = _min_sizes()
    items = hidden_items(
        spec,
        secret=secret_seed(),
        version=version,
        feedback=sizes[Split.FEEDBACK],
        final=sizes[Split.FINAL],
        general=max(sizes[Split.GENERAL], GENERAL_SIZE),
    )
    return _evalset_create(
        actor=actor,
        challenge=challenge,
        records=[(item.split, item.input, item.target) for item in items],
        source=EvalSetVersion.Source.GENERATED,
        activate=activate,
        version=version,
        notes=f"Generated from the secret seed (version {version}).",
    )


@transaction.atomic
@sensitive_variables()
def evalset_upload(
    *, actor: User, challenge_id: int, data: bytes, activate: bool = False, notes: str = ""
) -> EvalSetVersion:
    """A new version from a staff JSONL upload ({"split", "input", "target"} a line).

    Every problem is reported with its line number; a file without general items gets the generated
    general set.
    """
    require_staff(actor)
    challenge = challenge_get(challenge_id, lock=True)
    records, errors = parse_evalset(
        data, metric=challenge.metric_obj, general_metric=GENERAL_METRIC, min_sizes=_min_sizes()
    )
    if errors:
        first = errors[0]
        where = f"line {first['line']}: " if first["line"] else ""
        raise ValidationError(
            f"The eval set has {len(errors)} problem(s); {where}{first['message']}",
            code="invalid_eval_set",
            details={"errors": errors},
        )
    triples = [(record.split, record.input, record.target) for record in records]
    version = (challenge.eval_sets.aggregate(last=Max("version"))["last"] or 0) + 1
    if not any(split == Split.GENERAL for split, _, _ in triples):
        rng = derive_rng("general", secret_seed(), challenge.slug, f"upload-{version}")
        count = max(_min_sizes()[Split.GENERAL], GENERAL_SIZE)
        triples += [(Split.GENERAL, question, target) for question, target in generate_general(rng, count)]
    return _evalset_create(
        actor=actor,
        challenge=challenge,
        records=triples,
        source=EvalSetVersion.Source.UPLOADED,
        activate=activate,
        version=version,
        notes=notes,
    )


@transaction.atomic
def evalset_activate(*, actor: User, evalset_id: int) -> EvalSetVersion:
    """Rotation: make this version the one new submissions are scored on."""
    require_staff(actor)
    eval_set = EvalSetVersion.objects.filter(pk=evalset_id).first()
    if eval_set is None:
        raise NotFoundError("Eval-set version not found.")
    challenge_get(eval_set.challenge_id, lock=True)
    _activate(eval_set)
    return eval_set
