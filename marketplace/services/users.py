from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from knox.models import AuthToken

from core.errors import PermissionDeniedError, ValidationError, full_clean_or_raise
from marketplace.models import EngineerProfile, Skill, User


@transaction.atomic
def user_sign_up(
    *, username: str, email: str, password: str, role: str, first_name: str = "", last_name: str = ""
) -> User:
    if role not in User.Role.values:
        raise ValidationError(
            f"Role must be one of: {', '.join(User.Role.values)}.",
            details={"role": ["Choose client or engineer."]},
        )
    errors: dict[str, list[str]] = {}
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["That username is taken."]
    if User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["An account with that e-mail already exists."]
    candidate = User(username=username, email=email, first_name=first_name, last_name=last_name, role=role)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], details=errors)
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError as exc:
        raise ValidationError("That username or e-mail is taken.", details={"username": ["Taken."]}) from exc
    if role == User.Role.ENGINEER:
        EngineerProfile.objects.create(user=candidate)
    return candidate


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


@transaction.atomic
def engineer_profile_update(*, actor: User, skills: list[str] | None = None, **fields) -> EngineerProfile:
    if not actor.is_engineer:
        raise PermissionDeniedError("Only engineers have a profile.")
    profile = EngineerProfile.objects.select_for_update().get(user=actor)
    allowed = {"headline", "bio", "rate_type", "rate_amount", "currency", "availability"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(
            f"Unknown fields: {', '.join(sorted(unknown))}.",
            details={name: ["Unknown field."] for name in unknown},
        )
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
    AuthToken.objects.filter(pk=current.pk).delete()
    return api_token_issue(user=current.user)


def api_token_revoke(*, current: AuthToken) -> None:
    AuthToken.objects.filter(pk=current.pk).delete()


def api_tokens_revoke_all(*, user: User) -> int:
    return AuthToken.objects.filter(user=user).delete()[0]
