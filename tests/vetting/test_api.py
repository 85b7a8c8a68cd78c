"""The vetting API: challenges, submitting (201 queued; 400 `submission_rejected` with the line-numbered
report; 429 `attempt_limit`), the engineer's view of a submission, leaderboards, the staff report and
badge revocation, and the OpenAPI document describing all of it."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import ClientFactory, EngineerFactory, StaffFactory
from tests.vetting.conftest import scored, task_dataset
from tests.vetting.test_pages import bad_dataset
from tests.vetting.test_services import _adapter_upload
from tests.vetting.test_visibility import leaked_items
from vetting.models import Badge, LeaderboardOptIn, Submission
from vetting.pipeline import token_counter as real_token_counter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def pipeline(pipeline_entry) -> list[int]:
    return pipeline_entry


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def jsonl(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("train.jsonl", data, content_type="application/jsonl")


def submit(user, challenge, data: bytes | None = None, **fields):
    body = {"challenge": challenge.slug, "dataset": jsonl(data or task_dataset(challenge, 40)), **fields}
    return api(user).post("/api/v1/vetting/submissions/", body, format="multipart")


def test_challenges_list_and_detail(seeded, engineer_user, client_user):
    ticket = seeded["support-ticket-json"]
    scored(ticket, engineer_user)
    listing = api(engineer_user).get("/api/v1/vetting/challenges/").json()
    assert {row["slug"] for row in listing} == set(seeded)
    mine = next(row for row in listing if row["slug"] == ticket.slug)
    assert mine["attempts"]["left"] == 2 and mine["best_released_feedback"] == 0.5
    assert mine["badge"]["band"] == "pass"

    detail = api(client_user).get(f"/api/v1/vetting/challenges/{ticket.slug}/").json()
    assert detail["evaluation_prompt"] == {
        "system": ticket.system_prompt,
        "user_template": ticket.user_template,
    }
    assert detail["public_examples"] == ticket.public_examples
    assert detail["hyperparameters"]["rank"] == {"type": "integer", "default": 16, "min": 1, "max": 64}
    assert detail["budgets"]["max_lora_rank"] == ticket.max_lora_rank
    assert detail["attempts"] is None and detail["badge"] is None  # clients do not take challenges
    assert detail["eval_set"]["final_items"] == 200
    assert api(client_user).get("/api/v1/vetting/challenges/nope/").status_code == 404


def test_a_valid_dataset_is_created_queued_and_handed_to_the_pipeline(ticket, engineer_user, pipeline):
    response = submit(
        engineer_user, ticket, hyperparameters=json.dumps({"rank": 8, "epochs": 1}), leaderboard_opt_in="true"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    submission = Submission.objects.get()
    assert body["id"] == submission.pk and body["state"] == "queued" and pipeline == [submission.pk]
    assert response["Location"] == f"/api/v1/vetting/submissions/{submission.pk}/"
    assert body["hyperparameters"]["rank"] == 8 and body["hyperparameters"]["alpha"] == 32.0
    assert body["steps"]["validate"]["status"] == "done" and body["validation"]["ok"] is True
    assert body["verdict"] is None and body["training_job"] is None
    assert LeaderboardOptIn.objects.filter(engineer=engineer_user, challenge=ticket).exists()


def test_a_bad_dataset_is_400_with_its_report_naming_lines_and_starts_nothing(
    ticket, engineer_user, pipeline
):
    response = submit(engineer_user, ticket, bad_dataset(ticket))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "submission_rejected"
    assert error["message"].startswith("The submission was rejected: 2 problem(s). Line 31: not valid JSON")
    report = error["details"]["validation"]
    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (31, "invalid_json"),
        (32, "no_assistant_turn"),
    ]
    submission = Submission.objects.get(pk=error["details"]["submission"])
    assert submission.state == Submission.State.REJECTED and pipeline == []
    # The rejected submission stays readable, report and all.
    assert (
        api(engineer_user).get(f"/api/v1/vetting/submissions/{submission.pk}/").json()["validation"] == report
    )


def test_a_file_that_is_not_json_lines_is_rejected_line_by_line(ticket, engineer_user):
    response = submit(engineer_user, ticket, b"hello\nworld\n[1, 2]\n")
    error = response.json()["error"]
    assert response.status_code == 400
    lines = [(e["line"], e["code"]) for e in error["details"]["validation"]["errors"]]
    assert lines[:3] == [(1, "invalid_json"), (2, "invalid_json"), (3, "not_object")]


def test_too_many_examples_is_400(ticket, engineer_user):
    ticket.max_examples = 25
    ticket.save(update_fields=["max_examples"])
    error = submit(engineer_user, ticket).json()["error"]
    assert error["code"] == "submission_rejected"
    assert "more than 25 examples; at most 25 allowed" in error["message"]


def test_hyperparameters_out_of_bounds_or_unknown_are_400_naming_the_key(ticket, engineer_user):
    response = submit(engineer_user, ticket, hyperparameters=json.dumps({"rank": 999, "momentum": 0.9}))
    assert response.status_code == 400
    messages = [e["message"] for e in response.json()["error"]["details"]["validation"]["errors"]]
    assert "hyperparameters.rank: must be an integer from 1 to 64" in messages
    assert any(m.startswith("hyperparameters.momentum: unknown hyperparameter") for m in messages)
    assert (
        "2 problem(s). hyperparameters.momentum: unknown hyperparameter"
        in response.json()["error"]["message"]
    )


def test_malformed_requests_are_400_naming_the_field(ticket, engineer_user):
    response = submit(engineer_user, ticket, hyperparameters="{rank: 8")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["message"].startswith("hyperparameters: Not valid JSON")
    response = submit(engineer_user, ticket, hyperparameters="[" * 50_000)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "hyperparameters": ["Not valid JSON: larger than 16,384 bytes."]
    }
    response = submit(engineer_user, ticket, hyperparameters='{"rank": ' * 100 + "8" + "}" * 100)
    assert response.json()["error"]["details"] == {
        "hyperparameters": ["Not valid JSON: nested more than 32 levels deep."]
    }
    response = submit(engineer_user, ticket, hyperparameters="[1]")
    assert response.json()["error"]["details"] == {"hyperparameters": ["Must be a JSON object."]}
    response = api(engineer_user).post(
        "/api/v1/vetting/submissions/", {"challenge": ticket.slug}, format="multipart"
    )
    assert response.json()["error"]["details"] == {"dataset": ["Upload a JSONL dataset."]}
    response = api(engineer_user).post(
        "/api/v1/vetting/submissions/", {"challenge": ticket.slug, "kind": "adapter"}, format="multipart"
    )
    assert set(response.json()["error"]["details"]) == {"adapter_model", "adapter_config"}
    response = api(engineer_user).post(
        "/api/v1/vetting/submissions/",
        {"challenge": "no-such-challenge", "dataset": jsonl(task_dataset(ticket, 40))},
        format="multipart",
    )
    assert response.status_code == 400 and "challenge" in response.json()["error"]["details"]
    assert not Submission.objects.exists()


def test_an_adapter_is_submitted_as_two_files(ticket, engineer_user, settings, tmp_path, pipeline):
    files = {upload.name: upload.data for upload in _adapter_upload(tmp_path, settings, ticket)}
    response = api(engineer_user).post(
        "/api/v1/vetting/submissions/",
        {
            "challenge": ticket.slug,
            "kind": "adapter",
            "adapter_model": SimpleUploadedFile("weights.safetensors", files["adapter_model.safetensors"]),
            "adapter_config": SimpleUploadedFile("config.json", files["adapter_config.json"]),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "adapter" and body["steps"]["train"]["status"] == "skipped"
    assert body["validation"]["stats"]["lora_rank"] == 4 and pipeline == [body["id"]]


def test_exhausted_attempts_are_429_with_retry_after(ticket, engineer_user):
    for _ in range(3):
        assert submit(engineer_user, ticket).status_code == 201
    response = submit(engineer_user, ticket)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "attempt_limit"
    assert error["message"].startswith("You have used your 3 attempts of the last 7 days on this challenge")
    assert error["details"]["next_available_at"]
    assert 6 * 86400 < int(response["Retry-After"]) <= 7 * 86400
    # A rejected submission used no attempt; staff have no limit.
    assert submit(StaffFactory(), ticket).status_code == 201


def test_clients_cannot_submit(ticket, client_user):
    response = submit(client_user, ticket)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Only engineers take vetting challenges."


def test_without_the_base_model_a_client_is_still_403_and_an_engineer_gets_503(
    ticket, client_user, engineer_user, settings, tmp_path, monkeypatch
):
    """The real token counter on a server where the base model is not prepared: the role is checked
    before the tokenizer is needed; an engineer is told to come back, and nothing is recorded."""
    monkeypatch.setattr("vetting.pipeline.token_counter", real_token_counter)
    settings.SANDBOX_MODEL_CACHE_DIR = tmp_path / "no-models"
    settings.BASE_MODELS_EXTRA = {}
    assert submit(client_user, ticket).status_code == 403
    response = submit(engineer_user, ticket)
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "base_model_unavailable"
    assert not Submission.objects.exists()


def test_submission_view_has_no_final_split_figure_nor_item(ticket, engineer_user):
    submission = scored(ticket, engineer_user)
    body = api(engineer_user).get(f"/api/v1/vetting/submissions/{submission.pk}/").json()
    assert body["state"] == "passed" and body["band"] == "pass"
    assert body["feedback"] == {
        "base": 0.0,
        "few_shot": 0.3,
        "fine_tuned_released": 0.5,
        "newly_released": True,
    }
    assert body["general"]["forgetting_ratio"] == 1.0 and body["cost"]["trained_tokens"] == 24000
    rendered = json.dumps(body)
    assert "0.83" not in rendered and "delta_ci" not in rendered and "fine_tuned_ci" not in rendered
    assert not leaked_items(rendered)
    listing = api(engineer_user).get("/api/v1/vetting/submissions/", {"challenge": ticket.slug}).json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == submission.pk
    assert api(EngineerFactory()).get("/api/v1/vetting/submissions/").json()["count"] == 0


def test_leaderboard_and_opt_in(ticket, engineer_user):
    scored(ticket, engineer_user)
    url = f"/api/v1/vetting/challenges/{ticket.slug}/leaderboard/"
    assert api(engineer_user).get(url).json() == []
    response = api(engineer_user).put(f"{url}opt-in/", {"opted_in": True}, format="json")
    assert response.json() == {"challenge": ticket.slug, "opted_in": True}
    rows = api(ClientFactory()).get(url).json()
    assert rows == [
        {
            "rank": 1,
            "engineer": engineer_user.username,
            "display_name": engineer_user.display_name,
            "released_feedback_score": 0.5,
            "submissions": 1,
        }
    ]
    assert api(engineer_user).put(f"{url}opt-in/", {}, format="json").json()["error"]["details"] == {
        "opted_in": ["This field is required."]
    }


def test_staff_report_has_every_figure_and_badge_revocation(ticket, engineer_user):
    submission = scored(ticket, engineer_user)
    staff = StaffFactory()
    report = api(staff).get(f"/api/v1/vetting/submissions/{submission.pk}/report/").json()
    assert report["verdict"] == "pass" and report["scores"]["fine_tuned"] == 0.83
    assert report["scores"]["delta_vs_few_shot_ci"] == submission.delta_ci
    assert report["figures"]["final"]["items"] == 200
    badge = report["badge"]
    assert badge["band"] == "pass" and badge["revoked_at"] is None
    assert not leaked_items(json.dumps(report))

    url = f"/api/v1/vetting/badges/{badge['id']}/revoke/"
    assert api(staff).post(url, {}, format="json").json()["error"]["details"] == {
        "reason": ["This field is required."]
    }
    revoked = api(staff).post(url, {"reason": "Copied dataset."}, format="json")
    assert revoked.status_code == 200 and revoked.json()["revoked_reason"] == "Copied dataset."
    assert not Badge.objects.get(pk=badge["id"]).active
    again = api(staff).post(url, {"reason": "Twice."}, format="json")
    assert again.status_code == 409 and again.json()["error"]["message"] == "The badge is already revoked."


def test_schema_documents_the_vetting_api_without_warnings(tmp_path):
    target = tmp_path / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(target)
    )
    paths = json.loads(target.read_text())["paths"]
    create = paths["/api/v1/vetting/submissions/"]["post"]
    assert set(create["requestBody"]["content"]) == {"multipart/form-data"}
    assert set(create["responses"]) == {"201", "202", "400", "401", "403", "404", "429", "503"}
    assert "submission_rejected" in create["responses"]["400"]["description"]
    assert "attempt_limit" in create["responses"]["429"]["description"]
    for route in (
        "/api/v1/vetting/challenges/",
        "/api/v1/vetting/challenges/{slug}/",
        "/api/v1/vetting/challenges/{slug}/leaderboard/",
        "/api/v1/vetting/challenges/{slug}/leaderboard/opt-in/",
        "/api/v1/vetting/submissions/{id}/",
        "/api/v1/vetting/submissions/{id}/report/",
        "/api/v1/vetting/badges/{id}/revoke/",
    ):
        assert route in paths, route
