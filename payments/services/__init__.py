"""Payments services: funding, onboarding, payouts, refunds, disputes, monitoring.

Each writes under the milestone's row lock and calls Stripe only outside it: a claim is committed
first (the row moves to `processing` with its idempotency key), Stripe is called, and the result is
recorded under the lock again. Lock order everywhere: milestone, then the payments row. So the
services that call Stripe (checkout, onboarding, payout approve/retry, refunds, cancellations,
dispute settlements) are called outside any transaction, as views and tasks do, never inside one.
"""
