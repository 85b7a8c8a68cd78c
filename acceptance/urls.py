from django.urls import path

from acceptance import views

app_name = "acceptance"

urlpatterns = [
    path("milestones/<int:pk>/", views.acceptance_page, name="terms"),
    path("milestones/<int:pk>/remove/", views.acceptance_remove, name="remove"),
    path("milestones/<int:pk>/runs/", views.acceptance_runs_status, name="runs"),
    path("requests/<int:pk>/baseline/", views.baseline_page, name="baseline"),
]
