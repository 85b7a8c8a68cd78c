from django.urls import path

from acceptance.api import views

urlpatterns = [
    path(
        "milestones/<int:pk>/acceptance/", views.AcceptanceTermsApi.as_view(), name="api-milestone-acceptance"
    ),
]
