from django.contrib import admin, messages

from core.errors import ApplicationError
from payments.models import (
    CancellationRequest,
    Chargeback,
    ConnectedAccount,
    Funding,
    LedgerEntry,
    LedgerPosting,
    Payout,
    ReconciliationRun,
    Refund,
    WebhookEvent,
)
from payments.services.payouts import payout_approve, payout_retry
from payments.webhooks import webhook_event_process


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows change only through the services; the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("account", "amount", "currency")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerPosting)
class LedgerPostingAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "key", "kind", "milestone", "currency", "memo")
    list_filter = ("kind", "currency")
    search_fields = ("key", "memo")
    inlines = [LedgerEntryInline]


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(ReadOnlyAdmin):
    list_display = ("user", "stripe_account_id", "details_submitted", "payouts_enabled", "transfers_active")
    list_filter = ("payouts_enabled", "transfers_active")
    search_fields = ("user__username", "stripe_account_id")


@admin.register(Funding)
class FundingAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "milestone",
        "client",
        "amount",
        "currency",
        "state",
        "payment_intent_id",
        "succeeded_at",
    )
    list_filter = ("state", "currency")
    search_fields = ("payment_intent_id", "charge_id")


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ("id", "milestone", "engineer", "amount", "fee", "net", "currency", "state", "transfer_id")
    list_filter = ("state", "kind")
    search_fields = ("transfer_id", "engineer__username")
    actions = ["approve_or_retry"]

    @admin.action(description="Approve (or retry) and send the selected payouts")
    def approve_or_retry(self, request, queryset):
        for payout in queryset:
            send = payout_retry if payout.state == Payout.State.FAILED else payout_approve
            try:
                send(actor=request.user, payout_id=payout.pk)
                self.message_user(request, f"Payout {payout.pk} sent.", messages.SUCCESS)
            except ApplicationError as exc:
                self.message_user(request, f"Payout {payout.pk}: {exc.message}", messages.ERROR)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "milestone", "kind", "amount", "currency", "state", "stripe_refund_id")
    list_filter = ("state", "kind")
    search_fields = ("stripe_refund_id",)


@admin.register(CancellationRequest)
class CancellationRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "milestone", "requested_by", "state", "responded_by", "created_at")
    list_filter = ("state",)


@admin.register(Chargeback)
class ChargebackAdmin(ReadOnlyAdmin):
    list_display = ("stripe_dispute_id", "milestone", "amount", "currency", "reason", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("stripe_dispute_id", "charge_id")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "stripe_id", "type", "status", "attempts", "result")
    list_filter = ("status", "type")
    search_fields = ("stripe_id", "error")
    actions = ["replay"]

    @admin.action(description="Process the selected failed events again")
    def replay(self, request, queryset):
        for event in queryset.filter(status=WebhookEvent.Status.FAILED):
            done = webhook_event_process(event_id=event.pk)
            status = done.status if done else "taken by another worker"
            self.message_user(request, f"{event.stripe_id}: {status}")


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "window_start", "window_end", "status", "finished_at")
    list_filter = ("status",)
