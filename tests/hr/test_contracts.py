"""Contracts: the band rule, effective-dated versions, contract_in_force, no overlaps."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hr_data import contract_data, employee_data

from grp.errors import ValidationError
from modules.hr.models import Contract, Employee
from modules.hr.services.contracts import (
    contract_history,
    contract_in_force,
    contracts_in_period,
    create_contract_version,
)
from modules.hr.services.employees import create_employee
from modules.hr.services.organisation import pensionable_allowances

BASE = "/api/v1/hr/employees"


def employee(db_session, employee_id: int) -> Employee:
    return db_session.scalar(sa.select(Employee).where(Employee.id == employee_id))


def test_basic_outside_the_band_is_refused_with_the_band_shown(db_session, in_department):
    with in_department("POLICE"):
        with pytest.raises(ValidationError) as refused:
            create_employee(
                db_session,
                employee_data(1),
                department_id=db_session.info["grp_department_id"],
                contract=contract_data(basic_salary="5000.00"),
            )
        db_session.rollback()
        assert refused.value.errors["contract"]["basic_salary"] == [
            "Basic 5,000.00 is outside grade 8 band 2 (9,000.00–14,000.00)."
        ]
        assert db_session.scalar(sa.select(sa.func.count()).select_from(Employee)) == 0


def test_band_message_through_the_api(api_as, make_employee):
    officer = api_as("hr_officer", "POLICE")
    employee_id = make_employee()
    response = officer.post(
        f"{BASE}/{employee_id}/contracts",
        json=contract_data(start_date="2024-01-01", basic_salary="14000.01"),
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "basic_salary": ["Basic 14,000.01 is outside grade 8 band 2 (9,000.00–14,000.00)."]
    }
    # The band's edges are inside.
    ok = officer.post(
        f"{BASE}/{employee_id}/contracts",
        json=contract_data(start_date="2024-01-01", basic_salary="14000.00"),
    )
    assert ok.status_code == 201, ok.get_json()


def test_a_salary_change_is_a_new_version_and_contract_in_force_follows_it(
    db_session, in_department, make_employee
):
    employee_id = make_employee()  # version 1 from 2015-03-01, basic 10,000
    with in_department("POLICE"):
        person = employee(db_session, employee_id)
        raised = create_contract_version(
            db_session,
            person,
            contract_data(start_date="2025-07-01", basic_salary="12500.00"),
        )
        db_session.commit()
        assert raised.version == 2
        history = contract_history(db_session, person)
        assert [c.version for c in history] == [2, 1]
        assert history[1].end_date == date(2025, 6, 30)  # the previous one ends the day before
        assert history[0].end_date is None

        assert contract_in_force(db_session, person, date(2015, 2, 28)) is None  # before hire
        assert contract_in_force(db_session, person, date(2015, 3, 1)).version == 1
        assert contract_in_force(db_session, person, date(2025, 6, 30)).basic_salary == Decimal(
            "10000.00"
        )
        assert contract_in_force(db_session, person, date(2025, 7, 1)).basic_salary == Decimal(
            "12500.00"
        )
        assert contract_in_force(db_session, employee_id, date(2030, 1, 1)).version == 2


@pytest.mark.parametrize("start", ["2015-03-01", "2010-01-01", "2020-01-01"])
def test_a_version_overlapping_or_before_the_latest_is_refused(
    db_session, in_department, make_employee, start
):
    employee_id = make_employee()
    with in_department("POLICE"):
        person = employee(db_session, employee_id)
        create_contract_version(db_session, person, contract_data(start_date="2020-01-02"))
        db_session.commit()
        with pytest.raises(ValidationError) as refused:
            create_contract_version(db_session, person, contract_data(start_date=start))
        db_session.rollback()
        assert "must start after it" in refused.value.errors["start_date"][0]
        assert len(contract_history(db_session, person)) == 2


def test_the_first_contract_cannot_start_before_the_hire_date(
    db_session, in_department, make_employee
):
    employee_id = make_employee(contract=None)
    with in_department("POLICE"):
        with pytest.raises(ValidationError) as refused:
            create_contract_version(
                db_session,
                employee(db_session, employee_id),
                contract_data(start_date="2015-02-28"),
            )
        assert "hire date" in refused.value.errors["start_date"][0]


def test_fixed_term_needs_an_end_and_a_gap_has_no_contract(
    db_session, in_department, make_employee
):
    employee_id = make_employee(contract=None)
    with in_department("POLICE"):
        person = employee(db_session, employee_id)
        with pytest.raises(ValidationError) as refused:
            create_contract_version(db_session, person, contract_data(contract_type="fixed_term"))
        assert "end_date" in refused.value.errors
        create_contract_version(
            db_session,
            person,
            contract_data(contract_type="fixed_term", end_date="2016-02-29"),
        )
        create_contract_version(db_session, person, contract_data(start_date="2016-06-01"))
        db_session.commit()
        assert contract_in_force(db_session, person, date(2016, 2, 29)).version == 1
        assert contract_in_force(db_session, person, date(2016, 4, 1)) is None
        assert contract_in_force(db_session, person, date(2016, 6, 1)).version == 2


def test_a_promotion_moves_the_employee_to_the_new_grade(db_session, in_department, make_employee):
    employee_id = make_employee()
    with in_department("POLICE"):
        person = employee(db_session, employee_id)
        create_contract_version(
            db_session,
            person,
            contract_data(start_date="2024-01-01", grade=10, band=1, basic_salary="12000.00"),
        )
        db_session.commit()
        person = employee(db_session, employee_id)
        assert (person.grade.number, person.band) == (10, 1)
        assert person.version_id == 2  # officers holding the old version get a 409


def test_contracts_in_period_streams_every_overlapping_version(
    db_session, in_department, make_employee
):
    first = make_employee()
    second = make_employee(hire_date="2026-03-15", contract=contract_data(start_date="2026-03-15"))
    make_employee(hire_date="2026-05-01", contract=contract_data(start_date="2026-05-01"))
    with in_department("POLICE"):
        create_contract_version(
            db_session,
            employee(db_session, first),
            contract_data(start_date="2026-03-16", basic_salary="11000.00"),
        )
        db_session.commit()
        march = list(
            contracts_in_period(db_session, date(2026, 3, 1), date(2026, 3, 31), chunk_size=2)
        )
        assert [(c.employee_id, c.version) for c in march] == [(first, 1), (first, 2), (second, 1)]


def test_contract_amounts_are_exact_and_the_pensionable_flags_are_data(
    db_session, in_department, make_employee
):
    employee_id = make_employee(
        contract=contract_data(basic_salary="10000.10", housing_allowance="2500.05")
    )
    with in_department("POLICE"):
        contract = db_session.scalar(sa.select(Contract).where(Contract.employee_id == employee_id))
        assert contract.total_fixed == Decimal("22500.15")
        assert pensionable_allowances(db_session) == {
            "housing",
            "social",
            "children",
            "cost_of_living",
        }


def test_contract_history_through_the_api(api_as, make_employee):
    officer = api_as("hr_officer", "POLICE")
    employee_id = make_employee()
    created = officer.post(
        f"{BASE}/{employee_id}/contracts",
        json=contract_data(start_date="2025-01-01", basic_salary="12000.00"),
    )
    assert created.status_code == 201, created.get_json()
    history = officer.get(f"{BASE}/{employee_id}/contracts").get_json()
    assert [(c["version"], c["start_date"], c["end_date"]) for c in history] == [
        (2, "2025-01-01", None),
        (1, "2015-03-01", "2024-12-31"),
    ]
    assert history[0]["basic_salary"] == "12000.00"
    assert history[0]["total_fixed"] == "24500.00"
    overlap = officer.post(
        f"{BASE}/{employee_id}/contracts", json=contract_data(start_date="2024-06-01")
    )
    assert overlap.status_code == 422
    assert "start_date" in overlap.get_json()["errors"]
