"""Engineer public profile and the engineer's own profile editor."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.pages import Failed, attempt, fetch, role_required
from marketplace import selectors
from marketplace.forms import EngineerProfileForm
from marketplace.services import users as user_services


def engineer_detail(request, username: str):
    profile = fetch(selectors.engineer_detail, username=username)
    return render(
        request,
        "marketplace/profiles/detail.html",
        {"profile": profile, "engineer": profile.user, "is_self": request.user.pk == profile.user_id},
    )


@role_required("engineer")
@require_http_methods(["GET", "POST"])
def profile_edit(request):
    profile = fetch(selectors.engineer_get, username=request.user.username)
    form = EngineerProfileForm(request.POST or None, initial=EngineerProfileForm.initial_from(profile))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            saved = attempt(
                request,
                user_services.engineer_profile_update,
                form=form,
                done="Profile saved.",
                actor=request.user,
                **form.service_kwargs(),
            )
            if not isinstance(saved, Failed):
                return redirect("engineer-detail", username=request.user.username)
            status = saved.status
        else:
            messages.error(request, "Please correct the fields marked below.")
            status = 400
    return render(
        request, "marketplace/profiles/edit.html", {"form": form, "profile": profile}, status=status
    )
