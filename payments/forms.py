"""Page forms of the payments app: amounts typed in major units become minor units here; the
services check the rules (X + Y = held, who may act) and their errors come back onto the forms."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from core.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR, to_minor, too_large_message
from marketplace.forms import AMOUNT, DateInput, MoneyField
from payments.selectors import PERIODS


def parse_amount(form: forms.Form, field: str, currency: str) -> int | None:
    """The field's amount in minor units (zero allowed), or None with the error on the field."""
    raw = (form.cleaned_data.get(field) or "").strip()
    try:
        if not AMOUNT.fullmatch(raw):
            raise ValueError(raw)
        amount = to_minor(raw.replace(",", ""), currency)
    except ValueError:
        places = CURRENCY_EXPONENTS.get(currency, 2)
        example = "250" if places == 0 else f"250 or 250.{'5' * places}"
        form.add_error(field, f"Enter an amount such as {example}, or 0.")
        return None
    if amount > MAX_AMOUNT_MINOR:
        form.add_error(field, too_large_message(currency))
        return None
    return amount


class DisputeResolveForm(forms.Form):
    release_amount = MoneyField(label="Release to the engineer")
    refund_amount = MoneyField(label="Refund to the client")
    note = forms.CharField(
        label="How was it resolved?", max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean(self):
        cleaned = super().clean()
        for name in ("release_amount", "refund_amount"):
            if name in cleaned:
                cleaned[name] = parse_amount(self, name, self.currency)
        return cleaned


class CancellationRequestForm(forms.Form):
    reason = forms.CharField(label="Why cancel?", max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class CancellationDeclineForm(forms.Form):
    note = forms.CharField(label="Note (optional)", required=False, max_length=2000)


class CancellationDecideForm(forms.Form):
    reason = forms.CharField(
        label="Why is it cancelled?", max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class LedgerReportForm(forms.Form):
    period = forms.ChoiceField(
        choices=[(name, name.capitalize()) for name in PERIODS], initial="day", required=False
    )
    start = forms.DateField(label="From", widget=DateInput(), required=False)
    end = forms.DateField(label="To", widget=DateInput(), required=False)

    DEFAULT_DAYS = 30

    def values(self) -> tuple[str, date, date]:
        """The period and range asked for, with defaults: daily, the last 30 days."""
        data = self.cleaned_data
        end = data.get("end") or timezone.now().date()
        start = data.get("start") or end - timedelta(days=self.DEFAULT_DAYS - 1)
        return data.get("period") or "day", start, end


class StatementPeriodForm(forms.Form):
    """A payout statement's period: a year (and month), or a range of days; nothing: every payout."""

    MONTHS = [("", "Whole year"), *((n, date(2000, n, 1).strftime("%B")) for n in range(1, 13))]

    year = forms.IntegerField(min_value=2000, max_value=2100, required=False)
    month = forms.IntegerField(min_value=1, max_value=12, required=False, widget=forms.Select(choices=MONTHS))
    start = forms.DateField(label="From", widget=DateInput(), required=False)
    end = forms.DateField(label="To", widget=DateInput(), required=False)
