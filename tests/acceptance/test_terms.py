"""A milestone's acceptance terms: the client sets them before funding, through the API and the page;
funding locks them; the engineer sees the terms and the public sample, never a private item."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from acceptance.models import AcceptanceItem, AcceptanceTest
from marketplace.models import Notification
from marketplace.services import engagements as engagement_services
from tests.acceptance.sets import jsonl, ticket_items
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, engagement

pytestmark = pytest.mark.django_db

ITEMS = ticket_items(40)


def _upload(data: bytes = jsonl(ITEMS), name: str = "tickets.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/jsonl")


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def milestone():
    return engagement(amounts=(100_000,)).milestones.get()


def _put(user, milestone, **fields):
    body = {"eval_set": _upload(), "metric": "label", "pass_mark": "0.8", **fields}
    return _api(user).put(f"/api/v1/milestones/{milestone.pk}/acceptance/", body, format="multipart")


def _private_inputs(test: AcceptanceTest) -> list[str]:
    return [item.messages[-1]["content"] for item in test.items.filter(is_public=False)]


def test_client_sets_terms_and_both_parties_read_them(milestone):
    client, engineer = milestone.engagement.client, milestone.engagement.engineer
    response = _put(client, milestone, forgetting_floor="0.9", public_sample_size="4")
    assert response.status_code == 200, response.content
    terms = response.json()
    assert {key: terms[key] for key in ("metric", "pass_mark", "forgetting_floor", "item_count")} == {
        "metric": "label",
        "pass_mark": 0.8,
        "forgetting_floor": 0.9,
        "item_count": 40,
    }
    assert terms["private_item_count"] == 36 and len(terms["public_sample"]) == 4
    assert terms["base_model"] == "smollm2-135m-instruct" and terms["locked"] is False
    assert terms["eval_set_name"] == "tickets.jsonl"
    test = AcceptanceTest.objects.get(milestone=milestone)
    assert test.items.count() == 40 and test.items.filter(is_public=True).count() == 4
    assert Notification.objects.filter(user=engineer, kind="acceptance_terms").count() == 1

    seen = _api(engineer).get(f"/api/v1/milestones/{milestone.pk}/acceptance/")
    assert seen.status_code == 200
    body = seen.json()
    assert body["eval_set_name"] is None  # the client's file name is theirs
    public = {item["messages"][-1]["content"] for item in body["public_sample"]}
    assert public == {item.messages[-1]["content"] for item in test.items.filter(is_public=True)}
    for text in _private_inputs(test):
        assert text not in seen.content.decode()
    # Staff read them as the client does; anyone else does not know the milestone exists.
    assert _api(StaffFactory()).get(f"/api/v1/milestones/{milestone.pk}/acceptance/").json()["eval_set_name"]
    assert _api(EngineerFactory()).get(f"/api/v1/milestones/{milestone.pk}/acceptance/").status_code == 404


def test_defaults_and_the_same_file_draws_the_same_sample(milestone):
    first = _put(milestone.engagement.client, milestone).json()
    assert first["forgetting_floor"] == 0.95 and first["public_sample_size"] == 5
    again = _put(milestone.engagement.client, milestone).json()
    assert again["public_sample"] == first["public_sample"]
    assert AcceptanceTest.objects.count() == 1 and AcceptanceItem.objects.count() == 40


def test_only_the_client_sets_terms(milestone):
    response = _put(milestone.engagement.engineer, milestone)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Only the client sets a milestone's acceptance test."
    assert _put(ClientFactory(), milestone).status_code == 404
    assert not AcceptanceTest.objects.exists()


def test_funding_locks_the_terms(milestone):
    client = milestone.engagement.client
    assert _put(client, milestone, pass_mark="0.7").status_code == 200
    engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
    response = _put(client, milestone, pass_mark="0.1")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "acceptance_locked"
    removed = _api(client).delete(f"/api/v1/milestones/{milestone.pk}/acceptance/")
    assert removed.status_code == 409
    test = AcceptanceTest.objects.get(milestone=milestone)
    assert test.pass_mark == 0.7 and test.items.count() == 40
    assert _api(client).get(f"/api/v1/milestones/{milestone.pk}/acceptance/").json()["locked"] is True


def test_a_bad_set_is_refused_line_by_line_and_nothing_is_kept(milestone):
    lines = jsonl(ITEMS[:30]) + b'{"input": "x"}\n' + jsonl(ITEMS[:1])
    response = _put(milestone.engagement.client, milestone, eval_set=_upload(lines))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_eval_set"
    assert error["message"] == "The evaluation set has 2 problem(s); line 31: missing key 'target'"
    assert error["details"]["eval_set"] == [
        "line 31: missing key 'target'",
        "line 32: the same input as line 1",
    ]
    assert not AcceptanceTest.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"metric": "bleu"}, "metric", '"bleu" is not a valid choice.'),
        ({"pass_mark": "1.5"}, "pass_mark", "Ensure this value is less than or equal to 1.0."),
        (
            {"forgetting_floor": "-0.1"},
            "forgetting_floor",
            "Ensure this value is greater than or equal to 0.0.",
        ),
        ({"public_sample_size": "21"}, "public_sample_size", "At most 20."),
        ({"public_sample_size": "11"}, "public_sample_size", "At most 10 for 40 items."),
        ({"base_model": "gpt-9"}, "base_model", "Choose one of smollm2-135m-instruct"),
        ({"eval_set": ""}, "eval_set", "The submitted data was not a file."),
    ],
)
def test_bad_terms_name_their_field(milestone, fields, field, message):
    response = _put(milestone.engagement.client, milestone, **fields)
    assert response.status_code == 400
    assert response.json()["error"]["details"][field][0].startswith(message)
    assert not AcceptanceTest.objects.exists()


def test_too_few_items_and_a_wrong_target_type(milestone):
    client = milestone.engagement.client
    few = _put(client, milestone, eval_set=_upload(jsonl(ITEMS[:19]))).json()["error"]
    assert few["details"]["eval_set"] == ["19 items; an evaluation set holds 20 to 2,000"]
    wrong = _put(client, milestone, metric="json_fields").json()["error"]
    assert wrong["details"]["eval_set"][0] == "line 1: target must be a JSON object (or the text of one)"


def test_removing_terms_before_funding(milestone):
    client = milestone.engagement.client
    _put(client, milestone)
    url = f"/api/v1/milestones/{milestone.pk}/acceptance/"
    assert _api(milestone.engagement.engineer).delete(url).status_code == 403
    assert _api(client).delete(url).status_code == 204
    assert _api(client).get(url).status_code == 404
    assert _api(client).delete(url).status_code == 404
    assert not AcceptanceItem.objects.exists()


# --- pages ----------------------------------------------------------------------------------------


def _page_post(browser_client, milestone, **fields):
    data = {
        "eval_set": _upload(),
        "metric": "label",
        "pass_mark": "0.8",
        "base_model": "smollm2-135m-instruct",
        "forgetting_floor": "0.95",
        "public_sample_size": "5",
        **fields,
    }
    return browser_client.post(f"/acceptance/milestones/{milestone.pk}/", data)


def test_page_form_sets_terms_and_errors_keep_what_was_typed(client, milestone):
    client.force_login(milestone.engagement.client)
    form = client.get(f"/acceptance/milestones/{milestone.pk}/")
    assert form.status_code == 200 and b"Attach an acceptance test" in form.content

    bad = _page_post(client, milestone, pass_mark="0.83", eval_set=_upload(jsonl(ITEMS[:30]) + b"{oops\n"))
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "Evaluation set (JSONL): " not in html  # the message reads as a sentence, not a code name
    assert "line 31: " in html
    assert 'value="0.83"' in html  # what was typed is kept
    assert "Choose the file again" in html
    assert not AcceptanceTest.objects.exists()

    bad_field = _page_post(client, milestone, public_sample_size="30")
    assert bad_field.status_code == 400
    assert "Ensure this value is less than or equal to 20." in bad_field.content.decode()

    done = _page_post(client, milestone)
    assert done.status_code == 302
    assert AcceptanceTest.objects.get(milestone=milestone).pass_mark == 0.8
    page = client.get(f"/engagements/{milestone.engagement_id}/").content.decode()
    assert "Label (classification) ≥ 0.80 on 35 private items" in page


def test_engineer_page_shows_terms_and_sample_only(client, milestone):
    _put(milestone.engagement.client, milestone)
    test = AcceptanceTest.objects.get(milestone=milestone)
    client.force_login(milestone.engagement.engineer)
    page = client.get(f"/acceptance/milestones/{milestone.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and "Public sample" in html and "acceptance-form" not in html
    for item in test.items.filter(is_public=True):
        assert item.messages[-1]["content"] in html
    for text in _private_inputs(test):
        assert text not in html
    assert "tickets.jsonl" not in html
    forbidden = _page_post(client, milestone, pass_mark="0.1")
    assert forbidden.status_code == 403 and AcceptanceTest.objects.get().pass_mark == 0.8
    assert client.post(f"/acceptance/milestones/{milestone.pk}/remove/").status_code == 403
