"""WPS salary information file: parsed line by line as DOMAIN.md describes."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modules.payroll.wps import Employer, SalaryRecord, SifError, build_sif

D = Decimal
EMPLOYER = Employer(employer_id="12345", routing_code="803320101", reference="NOV 2026 PAYROLL")
CREATED = datetime(2026, 11, 28, 14, 5, 9)
MONTH = date(2026, 11, 1)


def record(employee="E001", **changes):
    values = dict(
        employee=employee,
        person_id="12345678",
        routing_code="803320101",
        iban="AE070331234567890123456",
        pay_start=date(2026, 11, 1),
        pay_end=date(2026, 11, 30),
        fixed=D("29590.00"),
        variable=D("0.00"),
        unpaid_days=0,
    )
    values.update(changes)
    return SalaryRecord(**values)


def test_file_name_and_lines_follow_the_format():
    sif = build_sif(
        EMPLOYER,
        [
            record(),
            record(
                "E002",
                iban="AE890570000011000494010",
                fixed=D("7000.00"),
                variable=D("250.50"),
                unpaid_days=2,
                pay_start=date(2026, 11, 16),
            ),
        ],
        salary_month=MONTH,
        created_at=CREATED,
    )
    assert sif.name == "0000000012345261128140509.SIF"
    assert re.fullmatch(r"[0-9]{13}[0-9]{12}\.SIF", sif.name)
    lines = sif.content.split("\r\n")
    assert lines[-1] == ""  # the file ends with a line break
    edr1, edr2, scr = lines[:-1]
    assert edr1 == (
        "EDR,00000012345678,803320101,AE070331234567890123456,2026-11-01,2026-11-30,30,"
        "29590.00,0.00,0"
    )
    fields = edr2.split(",")
    assert fields[0] == "EDR" and len(fields) == 10
    assert fields[4:] == ["2026-11-16", "2026-11-30", "15", "7000.00", "250.50", "2"]
    assert scr == (
        "SCR,0000000012345,803320101,2026-11-28,1405,112026,2,36840.50,AED,NOV 2026 PAYROLL"
    )
    sif.content.encode("ascii")


def test_scr_count_and_total_equal_the_edr_lines():
    records = [record(f"E{i:03d}", fixed=D("1000.01") * i) for i in range(1, 51)]
    sif = build_sif(EMPLOYER, records, salary_month=MONTH, created_at=CREATED)
    lines = sif.content.strip().split("\r\n")
    edrs = [line.split(",") for line in lines if line.startswith("EDR")]
    scr = lines[-1].split(",")
    total = sum(D(e[7]) + D(e[8]) for e in edrs)
    assert int(scr[6]) == len(edrs) == 50
    assert D(scr[7]) == total == sum(r.net for r in records) == sif.total


def test_employees_without_valid_bank_data_are_exceptions_not_a_bad_file():
    sif = build_sif(
        EMPLOYER,
        [
            record("E001"),
            record("E002", iban="AE310333000010767710393"),  # bad checksum
            record("E003", routing_code="12345"),
            record("E004", person_id="12AB"),
        ],
        salary_month=MONTH,
        created_at=CREATED,
    )
    assert sif.content is None
    assert {(e.employee, e.field) for e in sif.exceptions} == {
        ("E002", "iban"),
        ("E003", "bank_routing_code"),
        ("E004", "wps_person_id"),
    }


def test_nothing_to_pay_is_skipped_and_listed():
    sif = build_sif(
        EMPLOYER,
        [record("E001"), record("E002", fixed=D("0.00"))],
        salary_month=MONTH,
        created_at=CREATED,
    )
    assert sif.skipped == ["E002"]
    assert sif.content.count("EDR,") == 1


def test_bad_employer_data_is_refused():
    with pytest.raises(SifError, match="employer id"):
        build_sif(
            Employer("12345678901234", "803320101"),
            [record()],
            salary_month=MONTH,
            created_at=CREATED,
        )
    with pytest.raises(SifError, match="routing code"):
        build_sif(Employer("1", "8033"), [record()], salary_month=MONTH, created_at=CREATED)
    with pytest.raises(SifError, match="ASCII"):
        build_sif(
            Employer("1", "803320101", "رواتب"), [record()], salary_month=MONTH, created_at=CREATED
        )


amounts = st.decimals(min_value=D("0.01"), max_value=D("999999.99"), places=2)


@given(st.lists(st.tuples(amounts, amounts), min_size=1, max_size=60))
@settings(max_examples=60, deadline=None)
def test_the_scr_total_is_the_sum_of_the_nets(pays):
    records = [
        record(f"E{i}", fixed=fixed, variable=variable) for i, (fixed, variable) in enumerate(pays)
    ]
    sif = build_sif(EMPLOYER, records, salary_month=MONTH, created_at=CREATED)
    lines = sif.content.strip().split("\r\n")
    edr_total = sum(D(f[7]) + D(f[8]) for f in (line.split(",") for line in lines[:-1]))
    scr = lines[-1].split(",")
    assert D(scr[7]) == edr_total == sum(fixed + variable for fixed, variable in pays)
    assert int(scr[6]) == len(pays)
