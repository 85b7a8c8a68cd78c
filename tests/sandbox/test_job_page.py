"""The job page and the job API: what they show, who may see them, and the page updating itself."""

from __future__ import annotations

import sys
import types
from datetime import timedelta

import pytest
from django.db import connections
from django.urls import NoReverseMatch, include, path, reverse
from django.utils import timezone

from sandbox.models import Job
from tests.sandbox.conftest import PROJECT_DIR, job_state


def running_job(*, owner, dataset, step: int = 40, total: int = 100) -> Job:
    """A job as its supervisor leaves it mid-run (written directly: no engine needs to run for a page)."""
    now = timezone.now()
    return Job.objects.create(
        kind=Job.Kind.TRAIN,
        owner=owner,
        spec={"dataset_path": str(dataset)},
        input_paths=[str(dataset)],
        wall_seconds=600,
        memory_mb=1024,
        output_mb=64,
        max_attempts=2,
        state=Job.State.RUNNING,
        attempt=1,
        device="cpu",
        supervisor="worker-1:123",
        started_at=now - timedelta(seconds=120),
        heartbeat_at=now,
        progress_step=step,
        progress_total=total,
        loss_history=[[s, round(2.5 / (1 + s / 10), 4)] for s in range(1, step + 1)],
        tokens_per_second=1830.5,
        log_tail="loading base model\nstep 40: loss 0.5\n",
    )


@pytest.fixture
def job(db, sandbox_settings, client_user, dataset) -> Job:
    return running_job(owner=client_user, dataset=dataset)


def test_owner_sees_state_progress_curve_times_and_log(client, client_user, job):
    client.force_login(client_user)
    response = client.get(f"/sandbox/jobs/{job.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-state="running"' in page
    assert 'aria-valuenow="40"' in page and "width: 40.0%" in page
    assert "step 40 of 100 (40%)" in page
    assert "<polyline points=" in page
    assert "2 min 00 s" in page  # elapsed
    assert "3 min 00 s" in page  # remaining: 40 steps took 2 min, 60 to go
    assert "1831" in page  # tokens per second, rounded
    assert "step 40: loss 0.5" in page
    assert f'hx-get="/sandbox/jobs/{job.pk}/status/"' in page and 'hx-trigger="every 2s"' in page
    assert "Cancel job" in page


def test_status_partial_stops_polling_once_the_job_has_finished(client, client_user, job):
    client.force_login(client_user)
    partial = client.get(f"/sandbox/jobs/{job.pk}/status/").content.decode()
    assert partial.lstrip().startswith('<section id="job-status"') and "every 2s" in partial
    assert "<html" not in partial

    Job.objects.filter(pk=job.pk).update(
        state=Job.State.FAILED,
        failure_reason="out_of_memory",
        failure_message="exceeded 1024 MB",
        finished_at=timezone.now(),
    )
    partial = client.get(f"/sandbox/jobs/{job.pk}/status/").content.decode()
    assert "hx-trigger" not in partial
    assert "Ran out of memory" in partial and "exceeded 1024 MB" in partial
    assert "Cancel job" not in partial


def test_only_the_owner_and_staff_see_a_job(client, job, engineer_user, staff_user):
    assert client.get(f"/sandbox/jobs/{job.pk}/").status_code == 302  # to the login page
    client.force_login(engineer_user)
    assert client.get(f"/sandbox/jobs/{job.pk}/").status_code == 404
    assert client.get(f"/sandbox/jobs/{job.pk}/status/").status_code == 404
    assert client.post(f"/sandbox/jobs/{job.pk}/cancel/").status_code == 404
    assert job_state(job.pk).cancel_requested is False
    client.force_login(staff_user)
    assert client.get(f"/sandbox/jobs/{job.pk}/").status_code == 200


def test_cancel_button_asks_a_running_job_to_stop(client, client_user, job):
    client.force_login(client_user)
    response = client.post(f"/sandbox/jobs/{job.pk}/cancel/", follow=True)
    assert response.redirect_chain == [(f"/sandbox/jobs/{job.pk}/", 302)]
    assert "Stopping the job" in response.content.decode()
    assert job_state(job.pk).cancel_requested is True


@pytest.fixture
def api_urls(settings):
    """/api/v1/ with the sandbox API, whether or not config/api_urls.py includes it yet."""
    try:
        reverse("api-sandbox-job", args=[1])
    except NoReverseMatch:
        urlconf = types.ModuleType("sandbox_test_urls")
        urlconf.urlpatterns = [
            path("api/v1/", include("sandbox.api.urls")),
            path("", include(settings.ROOT_URLCONF)),
        ]
        sys.modules[urlconf.__name__] = urlconf
        settings.ROOT_URLCONF = urlconf.__name__
    yield
    sys.modules.pop("sandbox_test_urls", None)


def test_api_detail_progress_and_cancel(client, client_user, engineer_user, job, api_urls):
    client.force_login(client_user)
    detail = client.get(f"/api/v1/sandbox/jobs/{job.pk}/")
    assert detail.status_code == 200
    body = detail.json()
    assert (body["state"], body["progress_step"], body["percent"]) == ("running", 40, 40.0)
    assert body["remaining_seconds"] == 180
    assert "spec" not in body and "input_paths" not in body  # server paths stay server-side

    progress = client.get(f"/api/v1/sandbox/jobs/{job.pk}/progress/").json()
    assert progress["loss_history"][:1] == [[1, 2.2727]]

    cancel = client.post(f"/api/v1/sandbox/jobs/{job.pk}/cancel/")
    assert cancel.status_code == 202 and cancel.json()["cancel_requested"] is True

    client.force_login(engineer_user)
    hidden = client.get(f"/api/v1/sandbox/jobs/{job.pk}/")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"


@pytest.mark.e2e
def test_job_page_in_a_browser_updates_itself(
    browser, live_server, sandbox_settings, client, client_user, dataset, monkeypatch
):
    from playwright.sync_api import expect

    # Playwright's sync API runs an event loop in this thread; the ORM calls here stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    job = running_job(owner=client_user, dataset=dataset)
    client.force_login(client_user)
    session = client.cookies["sessionid"]
    screenshots = PROJECT_DIR / "var" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)

    context = browser.new_context(viewport={"width": 1100, "height": 1100})
    try:
        context.add_cookies([{"name": "sessionid", "value": session.value, "url": live_server.url}])
        page = context.new_page()
        page.goto(f"{live_server.url}/sandbox/jobs/{job.pk}/")
        expect(page.get_by_text("step 40 of 100")).to_be_visible()
        assert page.locator("svg.job-curve polyline").count() == 1
        page.screenshot(path=str(screenshots / "sandbox-job-running.png"), full_page=True)

        # The worker reports more progress: the page shows it without a reload.
        Job.objects.filter(pk=job.pk).update(
            progress_step=90,
            loss_history=[[s, round(2.5 / (1 + s / 10), 4)] for s in range(1, 91)],
            log_tail="step 90: loss 0.25",
        )
        expect(page.get_by_text("step 90 of 100")).to_be_visible(timeout=10_000)
        expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "90")
        expect(page.get_by_test_id("log")).to_contain_text("step 90: loss 0.25")
        page.screenshot(path=str(screenshots / "sandbox-job-updated.png"), full_page=True)
        # Finish the job: the page stops polling by itself, leaving no request in flight.
        Job.objects.filter(pk=job.pk).update(state=Job.State.SUCCEEDED, finished_at=timezone.now())
        expect(page.locator('[data-state="succeeded"]')).to_be_visible(timeout=10_000)
        expect(page.locator("#job-status")).not_to_have_attribute("hx-trigger", "every 2s")
    finally:
        context.close()
        # Inside Playwright's event loop the ORM used a connection of its own: close it, or the
        # test database cannot be dropped at the end.
        connections.close_all()
