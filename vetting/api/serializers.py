"""Vetting API shapes. Outputs render the selectors' dicts (so the API shows exactly what the pages
show); inputs parse what a client sends into the services' arguments.

States are documented in words, not as an enum: several apps have a `state`, and the schema
names enums by field name.
"""

from __future__ import annotations

from rest_framework import serializers

from core import jsonsafe
from vetting.datasets import HYPERPARAMETERS_MAX_BYTES
from vetting.models import Badge, Submission

STATES = ", ".join(Submission.State.values)


class OptionalBooleanField(serializers.BooleanField):
    """Absent from a form means "leave as it is", not false."""

    default_empty_html = serializers.empty


# --- challenges -----------------------------------------------------------------------------------


class AttemptsSerializer(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="Attempts per window; null for staff.")
    window_days = serializers.IntegerField()
    used_in_window = serializers.IntegerField()
    granted_left = serializers.IntegerField(help_text="Extra attempts staff granted, not used yet.")
    left = serializers.IntegerField(allow_null=True, help_text="null: unlimited (staff).")
    next_available_at = serializers.DateTimeField(allow_null=True)


class OwnBadgeSerializer(serializers.Serializer):
    band = serializers.CharField()
    awarded_at = serializers.DateTimeField()


class VettingChallengeSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    summary = serializers.CharField()
    task_type = serializers.CharField()
    skills = serializers.ListField(child=serializers.CharField())
    base_model = serializers.CharField()
    attempts = AttemptsSerializer(allow_null=True)
    best_released_feedback = serializers.FloatField(
        allow_null=True, help_text="Your best Ladder-released feedback score on the active hidden set."
    )
    badge = OwnBadgeSerializer(allow_null=True, help_text="Your active badge on this challenge.")


class PromptSerializer(serializers.Serializer):
    system = serializers.CharField()
    user_template = serializers.CharField(help_text="The user turn; {input} marks where the input goes.")


class PublicExampleSerializer(serializers.Serializer):
    input = serializers.CharField()
    output = serializers.CharField()


class EvalSetSizesSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    feedback_items = serializers.IntegerField()
    final_items = serializers.IntegerField()
    general_items = serializers.IntegerField()


class VettingChallengeDetailSerializer(VettingChallengeSerializer):
    instructions = serializers.CharField(help_text="Markdown.")
    scoring = serializers.CharField(help_text="How each answer is scored, in plain words.")
    evaluation_prompt = PromptSerializer(help_text="The exact prompt used at evaluation.")
    public_examples = PublicExampleSerializer(many=True)
    budgets = serializers.DictField(child=serializers.IntegerField())
    hyperparameters = serializers.DictField(
        child=serializers.DictField(), help_text="Each key with its type, default and bounds."
    )
    pass_rules = serializers.DictField()
    eval_set = EvalSetSizesSerializer(allow_null=True)


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    engineer = serializers.CharField(help_text="Username.")
    display_name = serializers.CharField()
    released_feedback_score = serializers.FloatField()
    submissions = serializers.IntegerField(help_text="Scored submissions on the active hidden set.")


class OptInInput(serializers.Serializer):
    opted_in = serializers.BooleanField()


class OptInSerializer(serializers.Serializer):
    challenge = serializers.SlugField()
    opted_in = serializers.BooleanField()


# --- submissions ----------------------------------------------------------------------------------


class SubmissionCreateInput(serializers.Serializer):
    challenge = serializers.SlugField(help_text="The challenge's slug.")
    kind = serializers.ChoiceField(choices=Submission.Kind.choices, default=Submission.Kind.DATASET)
    dataset = serializers.FileField(required=False, help_text="kind=dataset: chat-format JSONL.")
    hyperparameters = serializers.CharField(
        required=False,
        help_text="kind=dataset: a JSON object; missing keys take their defaults (see the challenge's "
        "`hyperparameters` for defaults and bounds).",
    )
    adapter_model = serializers.FileField(
        required=False, help_text="kind=adapter: adapter_model.safetensors."
    )
    adapter_config = serializers.FileField(required=False, help_text="kind=adapter: adapter_config.json.")
    leaderboard_opt_in = OptionalBooleanField(
        required=False, help_text="Engineers: join (true) or leave (false) the challenge's leaderboard."
    )

    def validate_hyperparameters(self, value: str) -> dict:
        try:
            parsed = jsonsafe.loads(value, max_bytes=HYPERPARAMETERS_MAX_BYTES)
        except jsonsafe.JSONInputError as exc:
            raise serializers.ValidationError(f"Not valid JSON: {exc}.") from None
        if not isinstance(parsed, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return parsed

    def validate(self, data: dict) -> dict:
        if data["kind"] == Submission.Kind.DATASET:
            if not data.get("dataset"):
                raise serializers.ValidationError({"dataset": ["Upload a JSONL dataset."]})
        elif not (data.get("adapter_model") and data.get("adapter_config")):
            missing = [name for name in ("adapter_model", "adapter_config") if not data.get(name)]
            raise serializers.ValidationError(
                {name: ["Upload both files of the adapter."] for name in missing}
            )
        return data


class StepSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="pending, running, done, failed or skipped.")
    detail = serializers.CharField(allow_blank=True)


class FeedbackFiguresSerializer(serializers.Serializer):
    base = serializers.FloatField(allow_null=True, help_text="Base model zero-shot, feedback split.")
    few_shot = serializers.FloatField(allow_null=True, help_text="Base model few-shot, feedback split.")
    fine_tuned_released = serializers.FloatField(
        allow_null=True, help_text="Fine-tuned, as released by the Ladder (your best so far unless beaten)."
    )
    newly_released = serializers.BooleanField(help_text="This submission released a new figure.")


class GeneralFiguresSerializer(serializers.Serializer):
    base = serializers.FloatField(allow_null=True)
    fine_tuned = serializers.FloatField(allow_null=True)
    forgetting_ratio = serializers.FloatField(allow_null=True, help_text="General score after / before.")
    change_ci = serializers.ListField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="95% paired-bootstrap interval of the general-set change (after - before); the "
        "forgetting rule needs its lower end above minus the challenge's margin.",
    )


class FailureSerializer(serializers.Serializer):
    step = serializers.CharField()
    message = serializers.CharField()


class StaffFailureSerializer(FailureSerializer):
    attempt_returned = serializers.BooleanField(help_text="A platform fault: the attempt does not count.")


class VettingSubmissionSerializer(serializers.Serializer):
    """What the engineer sees: no final-split figure beyond pass/fail and band, no per-item result."""

    id = serializers.IntegerField()
    challenge = serializers.SlugField()
    eval_set_version = serializers.IntegerField()
    kind = serializers.CharField()
    state = serializers.CharField(help_text=f"One of {STATES}.")
    steps = serializers.DictField(
        child=StepSerializer(), help_text="validate, train, evaluate, score, verdict."
    )
    hyperparameters = serializers.DictField()
    validation = serializers.JSONField(
        help_text="The validation report: ok, errors and warnings ({line, code, message}; line null for "
        "the whole file), stats (examples, tokens, billable tokens, estimated device seconds and cost). "
        "It never depends on the hidden items."
    )
    feedback = FeedbackFiguresSerializer()
    general = GeneralFiguresSerializer()
    cost = serializers.DictField(
        help_text="trained_tokens, device_seconds, trainable_params, adapter_bytes, prompt_tokens_saved_per_call."
    )
    verdict = serializers.JSONField(
        allow_null=True, help_text="passed, band, rules (final-split rules without figures), reasons."
    )
    band = serializers.CharField(allow_null=True)
    failure = FailureSerializer(allow_null=True)
    training_job = serializers.IntegerField(
        allow_null=True, help_text="The sandbox training job (GET /api/v1/sandbox/jobs/{id}/progress/)."
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class RejectedDetailsSerializer(serializers.Serializer):
    # Present when `code` is `submission_rejected`; a malformed request (`validation_error`) names its
    # fields here instead, as every 400 does.
    submission = serializers.IntegerField(
        required=False, help_text="`submission_rejected`: the rejected submission (kept, with its report)."
    )
    validation = serializers.JSONField(
        required=False, help_text="`submission_rejected`: the validation report; every error names its line."
    )


class RejectedBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="submission_rejected")
    message = serializers.CharField(help_text="How many problems, and the first one with its line.")
    details = RejectedDetailsSerializer()


class RejectedSerializer(serializers.Serializer):
    error = RejectedBodySerializer()


# --- staff ----------------------------------------------------------------------------------------


class VettingBadgeSerializer(serializers.ModelSerializer):
    engineer = serializers.CharField(source="engineer.username")
    submission = serializers.IntegerField(source="submission_id", allow_null=True)

    class Meta:
        model = Badge
        fields = [
            "id",
            "engineer",
            "challenge_slug",
            "title",
            "band",
            "score",
            "submission",
            "awarded_at",
            "revoked_at",
            "revoked_reason",
        ]


class StaffScoresSerializer(serializers.Serializer):
    base = serializers.FloatField(allow_null=True)
    few_shot = serializers.FloatField(allow_null=True)
    fine_tuned = serializers.FloatField(allow_null=True)
    fine_tuned_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    delta_vs_few_shot_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    general_base = serializers.FloatField(allow_null=True)
    general_fine_tuned = serializers.FloatField(allow_null=True)
    forgetting_ratio = serializers.FloatField(allow_null=True)
    general_delta_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class StaffReportSerializer(serializers.Serializer):
    """Every figure of a submission (final split included); still no item text."""

    submission = serializers.IntegerField()
    challenge = serializers.SlugField()
    eval_set_version = serializers.IntegerField()
    engineer = serializers.CharField()
    state = serializers.CharField(help_text=f"One of {STATES}.")
    verdict = serializers.CharField(help_text="pass, fail, rejected, errored, or the state while running.")
    band = serializers.CharField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    rules = serializers.ListField(child=serializers.DictField())
    scores = StaffScoresSerializer()
    feedback = serializers.DictField()
    figures = serializers.DictField()
    cost = serializers.DictField()
    validation = serializers.JSONField()
    failure = StaffFailureSerializer(allow_null=True)
    badge = VettingBadgeSerializer(allow_null=True)


class BadgeRevokeInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200)
