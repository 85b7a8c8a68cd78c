from django.urls import path

from sandbox import views

app_name = "sandbox"
urlpatterns = [
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("jobs/<int:pk>/status/", views.job_status, name="job-status"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job-cancel"),
]
