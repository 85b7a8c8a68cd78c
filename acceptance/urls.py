from django.urls import path

from acceptance import views

app_name = "acceptance"

urlpatterns = [
    path("milestones/<int:pk>/", views.acceptance_page, name="terms"),
    path("milestones/<int:pk>/remove/", views.acceptance_remove, name="remove"),
]
