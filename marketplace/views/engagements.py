"""Engagements (both parties): milestones with the actions each role may take now, deliveries with
their attachments, the timeline of every transition, and the client's review after completion."""

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError, ValidationError
from core.pages import Failed, attempt, download, fetch, paginate, report, role_required
from core.uploads import upload_caps
from marketplace import selectors
from marketplace.forms import (
    ApproveForm,
    CancelForm,
    ChangeOrderForm,
    DeliveryForm,
    DisputeForm,
    DisputeStatementForm,
    ReviewForm,
    RevisionForm,
)
from marketplace.models import ChangeOrder, ClientReview, Engagement, Milestone, Review
from marketplace.services import change_orders as change_order_services
from marketplace.services import engagements as engagement_services
from marketplace.services import reviews as review_services

# What a party may do from the page: URL action -> (fsm transition, form class).
ACTIONS = {
    "start": ("start_work", None),
    "submit": ("submit", DeliveryForm),
    "approve": ("approve", ApproveForm),
    "revision": ("request_revision", RevisionForm),
    "dispute": ("open_dispute", DisputeForm),
    "cancel": ("cancel", CancelForm),
}
STATE_LABELS = {
    "milestone": dict(Milestone.State.choices),
    "engagement": dict(Engagement.State.choices),
    "changeorder": dict(ChangeOrder.State.choices),
}
# How each milestone ended (or that it has not), for the list's one-line summary.
S = Milestone.State
OUTCOMES = (
    ("approved", (S.APPROVED, S.PAYOUT_PENDING, S.PAID)),
    ("settled by dispute", (S.RESOLVED,)),
    ("refunded", (S.REFUND_PENDING, S.REFUNDED)),
    ("cancelled", (S.CANCELLED,)),
)


def _outcomes(milestones: list[Milestone]) -> str:
    """ "3 milestones: 1 approved, 1 settled by dispute, 1 open"."""
    parts = []
    for label, states in OUTCOMES:
        count = sum(1 for m in milestones if m.state in states)
        if count:
            parts.append(f"{count} {label}")
    open_count = sum(1 for m in milestones if m.state in Milestone.OPEN_STATES)
    if open_count:
        parts.append(f"{open_count} open")
    return f"{len(milestones)} milestone{'s' if len(milestones) != 1 else ''}: " + ", ".join(parts)


@dataclass
class MilestonePanel:
    milestone: Milestone
    actions: dict = field(default_factory=dict)  # action -> form (or None for a plain button)
    statement_form: object | None = None  # a party's side of an open dispute


@role_required("client", "engineer")
def engagement_list(request):
    page = paginate(request, selectors.engagement_list(user=request.user))
    rows = []
    for engagement in page.object_list:
        milestones = list(engagement.milestones.all())
        rows.append({"engagement": engagement, "milestones": milestones, "outcomes": _outcomes(milestones)})
    return render(request, "marketplace/engagements/list.html", {"page": page, "rows": rows})


def _timeline(engagement: Engagement, milestones: list[Milestone]) -> list[dict]:
    titles = {m.pk: f"Milestone {m.position}: {m.title}" for m in milestones}
    entries = []
    for log in selectors.engagement_timeline(engagement=engagement):
        model = log.content_type.model
        labels = STATE_LABELS.get(model, {})
        entries.append(
            {
                "log": log,
                "subject": {
                    "milestone": titles.get(log.object_id, "Milestone"),
                    "changeorder": f"Change order CO-{log.object_id}",
                }.get(model, "Engagement"),
                "from_label": labels.get(log.from_state, log.from_state),
                "to_label": labels.get(log.to_state, log.to_state),
                "actor": log.actor.display_name if log.actor else "Tunehire (automatic)",
            }
        )
    return entries


def _render_engagement(
    request,
    engagement: Engagement,
    *,
    bound: tuple[int, str, object] | None = None,
    review_form: ReviewForm | None = None,
    statement: tuple[int, DisputeStatementForm] | None = None,
    status: int = 200,
):
    user = request.user
    milestones = list(engagement.milestones.all())
    is_client = engagement.client_id == user.pk
    is_engineer = engagement.engineer_id == user.pk
    panels = []
    for milestone in milestones:
        panel = MilestonePanel(milestone=milestone)
        if is_client or is_engineer:
            available = {t.name for t in milestone.get_available_user_state_transitions(user)}
            for action, (transition, form_class) in ACTIONS.items():
                if transition not in available:
                    continue
                if bound and bound[0] == milestone.pk and bound[1] == action:
                    panel.actions[action] = bound[2]
                else:
                    panel.actions[action] = form_class(prefix=f"m{milestone.pk}") if form_class else None
        if milestone.state == Milestone.State.DISPUTED and (is_client or is_engineer):
            bound_here = statement is not None and statement[0] == milestone.pk
            panel.statement_form = (
                statement[1] if bound_here else DisputeStatementForm(prefix=f"d{milestone.pk}")
            )
        panels.append(panel)
    reviews = _reviews(engagement, user, review_form)
    context = {
        "engagement": engagement,
        "panels": panels,
        "is_client": is_client,
        "is_engineer": is_engineer,
        "timeline": _timeline(engagement, milestones),
        **reviews,
        "milestones": milestones,  # the payments app's summary and panels read their money (payments_tags)
        "change_orders": list(selectors.change_orders_of(engagement=engagement)),
        "can_propose_change": (is_client or is_engineer)
        and engagement.state == Engagement.State.ACTIVE
        and any(m.state == Milestone.State.PENDING_FUNDING for m in milestones),
        "conversation_unread": (
            selectors.conversation_unread_total(user=request.user, consultation_id=engagement.consultation_id)
            if is_client or is_engineer
            else 0
        ),
    }
    return render(request, "marketplace/engagements/detail.html", context, status=status)


def _review_of(engagement: Engagement, attr: str):
    try:
        return getattr(engagement, attr)
    except (Review.DoesNotExist, ClientReview.DoesNotExist):
        return None


def _reviews(engagement: Engagement, user, bound: ReviewForm | None) -> dict:
    """Each party's own review (theirs to write or edit while the window allows) and the other's, shown
    once published; staff read both."""
    client_review, engineer_review = _review_of(engagement, "review"), _review_of(engagement, "client_review")
    is_client, is_engineer = user.pk == engagement.client_id, user.pk == engagement.engineer_id
    if not (is_client or is_engineer):
        return {"review": client_review, "client_review": engineer_review, "review_staff": True}
    own, other = (client_review, engineer_review) if is_client else (engineer_review, client_review)
    now = timezone.now()
    closes = review_services.review_window_closes(engagement)
    can_write = engagement.state == Engagement.State.COMPLETED and own is None and closes and now <= closes
    can_edit = own is not None and now <= own.created_at + review_services.window()
    form = bound
    if form is None and can_write:
        form = ReviewForm()
    elif form is None and can_edit:
        form = ReviewForm(initial={"rating": own.rating, "text": own.text})
    return {
        "own_review": own,
        "other_review": other if other is not None and other.is_published else None,
        "other_rated": other is not None,
        "review_form": form if (can_write or can_edit) else None,
        "review_editing": own is not None,
        "review_window_closes": closes,
        "review_edit_until": own.created_at + review_services.window() if own else None,
        "review_subject": engagement.engineer if is_client else engagement.client,
    }


def _engagement(request, pk: int) -> Engagement:
    return fetch(selectors.engagement_get, user=request.user, engagement_id=pk)


@login_required  # staff too: they settle disputes and cancel with a refund from this page
def engagement_detail(request, pk: int):
    return _render_engagement(request, _engagement(request, pk))


def _call_action(request, action: str, milestone: Milestone, form) -> None:
    actor, pk = request.user, milestone.pk
    if action == "start":
        engagement_services.milestone_start(actor=actor, milestone_id=pk)
    elif action == "submit":
        engagement_services.milestone_submit(
            actor=actor,
            milestone_id=pk,
            message=form.cleaned_data["message"],
            links=form.link_list(),
            files=form.cleaned_data["attachments"],
            adapter=form.adapter(),
            training=form.training(),
        )
    elif action == "approve":
        engagement_services.milestone_approve(
            actor=actor,
            milestone_id=pk,
            note=form.cleaned_data["note"],
            approve_anyway=form.cleaned_data["approve_anyway"],
        )
    elif action == "revision":
        engagement_services.milestone_request_revision(
            actor=actor, milestone_id=pk, comment=form.cleaned_data["comment"]
        )
    elif action == "dispute":
        engagement_services.milestone_open_dispute(
            actor=actor,
            milestone_id=pk,
            reason=form.cleaned_data["reason"],
            category=form.cleaned_data["category"],
            files=form.cleaned_data["evidence"],
        )
    elif action == "cancel":
        engagement_services.milestone_cancel(actor=actor, milestone_id=pk, reason=form.cleaned_data["reason"])


SUCCESS_MESSAGES = {
    "start": "Work started. The client was told.",
    "submit": "Delivery submitted for the client's review.",
    "approve": "Milestone approved. The payout is on its way to the engineer.",
    "revision": "Revision requested. The engineer was told what to change.",
    "dispute": "Dispute opened. Payouts on this milestone are frozen; staff were told and the other party can respond.",
    "cancel": "Milestone cancelled.",
}


@upload_caps(
    attachments=lambda: settings.ATTACHMENT_MAX_BYTES,
    evidence=lambda: settings.ATTACHMENT_MAX_BYTES,
    adapter_config=lambda: settings.ADAPTER_MAX_BYTES,
    adapter_model=lambda: settings.ADAPTER_MAX_BYTES,
    dataset=lambda: settings.ACCEPTANCE_MAX_DATASET_BYTES,
)
@role_required("client", "engineer")
@require_POST
def milestone_action(request, pk: int, action: str):
    if action not in ACTIONS:
        raise Http404("No such action.")
    milestone = fetch(selectors.milestone_get, user=request.user, milestone_id=pk)
    form_class = ACTIONS[action][1]
    form = form_class(request.POST, request.FILES, prefix=f"m{pk}") if form_class else None
    status = 200
    if form is not None and not form.is_valid():
        messages.error(request, "Please correct the fields marked below.")
        status = 400
    else:
        done = attempt(
            request,
            lambda: _call_action(request, action, milestone, form),
            form=form,
            done=SUCCESS_MESSAGES[action],
        )
        if not isinstance(done, Failed):
            return redirect(reverse("engagement-detail", args=[milestone.engagement_id]) + f"#milestone-{pk}")
        status = done.status
    engagement = _engagement(request, milestone.engagement_id)
    return _render_engagement(request, engagement, bound=(pk, action, form), status=status)


@upload_caps(evidence=lambda: settings.ATTACHMENT_MAX_BYTES)
@role_required("client", "engineer")
@require_POST
def dispute_statement(request, pk: int):
    """A party adds their side to the milestone's open dispute."""
    milestone = fetch(selectors.milestone_get, user=request.user, milestone_id=pk)
    form = DisputeStatementForm(request.POST, request.FILES, prefix=f"d{pk}")
    status = 400
    if not form.is_valid():
        messages.error(request, "Please correct the fields marked below.")
    else:
        done = attempt(
            request,
            engagement_services.dispute_respond,
            form=form,
            done="Added to the dispute. The other party and staff were told.",
            actor=request.user,
            milestone_id=pk,
            body=form.cleaned_data["body"],
            files=form.cleaned_data["evidence"],
        )
        if not isinstance(done, Failed):
            return redirect(reverse("engagement-detail", args=[milestone.engagement_id]) + f"#dispute-{pk}")
        status = done.status
    engagement = _engagement(request, milestone.engagement_id)
    return _render_engagement(request, engagement, statement=(pk, form), status=status)


@login_required  # staff too: they read the evidence to settle
def dispute_evidence_download(request, pk: int):
    evidence = fetch(selectors.dispute_evidence_get, user=request.user, attachment_id=pk)
    return download(evidence.file, evidence.original_name)


@role_required("client", "engineer")
@require_POST
def engagement_review(request, pk: int):
    """Write your review of the other party, or edit it while the window allows."""
    engagement = _engagement(request, pk)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please correct the fields marked below.")
        return _render_engagement(request, engagement, review_form=form, status=400)
    own = _review_of(engagement, "review" if request.user.pk == engagement.client_id else "client_review")
    service = review_services.review_update if own is not None else review_services.review_create
    review = attempt(
        request,
        service,
        form=form,
        actor=request.user,
        engagement_id=pk,
        rating=form.cleaned_data["rating"],
        text=form.cleaned_data["text"],
    )
    if isinstance(review, Failed):
        return _render_engagement(request, _engagement(request, pk), review_form=form, status=review.status)
    if own is not None:
        messages.success(request, "Your review is updated.")
    elif review.is_published:
        messages.success(request, "Thank you! Both reviews are now published.")
    else:
        messages.success(
            request,
            "Thank you! Your review is published when the other party rates you too, or when the review "
            "window closes.",
        )
    return redirect(reverse("engagement-detail", args=[pk]) + "#review")


@role_required("client", "engineer")
def attachment_download(request, pk: int):
    attachment = fetch(selectors.delivery_attachment_get, user=request.user, attachment_id=pk)
    return download(attachment.file, attachment.original_name)


# --- Change orders ---------------------------------------------------------------------------------------


def _change_orders_url(engagement_id: int) -> str:
    return reverse("engagement-detail", args=[engagement_id]) + "#change-orders"


@login_required
@require_http_methods(["GET", "POST"])
def change_order_create(request, pk: int):
    """Edit the milestones not funded yet in place, mark some for removal, add new ones; the other party
    answers on the engagement page."""
    engagement = _engagement(request, pk)
    if request.user.pk not in (engagement.client_id, engagement.engineer_id):
        raise PermissionDenied("Only the client and the engineer change their plan.")
    milestones = [m for m in engagement.milestones.all() if m.state == Milestone.State.PENDING_FUNDING]
    form = ChangeOrderForm(request.POST or None, milestones=milestones, currency=engagement.currency)
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            messages.error(request, "Please correct the fields marked below.")
            status = 400
        else:
            try:
                change_order_services.change_order_propose(
                    actor=request.user,
                    engagement_id=engagement.pk,
                    changes=form.changes(),
                    note=form.cleaned_data["note"],
                )
            except ValidationError as exc:
                if not form.place_errors(exc.details):
                    form.add_error(None, exc.message.split(": ", 1)[-1])
                messages.error(request, "Please correct the fields marked below.")
                status = 400
            except ApplicationError as exc:
                status = report(request, exc)
            else:
                other = engagement.engineer if request.user.pk == engagement.client_id else engagement.client
                messages.success(request, f"Change proposed. {other.display_name} will accept or decline it.")
                return redirect(_change_orders_url(engagement.pk))
    return render(
        request,
        "marketplace/engagements/change_order_form.html",
        {
            "engagement": engagement,
            "form": form,
            "existing": [row for row in form.bound_rows() if row["milestone"]],
            "new": [row for row in form.bound_rows() if not row["milestone"]],
        },
        status=status,
    )


CHANGE_ORDER_ANSWERS = {
    "accept": (change_order_services.change_order_accept, "Change accepted: the milestones are updated."),
    "decline": (change_order_services.change_order_decline, "Change declined."),
    "withdraw": (change_order_services.change_order_withdraw, "Change withdrawn."),
}


@login_required
@require_POST
def change_order_answer(request, pk: int, answer: str):
    if answer not in CHANGE_ORDER_ANSWERS:
        raise Http404("No such answer.")
    service, done = CHANGE_ORDER_ANSWERS[answer]
    change_order = fetch(selectors.change_order_get, user=request.user, change_order_id=pk)
    kwargs = {} if answer == "withdraw" else {"note": request.POST.get("note", "")}
    attempt(request, service, done=done, actor=request.user, change_order_id=pk, **kwargs)
    return redirect(_change_orders_url(change_order.engagement_id))
