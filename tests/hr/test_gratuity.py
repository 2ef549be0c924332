"""End-of-service gratuity (DOMAIN.md): the check value, the thresholds, the cap."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from modules.hr.gratuity import gratuity_between, gratuity_for_service

D = Decimal


def test_basic_10000_exactly_7_years_is_55000():
    working = gratuity_for_service(D("10000.00"), 7 * 365)
    assert working.amount == D("55000.00")
    assert working.entitlement_days == D(5 * 21 + 2 * 30)
    assert working.daily_wage == D("333.33")
    assert not working.capped


def test_none_under_one_year():
    assert gratuity_for_service(D("10000"), 364).amount == D("0.00")
    assert not gratuity_for_service(D("10000"), 364).eligible
    assert gratuity_for_service(D("10000"), 365).amount == D("7000.00")  # 21 days


def test_partial_years_are_pro_rata():
    # 949 days = 2.6 years: 54.6 days of wage at 200.00 a day.
    assert gratuity_for_service(D("6000"), 949).amount == D("10920.00")


def test_unpaid_absence_is_excluded_from_service():
    with_absence = gratuity_for_service(D("10000"), 7 * 365 + 100, unpaid_days=100)
    assert with_absence.amount == D("55000.00")
    assert with_absence.service_days == 7 * 365
    # Unpaid absence can bring service under a year.
    assert gratuity_for_service(D("10000"), 400, unpaid_days=50).amount == D("0.00")


def test_capped_at_24_months_of_basic():
    working = gratuity_for_service(D("10000"), 40 * 365)
    # 5 x 21 + 35 x 30 = 1,155 days = 385,000 uncapped.
    assert working.uncapped == D("385000.00")
    assert working.amount == D("240000.00")
    assert working.capped


def test_from_dates_with_both_days_included():
    first = date(2019, 1, 1)
    last = first + timedelta(days=7 * 365 - 1)
    assert gratuity_between(D("10000.00"), first, last).amount == D("55000.00")
    with pytest.raises(ValueError):
        gratuity_between(D("10000"), first, first - timedelta(days=1))


def test_money_stays_exact():
    with pytest.raises(ValueError):
        gratuity_for_service(10000.0, 7 * 365)
