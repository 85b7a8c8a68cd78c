"""A milestone's acceptance-test page: the terms both parties see, and the client's form to set them
while the milestone awaits funding."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from acceptance import selectors, services
from acceptance.forms import AcceptanceTermsForm
from acceptance.models import AcceptanceTest
from core.errors import NotFoundError
from core.pages import Failed, attempt, fetch, role_required
from core.uploads import upload_caps
from marketplace.models import Milestone
from marketplace.selectors import milestone_get


def _test_or_none(user, milestone: Milestone) -> AcceptanceTest | None:
    try:
        return selectors.acceptance_test_get(user=user, milestone_id=milestone.pk)
    except NotFoundError:
        return None


def _page(request, milestone: Milestone, form: AcceptanceTermsForm | None = None, status: int = 200):
    test = _test_or_none(request.user, milestone)
    editable = (
        milestone.engagement.client_id == request.user.pk
        and milestone.state == Milestone.State.PENDING_FUNDING
    )
    if editable and form is None:
        initial = {}
        if test is not None:
            initial = {
                "metric": test.metric,
                "pass_mark": test.pass_mark,
                "base_model": test.base_model,
                "forgetting_floor": test.forgetting_floor,
                "public_sample_size": test.public_sample_size,
            }
        form = AcceptanceTermsForm(initial=initial)
    context = {
        "milestone": milestone,
        "engagement": milestone.engagement,
        "test": test,
        "sample": list(selectors.acceptance_public_sample(test=test)) if test else [],
        "form": form if editable else None,
        "is_client": milestone.engagement.client_id == request.user.pk,
    }
    return render(request, "acceptance/terms.html", context, status=status)


@upload_caps(eval_set=lambda: settings.ACCEPTANCE_MAX_SET_BYTES)
@role_required("client", "engineer")
def acceptance_page(request, pk: int):
    milestone = fetch(milestone_get, user=request.user, milestone_id=pk)
    if request.method != "POST":
        return _page(request, milestone)
    if milestone.engagement.client_id != request.user.pk:
        raise PermissionDenied("Only the client sets a milestone's acceptance test.")
    form = AcceptanceTermsForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Please correct the fields marked below.")
        return _page(request, milestone, form, status=400)
    result = attempt(
        request,
        services.acceptance_terms_set,
        form=form,
        done="Acceptance test saved. The engineer can see its terms and public sample.",
        actor=request.user,
        milestone_id=pk,
        **form.terms(),
    )
    if isinstance(result, Failed):
        return _page(request, milestone, form, status=result.status)
    return redirect(reverse("acceptance:terms", args=[pk]))


@role_required("client")
@require_POST
def acceptance_remove(request, pk: int):
    milestone = fetch(milestone_get, user=request.user, milestone_id=pk)
    result = attempt(
        request,
        services.acceptance_terms_remove,
        done="Acceptance test removed.",
        actor=request.user,
        milestone_id=pk,
    )
    if isinstance(result, Failed):
        return redirect(reverse("acceptance:terms", args=[pk]))
    return redirect(reverse("engagement-detail", args=[milestone.engagement_id]) + f"#milestone-{pk}")
