from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from acceptance.metrics import METRIC_CHOICES
from sandbox import registry


def set_file_field(label: str, help_text: str) -> forms.FileField:
    return forms.FileField(
        label=label,
        help_text=help_text,
        widget=forms.ClearableFileInput(attrs={"accept": ".jsonl,.json,.txt"}),
    )


class AcceptanceTermsForm(forms.Form):
    eval_set = set_file_field(
        "Evaluation set (JSONL)",
        'One {"input": ..., "target": ...} per line, or chat-format lines whose last assistant turn is the '
        "target. Private to you and the platform.",
    )
    metric = forms.ChoiceField(label="Metric", choices=METRIC_CHOICES)
    pass_mark = forms.FloatField(
        label="Pass mark",
        min_value=0,
        max_value=1,
        help_text="The delivered model's mean score on your private items must reach this (0 to 1).",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    base_model = forms.ChoiceField(label="Base model")
    forgetting_floor = forms.FloatField(
        label="Forgetting floor",
        min_value=0,
        max_value=1,
        help_text="General-knowledge score after tuning ÷ before must stay at or above this.",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    public_sample_size = forms.IntegerField(
        label="Public sample",
        min_value=0,
        help_text="How many of your items the engineer may see, as examples.",
    )

    training_budget_minutes = forms.IntegerField(
        label="Training budget (minutes)",
        required=False,
        min_value=0,
        initial=0,
        help_text="0: the engineer delivers a trained adapter. More: they may deliver a training set instead, "
        "which the platform trains within this many minutes.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].choices = [(name, name) for name in sorted(registry.registry())]
        self.fields["base_model"].initial = registry.default_model_name()
        self.fields["forgetting_floor"].initial = settings.ACCEPTANCE_FORGETTING_FLOOR
        self.fields["public_sample_size"].initial = settings.ACCEPTANCE_PUBLIC_SAMPLE_SIZE
        for name, most in (
            ("public_sample_size", settings.ACCEPTANCE_MAX_PUBLIC_SAMPLE),
            ("training_budget_minutes", settings.ACCEPTANCE_MAX_TRAINING_MINUTES),
        ):
            self.fields[name].validators.append(MaxValueValidator(most))
            self.fields[name].widget.attrs["max"] = most
        limit_mb = settings.ACCEPTANCE_MAX_SET_BYTES // (1024 * 1024)
        items = f"{settings.ACCEPTANCE_MIN_ITEMS:,} to {settings.ACCEPTANCE_MAX_ITEMS:,}"
        self.fields["eval_set"].help_text += f" {items} items, up to {limit_mb} MB."

    def terms(self) -> dict:
        terms = {name: self.cleaned_data[name] for name in self.fields}
        terms["training_budget_minutes"] = terms["training_budget_minutes"] or 0
        return terms


class BaselineForm(forms.Form):
    eval_set = set_file_field(
        "Sample set (JSONL)",
        '10 to 500 examples of the task: {"input": ..., "target": ...} or chat-format lines. Three of them '
        "become the few-shot examples; the rest are scored. They stay yours.",
    )
    metric = forms.ChoiceField(label="Metric", choices=METRIC_CHOICES)
    target = forms.FloatField(
        label="Target score",
        required=False,
        min_value=0,
        max_value=1,
        help_text="The score you need (0 to 1). If prompting already reaches it, you may not need a fine-tune.",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
