"""Each user's payments history: a client's card payments and refunds, an engineer's payouts."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from payments import selectors


@login_required
def payments_history(request):
    rows = selectors.payments_history(user=request.user)
    return render(request, "payments/history.html", {"rows": rows})
