"""Receipts and payout statements as pages and as PDFs of the same pages: a client's receipt for each
card payment, an engineer's statement of one payout or of a period's payouts."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from core.errors import ValidationError
from core.pages import fetch
from core.pdf import pdf_download
from payments import receipts
from payments.forms import StatementPeriodForm


@login_required
def funding_receipt(request, reference: str):
    receipt = fetch(receipts.funding_receipt, user=request.user, reference=reference)
    return render(request, "payments/receipt.html", {"receipt": receipt})


@login_required
def funding_receipt_pdf(request, reference: str):
    receipt = fetch(receipts.funding_receipt, user=request.user, reference=reference)
    return pdf_download(
        request, "payments/receipt.html", {"receipt": receipt}, filename=f"receipt-{receipt.reference}.pdf"
    )


@login_required
def payout_statement(request, reference: str):
    statement = fetch(receipts.payout_statement, user=request.user, reference=reference)
    return render(request, "payments/statement.html", {"statement": statement})


@login_required
def payout_statement_pdf(request, reference: str):
    statement = fetch(receipts.payout_statement, user=request.user, reference=reference)
    return pdf_download(
        request,
        "payments/statement.html",
        {"statement": statement},
        filename=f"statement-{statement.reference}.pdf",
    )


def _period_statement(request):
    """The form, and the statement of the period it asks for (None, with the errors on the form, when
    the period is not one)."""
    form = StatementPeriodForm(request.GET)
    if not form.is_valid():
        return form, None
    engineer = request.GET.get("engineer")  # staff read any engineer's statement
    try:
        start, end = receipts.statement_range(**form.cleaned_data)
    except ValidationError as exc:
        for field, errors in exc.details.items():
            for error in errors:
                form.add_error(field, error)
        return form, None
    engineer_id = int(engineer) if engineer and engineer.isdigit() else None
    if engineer and engineer_id is None:
        engineer_id = 0  # no such engineer: the statement does not exist
    statement = fetch(
        receipts.period_statement, user=request.user, engineer_id=engineer_id, start=start, end=end
    )
    return form, statement


@login_required
def period_statement(request):
    form, statement = _period_statement(request)
    context = {"statement": statement, "form": form, "query": request.GET.urlencode()}
    return render(request, "payments/statement.html", context, status=200 if statement else 400)


@login_required
def period_statement_pdf(request):
    form, statement = _period_statement(request)
    if statement is None:
        return render(request, "payments/statement.html", {"form": form, "statement": None}, status=400)
    if statement.start is None and statement.end is None:
        period = "all"
    else:
        period = f"{statement.start or 'start'}-to-{statement.end or 'now'}"
    return pdf_download(
        request,
        "payments/statement.html",
        {"statement": statement, "form": form},
        filename=f"payout-statement-{statement.engineer.username}-{period}.pdf",
    )
