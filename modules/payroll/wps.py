"""UAE Wage Protection System salary information file (SIF), as DOMAIN.md specifies.

ASCII, comma-separated, no header; one EDR line per employee, one SCR line last:

    EDR,<person id, 14 digits>,<routing code, 9 digits>,<IBAN>,<pay start>,<pay end>,
        <days in period>,<fixed income 0.00>,<variable income 0.00>,<days on unpaid leave>
    SCR,<employer id, 13 digits>,<employer routing code, 9 digits>,<creation date>,
        <creation time HHMM>,<salary month MMYYYY>,<EDR count>,<total>,AED,<employer reference>

Named `EEEEEEEEEEEEEYYMMDDHHMMSS.SIF` (employer id, then creation date and time).
Fixed + variable of an EDR is the employee's net pay, so the SCR total is the
run's net total to the fils. An employee whose bank data is not valid is listed
as an exception instead of producing a file the bank would reject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from grp.identifiers import IdentifierError, parse_uae_iban
from grp.money import round_money, to_decimal

_DIGITS = re.compile(r"^[0-9]+$")
_REFERENCE = re.compile(r"^[A-Za-z0-9 ._/-]{0,35}$")


@dataclass(frozen=True)
class Employer:
    employer_id: str  # up to 13 digits, zero-padded in the file
    routing_code: str  # 9 digits: the employer's bank
    reference: str = ""  # free text for the bank, ASCII


@dataclass(frozen=True)
class SalaryRecord:
    """One employee's pay for the period; `fixed + variable` is their net pay."""

    employee: str  # how the officer knows them (employee number), for exceptions
    person_id: str  # WPS person id (MOHRE), up to 14 digits
    routing_code: str  # the employee's bank, 9 digits
    iban: str
    pay_start: date
    pay_end: date
    fixed: Decimal
    variable: Decimal = Decimal("0.00")
    unpaid_days: int = 0

    @property
    def net(self) -> Decimal:
        return round_money(to_decimal(self.fixed) + to_decimal(self.variable))


@dataclass(frozen=True)
class SifException:
    employee: str
    field: str
    reason: str


@dataclass
class SifFile:
    name: str
    records: list[SalaryRecord] = field(default_factory=list)
    exceptions: list[SifException] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # nothing to pay this month
    content: str | None = None  # None while there are exceptions

    @property
    def total(self) -> Decimal:
        return round_money(sum((r.net for r in self.records), Decimal("0")))


class SifError(ValueError):
    """The employer's own data cannot make a valid file."""


def _digits(value: str, width: int, what: str) -> str:
    value = (value or "").strip()
    if not _DIGITS.match(value) or len(value) > width:
        raise ValueError(f"{what} must be at most {width} digits (0-9)")
    return value.zfill(width)


def _amount(value: Decimal) -> str:
    return f"{round_money(value):.2f}"


def _check_record(record: SalaryRecord) -> list[SifException]:
    problems = []

    def refuse(field_name: str, reason: str) -> None:
        problems.append(SifException(record.employee, field_name, reason))

    try:
        _digits(record.person_id, 14, "the WPS person id")
    except ValueError as exc:
        refuse("wps_person_id", str(exc))
    if not (
        record.routing_code and _DIGITS.match(record.routing_code) and len(record.routing_code) == 9
    ):
        refuse("bank_routing_code", "the bank routing code must be exactly 9 digits")
    try:
        parse_uae_iban(record.iban or "")
    except IdentifierError as exc:
        refuse("iban", str(exc))
    if record.pay_end < record.pay_start:
        refuse("pay_end", "the pay period ends before it starts")
    if record.net < 0:
        refuse("net", "net pay is negative")
    if record.unpaid_days < 0:
        refuse("unpaid_days", "unpaid days cannot be negative")
    return problems


def build_sif(
    employer: Employer,
    records: Iterable[SalaryRecord],
    *,
    salary_month: date,
    created_at: datetime,
    line_end: str = "\r\n",
) -> SifFile:
    """Build the SIF of one payroll run; `content` is None when any record is an exception."""
    try:
        employer_id = _digits(employer.employer_id, 13, "the WPS employer id")
        employer_routing = _digits(employer.routing_code, 9, "the employer's routing code")
    except ValueError as exc:
        raise SifError(str(exc)) from exc
    if len(employer.routing_code.strip()) != 9:
        raise SifError("the employer's routing code must be exactly 9 digits")
    if not _REFERENCE.match(employer.reference):
        raise SifError("the employer reference must be plain ASCII, at most 35 characters")

    sif = SifFile(name=f"{employer_id}{created_at:%y%m%d%H%M%S}.SIF")
    for record in records:
        if record.net == 0:
            sif.skipped.append(record.employee)
            continue
        problems = _check_record(record)
        if problems:
            sif.exceptions.extend(problems)
        else:
            sif.records.append(record)
    if sif.exceptions:
        return sif

    lines = [
        ",".join(
            [
                "EDR",
                record.person_id.strip().zfill(14),
                record.routing_code,
                parse_uae_iban(record.iban),
                f"{record.pay_start:%Y-%m-%d}",
                f"{record.pay_end:%Y-%m-%d}",
                str((record.pay_end - record.pay_start).days + 1),
                _amount(to_decimal(record.fixed)),
                _amount(to_decimal(record.variable)),
                str(record.unpaid_days),
            ]
        )
        for record in sif.records
    ]
    lines.append(
        ",".join(
            [
                "SCR",
                employer_id,
                employer_routing,
                f"{created_at:%Y-%m-%d}",
                f"{created_at:%H%M}",
                f"{salary_month:%m%Y}",
                str(len(sif.records)),
                _amount(sif.total),
                "AED",
                employer.reference,
            ]
        )
    )
    content = line_end.join(lines) + line_end
    content.encode("ascii")  # the bank reads ASCII only; fail here rather than there
    sif.content = content
    return sif
