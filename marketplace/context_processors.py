from marketplace.selectors import conversation_unread_total, notification_unread_count


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "unread_notifications": notification_unread_count(user=user),
        "unread_messages": 0 if user.is_staff else conversation_unread_total(user=user),
    }
