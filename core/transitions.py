"""Applying a django-fsm transition the one way services do it: guard, apply, save, record."""

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django_fsm import can_proceed, has_transition_perm

from core.errors import InvalidTransitionError, PermissionDeniedError
from core.models import TransitionLog


def transition_apply(
    *,
    instance: models.Model,
    transition: str,
    actor,
    timeline_key: str,
    note: str = "",
    state_field: str = "state",
    **kwargs,
) -> TransitionLog:
    """Run `instance.<transition>()` on a row the caller has locked, and record it.

    Raises InvalidTransitionError (409) when the current state or a condition forbids it, and
    PermissionDeniedError when the actor's role does not allow it (the transition's `permission`).
    """
    method = getattr(instance, transition)
    from_state = getattr(instance, state_field)
    if not can_proceed(method):
        label = transition.replace("_", " ")
        raise InvalidTransitionError(
            f"Cannot {label}: the {instance._meta.verbose_name} is {from_state.replace('_', ' ')}.",
            details={"state": from_state, "transition": transition},
        )
    if actor is not None and not has_transition_perm(method, actor):
        raise PermissionDeniedError(
            f"You may not {transition.replace('_', ' ')} this {instance._meta.verbose_name}."
        )
    method(**kwargs)
    instance.save()
    return timeline_record(
        instance=instance,
        transition=transition,
        actor=actor,
        timeline_key=timeline_key,
        from_state=from_state,
        note=note,
        state_field=state_field,
    )


def timeline_record(
    *,
    instance: models.Model,
    transition: str,
    actor,
    timeline_key: str,
    from_state: str,
    note: str = "",
    state_field: str = "state",
) -> TransitionLog:
    """Record a step of `instance` on a timeline; transition_apply's own record, and the record of a
    record's creation in its first state (from_state "")."""
    return TransitionLog.objects.create(
        content_type=ContentType.objects.get_for_model(instance),
        object_id=instance.pk,
        timeline_key=timeline_key,
        actor=actor if getattr(actor, "pk", None) else None,
        transition=transition,
        from_state=from_state,
        to_state=getattr(instance, state_field),
        note=note,
    )
