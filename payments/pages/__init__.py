"""The payments app's pages: funding, payout settings, the staff payout desk and ledger report, and
the money actions of the engagement page (cancellation by consent, staff decisions)."""
