from django.contrib import admin, messages

from core.errors import ApplicationError
from sandbox import services
from sandbox.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "state", "owner", "attempt", "device", "failure_reason", "created_at"]
    list_filter = ["kind", "state", "failure_reason", "device"]
    search_fields = ["id", "owner__username", "owner__email"]
    raw_id_fields = ["owner"]
    actions = ["cancel_jobs"]
    # Jobs change only through services and their supervisor; the admin looks and cancels.
    readonly_fields = [field.name for field in Job._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset) -> None:
        for job in queryset:
            try:
                services.job_cancel(job_id=job.pk, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"Job {job.pk}: {exc.message}", messages.WARNING)
