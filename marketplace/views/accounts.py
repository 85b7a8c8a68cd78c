"""Home, sign-up and the per-role dashboard. Log-in, log-out and password reset are Django's views."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core.pages import Failed, attempt
from marketplace import selectors
from marketplace.forms import ResendConfirmationForm, SignUpForm
from marketplace.models import Engagement, HiringRequest
from marketplace.services import users as user_services

DASHBOARD_ROWS = 8


def home(request):
    return render(request, "marketplace/home.html", {"figures": selectors.vetting_figures()})


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None, initial={"role": request.GET.get("role", "client")})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            user = attempt(
                request,
                user_services.user_sign_up,
                form=form,
                username=data["username"],
                email=data["email"],
                password=data["password"],
                role=data["role"],
                first_name=data["first_name"],
                last_name=data["last_name"],
            )
            if isinstance(user, Failed):
                status = user.status
            else:
                # The same answer whether or not the address already had an account (the service
                # mailed its owner instead): the page must not tell which.
                return redirect("signup-sent")
        else:
            status = 400
    return render(request, "registration/signup.html", {"form": form}, status=status)


def signup_sent(request):
    """ "Check your e-mail", with a form to ask for the link again."""
    return render(request, "registration/signup_sent.html", {"form": ResendConfirmationForm()})


@require_POST
def signup_resend(request):
    form = ResendConfirmationForm(request.POST)
    if not form.is_valid():
        return render(request, "registration/signup_sent.html", {"form": form}, status=400)
    user_services.user_resend_confirmation(email=form.cleaned_data["email"])
    messages.success(
        request, "If that address has an account waiting for confirmation, a new link is on its way."
    )
    return redirect("signup-sent")


@require_http_methods(["GET", "POST"])
def signup_confirm(request, uidb64: str, token: str):
    """The link from the confirmation e-mail: a button that confirms (a GET changes nothing, so a
    mail scanner that opens links does not confirm for the person)."""
    user = user_services.signup_link_user(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "registration/signup_confirm.html", {"invalid": True}, status=400)
    if request.method == "GET":
        return render(request, "registration/signup_confirm.html", {"confirm_user": user})
    confirmed = attempt(request, user_services.user_confirm_sign_up, uidb64=uidb64, token=token)
    if isinstance(confirmed, Failed):
        return render(request, "registration/signup_confirm.html", {"invalid": True}, status=confirmed.status)
    login(request, confirmed, backend="django.contrib.auth.backends.ModelBackend")
    if confirmed.is_engineer:
        messages.success(request, "Welcome to Tunehire! Complete your profile so clients can find you.")
        return redirect("profile-edit")
    messages.success(request, "Welcome to Tunehire! Raise your first request when you are ready.")
    return redirect("dashboard")


@login_required
def dashboard(request):
    user = request.user
    context = {
        "unread": list(selectors.notification_list(user=user).filter(read_at__isnull=True)[:5]),
    }
    if user.is_client:
        counts = {state: 0 for state in HiringRequest.State.values}
        for state in selectors.request_list(user=user).values_list("state", flat=True):
            counts[state] += 1
        context.update(
            state_counts=[(value, label, counts[value]) for value, label in HiringRequest.State.choices],
            active_requests=list(
                selectors.request_list(user=user).filter(
                    state__in=[
                        HiringRequest.State.DRAFT,
                        HiringRequest.State.OPEN,
                        HiringRequest.State.CONSULTING,
                    ]
                )[:DASHBOARD_ROWS]
            ),
            engagements=list(
                selectors.engagement_list(user=user).filter(state=Engagement.State.ACTIVE)[:DASHBOARD_ROWS]
            ),
        )
        return render(request, "marketplace/dashboard_client.html", context)
    if user.is_engineer:
        profile = selectors.engineer_get(username=user.username)
        missing = profile.listing_missing()
        context.update(
            profile=profile,
            missing=missing,
            # Payouts are the payments app's to tell: the template asks it (payout_readiness).
            consultations=list(selectors.consultation_list(user=user).filter(state="open")[:DASHBOARD_ROWS]),
            engagements=list(
                selectors.engagement_list(user=user).filter(state=Engagement.State.ACTIVE)[:DASHBOARD_ROWS]
            ),
        )
        return render(request, "marketplace/dashboard_engineer.html", context)
    context["disputes"] = list(selectors.disputes_open()[:DASHBOARD_ROWS])
    return render(request, "marketplace/dashboard_staff.html", context)
