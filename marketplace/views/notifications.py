"""The in-app notification list."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.pages import Failed, attempt, paginate
from marketplace import selectors
from marketplace.services import notifications as notification_services


@login_required
def notification_list(request):
    page = paginate(request, selectors.notification_list(user=request.user))
    return render(
        request, "marketplace/notifications/list.html", {"page": page, "notifications": page.object_list}
    )


@login_required
@require_POST
def notification_read_all(request):
    count = notification_services.notification_mark_read(user=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
    return redirect("notification-list")


@login_required
@require_POST
def notification_open(request, pk: int):
    """Mark one notification read and follow its link (only ever to this site)."""
    notification = get_object_or_404(selectors.notification_list(user=request.user), pk=pk)
    notification_services.notification_mark_read(user=request.user, notification_ids=[notification.pk])
    target = notification.url
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect("notification-list")
    return redirect(target)


@login_required
def notification_settings(request):
    """Which topics reach the user in the app and by e-mail (a checkbox each)."""
    if request.method == "POST":
        chosen = {
            row["topic"]: {
                "in_app": f"{row['topic']}-in_app" in request.POST,
                "email": f"{row['topic']}-email" in request.POST,
            }
            for row in selectors.notification_preferences(user=request.user)
        }
        done = attempt(
            request,
            notification_services.notification_preferences_set,
            done="Notification settings saved.",
            actor=request.user,
            preferences=chosen,
        )
        if not isinstance(done, Failed):
            return redirect("notification-settings")
    rows = selectors.notification_preferences(user=request.user)
    return render(request, "marketplace/notifications/settings.html", {"rows": rows})
