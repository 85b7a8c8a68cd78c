"""A milestone's acceptance-test page: the terms both parties see, and the client's form to set them
while the milestone awaits funding."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from acceptance import baselines, selectors, services
from acceptance.forms import AcceptanceTermsForm, BaselineForm
from acceptance.models import AcceptanceRun, AcceptanceTest
from core.errors import NotFoundError
from core.pages import Failed, attempt, fetch, role_required
from core.uploads import upload_caps
from marketplace.models import Milestone
from marketplace.selectors import milestone_get, request_get
from vetting.views.charts import Bar, score_chart


def _test_or_none(user, milestone: Milestone) -> AcceptanceTest | None:
    try:
        return selectors.acceptance_test_get(user=user, milestone_id=milestone.pk)
    except NotFoundError:
        return None


OUTCOME_ROWS = 50


def _charts(run: AcceptanceRun) -> dict:
    scores = run.scores
    ratio_low = scores["forgetting_ratio"] < run.test.forgetting_floor
    return {
        "task": score_chart(
            [
                Bar("Base", "zero-shot", scores["base"], "base"),
                Bar("Few-shot", "public sample", scores["few_shot"], "prompt"),
                Bar("Delivered", "adapter", scores["delivered"], "tuned"),
            ]
        ),
        "general": score_chart(
            [
                Bar("Before", "base model", scores["general_base"], "before"),
                Bar("After", "delivered", scores["general_delivered"], "after low" if ratio_low else "after"),
            ]
        ),
    }


def _runs_context(request, milestone: Milestone, test: AcceptanceTest | None) -> dict:
    if test is None:
        return {"runs": [], "polling": False}
    runs = list(selectors.acceptance_runs(user=request.user, milestone_id=milestone.pk))
    rows = [
        {
            "run": run,
            "progress": selectors.run_progress(run),
            "charts": _charts(run) if run.scores else None,
            # The engineer's own training job (a training delivery) has a live page of its own.
            "train_job_url": next(
                (
                    reverse("sandbox:job-detail", args=[link.job_id])
                    for link in run.job_links.all()
                    if link.role == "train" and link.job.owner_id == request.user.pk
                ),
                None,
            ),
        }
        for run in runs
    ]
    context = {"runs": rows, "polling": any(not run.is_finished for run in runs), "milestone": milestone}
    finished = next((run for run in runs if run.outcomes), None)
    is_client = request.user.pk == milestone.engagement.client_id or request.user.is_staff
    if finished is not None and is_client:
        outcomes = selectors.run_item_outcomes(user=request.user, run=finished)
        show_all = request.GET.get("items") == "all"
        context["outcomes"] = {
            "run": finished,
            "rows": outcomes if show_all else outcomes[:OUTCOME_ROWS],
            "total": len(outcomes),
            "failed": sum(1 for row in outcomes if row["delivered"] < 1),
            "show_all": show_all,
        }
    return context


@login_required  # staff too: a dispute carries the report
def acceptance_runs_status(request, pk: int):
    """The runs section alone, which the page polls while a run is unfinished (htmx)."""
    milestone = fetch(milestone_get, user=request.user, milestone_id=pk)
    context = _runs_context(request, milestone, _test_or_none(request.user, milestone))
    return render(
        request,
        "acceptance/_runs.html",
        {**context, "is_client": milestone.engagement.client_id == request.user.pk},
    )


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
                "training_budget_minutes": test.training_budget_minutes,
            }
        form = AcceptanceTermsForm(initial=initial)
    context = {
        **_runs_context(request, milestone, test),
        "milestone": milestone,
        "engagement": milestone.engagement,
        "test": test,
        "sample": list(selectors.acceptance_public_sample(test=test)) if test else [],
        "form": form if editable else None,
        "is_client": milestone.engagement.client_id == request.user.pk,
    }
    return render(request, "acceptance/terms.html", context, status=status)


@upload_caps(eval_set=lambda: settings.ACCEPTANCE_MAX_SET_BYTES)
@login_required  # staff too: a dispute carries the report
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


@upload_caps(eval_set=lambda: settings.ACCEPTANCE_MAX_SET_BYTES)
@login_required
def baseline_page(request, pk: int):
    """A request's prompting baseline: the result (polled while measuring) and the client's form."""
    hiring_request = fetch(request_get, user=request.user, request_id=pk)
    is_owner = hiring_request.client_id == request.user.pk
    form, status = (BaselineForm() if is_owner else None), 200
    if request.method == "POST":
        if not is_owner:
            raise PermissionDenied("Only the request's client measures its prompting baseline.")
        form = BaselineForm(request.POST, request.FILES)
        if not form.is_valid():
            messages.error(request, "Please correct the fields marked below.")
            status = 400
        else:
            result = attempt(
                request,
                baselines.baseline_measure,
                form=form,
                done="Measuring prompting on your examples; the result appears here in a few minutes.",
                actor=request.user,
                request_id=pk,
                **form.cleaned_data,
            )
            if not isinstance(result, Failed):
                return redirect(reverse("acceptance:baseline", args=[pk]))
            status = result.status
    context = {
        "hiring_request": hiring_request,
        "r": hiring_request,
        "is_owner": is_owner,
        "on_baseline_page": True,
    }
    context["form"] = form if is_owner else None
    return render(request, "acceptance/baseline.html", context, status=status)
