# Placeholder URL names, replaced by the real page views.
from django.http import HttpResponse
from django.urls import path


def _todo(request, *args, **kwargs):
    return HttpResponse("")


urlpatterns = [
    path(route, _todo, name=name)
    for route, name in [
        ("", "home"),
        ("dashboard/", "dashboard"),
        ("signup/", "signup"),
        ("login/", "login"),
        ("logout/", "logout"),
        ("requests/", "request-list"),
        ("consultations/", "consultation-list"),
        ("consultations/<int:pk>/", "consultation-detail"),
        ("engagements/", "engagement-list"),
        ("engagements/<int:pk>/", "engagement-detail"),
        ("engineers/<str:username>/", "engineer-detail"),
        ("profile/", "profile-edit"),
        ("notifications/", "notification-list"),
    ]
]
