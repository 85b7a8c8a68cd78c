from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from marketplace.models import (
    Consultation,
    Delivery,
    DeliveryAttachment,
    Engagement,
    EngineerProfile,
    HiringRequest,
    Message,
    Milestone,
    Notification,
    Proposal,
    ProposalMilestone,
    Review,
    Skill,
    User,
)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "role", "is_staff", "is_active", "date_joined")
    list_filter = ("role", "is_staff", "is_active")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Marketplace", {"fields": ("role",)}))


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(EngineerProfile)
class EngineerProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "headline", "availability", "rate_amount", "rate_type", "rating_count")
    list_filter = ("availability", "rate_type")
    search_fields = ("user__username", "headline")
    filter_horizontal = ("skills",)
    list_select_related = ("user",)


class ReadOnlyStateMixin:
    """States change only through services, so the admin shows them without letting staff edit them."""

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "state")


class ServiceOwnedMixin(ReadOnlyStateMixin):
    """Money and the parties of a deal are written only by the services (which keep the ledger, the
    escrow and the audit trail in step), so the admin shows them read-only, and cannot add or delete
    the objects that carry them; the rest (titles, dates) stays editable for support."""

    service_owned: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *self.service_owned)

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(HiringRequest)
class HiringRequestAdmin(ReadOnlyStateMixin, admin.ModelAdmin):
    list_display = ("title", "client", "state", "budget_min", "budget_max", "currency", "created_at")
    list_filter = ("state",)
    search_fields = ("title", "client__username")
    list_select_related = ("client",)
    filter_horizontal = ("skills",)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    readonly_fields = ("author", "body", "created_at")


@admin.register(Consultation)
class ConsultationAdmin(ReadOnlyStateMixin, admin.ModelAdmin):
    list_display = ("request", "engineer", "state", "created_at")
    list_filter = ("state",)
    list_select_related = ("request", "engineer")
    inlines = [MessageInline]


MILESTONE_OWNED = ("engagement", "position", "amount", "currency", "funded_at", "approved_at")


class ProposalMilestoneInline(ServiceOwnedMixin, admin.TabularInline):
    model = ProposalMilestone
    extra = 0
    service_owned = ("position", "amount")


@admin.register(Proposal)
class ProposalAdmin(ServiceOwnedMixin, admin.ModelAdmin):
    list_display = ("pk", "consultation", "price", "currency", "state", "created_at")
    list_filter = ("state",)
    inlines = [ProposalMilestoneInline]
    service_owned = ("consultation", "price", "currency")


class MilestoneInline(ServiceOwnedMixin, admin.TabularInline):
    model = Milestone
    extra = 0
    fields = ("position", "title", "amount", "currency", "due_date", "state")
    service_owned = ("position", "amount", "currency")


@admin.register(Engagement)
class EngagementAdmin(ServiceOwnedMixin, admin.ModelAdmin):
    list_display = ("title", "client", "engineer", "total", "currency", "state", "created_at")
    list_filter = ("state",)
    list_select_related = ("client", "engineer")
    inlines = [MilestoneInline]
    service_owned = ("request", "proposal", "consultation", "client", "engineer", "currency", "total")


@admin.register(Milestone)
class MilestoneAdmin(ServiceOwnedMixin, admin.ModelAdmin):
    list_display = ("title", "engagement", "amount", "currency", "state", "due_date", "auto_approve_at")
    list_filter = ("state",)
    list_select_related = ("engagement",)
    service_owned = MILESTONE_OWNED


class AttachmentInline(admin.TabularInline):
    model = DeliveryAttachment
    extra = 0


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("milestone", "author", "review", "created_at")
    list_filter = ("review",)
    inlines = [AttachmentInline]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("engagement", "client", "engineer", "rating", "created_at")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "message", "created_at", "read_at", "emailed_at")
    list_filter = ("kind",)
