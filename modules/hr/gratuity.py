"""End-of-service gratuity for non-nationals (Federal Decree-Law 33/2021, art. 51; DOMAIN.md).

* none under one year of continuous service;
* 21 days of the last basic wage per year for the first five years, 30 days per
  year after; partial years pro rata;
* unpaid absence is excluded from service;
* a day's wage is the monthly basic / 30, a year is 365 days;
* the total is capped at 24 months of basic wage.

Check: basic 10,000, exactly 7 years -> 10,000 / 30 x (5 x 21 + 2 x 30) = 55,000.00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from grp.money import round_money, to_decimal

DAYS_PER_YEAR = Decimal(365)
DAYS_PER_MONTH = Decimal(30)
FIRST_YEARS = Decimal(5)
DAYS_PER_FIRST_YEAR = Decimal(21)
DAYS_PER_LATER_YEAR = Decimal(30)
CAP_MONTHS = Decimal(24)


@dataclass(frozen=True)
class GratuityWorking:
    """The gratuity and how it was reached, to show the officer and the leaver."""

    basic: Decimal
    service_days: int  # after unpaid absence is taken out
    unpaid_days: int
    years: Decimal
    entitlement_days: Decimal  # days of wage earned: first five years + later years
    days_first_years: Decimal
    days_later_years: Decimal
    daily_wage: Decimal
    uncapped: Decimal
    cap: Decimal
    amount: Decimal
    eligible: bool

    @property
    def capped(self) -> bool:
        return self.eligible and self.uncapped > self.cap


def gratuity_for_service(basic: object, service_days: int, unpaid_days: int = 0) -> GratuityWorking:
    """Gratuity for `service_days` of service of which `unpaid_days` were unpaid absence."""
    basic = to_decimal(basic)
    if basic < 0:
        raise ValueError("basic salary cannot be negative")
    if service_days < 0 or unpaid_days < 0 or unpaid_days > service_days:
        raise ValueError("service days must be >= unpaid days >= 0")
    counted = service_days - unpaid_days
    years = Decimal(counted) / DAYS_PER_YEAR
    first = min(years, FIRST_YEARS) * DAYS_PER_FIRST_YEAR
    later = max(years - FIRST_YEARS, Decimal(0)) * DAYS_PER_LATER_YEAR
    entitlement = first + later
    cap = basic * CAP_MONTHS
    eligible = counted >= DAYS_PER_YEAR
    # Multiply before dividing: basic x days / 30 stays exact where basic / 30 would not.
    uncapped = basic * entitlement / DAYS_PER_MONTH if eligible else Decimal(0)
    return GratuityWorking(
        basic=basic,
        service_days=counted,
        unpaid_days=unpaid_days,
        years=years,
        entitlement_days=entitlement,
        days_first_years=first,
        days_later_years=later,
        daily_wage=round_money(basic / DAYS_PER_MONTH),
        uncapped=round_money(uncapped),
        cap=round_money(cap),
        amount=round_money(min(uncapped, cap)),
        eligible=eligible,
    )


def gratuity_between(
    basic: object, first_day: date, last_working_day: date, unpaid_days: int = 0
) -> GratuityWorking:
    """Gratuity for continuous service from `first_day` to `last_working_day`, both included."""
    if last_working_day < first_day:
        raise ValueError("the last working day is before the first day of service")
    return gratuity_for_service(basic, (last_working_day - first_day).days + 1, unpaid_days)
