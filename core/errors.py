"""The one error hierarchy. Services raise these; the API and the pages render them the same way."""

import math
from datetime import datetime
from typing import Any


class ApplicationError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details if details is not None else {}


class ValidationError(ApplicationError):
    """Bad input. `details` maps each field to its messages."""

    code = "validation_error"
    status = 400


class NotFoundError(ApplicationError):
    """The object does not exist, or the actor may not know it exists."""

    code = "not_found"
    status = 404


class PermissionDeniedError(ApplicationError):
    """The actor can see the object but may not perform this action on it."""

    code = "permission_denied"
    status = 403


class InvalidTransitionError(ApplicationError):
    """The object is in a state where this action is not possible."""

    code = "invalid_state"
    status = 409


class LimitReachedError(ApplicationError):
    """The actor has used up a rolling limit; `retry_at` is when the next use frees (a Retry-After header)."""

    code = "limit_reached"
    status = 429

    def __init__(
        self, message: str, *, retry_at: datetime | None = None, code: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_at = retry_at

    def retry_after_seconds(self, now: datetime) -> int | None:
        if self.retry_at is None:
            return None
        return max(1, math.ceil((self.retry_at - now).total_seconds()))


class ServiceUnavailableError(ApplicationError):
    """Something the platform needs is not available right now; the same request may work later."""

    code = "service_unavailable"
    status = 503


class PaymentProviderError(ApplicationError):
    code = "payment_provider_error"
    status = 502


def full_clean_or_raise(instance, **kwargs) -> None:
    """Run Django's model validation and raise our ValidationError, naming each field."""
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django_fsm import FSMFieldMixin

    # A protected state field refuses the assignment clean_fields() makes; transitions guard it anyway.
    state_fields = [f.name for f in instance._meta.fields if isinstance(f, FSMFieldMixin) and f.protected]
    kwargs["exclude"] = [*kwargs.get("exclude", []), *state_fields]
    try:
        instance.full_clean(**kwargs)
    except DjangoValidationError as exc:
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        field, messages = next(iter(details.items()))
        prefix = "" if field in ("__all__", "non_field_errors") else f"{field}: "
        raise ValidationError(prefix + messages[0], details=details) from exc
