"""Page forms: they parse what a browser sends (major-unit amounts, comma-separated tags) into the
keyword arguments the services take. The services validate the rules; their errors come back onto
these forms through `core.pages.apply_service_errors`."""

import re
from datetime import date
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.utils import timezone

from core.money import (
    CURRENCY_CHOICES,
    CURRENCY_EXPONENTS,
    MAX_AMOUNT_MINOR,
    format_money,
    to_minor,
    too_large_message,
)
from core.text import LongTextFormField, SingleLineFormField
from marketplace.directory import ORDERINGS, REGIONS, EngineerFilters
from marketplace.models import READINESS_QUESTIONS, EngineerProfile, HiringRequest, Readiness, User
from marketplace.models.disputes import PARTY_CATEGORIES
from marketplace.models.users import MAX_PORTFOLIO_LINKS, time_zone_label, time_zone_names

ADAPTER_FIELDS = ("adapter_config", "adapter_model")
MILESTONE_FIELD = re.compile(r"^milestones\[(\d+)\]\.(\w+)$")
CHANGE_FIELD = re.compile(r"^changes\[(\d+)\]\.(\w+)$")
# Plain decimal amounts, optionally with thousands separators: 2000, 2,000, 2000.50.
AMOUNT = re.compile(r"(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")


def parse_tags(value: str) -> list[str]:
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def minor_to_major(amount: int, currency: str) -> str:
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    if amount % (10**exponent) == 0:
        return str(amount // (10**exponent))
    return f"{amount / 10**exponent:.{exponent}f}"


class MoneyField(forms.CharField):
    """An amount in major units ("2000", "12.50"); the form converts it with its currency."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})


def _to_minor_or_error(form: forms.Form, field: str, currency: str) -> int | None:
    raw = form.cleaned_data.get(field)
    if raw in (None, ""):
        return None
    try:
        if not AMOUNT.fullmatch(raw.strip()):
            raise ValueError(raw)
        amount = to_minor(raw.strip().replace(",", ""), currency)
    except KeyError:
        form.add_error(field, "Choose a supported currency.")
        return None
    except ValueError:
        places = CURRENCY_EXPONENTS[currency]
        example = "2000" if places == 0 else f"2000 or 2000.{'5' * places}"
        form.add_error(field, f"Enter an amount such as {example}.")
        return None
    if amount <= 0:
        form.add_error(field, "Enter an amount above zero.")
        return None
    if amount > MAX_AMOUNT_MINOR:
        form.add_error(field, too_large_message(currency))
        return None
    return amount


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


# --- Accounts ------------------------------------------------------------------------------------


class SignUpForm(forms.Form):
    role = forms.ChoiceField(
        choices=[
            (User.Role.CLIENT, "I want to hire an expert"),
            (User.Role.ENGINEER, "I fine-tune models and want work"),
        ],
        widget=forms.RadioSelect,
        initial=User.Role.CLIENT,
    )
    first_name = SingleLineFormField(max_length=150, required=False)
    last_name = SingleLineFormField(max_length=150, required=False)
    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": "Use letters, digits and @ . + - _ only."},
    )
    email = forms.EmailField(max_length=254)
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password_confirm = forms.CharField(
        label="Confirm password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The rules before the first try, not after it.
        self.fields["password"].help_text = " ".join(password_validators_help_texts())

    def clean(self):
        data = super().clean()
        password = data.get("password")
        if password:
            # Here as well as in the service, so that every problem shows at once on the first submit.
            someone = User(
                **{name: data.get(name, "") for name in ("username", "email", "first_name", "last_name")}
            )
            try:
                validate_password(password, user=someone)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        if password and data.get("password_confirm") != password:
            self.add_error("password_confirm", "The passwords do not match.")
        return data


# --- Requests ------------------------------------------------------------------------------------

READINESS_CHOICES = Readiness.choices


class ResendConfirmationForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email")


class HiringRequestForm(forms.Form):
    title = SingleLineFormField(max_length=140)
    description = LongTextFormField()
    skills = forms.CharField(
        required=False,
        max_length=500,
        help_text="Comma-separated, e.g. LoRA, Evaluation, Structured extraction",
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial=settings.DEFAULT_CURRENCY)
    budget_min = MoneyField(label="Budget from", help_text="In major units, e.g. 2000")
    budget_max = MoneyField(label="Budget up to")
    deadline = forms.DateField(required=False, widget=DateInput())
    data_description = LongTextFormField(
        label="Your data",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What data you have: format, size, labels, sensitivity.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field, question, _ in READINESS_QUESTIONS:
            self.fields[field] = forms.ChoiceField(
                label=question, choices=READINESS_CHOICES, widget=forms.RadioSelect, initial=Readiness.UNSURE
            )

    @classmethod
    def initial_from(cls, hiring_request: HiringRequest) -> dict:
        currency = hiring_request.currency
        initial = {
            "title": hiring_request.title,
            "description": hiring_request.description,
            "skills": ", ".join(skill.name for skill in hiring_request.skills.all()),
            "currency": currency,
            "budget_min": minor_to_major(hiring_request.budget_min, currency),
            "budget_max": minor_to_major(hiring_request.budget_max, currency),
            "deadline": hiring_request.deadline,
            "data_description": hiring_request.data_description,
        }
        for field, _, _ in READINESS_QUESTIONS:
            initial[field] = getattr(hiring_request, field)
        return initial

    def readiness_fields(self):
        return [self[field] for field, _, _ in READINESS_QUESTIONS]

    def clean(self):
        data = super().clean()
        currency = data.get("currency") or settings.DEFAULT_CURRENCY
        data["budget_min"] = _to_minor_or_error(self, "budget_min", currency)
        data["budget_max"] = _to_minor_or_error(self, "budget_max", currency)
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {
            name: data[name]
            for name in ("title", "description", "currency", "budget_min", "budget_max", "deadline")
        }
        kwargs["data_description"] = data.get("data_description", "")
        for field, _, _ in READINESS_QUESTIONS:
            kwargs[field] = data[field]
        kwargs["skills"] = parse_tags(data.get("skills", ""))
        return kwargs


class WithdrawForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


class InviteForm(forms.Form):
    engineer = forms.IntegerField(min_value=1)
    message = forms.CharField(required=False, max_length=2000)


# --- Consultations and proposals ---------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)] if data else []


class MessageForm(forms.Form):
    body = forms.CharField(
        label="Message",
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a message… (links become clickable)"}),
    )
    attachments = MultipleFileField(required=False, label="Attach files")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        attachments_describe(self.fields["attachments"])

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("body") or "").strip() and not cleaned.get("attachments") and not self.errors:
            self.add_error("body", "Write a message or attach a file.")
        return cleaned


class DeclineForm(forms.Form):
    reason = forms.CharField(required=False, max_length=200, label="Reason (optional)")


class ProposalForm(forms.Form):
    scope = LongTextFormField(
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What you will do, what you will deliver, and how success is measured.",
    )
    price = MoneyField(label="Total price")

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["price"].help_text = f"In {currency.upper()}; the milestones must add up to it."

    def clean(self):
        data = super().clean()
        data["price"] = _to_minor_or_error(self, "price", self.currency)
        return data


class ProposalMilestoneForm(forms.Form):
    title = SingleLineFormField(max_length=140)
    amount = MoneyField()
    due_date = forms.DateField(widget=DateInput())

    def __init__(self, *args, currency: str = "usd", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_due_date(self):
        due: date = self.cleaned_data["due_date"]
        if due < timezone.localdate():
            raise forms.ValidationError("The due date is in the past.")
        return due

    def clean(self):
        data = super().clean()
        if "amount" in data:
            data["amount"] = _to_minor_or_error(self, "amount", self.currency)
        return data


class BaseMilestoneFormSet(forms.BaseFormSet):
    def __init__(self, *args, currency: str, **kwargs):
        self.currency = currency
        self.extra_errors: list[str] = []
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**self.form_kwargs, "currency": self.currency}

    def group_errors(self) -> list[str]:
        return [*self.non_form_errors(), *self.extra_errors]

    def milestones(self) -> list[dict]:
        return [form.cleaned_data for form in self.forms if form.has_changed() and form.cleaned_data]


MilestoneFormSet = forms.formset_factory(
    ProposalMilestoneForm,
    formset=BaseMilestoneFormSet,
    extra=0,
    min_num=1,
    validate_min=False,
    max_num=20,
    validate_max=True,
    absolute_max=20,
)


def proposal_forms(data=None, *, currency: str) -> tuple[ProposalForm, BaseMilestoneFormSet]:
    return ProposalForm(data, currency=currency), MilestoneFormSet(
        data, currency=currency, prefix="milestones"
    )


def proposal_validate(form: ProposalForm, formset: BaseMilestoneFormSet) -> bool:
    """Field checks, then the rule the price form and the rows share: the amounts add up to the price."""
    valid = form.is_valid() & formset.is_valid()
    if not valid:
        return False
    milestones = formset.milestones()
    if not milestones:
        formset.extra_errors.append("Add at least one milestone.")
        return False
    total = sum(item["amount"] for item in milestones)
    if total != form.cleaned_data["price"]:
        formset.extra_errors.append(
            f"The milestones add up to {format_money(total, form.currency)}, but the price is "
            f"{format_money(form.cleaned_data['price'], form.currency)}. They must be equal."
        )
        return False
    return True


def proposal_apply_service_errors(form: ProposalForm, formset: BaseMilestoneFormSet, error) -> None:
    details = error.details if isinstance(error.details, dict) else {}
    placed = False
    for key, messages in details.items():
        match = MILESTONE_FIELD.match(key)
        if match:
            index, field = int(match.group(1)), match.group(2)
            rows = [row for row in formset.forms if row.has_changed()]
            if index < len(rows) and field in rows[index].fields:
                for message in messages:
                    rows[index].add_error(field, message)
                placed = True
        elif key == "milestones":
            formset.extra_errors.extend(messages)
            placed = True
        elif key in form.fields:
            for message in messages:
                form.add_error(key, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


# --- Engagements ---------------------------------------------------------------------------------


def attachments_describe(field: forms.Field) -> None:
    """The attachment limits (the ATTACHMENT_* settings) as the field's help text and accept list."""
    limit_mb = settings.ATTACHMENT_MAX_BYTES / (1024 * 1024)
    field.help_text = f"Up to {settings.ATTACHMENT_MAX_FILES} files, {limit_mb:g} MB each: " + ", ".join(
        sorted(settings.ATTACHMENT_EXTENSIONS)
    )
    field.widget.attrs["accept"] = ",".join(f".{ext}" for ext in sorted(settings.ATTACHMENT_EXTENSIONS))


class DeliveryForm(forms.Form):
    message = LongTextFormField(
        widget=forms.Textarea(attrs={"rows": 4}), help_text="What you are delivering and how to check it."
    )
    links = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "https://…"}),
        help_text="One link per line (repository, model card, report).",
    )
    attachments = MultipleFileField(required=False)
    # Shown only when the milestone has an acceptance test (which requires them and runs on them).
    adapter_config = forms.FileField(
        required=False,
        label="Adapter config (adapter_config.json)",
        widget=forms.ClearableFileInput(attrs={"accept": ".json"}),
    )
    adapter_model = forms.FileField(
        required=False,
        label="Adapter weights (adapter_model.safetensors)",
        widget=forms.ClearableFileInput(attrs={"accept": ".safetensors"}),
    )

    dataset = forms.FileField(
        required=False,
        label="Training set (JSONL)",
        widget=forms.ClearableFileInput(attrs={"accept": ".jsonl,.json,.txt"}),
    )
    hyperparameters = forms.CharField(
        required=False,
        label="Hyperparameters (JSON)",
        max_length=16 * 1024,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": '{"rank": 16, "epochs": 2, "learning_rate": 0.0004}'}
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        attachments_describe(self.fields["attachments"])

    def link_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("links", "").splitlines() if line.strip()]

    def adapter(self) -> dict:
        return {name: self.cleaned_data[name] for name in ADAPTER_FIELDS if self.cleaned_data.get(name)}

    def training(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in ("dataset", "hyperparameters")
            if self.cleaned_data.get(name)
        }


class RevisionForm(forms.Form):
    comment = forms.CharField(
        label="What needs to change?", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class ApproveForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000, label="Note (optional)")
    # Offered only when the delivery's acceptance test has not passed; the note is then the reason.
    approve_anyway = forms.BooleanField(required=False, label="Approve anyway")


class DisputeForm(forms.Form):
    category = forms.ChoiceField(
        label="What is the dispute about?", choices=[("", "Choose one…"), *PARTY_CATEGORIES]
    )
    reason = forms.CharField(
        label="What went wrong?",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="At least a sentence: staff read it first, and the other party can answer it.",
    )
    evidence = MultipleFileField(required=False, label="Evidence (optional)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        attachments_describe(self.fields["evidence"])


class DisputeStatementForm(forms.Form):
    body = forms.CharField(
        label="Your side",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What staff should know; both parties and staff see it.",
    )
    evidence = MultipleFileField(required=False, label="Evidence (optional)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        attachments_describe(self.fields["evidence"])


class CancelForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500, label="Reason (optional)")


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="Rating",
        # Natural order, each with its name: "1 star" … "5 stars" (arrow keys move 1 -> 5).
        choices=[(value, f"{value} star{'s' if value > 1 else ''}") for value in range(1, 6)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    text = forms.CharField(
        label="Your review", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )


# --- Profiles ------------------------------------------------------------------------------------


class EngineerProfileForm(forms.Form):
    headline = SingleLineFormField(max_length=140, required=False)
    bio = LongTextFormField(required=False)
    skills = forms.CharField(required=False, max_length=500, help_text="Comma-separated tags.")
    rate_type = forms.ChoiceField(label="Rate", choices=EngineerProfile.RateType.choices)
    rate_amount = MoneyField(label="Rate amount", required=False, help_text="In major units, e.g. 120")
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES)
    availability = forms.ChoiceField(choices=EngineerProfile.Availability.choices, widget=forms.RadioSelect)
    time_zone = forms.ChoiceField(
        label="Time zone", required=False, help_text="Clients see it, and can filter by it."
    )
    languages = forms.CharField(
        required=False, max_length=400, help_text="Comma-separated, e.g. English, Spanish."
    )
    portfolio_links = forms.CharField(
        label="Portfolio links",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"One web address per line (at most {MAX_PORTFOLIO_LINKS}): papers, repositories, demos.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [("", "Choose your time zone")] + [
            (name, time_zone_label(name)) for name in sorted(time_zone_names())
        ]

    @classmethod
    def initial_from(cls, profile: EngineerProfile) -> dict:
        return {
            "time_zone": profile.time_zone,
            "languages": ", ".join(profile.languages),
            "portfolio_links": "\n".join(profile.portfolio_links),
            "headline": profile.headline,
            "bio": profile.bio,
            "skills": ", ".join(skill.name for skill in profile.skills.all()),
            "rate_type": profile.rate_type,
            "rate_amount": minor_to_major(profile.rate_amount, profile.currency)
            if profile.rate_amount
            else "",
            "currency": profile.currency,
            "availability": profile.availability,
        }

    def clean(self):
        data = super().clean()
        currency = data.get("currency") or settings.DEFAULT_CURRENCY
        if data.get("rate_amount") in (None, ""):
            data["rate_amount"] = 0
        else:
            data["rate_amount"] = _to_minor_or_error(self, "rate_amount", currency)
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {
            name: data[name]
            for name in (
                "headline",
                "bio",
                "rate_type",
                "rate_amount",
                "currency",
                "availability",
                "time_zone",
            )
        }
        kwargs["skills"] = parse_tags(data.get("skills", ""))
        kwargs["languages"] = parse_tags(data.get("languages", ""))
        kwargs["portfolio_links"] = data.get("portfolio_links", "").split()
        return kwargs


# --- Change orders ------------------------------------------------------------------------------------


class ChangeOrderForm(forms.Form):
    """The plan's milestones not funded yet, editable in place (or marked for removal), and a few rows
    for new ones; `changes()` turns what differs into the change order's items."""

    NEW_ROWS = 2

    note = LongTextFormField(
        label="Why the plan changes",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The other party reads this with the changes before answering.",
    )

    def __init__(self, *args, milestones: list, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.milestones, self.currency = milestones, currency
        self.rows: list[tuple[str, object]] = []
        for milestone in milestones:
            prefix = f"m{milestone.pk}"
            self.fields[f"{prefix}_title"] = SingleLineFormField(
                label="Title", max_length=140, required=False, initial=milestone.title
            )
            self.fields[f"{prefix}_amount"] = MoneyField(
                label=f"Amount ({currency.upper()})",
                required=False,
                initial=minor_to_major(milestone.amount, currency),
            )
            self.fields[f"{prefix}_due_date"] = forms.DateField(
                label="Due date", required=False, initial=milestone.due_date, widget=DateInput()
            )
            self.fields[f"{prefix}_remove"] = forms.BooleanField(
                label="Remove this milestone", required=False
            )
            self.rows.append((prefix, milestone))
        for index in range(self.NEW_ROWS):
            prefix = f"new{index}"
            self.fields[f"{prefix}_title"] = SingleLineFormField(
                label="Title", max_length=140, required=False
            )
            self.fields[f"{prefix}_amount"] = MoneyField(label=f"Amount ({currency.upper()})", required=False)
            self.fields[f"{prefix}_due_date"] = forms.DateField(
                label="Due date", required=False, widget=DateInput()
            )
            self.rows.append((prefix, None))
        self._field_of_change: list[str] = []

    def bound_rows(self) -> list[dict]:
        return [
            {
                "prefix": prefix,
                "milestone": milestone,
                "title": self[f"{prefix}_title"],
                "amount": self[f"{prefix}_amount"],
                "due_date": self[f"{prefix}_due_date"],
                "fields": [self[f"{prefix}_{name}"] for name in ("title", "amount", "due_date")],
                "remove": self[f"{prefix}_remove"] if milestone else None,
            }
            for prefix, milestone in self.rows
        ]

    def clean(self):
        data = super().clean()
        for prefix, _ in self.rows:
            data[f"{prefix}_amount"] = _to_minor_or_error(self, f"{prefix}_amount", self.currency)
        return data

    def changes(self) -> list[dict]:
        """The items for change_order_propose, in row order; remembers which row each came from."""
        data, changes, self._field_of_change = self.cleaned_data, [], []
        for prefix, milestone in self.rows:
            title, amount, due = (data.get(f"{prefix}_{name}") for name in ("title", "amount", "due_date"))
            if milestone is None:
                if title or amount is not None or due:
                    changes.append({"action": "add", "title": title, "amount": amount, "due_date": due})
                    self._field_of_change.append(prefix)
                continue
            if data.get(f"{prefix}_remove"):
                changes.append({"action": "remove", "milestone": milestone.pk})
            else:
                edit = {
                    name: value
                    for name, value in (("title", title), ("amount", amount), ("due_date", due))
                    if value not in (None, "") and value != getattr(milestone, name)
                }
                if not edit:
                    continue
                changes.append({"action": "edit", "milestone": milestone.pk, **edit})
            self._field_of_change.append(prefix)
        return changes

    def place_errors(self, details: dict) -> bool:
        """Put the service's `changes[i].field` errors next to the row they are about; False when some
        named nothing here (the caller shows the message on top)."""
        placed_all = True
        for key, messages_ in details.items():
            match = CHANGE_FIELD.match(key)
            if key == "note":
                field = "note"
            elif match and int(match[1]) < len(self._field_of_change):
                name = match[2] if match[2] in ("title", "amount", "due_date") else "title"
                field = f"{self._field_of_change[int(match[1])]}_{name}"
            else:
                field = None
                placed_all = False
            for message in messages_:
                self.add_error(field, message)
        return placed_all


# --- Directory and job board --------------------------------------------------------------------


BAND_CHOICES = [
    ("", "Any band"),
    ("pass", "Pass or better"),
    ("strong", "Strong or better"),
    ("exceptional", "Exceptional"),
]
# Rates are typed in major units of whatever currency each engineer charges in; two decimals at most.
RATE = re.compile(r"\d{1,3}(,\d{3})+(\.\d{1,2})?|\d+(\.\d{1,2})?")
MAX_RATE = Decimal(MAX_AMOUNT_MINOR).scaleb(-2)


class EngineerDirectoryForm(forms.Form):
    """The directory's filters, read from the query string (a GET form: the URL is the search)."""

    q = SingleLineFormField(label="Search", required=False, max_length=200)
    skill = forms.MultipleChoiceField(label="Skills", required=False, widget=forms.CheckboxSelectMultiple)
    vetted = forms.BooleanField(label="Vetted only", required=False)
    band = forms.ChoiceField(label="Badge band", choices=BAND_CHOICES, required=False)
    rate_min = forms.CharField(label="Minimum rate", required=False, max_length=20)
    rate_max = forms.CharField(label="Maximum rate", required=False, max_length=20)
    availability = forms.ChoiceField(
        label="Availability", choices=[("", "Any"), *EngineerProfile.Availability.choices], required=False
    )
    region = forms.ChoiceField(label="Time zone region", required=False)
    language = SingleLineFormField(label="Language", required=False, max_length=40)
    ordering = forms.ChoiceField(label="Sort by", required=False)

    def __init__(self, *args, skills, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["skill"].choices = [(skill.slug, skill.name) for skill in skills]
        self.fields["region"].choices = [("", "Anywhere"), *REGIONS.items()]
        self.fields["ordering"].choices = list(ORDERINGS.items())
        for name in ("rate_min", "rate_max"):
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})
        self.fields["q"].widget.attrs.update({"type": "search", "placeholder": "Name, skill or topic"})
        self.fields["language"].widget.attrs.update({"placeholder": "e.g. German"})

    def _rate(self, name: str) -> Decimal | None:
        raw = (self.cleaned_data.get(name) or "").strip()
        if not raw:
            return None
        if not RATE.fullmatch(raw):
            raise forms.ValidationError("Enter a number such as 120 or 120.50.", code="invalid")
        value = Decimal(raw.replace(",", ""))
        if value > MAX_RATE:
            raise forms.ValidationError(f"Enter at most {MAX_RATE:,.0f}.", code="max_value")
        return value

    def clean_rate_min(self):
        return self._rate("rate_min")

    def clean_rate_max(self):
        return self._rate("rate_max")

    def clean(self):
        data = super().clean()
        low, high = data.get("rate_min"), data.get("rate_max")
        if low is not None and high is not None and low > high:
            self.add_error("rate_max", "The maximum rate must not be below the minimum rate.")
        return data

    def errors_by_label(self) -> list[str]:
        """Each error with the label of its field in front ("Minimum rate: ..."), for the summary."""
        return [
            f"{self.fields[name].label}: {message}" if name in self.fields else message
            for name, messages in self.errors.items()
            for message in messages
        ]

    def filters(self):
        data = self.cleaned_data
        return EngineerFilters(
            q=data.get("q") or "",
            skills=list(data.get("skill") or []),
            vetted=bool(data.get("vetted")),
            band=data.get("band") or "",
            rate_min=data.get("rate_min"),
            rate_max=data.get("rate_max"),
            rates_in_major_units=True,
            availability=data.get("availability") or "",
            region=data.get("region") or "",
            language=data.get("language") or "",
            ordering=data.get("ordering") or "relevance",
        )

    def active_count(self) -> int:
        """How many filters narrow the list (the search words and the order do not count)."""
        if not self.is_bound or not self.is_valid():
            return 0
        data = self.cleaned_data
        names = ("skill", "vetted", "band", "rate_min", "rate_max", "availability", "region", "language")
        return sum(1 for name in names if data.get(name) not in (None, "", [], False))


class JobBoardForm(forms.Form):
    q = SingleLineFormField(label="Search", required=False, max_length=200)
    skill = forms.ChoiceField(label="Skill", required=False)

    def __init__(self, *args, skills, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["skill"].choices = [("", "Any skill"), *[(skill.slug, skill.name) for skill in skills]]
        self.fields["q"].widget.attrs.update({"type": "search", "placeholder": "Title or description"})


class InviteRequestForm(forms.Form):
    note = LongTextFormField(
        label="Note to the client",
        required=False,
        max_length=1000,
        help_text="Why you are a good fit; up to 1,000 characters.",
    )
