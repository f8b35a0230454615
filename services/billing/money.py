"""Money: Decimal EUR, and the one rounding rule.

Rounding rule: every amount that is stored or shown (a charge line, an invoice's
net, VAT and total) is rounded to whole cents, half away from zero
(ROUND_HALF_UP), at the moment it is computed from unrounded inputs; sums of
rounded lines are exact and are not rounded again.
"""
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_cents(amount) -> Decimal:
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(amount) -> str:
    """Money as the API shows it: a string with two decimals."""
    return f"{to_cents(amount):.2f}"
