from django.conf import settings
from rest_framework import serializers

from acceptance.metrics import METRIC_CHOICES
from acceptance.selectors import acceptance_public_sample


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
