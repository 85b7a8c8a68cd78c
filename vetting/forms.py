"""Page forms for vetting: the submission form (built from the challenge's hyperparameter schema, so
every field shows its default and bounds), badge revocation and the leaderboard opt-in.

The services validate the rules; the form only turns what a browser sends into their arguments.
Hyperparameter bounds are checked here as well so a slip is shown next to its field instead of
costing a rejected submission.
"""

from __future__ import annotations

from typing import Any

from django import forms

from sandbox.engines.hyperparameters import LINEAR_MODULES
from vetting.models import Submission

ALL_LINEAR = "all-linear"
ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _bounds(spec: dict[str, Any]) -> str:
    if "min" in spec:
        return f"{_shown(spec['min'])} to {_shown(spec['max'])}"
    if "choices" in spec:
        return ", ".join(spec["choices"])
    return "true or false"


def _hyperparameter_field(key: str, spec: dict[str, Any]) -> forms.Field:
    """A field named and labelled by its key (the same key the API takes), showing default and bounds."""
    help_text = f"Default {_shown(spec['default'])}; allowed {_bounds(spec)}."
    kind = spec["type"]
    if kind == "integer":
        return forms.IntegerField(
            label=key,
            required=False,
            min_value=spec["min"],
            max_value=spec["max"],
            initial=spec["default"],
            help_text=help_text,
        )
    if kind == "number":
        return forms.FloatField(
            label=key,
            required=False,
            min_value=spec["min"],
            max_value=spec["max"],
            initial=spec["default"],
            help_text=help_text,
            widget=forms.NumberInput(attrs={"step": "any"}),
        )
    if kind == "choice":
        return forms.ChoiceField(
            label=key,
            required=False,
            choices=[(choice, choice) for choice in spec["choices"]],
            initial=spec["default"],
            help_text=help_text,
        )
    if kind == "modules":
        return forms.CharField(
            label=key,
            required=False,
            initial=spec["default"],
            help_text=f"Default {spec['default']}, or a comma-separated list of {', '.join(LINEAR_MODULES)}.",
        )
    return forms.BooleanField(label=key, required=False, initial=spec["default"], help_text=help_text)


class SubmissionForm(forms.Form):
    kind = forms.ChoiceField(
        choices=Submission.Kind.choices, initial=Submission.Kind.DATASET, widget=forms.RadioSelect
    )
    dataset = forms.FileField(
        required=False,
        label="Training dataset (JSONL)",
        help_text='One chat per line: {"messages": [{"role": "system" | "user" | "assistant", "content": ...}]}.',
        widget=forms.ClearableFileInput(attrs={"accept": ".jsonl,.json,.txt,application/jsonl"}),
    )
    adapter_model = forms.FileField(
        required=False,
        label=ADAPTER_WEIGHTS_NAME,
        help_text="The LoRA weights, safetensors only.",
        widget=forms.ClearableFileInput(attrs={"accept": ".safetensors"}),
    )
    adapter_config = forms.FileField(
        required=False,
        label=ADAPTER_CONFIG_NAME,
        help_text="The PEFT LoRA config.",
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )
    leaderboard_opt_in = forms.BooleanField(
        required=False,
        label="Show my released scores on this challenge's leaderboard",
        help_text="Only Ladder-released feedback scores are listed; you can opt out at any time.",
    )

    def __init__(self, *args, schema: dict[str, dict[str, Any]], show_opt_in: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.schema = schema
        for key, spec in schema.items():
            self.fields[key] = _hyperparameter_field(key, spec)
        if not show_opt_in:
            del self.fields["leaderboard_opt_in"]

    def hyperparameter_fields(self) -> list[forms.BoundField]:
        return [self[key] for key in self.schema]

    def clean_target_modules(self) -> str | list[str]:
        raw = (self.cleaned_data.get("target_modules") or "").strip()
        if not raw or raw == ALL_LINEAR:
            return ALL_LINEAR
        modules = [name.strip() for name in raw.split(",") if name.strip()]
        unknown = [name for name in modules if name not in LINEAR_MODULES]
        if unknown:
            raise forms.ValidationError(
                f"Unknown module {unknown[0]!r}; use {ALL_LINEAR} or names from {', '.join(LINEAR_MODULES)}."
            )
        return modules

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") == Submission.Kind.DATASET and not data.get("dataset"):
            self.add_error("dataset", "Upload a JSONL dataset.")
        if data.get("kind") == Submission.Kind.ADAPTER:
            for name in ("adapter_model", "adapter_config"):
                if not data.get(name):
                    self.add_error(name, "Upload both files of the adapter.")
        return data

    def hyperparameters(self) -> dict[str, Any]:
        """The values given; a field left empty takes its default in the service."""
        return {
            key: self.cleaned_data[key] for key in self.schema if self.cleaned_data.get(key) not in (None, "")
        }

    def adapter_files(self) -> list[Any]:
        """The two uploads under the names the adapter check expects (the field says which is which)."""
        weights, config = self.cleaned_data["adapter_model"], self.cleaned_data["adapter_config"]
        weights.name, config.name = ADAPTER_WEIGHTS_NAME, ADAPTER_CONFIG_NAME
        return [weights, config]


class BadgeRevokeForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Why the badge is revoked"}),
        help_text="Recorded with the revocation; the engineer's profile stops showing the badge.",
    )
