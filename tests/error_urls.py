"""The project's URLs plus one view that fails, to see the 500 page as a visitor would."""

from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def fail(request):
    raise RuntimeError("secret-detail-that-must-not-show")


urlpatterns = [*project_urlpatterns, path("fail/", fail)]
