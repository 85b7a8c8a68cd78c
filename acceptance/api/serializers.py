from typing import Literal

from django.conf import settings
from rest_framework import serializers

from acceptance.metrics import METRIC_CHOICES
from acceptance.selectors import acceptance_public_sample, run_progress


class AcceptanceTermsInput(serializers.Serializer):
    eval_set = serializers.FileField(
        help_text='JSONL: one `{"input": ..., "target": ...}` per line, or a chat-format line whose last '
        "assistant turn is the target. 20-2,000 items, private to the client and the platform."
    )
    metric = serializers.ChoiceField(choices=METRIC_CHOICES)
    pass_mark = serializers.FloatField(min_value=0.0, max_value=1.0)
    base_model = serializers.CharField(required=False, max_length=64, help_text="Default: the registry's.")
    forgetting_floor = serializers.FloatField(
        required=False, min_value=0.0, max_value=1.0, help_text="General score after / before; default 0.95."
    )
    public_sample_size = serializers.IntegerField(
        required=False, min_value=0, help_text="Items shown to the engineer; default 5."
    )
    training_budget_minutes = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        help_text="0 (default): the engineer delivers a trained adapter. Otherwise they may deliver a "
        "chat-format training set and hyperparameters, which the platform trains within these minutes.",
    )

    def validate_public_sample_size(self, value: int) -> int:
        if value > settings.ACCEPTANCE_MAX_PUBLIC_SAMPLE:
            raise serializers.ValidationError(f"At most {settings.ACCEPTANCE_MAX_PUBLIC_SAMPLE}.")
        return value


class SampleItemSerializer(serializers.Serializer):
    messages = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    target = serializers.JSONField()


class AcceptanceTermsSerializer(serializers.Serializer):
    milestone = serializers.IntegerField(source="milestone_id")
    metric = serializers.CharField()
    metric_label = serializers.CharField(source="get_metric_display")
    pass_mark = serializers.FloatField()
    forgetting_floor = serializers.FloatField()
    base_model = serializers.CharField()
    item_count = serializers.IntegerField(help_text="Items in the set, the public sample included.")
    private_item_count = serializers.IntegerField(source="private_count", help_text="Items scored.")
    public_sample_size = serializers.IntegerField()
    training_budget_minutes = serializers.IntegerField(help_text="0: adapters only.")
    public_sample = serializers.SerializerMethodField()
    eval_set_name = serializers.SerializerMethodField(
        help_text="The uploaded file's name (client and staff)."
    )
    locked = serializers.SerializerMethodField(help_text="True once the milestone is funded.")
    updated_at = serializers.DateTimeField()

    def get_public_sample(self, test) -> SampleItemSerializer(many=True):
        return SampleItemSerializer(acceptance_public_sample(test=test), many=True).data

    def get_eval_set_name(self, test) -> str | None:
        user = self.context["request"].user
        return test.eval_set_name if user.is_staff or user.pk == test.milestone.engagement.client_id else None

    def get_locked(self, test) -> bool:
        return test.milestone.state != test.milestone.State.PENDING_FUNDING


class RunScoresSerializer(serializers.Serializer):
    base = serializers.FloatField(
        allow_null=True, help_text="The base model zero-shot, on the private items."
    )
    few_shot = serializers.FloatField(allow_null=True, help_text="The base model with the public sample.")
    delivered = serializers.FloatField(allow_null=True, help_text="The delivered model.")
    delivered_ci = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% interval."
    )
    delta_vs_few_shot_ci = serializers.ListField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="95% interval of delivered - few-shot (paired).",
    )
    general_base = serializers.FloatField(allow_null=True)
    general_delivered = serializers.FloatField(allow_null=True)
    forgetting_ratio = serializers.FloatField(allow_null=True, help_text="general_delivered / general_base.")


class RunCostSerializer(serializers.Serializer):
    device_seconds = serializers.FloatField(allow_null=True)
    tokens = serializers.IntegerField(
        allow_null=True,
        help_text="Prompt and generated tokens of the run's evaluations (and its training, where the platform trained).",
    )


SCORE_KEYS = tuple(RunScoresSerializer().fields)


class AcceptanceRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    delivery = serializers.IntegerField(source="delivery_id")
    state = serializers.SerializerMethodField(
        help_text="queued, running (training first, where the platform trains the delivery), passed, "
        "failed, or errored (could not be completed; `error` says why)."
    )
    progress = serializers.SerializerMethodField(help_text="0-1: how far the run is.")
    scores = serializers.SerializerMethodField()
    pass_mark = serializers.FloatField(source="test.pass_mark")
    forgetting_floor = serializers.FloatField(source="test.forgetting_floor")
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Why it failed; empty when it passed."
    )
    error = serializers.CharField(source="error_message", help_text="Why it could not be completed.")
    cost = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_state(self, run) -> Literal["queued", "running", "passed", "failed", "errored"]:
        return "running" if run.state == run.State.TRAINING else run.state

    def get_progress(self, run) -> float:
        return run_progress(run)

    def get_scores(self, run) -> RunScoresSerializer:
        return {key: run.scores.get(key) for key in SCORE_KEYS}

    def get_cost(self, run) -> RunCostSerializer:
        return {"device_seconds": run.cost.get("device_seconds"), "tokens": run.cost.get("tokens")}


class BaselineInput(serializers.Serializer):
    eval_set = serializers.FileField(
        help_text="JSONL in the acceptance-test format, 10-500 items: a sample of the task. A few of them "
        "are the few-shot examples; the rest are scored."
    )
    metric = serializers.ChoiceField(choices=METRIC_CHOICES)
    target = serializers.FloatField(
        required=False, allow_null=True, min_value=0.0, max_value=1.0, help_text="The score the client needs."
    )


class BaselineScoresSerializer(serializers.Serializer):
    zero_shot = serializers.FloatField(allow_null=True)
    zero_shot_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    few_shot = serializers.FloatField(allow_null=True)
    few_shot_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class PromptingBaselineSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["queued", "running", "done", "errored"])
    metric = serializers.CharField()
    base_model = serializers.CharField()
    item_count = serializers.IntegerField(help_text="Items uploaded.")
    scored_items = serializers.SerializerMethodField(help_text="Items scored (the rest are the examples).")
    target = serializers.FloatField(allow_null=True)
    scores = serializers.SerializerMethodField()
    reaches_target = serializers.BooleanField(
        help_text="Prompting alone already reaches the target: fine-tune only if prompting and retrieval fall short."
    )
    error = serializers.CharField(source="error_message")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_scored_items(self, baseline) -> int:
        return sum(1 for item in baseline.items if not item["shot"])

    def get_scores(self, baseline) -> BaselineScoresSerializer:
        return {
            key: baseline.scores.get(key) for key in ("zero_shot", "zero_shot_ci", "few_shot", "few_shot_ci")
        }
