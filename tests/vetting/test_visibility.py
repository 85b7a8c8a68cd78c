"""No hidden item reaches anything an engineer sees; staff pages show items to superusers only."""

import json

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils.html import escape

from core.errors import NotFoundError, PermissionDeniedError
from tests.factories import EngineerFactory, StaffFactory
from tests.vetting.conftest import (
    GOOD_COST,
    evaluated_submission,
    fraction,
    generations,
    scored,
    task_dataset,
)
from vetting import services
from vetting.calibration.rules import propose
from vetting.models import EvalItem, Submission
from vetting.selectors import (
    challenge_list,
    challenge_public,
    evalset_items_for_staff,
    evaluation_prompts,
    leaderboard,
    submission_get,
    submission_list,
    submission_public,
)

pytestmark = pytest.mark.django_db


def hidden_texts() -> list[str]:
    return list(EvalItem.objects.values_list("input", flat=True))


def renderings(text: str) -> set[str]:
    """The ways a text shows up in a JSON body or an HTML page."""
    return {
        text,
        escape(text),
        linebreaksbr(text, autoescape=True),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    }


def leaked_items(rendered: str) -> list[str]:
    return [text for text in hidden_texts() if any(form in rendered for form in renderings(text))]


def assert_no_hidden_text(rendered: str) -> None:
    assert hidden_texts()
    leaked = leaked_items(rendered)
    assert not leaked, f"{len(leaked)} hidden item(s) leaked"


def run_all_kinds_of_submission(ticket, engineer):
    """A pass, a fail, a rejection and an acceptance carrying hidden inputs, and an evaluation error
    quoting an item."""
    eval_set = ticket.eval_sets.get(is_active=True)
    all_gens = {
        "fine_tuned": generations(eval_set),
        "few_shot": generations(eval_set, right=fraction(0.3)),
        "zero_shot": generations(eval_set, right=fraction(0.0)),
        "general_base": generations(eval_set, general=True),
        "general_fine_tuned": generations(eval_set, general=True),
    }
    passed = evaluated_submission(ticket, engineer)
    services.results.submission_record_results(submission_id=passed.pk, generations=all_gens, cost=GOOD_COST)
    failed = evaluated_submission(ticket, engineer)
    services.results.submission_record_results(
        submission_id=failed.pk,
        generations={
            **all_gens,
            "general_fine_tuned": generations(eval_set, general=True, right=fraction(0.2)),
        },
        cost=GOOD_COST,
    )
    hidden = list(eval_set.items.filter(split="final").values_list("input", flat=True)[:2])
    errored = evaluated_submission(ticket, engineer)
    services.submissions.submission_error(
        submission_id=errored.pk,
        step="evaluate",
        message=f"engine crashed on prompt: {hidden[0]}",
        platform_fault=True,
    )
    rejected = services.submissions.submission_create(
        actor=engineer,
        challenge_id=ticket.pk,
        kind="dataset",
        dataset=with_hidden_inputs(ticket, hidden) + b"{\n",
    )
    assert rejected.state == Submission.State.REJECTED
    contaminated = services.submissions.submission_create(
        actor=engineer, challenge_id=ticket.pk, kind="dataset", dataset=with_hidden_inputs(ticket, hidden)
    )
    assert contaminated.state == Submission.State.QUEUED
    assert contaminated.validation_report.keys() == {"ok", "errors", "warnings", "stats"}


def with_hidden_inputs(ticket, hidden: list[str]) -> bytes:
    lines = task_dataset(ticket, 30).decode().splitlines()
    for index, text in enumerate(hidden):
        record = json.loads(lines[index])
        record["messages"][1]["content"] = ticket.prompt.user_content(text)
        lines[index] = json.dumps(record)
    return ("\n".join(lines) + "\n").encode()


def test_nothing_an_engineer_can_read_holds_a_hidden_item(seeded, settings):
    settings.VETTING_ATTEMPT_LIMIT = 3
    ticket = seeded["support-ticket-json"]
    engineer = EngineerFactory()
    services.badges.leaderboard_set_opt_in(actor=engineer, challenge_id=ticket.pk, opted_in=True)
    run_all_kinds_of_submission(ticket, engineer)

    seen = [challenge_public(challenge=c, actor=engineer) for c in challenge_list(actor=engineer)]
    seen += [submission_public(submission=s) for s in submission_list(actor=engineer)]
    seen += [leaderboard(challenge=c) for c in challenge_list(actor=engineer)]
    rendered = json.dumps(seen, default=str)
    assert_no_hidden_text(rendered)
    assert "engine crashed" not in rendered
    assert "overlapping" not in rendered and "contamination" not in rendered
    assert '"fine_tuned_released": 1.0' in rendered


def test_engineer_views_hold_no_final_split_figure(ticket, engineer_user):
    submission = scored(ticket, engineer_user)  # feedback split 0.5, final split 0.83
    public = submission_public(submission=submission)
    assert (submission.fine_tuned_score, public["feedback"]["fine_tuned_released"]) == (0.83, 0.5)
    rendered = json.dumps({**public, "created_at": None, "finished_at": None})
    assert "0.83" not in rendered
    assert "delta_ci" not in rendered and "fine_tuned_ci" not in rendered
    assert public["band"] == "pass" and public["verdict"]["passed"]


def test_engineers_see_only_their_own_submissions(ticket, engineer_user):
    submission = evaluated_submission(ticket, engineer_user)
    other = EngineerFactory()
    with pytest.raises(NotFoundError):
        submission_get(actor=other, submission_id=submission.pk)
    assert list(submission_list(actor=other)) == []
    assert submission_get(actor=StaffFactory(), submission_id=submission.pk) == submission


def test_items_are_for_staff_and_the_pipeline_only(ticket, engineer_user):
    eval_set = ticket.eval_sets.get()
    with pytest.raises(PermissionDeniedError):
        evalset_items_for_staff(actor=engineer_user, evalset_id=eval_set.pk)
    assert evalset_items_for_staff(actor=StaffFactory(), evalset_id=eval_set.pk).count() == 380
    item = eval_set.items.first()
    assert item.input not in str(item) and item.input not in str(eval_set)


def test_evaluation_prompts_use_the_published_prompt(ticket):
    eval_set = ticket.eval_sets.get()
    zero = evaluation_prompts(eval_set=eval_set, config="zero_shot")
    few = evaluation_prompts(eval_set=eval_set, config="few_shot")
    general = evaluation_prompts(eval_set=eval_set, config="general")
    assert len(zero) == len(few) == 300 and len(general) == 80
    first = eval_set.items.get(key=zero[0]["id"])
    assert zero[0]["messages"] == [
        {"role": "system", "content": ticket.system_prompt},
        {"role": "user", "content": ticket.prompt.user_content(first.input)},
    ]
    assert len(few[0]["messages"]) == 2 + 2 * len(ticket.public_examples)
    assert general[0]["messages"][0]["role"] == "user" and len(general[0]["messages"]) == 1
    assert evaluation_prompts(eval_set=eval_set, config="fine_tuned") == zero


# --- admin ----------------------------------------------------------------------------------------


def staff_client(client, *, superuser: bool):
    user = StaffFactory(is_superuser=superuser)
    if not superuser:
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="vetting"))
    client.force_login(user)
    return client


@pytest.mark.parametrize("superuser", [False, True])
def test_admin_shows_items_to_superusers_only(client, ticket, superuser):
    client = staff_client(client, superuser=superuser)
    eval_set = ticket.eval_sets.get()
    listing = client.get(reverse("admin:vetting_evalsetversion_changelist")).content.decode()
    assert_no_hidden_text(listing)
    page = client.get(reverse("admin:vetting_evalsetversion_change", args=[eval_set.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Statistics" in text and "<td>feedback</td><td>100</td>" in text
    if superuser:
        assert set(eval_set.items.values_list("input", flat=True)) <= set(leaked_items(text))
    else:
        assert_no_hidden_text(text)


def test_admin_upload_form_lists_problems_by_line(client, ticket):
    client = staff_client(client, superuser=True)
    lines = [json.dumps({"split": "feedback", "input": "x", "target": {"product": "api"}}), "{oops"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        reverse("admin:vetting_evalsetversion_add"),
        {
            "challenge": ticket.pk,
            "jsonl_file": SimpleUploadedFile("set.jsonl", "\n".join(lines).encode()),
            "notes": "",
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Line 1: target missing key" in text and "Line 2: not valid JSON" in text
    assert ticket.eval_sets.count() == 1


def test_admin_upload_creates_a_version(client, ticket):
    client = staff_client(client, superuser=True)
    target = {
        "product": "api",
        "category": "bug",
        "urgency": "high",
        "refund_requested": False,
        "order_id": None,
    }
    lines = [
        json.dumps({"split": split, "input": f"Uploaded {split} {index}", "target": target})
        for split, count in (("feedback", 100), ("final", 200))
        for index in range(count)
    ]
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        reverse("admin:vetting_evalsetversion_add"),
        {
            "challenge": ticket.pk,
            "jsonl_file": SimpleUploadedFile("set.jsonl", "\n".join(lines).encode()),
            "activate": "on",
            "notes": "rotation",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    version = ticket.eval_sets.get(version=2)
    assert version.is_active and version.notes == "rotation" and version.items.count() == 380


def test_admin_badge_revocation_through_the_change_form(client, ticket, engineer_user):
    submission = evaluated_submission(ticket, engineer_user)
    eval_set = submission.eval_set
    services.results.submission_record_results(
        submission_id=submission.pk,
        generations={
            "fine_tuned": generations(eval_set),
            "few_shot": generations(eval_set, right=fraction(0.3)),
            "zero_shot": generations(eval_set, right=fraction(0.0)),
            "general_base": generations(eval_set, general=True),
            "general_fine_tuned": generations(eval_set, general=True),
        },
        cost=GOOD_COST,
    )
    badge = engineer_user.badges.get()
    client = staff_client(client, superuser=True)
    response = client.post(
        reverse("admin:vetting_badge_change", args=[badge.pk]), {"revoked_reason": "Shared dataset."}
    )
    assert response.status_code == 302
    badge.refresh_from_db()
    assert badge.revoked_at is not None and badge.revoked_reason == "Shared dataset."
    report = client.get(reverse("admin:vetting_submission_change", args=[submission.pk])).content.decode()
    assert "delta_vs_few_shot_ci" in report
    assert_no_hidden_text(report)


def test_staff_read_the_reference_runs_on_the_eval_set_version(client, ticket):
    record = json.loads(
        (settings.BASE_DIR / "vetting/calibration/results/support-ticket-json.json").read_text()
    )
    record["proposal"] = propose(ticket, record["runs"])
    eval_set = ticket.eval_sets.get()
    eval_set.calibration = record
    eval_set.save(update_fields=["calibration"])
    url = reverse("admin:vetting_evalsetversion_change", args=[eval_set.pk])
    text = staff_client(client, superuser=False).get(url).content.decode()
    careful = record["runs"]["careful-0"]["scores"]
    assert "<td>careful-0</td><td>{:.3f}</td>".format(careful["fine_tuned"]) in text
    assert "<td>mislabelled-0</td>" in text and "Under the proposal" in text
    proposed = record["proposal"]["proposed"]["pass_threshold"]
    assert f"Proposed pass mark {proposed} (was {ticket.pass_threshold})" in text
    assert 'name="calibration"' not in text  # recorded by vetting_calibrate, not edited by hand
