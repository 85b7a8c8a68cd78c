"""Services: seeding, eval-set versions, submissions, attempts, results, Ladder release, badges."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.errors import (
    InvalidTransitionError,
    LimitReachedError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.models import TransitionLog
from marketplace.selectors import engineer_get
from tests.factories import ClientFactory, EngineerFactory, StaffFactory
from tests.vetting.conftest import (
    GOOD_COST,
    evaluated_submission,
    fraction,
    generations,
    sandbox_job,
    task_dataset,
)
from vetting import services
from vetting.challenges import Split
from vetting.models import AttemptGrant, Badge, Challenge, EvalBaseline, EvalSetVersion, Submission
from vetting.selectors import (
    attempt_status,
    challenge_public,
    leaderboard,
    submission_public,
    submission_staff_report,
)

pytestmark = pytest.mark.django_db


def all_generations(eval_set, *, tuned=1.0, few_shot=0.3, zero_shot=0.0, general_base=0.9, general_tuned=0.9):
    return {
        "fine_tuned": generations(eval_set, right=fraction(tuned)),
        "few_shot": generations(eval_set, right=fraction(few_shot), prompt_tokens=900),
        "zero_shot": generations(eval_set, right=fraction(zero_shot)),
        "general_base": generations(eval_set, general=True, right=fraction(general_base)),
        "general_fine_tuned": generations(eval_set, general=True, right=fraction(general_tuned)),
    }


def record(submission, **shares):
    return services.results.submission_record_results(
        submission_id=submission.pk,
        generations=all_generations(submission.eval_set, **shares),
        cost=GOOD_COST,
    )


# --- seeding and eval sets --------------------------------------------------------------------------


def test_seed_command_is_idempotent_and_keeps_staff_calibration(settings):
    settings.VETTING_SECRET_SEED = "seed-for-this-test"
    call_command("vetting_seed_challenges", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Challenge.objects.count() == 3
    assert EvalSetVersion.objects.filter(is_active=True).count() == 3
    ticket = Challenge.objects.get(slug="support-ticket-json")
    eval_set = ticket.eval_sets.get()
    assert eval_set.stats["counts"] == {"feedback": 100, "final": 200, "general": 80}
    assert {skill.name for skill in ticket.skills.all()} == {"LoRA", "JSON extraction"}
    Challenge.objects.filter(pk=ticket.pk).update(pass_threshold=0.7, instructions="edited")
    call_command("vetting_seed_challenges", stdout=open("/dev/null", "w"))  # noqa: SIM115
    ticket.refresh_from_db()
    assert ticket.pass_threshold == 0.7  # calibration is staff's
    assert ticket.instructions.startswith("The input is a customer message")  # texts are the code's
    assert EvalSetVersion.objects.count() == 3


PRIVATE_MODULE = """
import dataclasses
from vetting.challenges import BUILTIN

SPEC = dataclasses.replace(BUILTIN["changelog-entry"], slug="private-changelog", title="Private changelog")
"""


def test_demo_challenges_are_refused_unless_allowed_and_private_modules_generate(
    settings, tmp_path, monkeypatch, ticket
):
    settings.VETTING_ALLOW_DEMO_CHALLENGES = False
    with pytest.raises(NotFoundError, match="VETTING_ALLOW_DEMO_CHALLENGES"):
        services.evalsets.challenge_sync_builtin(slug="changelog-entry")
    with pytest.raises(ValidationError, match="VETTING_ALLOW_DEMO_CHALLENGES"):
        services.evalsets.evalset_generate(actor=None, challenge_id=ticket.pk)
    versions = EvalSetVersion.objects.count()
    call_command("vetting_seed_challenges", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert EvalSetVersion.objects.count() == versions  # nothing generated from a public generator

    (tmp_path / "private_challenges.py").write_text(PRIVATE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.VETTING_CHALLENGE_MODULES = ["private_challenges"]
    call_command("vetting_seed_challenges", stdout=open("/dev/null", "w"))  # noqa: SIM115
    private = Challenge.objects.get(slug="private-changelog")
    assert private.title == "Private changelog" and private.eval_sets.get(is_active=True).items.count() == 380


def test_rotation_generates_a_new_active_version_with_other_items(ticket):
    first = ticket.eval_sets.get(is_active=True)
    second = services.evalsets.evalset_generate(actor=None, challenge_id=ticket.pk)
    first.refresh_from_db()
    assert (second.version, second.is_active, first.is_active) == (2, True, False)
    assert not set(first.items.values_list("input", flat=True)) & set(
        second.items.filter(split__in=Split.HIDDEN).values_list("input", flat=True)
    )
    staff = StaffFactory()
    services.evalsets.evalset_activate(actor=staff, evalset_id=first.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.is_active and not second.is_active


def test_only_staff_manage_eval_sets(ticket, engineer_user):
    with pytest.raises(PermissionDeniedError):
        services.evalsets.evalset_generate(actor=engineer_user, challenge_id=ticket.pk)
    with pytest.raises(PermissionDeniedError):
        services.evalsets.evalset_activate(actor=engineer_user, evalset_id=ticket.eval_sets.get().pk)
    with pytest.raises(PermissionDeniedError):
        services.evalsets.evalset_upload(actor=engineer_user, challenge_id=ticket.pk, data=b"")


def upload_lines(challenge, feedback=100, final=200):
    target = {
        "product": "api",
        "category": "bug",
        "urgency": "high",
        "refund_requested": False,
        "order_id": None,
    }
    lines = [
        json.dumps({"split": split, "input": f"Uploaded {split} message number {index}", "target": target})
        for split, count in (("feedback", feedback), ("final", final))
        for index in range(count)
    ]
    return lines


def test_upload_reports_each_problem_with_its_line(ticket):
    staff = StaffFactory()
    lines = upload_lines(ticket)
    lines[4] = "not json"
    lines[9] = json.dumps({"split": "train", "input": "x", "target": {}})
    lines[14] = json.dumps({"split": "final", "input": "y", "target": {"product": "api"}})
    lines[19] = lines[0]
    with pytest.raises(ValidationError) as caught:
        services.evalsets.evalset_upload(actor=staff, challenge_id=ticket.pk, data="\n".join(lines).encode())
    errors = [(e["line"], e["code"]) for e in caught.value.details["errors"]]
    assert errors[:4] == [
        (5, "invalid_json"),
        (10, "unknown_split"),
        (15, "invalid_target"),
        (20, "duplicate_input"),
    ]
    assert (None, "too_few_items") in errors  # 98 feedback items left
    assert caught.value.message.startswith("The eval set has 5 problem(s); line 5:")
    assert ticket.eval_sets.count() == 1


def test_upload_creates_a_version_with_statistics_and_the_general_set(ticket):
    staff = StaffFactory()
    eval_set = services.evalsets.evalset_upload(
        actor=staff, challenge_id=ticket.pk, data="\n".join(upload_lines(ticket)).encode(), activate=True
    )
    assert (eval_set.version, eval_set.is_active, eval_set.source) == (2, True, "uploaded")
    assert eval_set.stats["counts"] == {"feedback": 100, "final": 200, "general": 80}
    assert eval_set.stats["final"]["labels"]["category"] == {"bug": 200}
    assert eval_set.created_by == staff
    assert ticket.eval_sets.filter(is_active=True).get() == eval_set


# --- submissions ----------------------------------------------------------------------------------


def test_a_valid_dataset_is_queued_with_its_report_and_starts_nothing(ticket, engineer_user):
    from sandbox.models import Job

    submission = services.submissions.submission_create(
        actor=engineer_user,
        challenge_id=ticket.pk,
        kind="dataset",
        dataset=task_dataset(ticket, 40),
        hyperparameters={"rank": 8},
    )
    assert submission.state == Submission.State.QUEUED
    assert submission.validation_report["ok"] and submission.validation_report["stats"]["examples"] == 40
    assert submission.hyperparameters["rank"] == 8 and submission.hyperparameters["epochs"] == 2
    assert submission.dataset.read() == task_dataset(ticket, 40)
    assert (
        submission.steps["validate"]["status"] == "done" and submission.steps["train"]["status"] == "pending"
    )
    assert submission.eval_set == ticket.eval_sets.get(is_active=True)
    assert Job.objects.count() == 0  # enqueueing is the pipeline's
    transitions = TransitionLog.objects.filter(timeline_key=submission.timeline_key).values_list(
        "to_state", flat=True
    )
    assert list(transitions) == ["validating", "queued"]


def test_an_invalid_dataset_is_rejected_with_line_numbers_and_starts_nothing(ticket, engineer_user):
    from sandbox.models import Job

    data = task_dataset(ticket, 30).replace(b"\n", b"\nnot json\n", 1)
    submission = services.submissions.submission_create(
        actor=engineer_user,
        challenge_id=ticket.pk,
        kind="dataset",
        dataset=data,
        hyperparameters={"rank": 999},
    )
    assert submission.state == Submission.State.REJECTED
    errors = [(e["line"], e["code"]) for e in submission.validation_report["errors"]]
    assert errors == [(2, "invalid_json"), (None, "hyperparameter")]
    assert "hyperparameters.rank" in submission.validation_report["errors"][1]["message"]
    assert not submission.dataset
    assert Job.objects.count() == 0
    assert attempt_status(engineer=engineer_user, challenge=ticket).left == 3


def with_inputs(challenge, lines: list[str], texts: list[str]) -> str:
    """The dataset with the user inputs of its first lines replaced by `texts`."""
    lines = list(lines)
    for index, text in enumerate(texts):
        record_ = json.loads(lines[index])
        record_["messages"][1]["content"] = challenge.prompt.user_content(text)
        lines[index] = json.dumps(record_)
    return "\n".join(lines)


def rot13(text: str) -> str:
    return text.translate(
        str.maketrans(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM",
        )
    )


def test_uploads_that_differ_only_by_hidden_inputs_give_the_engineer_identical_reports(ticket):
    """No free membership oracle: whether an uploaded text is a hidden item changes nothing shown."""
    hidden = list(ticket.eval_sets.get().items.filter(split="final").values_list("input", flat=True)[:3])
    lines = task_dataset(ticket, 30).decode().splitlines()
    views = []
    for texts in ([rot13(text) for text in hidden], hidden):  # same lengths, one set hidden
        engineer = EngineerFactory()
        submission = services.submissions.submission_create(
            actor=engineer, challenge_id=ticket.pk, kind="dataset", dataset=with_inputs(ticket, lines, texts)
        )
        assert submission.state == Submission.State.QUEUED
        # Trained on exactly as sent: what is trained on (and so its tokens and steps) cannot tell.
        assert submission.dataset.read().decode().strip() == with_inputs(ticket, lines, texts)
        public = challenge_public(challenge=ticket, actor=engineer)
        view = {**submission_public(submission=submission), "attempts": public["attempts"]}
        views.append({k: v for k, v in view.items() if k not in ("id", "created_at", "finished_at")})
    assert views[0] == views[1]
    assert not any(text in json.dumps(views[1]) for text in hidden)


def test_copied_hidden_items_are_left_out_of_the_score_and_staff_see_both_figures(ticket, engineer_user):
    eval_set = ticket.eval_sets.get()
    copied = list(eval_set.items.filter(split="final").values_list("input", flat=True)[:3])
    submission = services.submissions.submission_create(
        actor=engineer_user,
        challenge_id=ticket.pk,
        kind="dataset",
        dataset=with_inputs(ticket, task_dataset(ticket, 30).decode().splitlines(), copied),
    )
    services.submissions.submission_start_training(
        submission_id=submission.pk, job_id=sandbox_job("train").pk
    )
    services.submissions.submission_start_evaluation(
        submission_id=submission.pk, job_ids={"evaluate": sandbox_job().pk}
    )
    # The fine-tuned model answers only the three copied items right.
    copied_keys = set(eval_set.items.filter(input__in=copied).values_list("key", flat=True))
    task = generations(eval_set)
    for record_ in task:
        if record_["id"] not in copied_keys:
            record_["output"] = "I cannot help with that."
    submission = services.results.submission_record_results(
        submission_id=submission.pk,
        generations={**all_generations(eval_set), "fine_tuned": task},
        cost=GOOD_COST,
    )
    final = submission.figures[Split.FINAL]
    assert (final["items"], final["overlapping_items"]) == (eval_set.items.filter(split="final").count(), 3)
    assert submission.fine_tuned_score == final["fine_tuned"] == 0.0  # copying gained nothing
    assert final["fine_tuned_all_items"] == round(3 / final["items"], 4)
    assert submission.figures[Split.FEEDBACK]["overlapping_items"] == 0
    report = submission_staff_report(submission=submission)
    assert report["figures"][Split.FINAL]["overlapping_items"] == 3
    public = json.dumps(submission_public(submission=submission))
    assert "overlapping" not in public and "all_items" not in public


def test_only_engineers_and_staff_submit(ticket):
    with pytest.raises(PermissionDeniedError):
        services.submissions.submission_create(
            actor=ClientFactory(), challenge_id=ticket.pk, kind="dataset", dataset=task_dataset(ticket, 30)
        )


def test_missing_dataset_or_kind_is_a_validation_error(ticket, engineer_user):
    with pytest.raises(ValidationError):
        services.submissions.submission_create(actor=engineer_user, challenge_id=ticket.pk, kind="dataset")
    with pytest.raises(ValidationError):
        services.submissions.submission_create(
            actor=engineer_user, challenge_id=ticket.pk, kind="weights", dataset=b"x"
        )


# --- attempts -------------------------------------------------------------------------------------


def submit(challenge, engineer, **kwargs):
    return services.submissions.submission_create(
        actor=engineer,
        challenge_id=challenge.pk,
        kind="dataset",
        dataset=task_dataset(challenge, 25),
        **kwargs,
    )


def test_three_attempts_per_rolling_week(ticket, engineer_user):
    for _ in range(3):
        assert submit(ticket, engineer_user).state == Submission.State.QUEUED
    status = attempt_status(engineer=engineer_user, challenge=ticket)
    assert (status.used_in_window, status.left) == (3, 0)
    with pytest.raises(LimitReachedError) as caught:
        submit(ticket, engineer_user)
    assert (caught.value.code, caught.value.status) == ("attempt_limit", 429)
    oldest = Submission.objects.filter(engineer=engineer_user).order_by("created_at").first()
    assert status.next_available_at == oldest.created_at + timedelta(days=7)
    # A week later the oldest attempt leaves the window.
    Submission.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(days=7, minutes=1))
    assert attempt_status(engineer=engineer_user, challenge=ticket).left == 1
    assert submit(ticket, engineer_user).state == Submission.State.QUEUED


def test_attempts_are_per_challenge(seeded, engineer_user):
    ticket, triage = seeded["support-ticket-json"], seeded["ml-incident-triage"]
    for _ in range(3):
        submit(ticket, engineer_user)
    assert attempt_status(engineer=engineer_user, challenge=triage).left == 3


def test_rejections_and_platform_faults_do_not_use_an_attempt_the_engineers_own_failures_do(
    ticket, engineer_user
):
    rejected = services.submissions.submission_create(
        actor=engineer_user, challenge_id=ticket.pk, kind="dataset", dataset=b"not json\n"
    )
    assert rejected.state == Submission.State.REJECTED
    queued = submit(ticket, engineer_user)
    services.submissions.submission_error(
        submission_id=queued.pk, step="train", message="The worker lost its GPU.", platform_fault=True
    )
    assert attempt_status(engineer=engineer_user, challenge=ticket).left == 3
    crashed = submit(ticket, engineer_user)
    services.submissions.submission_error(
        submission_id=crashed.pk, step="train", message="Training failed: NaN loss.", platform_fault=False
    )
    assert attempt_status(engineer=engineer_user, challenge=ticket).left == 2


def test_staff_grants_extra_attempts_which_are_used_once(ticket, engineer_user):
    staff = StaffFactory()
    for _ in range(3):
        submit(ticket, engineer_user)
    with pytest.raises(PermissionDeniedError):
        services.attempts.attempt_grant(
            actor=engineer_user, engineer_id=engineer_user.pk, challenge_id=ticket.pk, attempts=5, reason="me"
        )
    with pytest.raises(ValidationError):
        services.attempts.attempt_grant(
            actor=staff, engineer_id=engineer_user.pk, challenge_id=ticket.pk, attempts=1, reason=" "
        )
    grant = services.attempts.attempt_grant(
        actor=staff, engineer_id=engineer_user.pk, challenge_id=ticket.pk, attempts=1, reason="Worker outage"
    )
    assert attempt_status(engineer=engineer_user, challenge=ticket).left == 1
    granted = submit(ticket, engineer_user)
    assert granted.attempt_grant == grant
    assert attempt_status(engineer=engineer_user, challenge=ticket).left == 0
    with pytest.raises(LimitReachedError):
        submit(ticket, engineer_user)
    # The granted attempt errored on the platform: the grant is good again, and outlives the window.
    services.submissions.submission_error(
        submission_id=granted.pk, step="evaluate", message="Evaluation job crashed.", platform_fault=True
    )
    Submission.objects.update(created_at=timezone.now() - timedelta(days=30))
    status = attempt_status(engineer=engineer_user, challenge=ticket)
    assert (status.granted_left, status.left) == (1, 4)
    assert AttemptGrant.objects.get().granted_by == staff


def test_staff_have_no_attempt_limit(ticket):
    staff = StaffFactory()
    for _ in range(4):
        assert submit(ticket, staff).state == Submission.State.QUEUED
    assert attempt_status(engineer=staff, challenge=ticket).left is None


# --- results, verdict, ladder, badges ------------------------------------------------------------------


def test_a_pass_records_every_figure_and_awards_a_badge(ticket, engineer_user):
    submission = evaluated_submission(ticket, engineer_user)
    submission = record(submission)
    assert submission.state == Submission.State.PASSED
    assert (submission.base_score, submission.few_shot_score, submission.fine_tuned_score) == (0.0, 0.3, 1.0)
    assert submission.delta_ci[0] > 0 and submission.fine_tuned_ci == [1.0, 1.0]
    assert (
        submission.general_base_score,
        submission.general_fine_tuned_score,
        submission.forgetting_ratio,
    ) == (
        0.9,
        0.9,
        1.0,
    )
    assert submission.feedback_score == 1.0 and submission.released_feedback_score == 1.0
    assert submission.feedback_released
    assert submission.band == "exceptional" and submission.verdict["passed"]
    assert submission.cost == {**GOOD_COST, "prompt_tokens_saved_per_call": 600.0}
    assert submission.figures["feedback"]["few_shot"] == 0.3 and submission.figures["general"]["items"] == 80
    assert {step: s["status"] for step, s in submission.steps.items()} == dict.fromkeys(
        Submission.STEPS, "done"
    )
    badge = Badge.objects.get(engineer=engineer_user)
    assert (badge.challenge, badge.submission, badge.challenge_slug) == (ticket, submission, ticket.slug)
    assert (badge.band, badge.score, badge.title) == ("exceptional", 1.0, ticket.title)
    assert {s.name for s in badge.skills.all()} == {"LoRA", "JSON extraction"}
    assert [b.pk for b in engineer_get(username=engineer_user.username).user.active_badges] == [badge.pk]


def test_a_fail_names_the_rule_and_awards_nothing(ticket, engineer_user):
    submission = record(evaluated_submission(ticket, engineer_user), general_tuned=0.5)
    assert submission.state == Submission.State.FAILED
    assert [r["rule"] for r in submission.verdict["rules"] if not r["passed"]] == ["forgetting"]
    assert submission.forgetting_ratio == pytest.approx(0.5 / 0.9, abs=1e-3)
    assert not Badge.objects.exists() and submission.band == ""


def test_over_the_wall_time_budget_fails(ticket, engineer_user):
    submission = evaluated_submission(ticket, engineer_user)
    submission = services.results.submission_record_results(
        submission_id=submission.pk,
        generations=all_generations(submission.eval_set),
        cost={**GOOD_COST, "device_seconds": ticket.max_wall_seconds + 1},
    )
    assert [r["rule"] for r in submission.verdict["rules"] if not r["passed"]] == ["budget"]


def test_baselines_are_stored_once_and_reused(ticket, engineer_user):
    record(evaluated_submission(ticket, engineer_user))
    assert EvalBaseline.objects.count() == 3
    second = evaluated_submission(ticket, EngineerFactory())
    eval_set = second.eval_set
    second = services.results.submission_record_results(
        submission_id=second.pk,
        generations={
            "fine_tuned": generations(eval_set, right=fraction(0.9)),
            "general_fine_tuned": generations(eval_set, general=True, right=fraction(0.9)),
        },
        cost=GOOD_COST,
    )
    assert second.state == Submission.State.PASSED and second.few_shot_score == 0.3


def test_results_need_baselines_and_complete_generations(ticket, engineer_user):
    submission = evaluated_submission(ticket, engineer_user)
    eval_set = submission.eval_set
    with pytest.raises(ValidationError) as caught:
        services.results.submission_record_results(
            submission_id=submission.pk,
            generations={
                "fine_tuned": generations(eval_set),
                "general_fine_tuned": generations(eval_set, general=True),
            },
            cost=GOOD_COST,
        )
    assert caught.value.code == "missing_baseline"
    partial = all_generations(eval_set)
    partial["fine_tuned"] = partial["fine_tuned"][:-2]
    with pytest.raises(ValidationError) as caught:
        services.results.submission_record_results(
            submission_id=submission.pk, generations=partial, cost=GOOD_COST
        )
    assert caught.value.code == "incomplete_generations" and "miss 2 item(s)" in caught.value.message
    submission.refresh_from_db()
    assert submission.state == Submission.State.EVALUATING


def test_results_only_for_an_evaluating_submission(ticket, engineer_user):
    submission = submit(ticket, engineer_user)
    with pytest.raises(InvalidTransitionError):
        services.results.submission_record_results(submission_id=submission.pk, generations={}, cost={})


def test_the_ladder_releases_only_clear_improvements(ticket, engineer_user):
    first = record(evaluated_submission(ticket, engineer_user), tuned=0.6)
    assert (first.feedback_score, first.released_feedback_score, first.feedback_released) == (0.6, 0.6, True)
    second = record(evaluated_submission(ticket, engineer_user), tuned=0.63)
    assert (second.feedback_score, second.released_feedback_score, second.feedback_released) == (
        0.63,
        0.6,
        False,
    )
    third = record(evaluated_submission(ticket, engineer_user), tuned=0.8)
    assert (third.released_feedback_score, third.feedback_released) == (0.8, True)
    assert third.figures["feedback"]["ladder_margin"] == 0.05


def test_the_ladder_does_not_release_a_worse_score(ticket, engineer_user):
    record(evaluated_submission(ticket, engineer_user), tuned=0.7)
    worse = record(evaluated_submission(ticket, engineer_user), tuned=0.5)
    assert (worse.released_feedback_score, worse.feedback_released) == (0.7, False)


def test_a_better_pass_raises_the_badge_and_a_worse_one_leaves_it(ticket, engineer_user):
    record(evaluated_submission(ticket, engineer_user), tuned=0.85)
    badge = Badge.objects.get()
    assert (badge.band, badge.score) == ("pass", 0.85)
    best = record(evaluated_submission(ticket, engineer_user), tuned=0.95)
    record(evaluated_submission(ticket, engineer_user), tuned=0.9)
    badge.refresh_from_db()
    assert Badge.objects.count() == 1
    assert (badge.band, badge.score, badge.submission) == ("exceptional", 0.95, best)


def test_staff_revoke_a_badge_with_a_reason(ticket, engineer_user):
    record(evaluated_submission(ticket, engineer_user))
    badge = Badge.objects.get()
    with pytest.raises(PermissionDeniedError):
        services.badges.badge_revoke(actor=engineer_user, badge_id=badge.pk, reason="mine")
    staff = StaffFactory()
    with pytest.raises(ValidationError):
        services.badges.badge_revoke(actor=staff, badge_id=badge.pk, reason="  ")
    services.badges.badge_revoke(
        actor=staff, badge_id=badge.pk, reason="Dataset copied from another engineer."
    )
    badge.refresh_from_db()
    assert badge.revoked_at and badge.revoked_by == staff and not badge.active
    assert badge.revoked_reason == "Dataset copied from another engineer."
    assert engineer_get(username=engineer_user.username).user.active_badges == []
    with pytest.raises(InvalidTransitionError):
        services.badges.badge_revoke(actor=staff, badge_id=badge.pk, reason="again")


def test_staff_reference_runs_get_a_verdict_but_no_badge(ticket):
    staff = StaffFactory()
    submission = record(evaluated_submission(ticket, staff))
    assert submission.state == Submission.State.PASSED and not Badge.objects.exists()


def test_an_errored_step_is_recorded(ticket, engineer_user):
    train = sandbox_job("train")
    submission = services.submissions.submission_start_training(
        submission_id=submit(ticket, engineer_user).pk, job_id=train.pk
    )
    assert submission.job_ids == {"train": train.pk} and submission.steps["train"]["status"] == "running"
    submission = services.submissions.submission_error(
        submission_id=submission.pk, step="train", message="CUDA out of memory.", platform_fault=False
    )
    assert submission.state == Submission.State.ERRORED and submission.failure_step == "train"
    assert submission.steps["train"] == {"status": "failed", "detail": "CUDA out of memory."}
    with pytest.raises(InvalidTransitionError):
        services.submissions.submission_start_evaluation(submission_id=submission.pk, job_ids={})


def test_an_adapter_submission_skips_training(ticket, engineer_user, settings, tmp_path):
    ticket_adapter = _adapter_upload(tmp_path, settings, ticket)
    submission = services.submissions.submission_create(
        actor=engineer_user, challenge_id=ticket.pk, kind="adapter", adapter_files=ticket_adapter
    )
    assert submission.state == Submission.State.QUEUED, submission.validation_report
    assert submission.validation_report["stats"]["lora_rank"] == 4
    assert submission.steps["train"]["status"] == "skipped"
    with pytest.raises(InvalidTransitionError):
        services.submissions.submission_start_training(
            submission_id=submission.pk, job_id=sandbox_job("train").pk
        )
    services.submissions.submission_start_evaluation(
        submission_id=submission.pk, job_ids={"evaluate": sandbox_job().pk}
    )
    submission = services.results.submission_record_results(
        submission_id=submission.pk,
        generations=all_generations(submission.eval_set),
        cost={"adapter_bytes": 1000, "trainable_params": 500, "lora_rank": 4},
    )
    assert submission.state == Submission.State.PASSED
    assert submission.verdict["rules"][3]["figure"] == {
        "lora_rank": {"used": 4, "limit": ticket.max_lora_rank}
    }


def test_a_pickled_adapter_is_rejected(ticket, engineer_user, settings, tmp_path):
    files = _adapter_upload(tmp_path, settings, ticket)
    files.append(_Upload("adapter_model.bin", b"\x80\x04"))
    submission = services.submissions.submission_create(
        actor=engineer_user, challenge_id=ticket.pk, kind="adapter", adapter_files=files
    )
    assert submission.state == Submission.State.REJECTED
    assert submission.validation_report["errors"][0]["code"] == "adapter_rejected"
    assert "pickle" in submission.validation_report["errors"][0]["message"]


class _Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data, self.size = name, data, len(data)

    def chunks(self, chunk_size=None):
        yield self.data


def _adapter_upload(tmp_path, settings, challenge):
    """A real LoRA adapter (rank 4) of a tiny model registered as the challenge's base model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tests.sandbox.tiny import build_tiny_model

    base = build_tiny_model(tmp_path / "tiny")
    settings.BASE_MODELS_EXTRA = {"tiny-test": str(base)}
    Challenge.objects.filter(pk=challenge.pk).update(base_model="tiny-test")
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    model.save_pretrained(tmp_path / "adapter")
    return [
        _Upload(name, (tmp_path / "adapter" / name).read_bytes())
        for name in ("adapter_config.json", "adapter_model.safetensors")
    ]


# --- leaderboard ----------------------------------------------------------------------------------


def test_the_leaderboard_shows_opted_in_engineers_released_scores_only(ticket):
    shown, hidden_engineer = EngineerFactory(), EngineerFactory()
    services.badges.leaderboard_set_opt_in(actor=shown, challenge_id=ticket.pk, opted_in=True)
    record(evaluated_submission(ticket, shown), tuned=0.7)
    record(evaluated_submission(ticket, shown), tuned=0.73)  # not released: below the margin
    record(evaluated_submission(ticket, hidden_engineer), tuned=0.9)
    board = leaderboard(challenge=ticket)
    assert board == [
        {
            "rank": 1,
            "engineer": shown.username,
            "display_name": f"{shown.first_name} {shown.last_name}",
            "released_feedback_score": 0.7,
            "submissions": 2,
        }
    ]
    services.badges.leaderboard_set_opt_in(actor=shown, challenge_id=ticket.pk, opted_in=False)
    assert leaderboard(challenge=ticket) == []
    with pytest.raises(PermissionDeniedError):
        services.badges.leaderboard_set_opt_in(actor=ClientFactory(), challenge_id=ticket.pk, opted_in=True)


def test_challenge_page_data_shows_attempts_left(ticket, engineer_user):
    submit(ticket, engineer_user)
    data = challenge_public(challenge=ticket, actor=engineer_user)
    assert data["attempts"]["left"] == 2 and data["attempts"]["limit"] == 3
    assert data["eval_set"] == {"version": 1, "feedback_items": 100, "final_items": 200, "general_items": 80}
    assert data["hyperparameters"]["rank"]["max"] == ticket.max_lora_rank


def test_the_estimate_uses_the_training_throughput_measured_here(ticket, engineer_user, settings):
    from sandbox.models import Job

    first = submit(ticket, engineer_user)
    assert (
        first.validation_report["stats"]["train_tokens_per_second"]
        == settings.VETTING_TRAIN_TOKENS_PER_SECOND
    )
    assert "no training job has run yet" in first.validation_report["stats"]["throughput_basis"]
    now = timezone.now()
    for minutes, device, rate in (
        (1, "cpu", 100.0),
        (2, "cpu", 140.0),
        (3, "cpu", 120.0),
        (9, "cuda:0", 5000.0),
    ):
        Job.objects.create(
            kind=Job.Kind.TRAIN,
            state=Job.State.SUCCEEDED,
            spec={},
            wall_seconds=60,
            memory_mb=512,
            output_mb=64,
            max_attempts=2,
            device=device,
            tokens_per_second=rate,
            finished_at=now - timedelta(minutes=minutes),
        )
    stats = submit(ticket, engineer_user).validation_report["stats"]
    # The latest job ran on a CPU: the median of the CPU jobs, not the GPU's rate.
    assert stats["train_tokens_per_second"] == 120.0
    assert stats["throughput_basis"] == "the median of the last 3 training job(s) here, on cpu"
    assert stats["estimated_device_seconds"] == round(stats["billable_tokens"] / 120.0, 1)
