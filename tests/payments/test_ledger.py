"""The ledger's rules: balanced, idempotent, never negative, append-only; and the checker that proves it."""

import pytest
from django.db import DatabaseError, connection, transaction

from core.errors import ValidationError
from marketplace.models import Milestone
from payments.ledger import ledger_post, ledger_summary, ledger_violations, milestone_money
from payments.models import LedgerAccount, LedgerEntry, LedgerPosting
from payments.models.ledger import LedgerImmutableError
from tests.factories import milestone_in_state

pytestmark = pytest.mark.django_db

A = LedgerAccount
KIND = LedgerPosting.Kind


@pytest.fixture
def milestone() -> Milestone:
    return milestone_in_state(Milestone.State.PENDING_FUNDING, amounts=(10_000,))


def fund(milestone, amount=10_000, key="funding:1"):
    return ledger_post(
        key=key,
        kind=KIND.FUNDING,
        milestone_id=milestone.pk,
        currency="usd",
        lines=[(A.CLIENT_FUNDING, -amount), (A.ESCROW, amount)],
    )


def test_a_balanced_posting_is_recorded_once_per_key(milestone):
    posting, created = fund(milestone)
    again, created_again = fund(milestone)

    assert created and not created_again and again.pk == posting.pk
    assert LedgerEntry.objects.count() == 2
    assert milestone_money(milestone_id=milestone.pk).escrow == 10_000
    release = [(A.ESCROW, -10_000), (A.ENGINEER_TRANSFERRED, 9_000), (A.PLATFORM_REVENUE, 1_000)]
    ledger_post(key="payout:1", kind=KIND.RELEASE, milestone_id=milestone.pk, currency="usd", lines=release)
    money = milestone_money(milestone_id=milestone.pk)
    assert (money.funded, money.escrow, money.transferred, money.fees, money.released) == (
        10_000,
        0,
        9_000,
        1_000,
        10_000,
    )
    [usd] = ledger_summary()
    assert (usd.funded, usd.transferred, usd.fees, usd.refunded, usd.held_change) == (
        10_000,
        9_000,
        1_000,
        0,
        0,
    )


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([(A.CLIENT_FUNDING, -100), (A.ESCROW, 99)], "ledger_unbalanced"),
        ([(A.ESCROW, 100)], "ledger_invalid"),
        ([(A.CLIENT_FUNDING, 0), (A.ESCROW, 0)], "ledger_invalid"),
        ([(A.CLIENT_FUNDING, -1.5), (A.ESCROW, 1.5)], "ledger_invalid"),
        ([("cash_drawer", -100), (A.ESCROW, 100)], "ledger_invalid"),
    ],
)
def test_bad_postings_are_refused_before_insert(milestone, lines, code):
    with pytest.raises(ValidationError) as refused:
        ledger_post(key="bad:1", kind=KIND.FUNDING, milestone_id=milestone.pk, currency="usd", lines=lines)
    assert refused.value.code == code
    assert not LedgerPosting.objects.exists()


def test_a_posting_in_another_currency_is_refused(milestone):
    with pytest.raises(ValidationError, match="EUR") as refused:
        ledger_post(
            key="funding:1",
            kind=KIND.FUNDING,
            milestone_id=milestone.pk,
            currency="eur",
            lines=[(A.CLIENT_FUNDING, -100), (A.ESCROW, 100)],
        )
    assert refused.value.code == "currency_mismatch"
    assert not LedgerPosting.objects.exists()


def test_escrow_never_goes_negative_and_never_pays_out_more_than_funded(milestone):
    fund(milestone, 10_000)
    with pytest.raises(ValidationError) as refused:
        ledger_post(
            key="refund:1",
            kind=KIND.REFUND,
            milestone_id=milestone.pk,
            currency="usd",
            lines=[(A.ESCROW, -10_001), (A.CLIENT_REFUNDS, 10_001)],
        )
    assert refused.value.code == "ledger_escrow_negative"
    with pytest.raises(ValidationError) as refused:  # escrow untouched, but more out than in
        ledger_post(
            key="refund:2",
            kind=KIND.REFUND,
            milestone_id=milestone.pk,
            currency="usd",
            lines=[(A.CLIENT_FUNDING, 5), (A.CLIENT_REFUNDS, 10_000), (A.ESCROW, -10_005)],
        )
    assert refused.value.code in ("ledger_escrow_negative", "ledger_overdrawn")
    assert LedgerPosting.objects.count() == 1


def test_a_key_names_one_movement(milestone):
    fund(milestone, 10_000)
    with pytest.raises(ValidationError) as refused:
        fund(milestone, 9_999)
    assert refused.value.code == "ledger_key_reused"


def test_rows_are_append_only_in_the_models(milestone):
    posting, _ = fund(milestone)
    entry = posting.entries.first()

    for attempt in (
        lambda: posting.save(),
        lambda: entry.save(),
        lambda: posting.delete(),
        lambda: entry.delete(),
        lambda: LedgerEntry.objects.filter(pk=entry.pk).update(amount=1),
        lambda: LedgerPosting.objects.all().delete(),
    ):
        with pytest.raises(LedgerImmutableError):
            attempt()
    assert LedgerEntry.objects.get(pk=entry.pk).amount == entry.amount


@pytest.mark.postgres
def test_rows_are_append_only_in_postgresql_too(milestone):
    fund(milestone)
    for sql in (
        "UPDATE payments_ledgerentry SET amount = amount * 2",
        "DELETE FROM payments_ledgerentry",
        "UPDATE payments_ledgerposting SET memo = 'edited'",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert milestone_money(milestone_id=milestone.pk).escrow == 10_000


def test_the_checker_finds_what_the_rules_forbid(milestone):
    """Rows written around `ledger_post` (bulk_create skips it): the checker must see every breach."""
    assert ledger_violations() == []
    with transaction.atomic():
        posting = LedgerPosting.objects.create(
            key="forged:1", kind=KIND.REFUND, milestone=milestone, currency="usd"
        )
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    posting=posting, account=A.ESCROW, milestone=milestone, amount=-500, currency="usd"
                ),
                LedgerEntry(
                    posting=posting, account=A.CLIENT_REFUNDS, milestone=milestone, amount=400, currency="eur"
                ),
            ]
        )
        LedgerPosting.objects.create(key="forged:2", kind=KIND.REFUND, milestone=milestone, currency="usd")
        problems = ledger_violations()
        transaction.set_rollback(True)  # undo the forgery: the autouse check runs after this test

    assert "posting forged:1 has 2 entries summing to -100, not 0" in problems
    assert "posting forged:2 has no entries" in problems
    assert "posting forged:1 mixes currencies" in problems
    assert f"milestone {milestone.pk}: escrow is negative (-500)" in problems
    assert f"milestone {milestone.pk}: released, refunded and charged back 400 exceed funded 0" in problems
    assert ledger_violations() == []
