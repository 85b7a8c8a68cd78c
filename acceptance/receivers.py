"""Where acceptance tests meet the hiring workflow (the marketplace announces, acceptance listens):
a delivery on a milestone with a test must carry a LoRA adapter that fits it, and starts a run; an
approval waits for the run to pass unless the client approves anyway, giving the reason."""

from __future__ import annotations

import shutil
import uuid
from typing import Any, NoReturn

from django.conf import settings
from django.dispatch import receiver

from acceptance.models import AcceptanceRun, AcceptanceTest
from acceptance.pipeline import adapters_dir, datasets_dir, enqueue_advance
from core import jsonsafe
from core.errors import InvalidTransitionError, ServiceUnavailableError, ValidationError
from core.uploads import read_capped
from marketplace.models import Delivery, Milestone, User
from marketplace.signals import delivery_submitted, milestone_approving
from sandbox import registry
from sandbox.adapters import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    AdapterLimits,
    AdapterRejected,
    store_uploaded_adapter,
    validate_adapter_dir,
)
from vetting.datasets import DatasetRules, HyperparameterLimits, validate_dataset, validate_hyperparameters

ADAPTER_FILES = {"adapter_config": CONFIG_NAME, "adapter_model": WEIGHTS_NAME}
# A training delivery: the vetting schema within the default challenge budgets (the terms' minutes
# bound the wall time).
TRAINING_RULES = DatasetRules(min_examples=20, max_examples=20_000, max_tokens_per_example=1024)


def _refuse(fields, message: str, code: str = "validation_error") -> NoReturn:
    fields = list(fields)
    raise ValidationError(f"{fields[0]}: {message}", code=code, details={name: [message] for name in fields})


@receiver(delivery_submitted, sender=Delivery, dispatch_uid="acceptance.receivers.delivery_submitted")
def _delivery_submitted(
    sender, delivery: Delivery, adapter: dict[str, Any], training: dict[str, Any], **kwargs
) -> None:
    test = AcceptanceTest.objects.filter(milestone_id=delivery.milestone_id).first()
    if test is None:
        if adapter or training:
            _refuse(
                {**adapter, **training},
                "This milestone has no acceptance test: attach the files as attachments.",
            )
        return
    if training:
        if adapter:
            _refuse(adapter, "Deliver either the adapter or a training set, not both.")
        if not test.training_budget_minutes:
            _refuse(training, "The acceptance test's terms take a trained adapter, not a training set.")
        _training_run(delivery, test, training)
        return
    missing = [name for name in ADAPTER_FILES if name not in adapter]
    if missing:
        message = "Required: the milestone's acceptance test runs on the delivered LoRA adapter."
        raise ValidationError(
            f"{missing[0]}: {message}", code="adapter_required", details={name: [message] for name in missing}
        )
    try:
        base_dir = registry.base_model_dir(test.base_model)
    except registry.BaseModelError as exc:
        raise ServiceUnavailableError(
            f"The acceptance test's base model {test.base_model} is not available right now; try again later.",
            code="base_model_unavailable",
        ) from exc
    for name, canonical in ADAPTER_FILES.items():
        adapter[name].name = canonical  # the field says which file it is, whatever it was called
    folder = adapters_dir() / uuid.uuid4().hex
    limits = AdapterLimits.from_settings()
    try:
        store_uploaded_adapter([adapter[name] for name in ADAPTER_FILES], folder, limits)
        info = validate_adapter_dir(folder, base_dir, limits)
    except AdapterRejected as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ValidationError(
            f"adapter_model: The adapter does not fit the acceptance test ({test.base_model}): {exc.problems[0]}",
            code="adapter_rejected",
            details={"adapter_model": exc.problems},
        ) from exc
    run = AcceptanceRun.objects.create(
        test=test,
        delivery=delivery,
        adapter_dir=str(folder),
        adapter={
            "rank": info.rank,
            "alpha": info.alpha,
            "target_modules": info.target_modules,
            "trainable_params": info.parameters,
            "adapter_bytes": info.size_bytes,
        },
    )
    enqueue_advance(run.pk)


@receiver(milestone_approving, sender=Milestone, dispatch_uid="acceptance.receivers.milestone_approving")
def _milestone_approving(
    sender, milestone: Milestone, actor: User | None, note: str, approve_anyway: bool, **kwargs
) -> None:
    if milestone.state != Milestone.State.SUBMITTED:
        return  # the transition refuses it, saying why
    run = AcceptanceRun.objects.filter(delivery__milestone=milestone).order_by("-created_at", "-id").first()
    if run is None or run.state == AcceptanceRun.State.PASSED:
        return
    status = (
        "has not finished"
        if not run.is_finished
        else "did not pass"
        if run.state == run.State.FAILED
        else "could not be completed"
    )
    if actor is None:
        raise InvalidTransitionError(f"Not approved automatically: the delivery's acceptance test {status}.")
    if approve_anyway and note:
        return
    message = f"The delivery's acceptance test {status}. To approve it anyway, tick “Approve anyway” and give the reason in the note."
    details = {"approve_anyway": [message]}
    if approve_anyway:
        details = {"note": ["Give the reason for approving anyway; it is kept on the timeline."]}
    raise ValidationError(message, code="acceptance_not_passed", details=details)


def _training_run(delivery: Delivery, test: AcceptanceTest, training: dict[str, Any]) -> None:
    """A training delivery: the dataset and hyperparameters checked as vetting checks them (every
    problem by its line or key), stored; the run trains first."""
    if "dataset" not in training:
        _refuse(["dataset"], "Upload the training set (JSONL) to go with the hyperparameters.")
    data = read_capped(
        training["dataset"], limit=settings.ACCEPTANCE_MAX_DATASET_BYTES, field="dataset", what="training set"
    )
    raw = training.get("hyperparameters") or "{}"
    try:
        values = jsonsafe.loads(raw) if isinstance(raw, str) else raw
    except jsonsafe.JSONInputError as exc:
        _refuse(["hyperparameters"], f"Not valid JSON: {exc}")
    limits = HyperparameterLimits(max_rank=settings.ADAPTER_MAX_RANK, max_epochs=5, max_seq_length=1024)
    hyperparameters, problems = validate_hyperparameters(values, limits)
    if problems:
        raise ValidationError(
            f"hyperparameters.{problems[0]['key']}: {problems[0]['message']}",
            details={"hyperparameters": [f"{p['key']}: {p['message']}" for p in problems]},
        )
    report = validate_dataset(data, rules=TRAINING_RULES, epochs=hyperparameters["epochs"])
    if not report["ok"]:
        lines = [f"line {e['line']}: {e['message']}" if e["line"] else e["message"] for e in report["errors"]]
        raise ValidationError(
            f"dataset: The training set has {len(report['errors'])} problem(s); {lines[0]}",
            code="invalid_dataset",
            details={"dataset": lines},
        )
    folder = datasets_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{uuid.uuid4().hex}.jsonl"
    path.write_bytes(data)
    run = AcceptanceRun.objects.create(
        test=test, delivery=delivery, dataset_path=str(path), hyperparameters=hyperparameters
    )
    enqueue_advance(run.pk)
