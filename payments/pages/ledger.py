"""The staff ledger report: held, released, refunded and fees per day, week or month, and as CSV."""

import csv
from decimal import Decimal

from django.http import HttpResponse
from django.shortcuts import render

from core.errors import ValidationError
from core.money import CURRENCY_EXPONENTS
from core.pages import staff_required
from payments import selectors
from payments.forms import LedgerReportForm

CSV_COLUMNS = (
    "period_start",
    "period_end",
    "currency",
    "funded",
    "released",
    "transferred_to_engineers",
    "fees",
    "refunded",
    "charged_back",
    "chargeback_losses",
    "held_change",
    "held_at_end",
)


def _report(request) -> tuple[LedgerReportForm, dict, selectors.LedgerReport | None]:
    """The form, the period and range it asks for (defaults filled in), and the report if valid."""
    form = LedgerReportForm(request.GET)
    if not form.is_valid():
        return form, {}, None
    period, start, end = form.values()
    values = {"period": period, "start": start, "end": end}
    try:
        return form, values, selectors.ledger_report(user=request.user, period=period, start=start, end=end)
    except ValidationError as exc:
        for field, errors in exc.details.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return form, values, None


@staff_required
def ledger_report(request):
    form, values, report = _report(request)
    context = {"form": form, "values": values, "report": report, "query": request.GET.urlencode()}
    return render(request, "payments/ledger_report.html", context, status=200 if report else 400)


def _major(amount: int, currency: str) -> str:
    """Exact decimal major units for a spreadsheet: 123456 USD cents -> 1234.56."""
    return str(Decimal(amount).scaleb(-CURRENCY_EXPONENTS.get(currency, 2)))


@staff_required
def ledger_report_csv(request):
    _, _, report = _report(request)
    if report is None:
        return HttpResponse("Invalid report parameters.\n", status=400, content_type="text/plain")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"ledger-{report.period}-{report.start.isoformat()}-{report.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        money = (
            row.funded,
            row.released,
            row.transferred,
            row.fees,
            row.refunded,
            row.charged_back,
            row.chargeback_losses,
            row.held_change,
            row.held,
        )
        writer.writerow(
            [row.start.isoformat(), row.end.isoformat(), row.currency.upper()]
            + [_major(amount, row.currency) for amount in money]
        )
    return response
