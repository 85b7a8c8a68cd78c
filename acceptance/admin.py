from django.contrib import admin

from acceptance.models import AcceptanceTest


@admin.register(AcceptanceTest)
class AcceptanceTestAdmin(admin.ModelAdmin):
    list_display = ["milestone", "metric", "pass_mark", "forgetting_floor", "item_count", "updated_at"]
    list_filter = ["metric"]
    search_fields = ["milestone__title", "milestone__engagement__title"]
    # The terms are the client's, locked by funding: staff read them here and never edit them.
    readonly_fields = [field.name for field in AcceptanceTest._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
