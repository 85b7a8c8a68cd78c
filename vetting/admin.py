"""Staff pages: challenges, eval-set versions (JSONL upload, statistics, rotation), submissions with
full figures, attempt grants and badge revocation. Writes go through vetting.services.

Hidden items are shown to superusers only (an inline on the eval-set version); other staff see the
statistics. No list display or __str__ shows an item's text.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from core.errors import ApplicationError
from vetting import services
from vetting.challenges import GENERAL_METRIC
from vetting.datasets import parse_evalset
from vetting.models import AttemptGrant, Badge, Challenge, EvalItem, EvalSetVersion, Submission
from vetting.selectors import submission_staff_report

MAX_FORM_ERRORS = 20


def _pretty_json(value) -> str:
    return format_html(
        "<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, indent=2, default=str)
    )


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "slug",
        "task_type",
        "is_active",
        "is_builtin",
        "active_version",
        "pass_threshold",
    )
    list_filter = ("is_active", "is_builtin", "task_type")
    search_fields = ("title", "slug")
    filter_horizontal = ("skills",)
    readonly_fields = ("is_builtin", "created_at", "updated_at")
    actions = ["generate_version"]

    @admin.display(description="Active eval set")
    def active_version(self, obj: Challenge) -> str:
        active = obj.eval_sets.filter(is_active=True).first()
        return f"v{active.version}" if active else "-"

    @admin.action(description="Generate and activate a new eval-set version (built-in challenges)")
    def generate_version(self, request, queryset):
        for challenge in queryset:
            try:
                eval_set = services.evalsets.evalset_generate(actor=request.user, challenge_id=challenge.pk)
            except ApplicationError as exc:
                self.message_user(request, f"{challenge.slug}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{challenge.slug}: version {eval_set.version} is active.")


class EvalSetUploadForm(forms.ModelForm):
    jsonl_file = forms.FileField(
        label="JSONL file",
        help_text='One item a line: {"split": "feedback" | "final" | "general", "input": "...", "target": ...}. '
        "Without general items, the generated general set is added.",
    )
    activate = forms.BooleanField(required=False, help_text="Make it the version new submissions use.")

    class Meta:
        model = EvalSetVersion
        fields = ["challenge", "notes"]

    def clean(self):
        cleaned = super().clean()
        upload, challenge = cleaned.get("jsonl_file"), cleaned.get("challenge")
        if upload is None or challenge is None:
            return cleaned
        data = b"".join(upload.chunks())
        _, errors = parse_evalset(
            data,
            metric=challenge.metric_obj,
            general_metric=GENERAL_METRIC,
            min_sizes=services.evalsets._min_sizes(),
        )
        if errors:
            listed = [
                (f"Line {error['line']}: " if error["line"] else "") + f"{error['message']} ({error['code']})"
                for error in errors[:MAX_FORM_ERRORS]
            ]
            if len(errors) > MAX_FORM_ERRORS:
                listed.append(f"... and {len(errors) - MAX_FORM_ERRORS} more.")
            raise forms.ValidationError(listed)
        cleaned["data"] = data
        return cleaned


class EvalItemInline(admin.TabularInline):
    """Superusers only: the items themselves."""

    model = EvalItem
    fields = ("key", "split", "input", "target", "label")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EvalSetVersion)
class EvalSetVersionAdmin(admin.ModelAdmin):
    list_display = (
        "challenge",
        "version",
        "is_active",
        "source",
        "feedback_items",
        "final_items",
        "general_items",
        "created_by",
        "created_at",
    )
    list_filter = ("is_active", "source", "challenge")
    readonly_fields = (
        "challenge",
        "version",
        "is_active",
        "source",
        "created_by",
        "created_at",
        "statistics",
        "calibration_figures",
    )
    fields = (
        "challenge",
        "version",
        "is_active",
        "source",
        "created_by",
        "created_at",
        "statistics",
        "calibration_figures",
        "notes",
    )
    inlines = [EvalItemInline]
    actions = ["activate"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = EvalSetUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("challenge", "jsonl_file", "activate", "notes")
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.evalsets.evalset_upload(
            actor=request.user,
            challenge_id=form.cleaned_data["challenge"].pk,
            data=form.cleaned_data["data"],
            activate=form.cleaned_data["activate"],
            notes=form.cleaned_data.get("notes", ""),
        )
        obj.pk = created.pk
        obj.version = created.version
        obj.is_active = created.is_active

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def has_delete_permission(self, request, obj=None):
        # A version with submissions is kept by PROTECT; rotation replaces deletion.
        return request.user.is_superuser and (obj is None or not obj.submissions.exists())

    @admin.display(description="Feedback")
    def feedback_items(self, obj):
        return obj.split_size("feedback")

    @admin.display(description="Final")
    def final_items(self, obj):
        return obj.split_size("final")

    @admin.display(description="General")
    def general_items(self, obj):
        return obj.split_size("general")

    @admin.display(description="Statistics")
    def statistics(self, obj):
        rows = []
        for split in ("feedback", "final", "general"):
            split_stats = obj.stats.get(split, {})
            labels = split_stats.get("labels", {})
            label_text = "; ".join(
                f"{dimension}: " + ", ".join(f"{value} {count}" for value, count in counts.items())
                for dimension, counts in labels.items()
            )
            rows.append(
                (
                    split,
                    obj.stats.get("counts", {}).get(split, 0),
                    split_stats.get("avg_input_words", "-"),
                    split_stats.get("avg_input_chars", "-"),
                    label_text or "-",
                )
            )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<table><tr><th>Split</th><th>Items</th><th>Avg words</th><th>Avg chars</th>"
            "<th>Labels</th></tr>{}</table>",
            body,
        )

    @admin.display(description="Calibration")
    def calibration_figures(self, obj):
        """The reference runs recorded on this version (vetting_calibrate) and the marks they propose."""
        calibration = obj.calibration or {}
        runs = calibration.get("runs", {})
        if not runs:
            return "No reference runs on this version (manage.py vetting_calibrate)."

        def interval(pair) -> str:
            return f"{pair[0]:+.3f} to {pair[1]:+.3f}" if pair else "-"

        rows = []
        for name, run in sorted(runs.items()):
            scores = run["scores"]
            judged = ((calibration.get("proposal") or {}).get("judged") or {}).get(name, {})
            rows.append(
                (
                    name,
                    f"{scores['fine_tuned']:.3f}",
                    interval(scores.get("fine_tuned_ci")).replace("+", ""),
                    f"{scores['few_shot']:.3f}" if scores.get("few_shot") is not None else "-",
                    f"{scores['general_base']:.3f} → {scores['general_fine_tuned']:.3f}",
                    interval(scores.get("general_delta_ci")),
                    run.get("train_seconds") or "-",
                    {True: "pass", False: "fail"}.get(judged.get("passed"), "-"),
                )
            )
        body = format_html_join("", "<tr>" + "<td>{}</td>" * 8 + "</tr>", rows)
        proposal = calibration.get("proposal")
        summary = "Not all planned runs are in yet: no proposal."
        if proposal:
            proposed, previous = proposal["proposed"], proposal["previous"]
            summary = format_html(
                "Proposed pass mark {} (was {}), forgetting margin {} (was {}); {}; {}.",
                proposed["pass_threshold"],
                previous["pass_threshold"],
                proposed["forgetting_margin"],
                previous["forgetting_margin"],
                "every gap exceeds its side's spread between seeds" if proposal["ok"] else "NOT separated",
                "applied" if calibration.get("applied") else "not applied",
            )
        return format_html(
            "<p>{} on {}, options {}.</p><table><tr><th>Run</th><th>Final</th><th>95% CI</th><th>Few-shot</th>"
            "<th>General before → after</th><th>General change (95% CI)</th><th>Training s</th>"
            "<th>Under the proposal</th></tr>{}</table><p>{}</p>",
            len(runs),
            calibration.get("base_model", "-"),
            json.dumps(calibration.get("options", {}), sort_keys=True),
            body,
            summary,
        )

    @admin.action(description="Activate (rotate to) the selected version")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.ERROR)
            return
        eval_set = services.evalsets.evalset_activate(actor=request.user, evalset_id=queryset.get().pk)
        self.message_user(request, f"{eval_set} is now active.")


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "engineer",
        "challenge",
        "kind",
        "state",
        "fine_tuned_score",
        "released_feedback_score",
        "band",
        "created_at",
    )
    list_filter = ("state", "kind", "challenge")
    search_fields = ("engineer__username",)
    list_select_related = ("engineer", "challenge")
    fields = (
        "engineer",
        "challenge",
        "eval_set",
        "kind",
        "state",
        "dataset",
        "adapter_dir",
        "attempt_grant",
        "report",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Full report")
    def report(self, obj):
        return _pretty_json(submission_staff_report(submission=obj))


class AttemptGrantForm(forms.ModelForm):
    class Meta:
        model = AttemptGrant
        fields = ["engineer", "challenge", "attempts", "reason"]


@admin.register(AttemptGrant)
class AttemptGrantAdmin(admin.ModelAdmin):
    form = AttemptGrantForm
    list_display = ("engineer", "challenge", "attempts", "reason", "granted_by", "created_at")
    list_filter = ("challenge",)
    search_fields = ("engineer__username",)

    def has_change_permission(self, request, obj=None):
        return obj is None

    def save_model(self, request, obj, form, change):
        grant = services.attempts.attempt_grant(
            actor=request.user,
            engineer_id=form.cleaned_data["engineer"].pk,
            challenge_id=form.cleaned_data["challenge"].pk,
            attempts=form.cleaned_data["attempts"],
            reason=form.cleaned_data["reason"],
        )
        obj.pk = grant.pk


@admin.register(Badge)
class BadgeAdmin(admin.ModelAdmin):
    list_display = ("engineer", "title", "band", "score", "awarded_at", "revoked_at")
    list_filter = ("band", "challenge_slug")
    search_fields = ("engineer__username", "title")
    fields = (
        "engineer",
        "challenge",
        "submission",
        "title",
        "band",
        "score",
        "awarded_at",
        "revoked_at",
        "revoked_by",
        "revoked_reason",
    )
    readonly_fields = (
        "engineer",
        "challenge",
        "submission",
        "title",
        "band",
        "score",
        "awarded_at",
        "revoked_at",
        "revoked_by",
    )
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.revoked_at is not None:
            return (*self.readonly_fields, "revoked_reason")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        # Typing a reason on an active badge and saving revokes it.
        if obj.revoked_at is None and obj.revoked_reason.strip():
            services.badges.badge_revoke(actor=request.user, badge_id=obj.pk, reason=obj.revoked_reason)

    @admin.action(description="Revoke selected badges")
    def revoke(self, request, queryset):
        count = 0
        for badge in queryset.filter(revoked_at__isnull=True):
            services.badges.badge_revoke(
                actor=request.user, badge_id=badge.pk, reason=f"Revoked by {request.user.username} (admin)"
            )
            count += 1
        self.message_user(request, f"Revoked {count} badge(s).")
