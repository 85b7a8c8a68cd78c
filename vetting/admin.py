from django.contrib import admin
from django.utils import timezone

from vetting.models import Badge


@admin.register(Badge)
class BadgeAdmin(admin.ModelAdmin):
    list_display = ("engineer", "title", "band", "score", "awarded_at", "revoked_at")
    list_filter = ("band", "challenge_slug")
    search_fields = ("engineer__username", "title")
    actions = ["revoke"]

    @admin.action(description="Revoke selected badges")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_reason=f"Revoked by {request.user.username}"
        )
        self.message_user(request, f"Revoked {count} badge(s).")
