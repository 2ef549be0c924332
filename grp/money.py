"""Exact money: `Decimal` in Python, integer fils in storage.

One rounding rule lives here (half-up to 0.01 AED) so that every module rounds
the same way. Floats are refused wherever money enters.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FILS_PER_DIRHAM = 100
CENT = Decimal("0.01")


class MoneyError(ValueError):
    """A value cannot be taken as an exact amount of money."""


def to_decimal(value: object) -> Decimal:
    """Return `value` as a Decimal, refusing floats and non-numbers."""
    if isinstance(value, (bool, float)):
        raise MoneyError(f"money must be exact (Decimal, int or str), not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(value)
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {value!r}") from exc
    else:
        raise MoneyError(f"not an amount: {value!r}")
    if not result.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    return result


def round_money(value: object) -> Decimal:
    """Round to 0.01 half-up: the one rounding rule of GRP (DOMAIN.md, Payroll)."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_fils(value: object) -> int:
    """Convert an amount with at most two decimals to integer fils.

    More than two decimals is an error, not a silent rounding: the caller rounds
    explicitly with `round_money` where the rules say so.
    """
    amount = to_decimal(value)
    if amount != amount.quantize(CENT):
        raise MoneyError(f"amount has more than two decimals: {amount}")
    return int(amount.scaleb(2))


def from_fils(fils: int) -> Decimal:
    """Convert stored integer fils back to a Decimal with two places."""
    return Decimal(int(fils)).scaleb(-2).quantize(CENT)
