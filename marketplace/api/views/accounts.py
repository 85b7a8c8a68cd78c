"""Accounts, engineers' public profiles, skills and notifications."""

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.auth import TokenAuthentication
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from core.api import PAGED, ApiView, errors
from core.errors import ValidationError
from marketplace import directory, selectors
from marketplace.api import serializers as s
from marketplace.services import notifications as notification_services
from marketplace.services import users as user_services
from marketplace.services.users import SIGNUP_SENT


def _token_response(view: ApiView, token: str, instance) -> Response:
    """The new token (shown this once) and when it expires."""
    return view.render(s.TokenSerializer, {"token": token, "expires_at": instance.expiry})


class TokenObtainApi(ApiView):
    # Credentials come in the body; a stale token or session must not stand in the way.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        auth=[],
        request=s.TokenInput,
        responses={200: s.TokenSerializer, **errors(400, 429, authenticated=False)},
        description="Exchange a username and password for a new API token, valid until `expires_at`. "
        "Each log-in gets its own token; a user keeps the newest ten. Failed attempts count towards the "
        "same lockout as the log-in page.",
    )
    def post(self, request):
        data = self.parse(s.TokenInput)
        # The DRF request carries django-axes' lockout bookkeeping for this attempt.
        user = authenticate(request=request, username=data["username"], password=data["password"])
        if user is None:
            if getattr(request, "axes_locked_out", False):
                raise Throttled(
                    wait=settings.AXES_COOLOFF_TIME.total_seconds(),
                    detail="Too many failed log-in attempts. Try again later.",
                )
            raise ValidationError(
                "Unable to log in with the username and password given.",
                code="invalid_credentials",
                details={"non_field_errors": ["Unable to log in with the username and password given."]},
            )
        # A successful log-in resets the failure count, as on the log-in page.
        user_logged_in.send(sender=type(user), request=request, user=user)
        return _token_response(self, *user_services.api_token_issue(user=user))


class TokenRefreshApi(ApiView):
    # Only a token can be rotated: the one presented is the one replaced.
    authentication_classes = [TokenAuthentication]

    @extend_schema(
        tags=["auth"],
        request=None,
        responses={200: s.TokenSerializer, **errors()},
        description="Rotate the token you send: a new token with a new lifetime comes back, and the one "
        "sent stops working at once.",
    )
    def post(self, request):
        return _token_response(self, *user_services.api_token_rotate(current=request.auth))


class LogoutApi(ApiView):
    authentication_classes = [TokenAuthentication]

    @extend_schema(
        tags=["auth"],
        request=None,
        responses={204: OpenApiResponse(description="The token sent is revoked."), **errors()},
        description="Revoke the token you send.",
    )
    def post(self, request):
        user_services.api_token_revoke(current=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(ApiView):
    @extend_schema(
        tags=["auth"],
        request=None,
        responses={200: s.RevokedSerializer, **errors()},
        description="Revoke every API token of your account (every device and script). Changing or "
        "resetting the password does the same.",
    )
    def post(self, request):
        return self.render(
            s.RevokedSerializer, {"revoked": user_services.api_tokens_revoke_all(user=request.user)}
        )


class SignUpApi(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        auth=[],
        request=s.SignUpInput,
        responses={202: s.SignUpAcceptedSerializer, **errors(400, authenticated=False)},
        description="Create a client or engineer account, inactive until the e-mailed link confirms the "
        "address (/auth/signup/confirm/); then obtain a token with /auth/token/. The answer is the same "
        "whether or not the address already has an account (its owner is e-mailed instead).",
    )
    def post(self, request):
        user_services.user_sign_up(**self.parse(s.SignUpInput))
        return self.render(s.SignUpAcceptedSerializer, {"detail": SIGNUP_SENT}, status.HTTP_202_ACCEPTED)


class SignUpConfirmApi(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        auth=[],
        request=s.SignUpConfirmInput,
        responses={200: s.MeSerializer, **errors(400, authenticated=False)},
        description="Confirm the address of a new account with the uid and token of the e-mailed link; "
        "the account becomes usable. A link works once.",
    )
    def post(self, request):
        data = self.parse(s.SignUpConfirmInput)
        user = user_services.user_confirm_sign_up(uidb64=data["uid"], token=data["token"])
        return self.render(s.MeSerializer, user)


class SignUpResendApi(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        auth=[],
        request=s.ResendConfirmationInput,
        responses={202: s.SignUpAcceptedSerializer, **errors(400, authenticated=False)},
        description="E-mail a new confirmation link if the address has an account awaiting confirmation; "
        "the answer is the same either way.",
    )
    def post(self, request):
        user_services.user_resend_confirmation(email=self.parse(s.ResendConfirmationInput)["email"])
        return self.render(s.SignUpAcceptedSerializer, {"detail": SIGNUP_SENT}, status.HTTP_202_ACCEPTED)


class MeApi(ApiView):
    @extend_schema(tags=["auth"], responses={200: s.MeSerializer, **errors()})
    def get(self, request):
        return self.render(s.MeSerializer, request.user)


class MyProfileApi(ApiView):
    @extend_schema(
        tags=["engineers"],
        request=s.ProfileInput,
        responses={200: s.EngineerDetailSerializer, **errors(400, 403)},
        description="Edit your engineer profile (engineers only). Send only the fields to change.",
    )
    def patch(self, request):
        user_services.engineer_profile_update(actor=request.user, **self.parse(s.ProfileInput))
        return self.render(
            s.EngineerDetailSerializer, selectors.engineer_detail(username=request.user.username)
        )


class SkillListApi(ApiView):
    permission_classes = [AllowAny]
    pagination_class = PAGED

    @extend_schema(tags=["engineers"], responses={200: s.SkillSerializer(many=True)})
    def get(self, request):
        return self.render_page(s.SkillSerializer, selectors.skill_list())


class EngineerListApi(ApiView):
    """Engineers' public profiles, open to anyone like the profile pages."""

    permission_classes = [AllowAny]
    pagination_class = PAGED

    @extend_schema(
        tags=["engineers"],
        parameters=[s.EngineerFilterInput],
        responses={200: s.EngineerSerializer(many=True), **errors(400, authenticated=False)},
        description="The engineer directory: engineers with a complete profile (headline, bio, skills, "
        "rate, time zone), filtered and ordered as asked. Badges show their band, never a score.",
    )
    def get(self, request):
        query = s.EngineerFilterInput(data=request.query_params, context=self.context())
        query.is_valid(raise_exception=True)
        return self.render_page(s.EngineerSerializer, directory.engineer_directory(filters=query.filters()))


class EngineerDetailApi(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["engineers"], responses={200: s.EngineerDetailSerializer, **errors(404, authenticated=False)}
    )
    def get(self, request, username: str):
        return self.render(s.EngineerDetailSerializer, selectors.engineer_detail(username=username))


class NotificationListApi(ApiView):
    pagination_class = PAGED

    @extend_schema(tags=["notifications"], responses={200: s.NotificationSerializer(many=True), **errors()})
    def get(self, request):
        return self.render_page(s.NotificationSerializer, selectors.notification_list(user=request.user))


class NotificationMarkReadApi(ApiView):
    @extend_schema(
        tags=["notifications"],
        request=s.MarkReadInput,
        responses={200: s.MarkReadSerializer, **errors(400)},
        description="Mark the given notifications read, or all of them when `ids` is omitted.",
    )
    def post(self, request):
        ids = self.parse(s.MarkReadInput)["ids"]
        marked = notification_services.notification_mark_read(user=request.user, notification_ids=ids)
        return Response({"marked": marked}, status=status.HTTP_200_OK)


class NotificationPreferencesApi(ApiView):
    @extend_schema(
        tags=["notifications"],
        responses={200: s.NotificationPreferenceSerializer(many=True), **errors()},
        description="Every notification topic with the caller's channels (in-app, e-mail).",
    )
    def get(self, request):
        return self.render_many(
            s.NotificationPreferenceSerializer, selectors.notification_preferences(user=request.user)
        )

    @extend_schema(
        tags=["notifications"],
        request=s.NotificationPreferencesInput,
        responses={200: s.NotificationPreferenceSerializer(many=True), **errors(400)},
        description="Turn channels on or off per topic; answers every topic's setting.",
    )
    def put(self, request):
        preferences = self.parse(s.NotificationPreferencesInput)["preferences"]
        notification_services.notification_preferences_set(actor=request.user, preferences=preferences)
        return self.render_many(
            s.NotificationPreferenceSerializer, selectors.notification_preferences(user=request.user)
        )
