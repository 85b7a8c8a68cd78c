import logging
from smtplib import SMTPException

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.text import slugify
from knox.models import AuthToken

from core.errors import PermissionDeniedError, ValidationError, full_clean_or_raise
from marketplace.models import EngineerProfile, Skill, User

logger = logging.getLogger(__name__)


class SignUpTokenGenerator(PasswordResetTokenGenerator):
    """Links that confirm a new account's e-mail: they die once it is confirmed (or its password changes)."""

    key_salt = "marketplace.services.users.SignUpTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        login = "" if user.last_login is None else user.last_login.replace(microsecond=0, tzinfo=None)
        return f"{user.pk}{user.password}{user.is_active}{login}{timestamp}{user.email}"


signup_tokens = SignUpTokenGenerator()
SIGNUP_SENT = (
    "Check your e-mail: we sent a link to confirm the address (if the address already has an account, "
    "the e-mail says so instead)."
)
INVALID_LINK = "This confirmation link is invalid or has expired: sign up again, or ask for a new link."


def _send(*, template: str, user: User, context: dict) -> None:
    """One account e-mail, sent now. A mail server that fails is logged; the person can ask again."""
    site = settings.SITE_URL.rstrip("/")
    body = render_to_string(f"registration/{template}.txt", {"user": user, "site": site, **context})
    subject, _, message = body.partition("\n")
    try:
        send_mail(
            subject=subject.strip(),
            message=message.lstrip(),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
            fail_silently=False,
        )
    except (OSError, SMTPException):
        logger.exception("Could not send the %s e-mail to user %s", template, user.pk)


def _send_confirmation(user: User) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = reverse("signup-confirm", args=[uid, signup_tokens.make_token(user)])
    _send(template="signup_confirm_email", user=user, context={"path": link})


def user_sign_up(
    *,
    username: str,
    email: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    confirmed: bool = False,
) -> User | None:
    """A new account, inactive until its e-mail is confirmed through the link mailed to it.

    Whether the e-mail already has an account is never told to the caller (that would let anyone test
    addresses): the owner of the address gets an e-mail instead (a new confirmation link if that
    account was never confirmed, else "you already have an account"), no account is created, and the
    result is None; callers answer both the same way. The password is hashed either way, so the two
    take as long. `confirmed` (seed data, staff tools) creates an active account and mails nothing.
    """
    if role not in User.Role.values:
        raise ValidationError(
            f"Role must be one of: {', '.join(User.Role.values)}.",
            details={"role": ["Choose client or engineer."]},
        )
    errors: dict[str, list[str]] = {}
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["That username is taken."]
    candidate = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        is_active=confirmed,
    )
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], details=errors)
    existing = User.objects.filter(email__iexact=email).order_by("pk").first()
    if existing is not None:
        make_password(password)  # the time a new account's hash takes
        if existing.is_active:
            _send(template="signup_existing_email", user=existing, context={})
        else:
            _send_confirmation(existing)
        return None
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
            if role == User.Role.ENGINEER:
                EngineerProfile.objects.create(user=candidate)
    except IntegrityError as exc:
        raise ValidationError(
            "That username is taken.", details={"username": ["That username is taken."]}
        ) from exc
    if not confirmed:
        _send_confirmation(candidate)
    return candidate


def signup_link_user(*, uidb64: str, token: str) -> User | None:
    """The account a confirmation link confirms, or None for a bad, expired or used link."""
    try:
        user = User.objects.filter(pk=int(force_str(urlsafe_base64_decode(uidb64)))).first()
    except (TypeError, ValueError, OverflowError):
        return None
    if user is None or user.is_active or not signup_tokens.check_token(user, token):
        return None
    return user


def user_confirm_sign_up(*, uidb64: str, token: str) -> User:
    """Activate the account a confirmation link names; ValidationError for a bad or used link."""
    user = signup_link_user(uidb64=uidb64, token=token)
    if user is None:
        raise ValidationError(INVALID_LINK, code="invalid_link", details={"token": [INVALID_LINK]})
    user.is_active = True
    user.last_login = timezone.now()  # confirming is the first log-in; the link dies with it
    user.save(update_fields=["is_active", "last_login"])
    return user


def user_resend_confirmation(*, email: str) -> None:
    """A new confirmation link for an account not confirmed yet; nothing otherwise (and nothing said)."""
    user = User.objects.filter(email__iexact=email, is_active=False, last_login__isnull=True).first()
    if user is not None:
        _send_confirmation(user)


def skills_resolve(*, names: list[str]) -> list[Skill]:
    """Skill tags by name, creating the ones that do not exist yet."""
    skills = []
    for raw in names:
        name = " ".join(str(raw).split())[:64]
        slug = slugify(name)[:64]
        if not slug:
            continue
        skill, _ = Skill.objects.get_or_create(slug=slug, defaults={"name": name})
        skills.append(skill)
    return skills


def _distinct_stripped(values: list) -> list:
    """Items with their spaces tidied, empty ones and repeats (in any case) left out, order kept."""
    seen, kept = set(), []
    for value in values:
        if not isinstance(value, str):
            kept.append(value)  # the model's validator names the bad item
            continue
        tidy = " ".join(value.split())
        if tidy and tidy.casefold() not in seen:
            seen.add(tidy.casefold())
            kept.append(tidy)
    return kept


@transaction.atomic
def engineer_profile_update(*, actor: User, skills: list[str] | None = None, **fields) -> EngineerProfile:
    if not actor.is_engineer:
        raise PermissionDeniedError("Only engineers have a profile.")
    profile = EngineerProfile.objects.select_for_update().get(user=actor)
    allowed = {
        "headline",
        "bio",
        "rate_type",
        "rate_amount",
        "currency",
        "availability",
        "time_zone",
        "languages",
        "portfolio_links",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(
            f"Unknown fields: {', '.join(sorted(unknown))}.",
            details={name: ["Unknown field."] for name in unknown},
        )
    for name in ("languages", "portfolio_links"):
        if isinstance(fields.get(name), list):
            fields[name] = _distinct_stripped(fields[name])
    for name, value in fields.items():
        setattr(profile, name, value)
    full_clean_or_raise(profile, exclude=["user"])
    profile.save()
    if skills is not None:
        profile.skills.set(skills_resolve(names=skills))
    return profile


# --- API tokens (django-rest-knox: stored hashed, each with its expiry) ----------------------------


@transaction.atomic
def api_token_issue(*, user: User) -> tuple[str, AuthToken]:
    """A new token for a log-in; beyond API_TOKENS_PER_USER live ones, the oldest are revoked."""
    instance, token = AuthToken.objects.create(user=user)
    keep = list(
        AuthToken.objects.filter(user=user)
        .order_by("-created", "-pk")
        .values_list("pk", flat=True)[: settings.API_TOKENS_PER_USER]
    )
    AuthToken.objects.filter(user=user).exclude(pk__in=keep).delete()
    return token, instance


@transaction.atomic
def api_token_rotate(*, current: AuthToken) -> tuple[str, AuthToken]:
    """A fresh token with a fresh lifetime in place of the one presented, which stops working now."""
    api_token_revoke(current=current)
    return api_token_issue(user=current.user)


def api_token_revoke(*, current: AuthToken) -> None:
    AuthToken.objects.filter(pk=current.pk).delete()


def api_tokens_revoke_all(*, user: User) -> int:
    return AuthToken.objects.filter(user=user).delete()[0]
