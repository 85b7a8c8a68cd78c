"""Money is integer minor units plus an ISO 4217 currency code. Never floats."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CURRENCY_EXPONENTS = {"usd": 2, "eur": 2, "gbp": 2, "jpy": 0}
CURRENCY_CHOICES = [(code, code.upper()) for code in CURRENCY_EXPONENTS]
# The largest amount any one field takes, in minor units: Stripe's largest charge (eight digits).
MAX_AMOUNT_MINOR = 99_999_999


def too_large_message(currency: str | None = None) -> str:
    """What a form or the API says of an amount above MAX_AMOUNT_MINOR."""
    if currency in CURRENCY_EXPONENTS:
        return f"Enter at most {format_money(MAX_AMOUNT_MINOR, currency)}."
    return f"Enter at most {MAX_AMOUNT_MINOR:,} minor units."


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Parse a major-unit amount ("12.50") into minor units (1250). Raises ValueError."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{amount!r} is not an amount") from exc
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not an amount")
    exponent = CURRENCY_EXPONENTS[currency]
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {exponent} decimal places")
    return int(scaled.to_integral_value(rounding=ROUND_HALF_UP))


def format_signed_money(amount_minor: int, currency: str) -> str:
    """How a total moves: "+1,000.00 USD", "\u22121,000.00 USD" (a minus sign), "±0.00 USD"."""
    sign = "+" if amount_minor > 0 else "\u2212" if amount_minor < 0 else "±"
    return f"{sign}{format_money(abs(amount_minor), currency)}"


def format_money(amount_minor: int, currency: str) -> str:
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    major = Decimal(amount_minor).scaleb(-exponent)
    return f"{major:,.{exponent}f} {currency.upper()}"


def fee_for(amount_minor: int, fee_bps: int) -> int:
    """Platform fee in minor units, rounded half up, never more than the amount."""
    fee = (Decimal(amount_minor) * fee_bps / Decimal(10_000)).to_integral_value(rounding=ROUND_HALF_UP)
    return min(int(fee), amount_minor)


def convert(amount_minor: int, from_currency: str, to_currency: str) -> int:
    """An indicative conversion through settings.EXCHANGE_RATES (units of each currency per US dollar),
    for comparing a rate with a budget; never for moving money."""
    from django.conf import settings

    if from_currency == to_currency:
        return amount_minor
    rates = settings.EXCHANGE_RATES
    major = Decimal(amount_minor).scaleb(-CURRENCY_EXPONENTS[from_currency])
    converted = major / Decimal(str(rates[from_currency])) * Decimal(str(rates[to_currency]))
    return int(converted.scaleb(CURRENCY_EXPONENTS[to_currency]).to_integral_value(rounding=ROUND_HALF_UP))
