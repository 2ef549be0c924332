"""Review before approval and payroll reports, read in SQL a chunk of employees at a time.

Review (before an officer approves a run):

* `variance_report`: the run against the previous month's regular run, per
  component (department totals) and per employee (net pay and each component),
  with the changes above a threshold flagged;
* `run_changes`: joiners, leavers and the employees excluded from the run.

Reports (each a header and rows, exported as CSV or XLSX by
`modules.payroll.report_downloads`):

* `register_table`: one row per payslip, one column per component of the run;
* `component_totals_table`: the run's total of each component;
* `org_unit_table`: totals per org unit (the employee's *current* org unit in
  HR: payslips do not record it), with a column per component;
* `pension_table`: pension contributions per scheme (GPSSA Decree-Law 57/2023,
  Law 7/1999, GCC home schemes): contribution salary, employee and employer
  shares, counts;
* `ytd_table`: year to date per employee, the sum of the approved, posted and
  paid runs (regular and adjustment) of a calendar year, per component.

Nothing here loads ORM objects of payslips or lines: queries select the
columns they need, sum money as integer fils in the database (exact on both
databases), and walk employees in chunks of `CHUNK` so memory stays flat for
a 50,000-employee department. Amounts come back as `Decimal` with 2 places.

Variance thresholds (`Thresholds`) are settings: `PAYROLL_VARIANCE_PERCENT`
(`GRP_PAYROLL_VARIANCE_PERCENT`, default 10) and `PAYROLL_VARIANCE_AMOUNT`
(`GRP_PAYROLL_VARIANCE_AMOUNT`, default none). A change is flagged when it is
more than the percentage of the previous amount, or more than the amount
(either one, whichever is set); an amount appearing from nothing is always
flagged when a percentage is set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session, aliased

from grp.errors import ValidationError
from grp.money import from_fils
from modules.hr.services import employee_names, org_unit_names
from modules.payroll.calculation import PENSIONABLE
from modules.payroll.i18n import _
from modules.payroll.models import (
    LOCKED_STATES,
    PayComponent,
    PayrollRun,
    PayRule,
    Payslip,
    PayslipLine,
)
from modules.payroll.wps import Employer, SalaryRecord, SifFile, build_sif

ZERO = Decimal("0.00")
#: Employees (or payslips) read per query.
CHUNK = 1000
DEFAULT_VARIANCE_PERCENT = Decimal("10")
#: The reports of a run, by the name used in URLs.
RUN_REPORTS = ("register", "components", "org-units", "pension")
#: Reports with one row per employee (they need payroll.payslip.read as well).
PER_EMPLOYEE_REPORTS = frozenset({"register"})
TOTAL_COLUMNS = ("total_earnings", "total_deductions", "net", "total_employer")


def _fils(column: Any) -> Any:
    """SUM of a Money column as integer fils (exact on SQLite and PostgreSQL)."""
    return sa.func.coalesce(sa.func.sum(sa.type_coerce(column, sa.BigInteger)), 0)


def _money(fils: Any) -> Decimal:
    return from_fils(int(fils or 0))


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def month_before(period: date) -> date:
    """Return the 1st of the month before `period`."""
    return (
        date(period.year - 1, 12, 1)
        if period.month == 1
        else date(period.year, period.month - 1, 1)
    )


def previous_regular_run(session: Session, run: PayrollRun) -> PayrollRun | None:
    """Return the regular run of the month before `run`'s, once it has payslips (not draft)."""
    return session.scalar(
        sa.select(PayrollRun).where(
            PayrollRun.period == month_before(run.period),
            PayrollRun.sequence == 0,
            PayrollRun.state != "draft",
        )
    )


# --------------------------------------------------------------------------- variance


@dataclass(frozen=True)
class Thresholds:
    """When a change is worth a reviewer's look: more than `percent` % or `amount` AED."""

    percent: Decimal | None = DEFAULT_VARIANCE_PERCENT
    amount: Decimal | None = None

    def flags(self, previous: Decimal, current: Decimal) -> bool:
        difference = current - previous
        if difference == 0:
            return False
        if self.amount is not None and abs(difference) > self.amount:
            return True
        if self.percent is None:
            return False
        return previous == 0 or abs(difference) * 100 > abs(previous) * self.percent


def _setting(name: str) -> Any:
    return current_app.config.get(name) if has_app_context() else None


def parse_threshold(value: Any, field_name: str) -> Decimal | None:
    """Read a threshold ("10", "12.5", "" for none); ValidationError when it is not one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number < 0:
        raise ValidationError({field_name: [_("A number of 0 or more, such as 10 or 2.5.")]})
    return number


def configured_thresholds(
    percent: Any = None, amount: Any = None, *, use_settings: bool = True
) -> Thresholds:
    """Return the thresholds given (query or form), else the settings, else 10 %."""
    if percent is None and use_settings:
        percent = _setting("PAYROLL_VARIANCE_PERCENT")
        if percent is None:
            percent = DEFAULT_VARIANCE_PERCENT
    if amount is None and use_settings:
        amount = _setting("PAYROLL_VARIANCE_AMOUNT")
    return Thresholds(
        percent=parse_threshold(percent, "threshold"), amount=parse_threshold(amount, "amount")
    )


def percent_change(previous: Decimal, current: Decimal) -> Decimal | None:
    """Return the change in percent of `previous`, to 0.1 (None from nothing to something)."""
    if previous == 0:
        return Decimal("0.0") if current == 0 else None
    return ((current - previous) * 100 / previous).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class Change:
    """One amount before and after."""

    previous: Decimal
    current: Decimal
    flagged: bool

    @property
    def difference(self) -> Decimal:
        return self.current - self.previous

    @property
    def percent(self) -> Decimal | None:
        return percent_change(self.previous, self.current)


@dataclass
class ComponentChange(Change):
    code: str = ""
    name_en: str = ""
    name_ar: str = ""
    category: str = ""


@dataclass
class EmployeeVariance(Change):
    """An employee paid in both months whose pay changed: net and the components that moved."""

    employee_id: int = 0
    employee_no: str = ""
    name_en: str = ""
    name_ar: str = ""
    components: list[ComponentChange] = field(default_factory=list)


@dataclass
class VarianceReport:
    run: PayrollRun
    previous: PayrollRun | None
    thresholds: Thresholds
    #: Department totals per component (every employee of either run).
    components: list[ComponentChange]
    #: Totals of the runs: earnings, deductions, net, employer, employee count.
    totals: dict[str, Change]
    #: Employees in both runs with a flagged change (or any change, see `flagged_only`).
    employees: list[EmployeeVariance]
    #: How many employees matched, although `employees` stops at the limit.
    employee_count: int = 0

    @property
    def truncated(self) -> bool:
        return self.employee_count > len(self.employees)


def _component_names(session: Session, run_ids: Iterable[int]) -> dict[str, tuple[str, str, str]]:
    rows = session.execute(
        sa.select(
            PayslipLine.component_code,
            sa.func.max(PayslipLine.name_en),
            sa.func.max(PayslipLine.name_ar),
            sa.func.max(PayslipLine.category),
            sa.func.min(PayslipLine.display_order),
        )
        .where(PayslipLine.run_id.in_(list(run_ids)))
        .group_by(PayslipLine.component_code)
        .order_by(sa.func.min(PayslipLine.display_order), PayslipLine.component_code)
    ).all()
    return {code: (name_en, name_ar, category) for code, name_en, name_ar, category, _ in rows}


def _sum_by_run(run_ids: Sequence[int], column: Any) -> list[Any]:
    return [
        sa.func.coalesce(
            sa.func.sum(
                sa.case(
                    (PayslipLine.run_id == run_id, sa.type_coerce(column, sa.BigInteger)),
                    else_=0,
                )
            ),
            0,
        )
        for run_id in run_ids
    ]


def variance_report(
    session: Session,
    run: PayrollRun,
    thresholds: Thresholds | None = None,
    *,
    flagged_only: bool = True,
    limit: int = 500,
) -> VarianceReport:
    """Compare `run` with the previous month's regular run, flagging changes above thresholds.

    Employees are compared when they are paid in both runs (joiners and
    leavers are `run_changes`' business); each is listed with their net pay and
    the components whose amount changed. With `flagged_only` (the default)
    only employees with a flagged change (net or a component) are listed, up
    to `limit`; `employee_count` counts them all.
    """
    thresholds = thresholds or configured_thresholds()
    previous = previous_regular_run(session, run)
    run_totals = {
        "total_earnings": "total_earnings",
        "total_deductions": "total_deductions",
        "net": "total_net",
        "total_employer": "total_employer",
    }
    totals: dict[str, Change] = {}
    for name, attr in run_totals.items():
        before = getattr(previous, attr) if previous is not None else ZERO
        now = getattr(run, attr)
        totals[name] = Change(before, now, previous is not None and thresholds.flags(before, now))
    count_before = previous.employee_count if previous else 0
    totals["employee_count"] = Change(
        Decimal(count_before),
        Decimal(run.employee_count),
        previous is not None and count_before != run.employee_count,
    )
    report = VarianceReport(run, previous, thresholds, [], totals, [])
    run_ids = [run.id] + ([previous.id] if previous else [])
    names = _component_names(session, run_ids)
    prev_id = previous.id if previous else -1
    current_sum, previous_sum = _sum_by_run([run.id, prev_id], PayslipLine.amount)
    for code, current, before in session.execute(
        sa.select(PayslipLine.component_code, current_sum, previous_sum)
        .where(PayslipLine.run_id.in_(run_ids))
        .group_by(PayslipLine.component_code)
    ):
        name_en, name_ar, category = names.get(code, (code, code, ""))
        before_amount, current_amount = _money(before), _money(current)
        report.components.append(
            ComponentChange(
                before_amount,
                current_amount,
                previous is not None and thresholds.flags(before_amount, current_amount),
                code=code,
                name_en=name_en,
                name_ar=name_ar,
                category=category,
            )
        )
    order = list(names)
    report.components.sort(key=lambda c: order.index(c.code) if c.code in order else len(order))
    if previous is None:
        return report
    for chunk in _chunks(_employees_in_both(session, run.id, previous.id)):
        for entry in _employee_variances(session, run.id, previous.id, chunk, names, thresholds):
            if flagged_only and not (entry.flagged or any(c.flagged for c in entry.components)):
                continue
            if not flagged_only and entry.difference == 0 and not entry.components:
                continue
            report.employee_count += 1
            if len(report.employees) < limit:
                report.employees.append(entry)
    return report


def _employees_in_both(session: Session, run_id: int, previous_id: int) -> list[int]:
    """Ids (ints only) of the employees paid in both runs, by employee number."""
    before = aliased(Payslip)
    return list(
        session.scalars(
            sa.select(Payslip.employee_id)
            .join(
                before,
                sa.and_(before.employee_id == Payslip.employee_id, before.run_id == previous_id),
            )
            .where(Payslip.run_id == run_id)
            .order_by(Payslip.employee_no, Payslip.employee_id)
        )
    )


def _employee_variances(
    session: Session,
    run_id: int,
    previous_id: int,
    employee_ids: Sequence[int],
    names: dict[str, tuple[str, str, str]],
    thresholds: Thresholds,
) -> Iterator[EmployeeVariance]:
    current_sum, previous_sum = _sum_by_run([run_id, previous_id], PayslipLine.amount)
    changes: dict[int, list[ComponentChange]] = defaultdict(list)
    for employee_id, code, current, before in session.execute(
        sa.select(Payslip.employee_id, PayslipLine.component_code, current_sum, previous_sum)
        .join(Payslip, Payslip.id == PayslipLine.payslip_id)
        .where(
            PayslipLine.run_id.in_([run_id, previous_id]),
            Payslip.employee_id.in_(list(employee_ids)),
        )
        .group_by(Payslip.employee_id, PayslipLine.component_code)
    ):
        if current == before:
            continue
        name_en, name_ar, category = names.get(code, (code, code, ""))
        before_amount, current_amount = _money(before), _money(current)
        changes[employee_id].append(
            ComponentChange(
                before_amount,
                current_amount,
                thresholds.flags(before_amount, current_amount),
                code=code,
                name_en=name_en,
                name_ar=name_ar,
                category=category,
            )
        )
    order = list(names)
    before = aliased(Payslip)
    rows = session.execute(
        sa.select(
            Payslip.employee_id,
            Payslip.employee_no,
            Payslip.name_en,
            Payslip.name_ar,
            before.net.label("previous_net"),
            Payslip.net.label("current_net"),
        )
        .join(
            before,
            sa.and_(before.employee_id == Payslip.employee_id, before.run_id == previous_id),
        )
        .where(Payslip.run_id == run_id, Payslip.employee_id.in_(list(employee_ids)))
        .order_by(Payslip.employee_no, Payslip.employee_id)
    )
    for employee_id, number, name_en, name_ar, before_amount, current_amount in rows:
        components = sorted(
            changes.get(employee_id, []),
            key=lambda c: order.index(c.code) if c.code in order else len(order),
        )
        yield EmployeeVariance(
            before_amount,
            current_amount,
            thresholds.flags(before_amount, current_amount),
            employee_id=employee_id,
            employee_no=number,
            name_en=name_en,
            name_ar=name_ar,
            components=components,
        )


# --------------------------------------------------------------------------- joiners, leavers


@dataclass
class PersonRow:
    """An employee named in the changes of a run, with why."""

    employee_id: int
    employee_no: str
    name_en: str
    name_ar: str
    pay_start: date | None = None
    pay_end: date | None = None
    net: Decimal | None = None
    #: "new" (not paid last month), "joined" (pay starts after the 1st), "gone" (paid last
    #: month, not in this run), "leaving" (pay ends before the month's end), "excluded".
    reason: str = ""


@dataclass
class ChangesReport:
    run: PayrollRun
    previous: PayrollRun | None
    joiners: list[PersonRow]
    leavers: list[PersonRow]
    excluded: list[PersonRow]


def _month_end(period: date) -> date:
    following = (
        date(period.year + 1, 1, 1)
        if period.month == 12
        else period.replace(month=period.month + 1)
    )
    return date.fromordinal(following.toordinal() - 1)


def _person(row: Any, reason: str, *, with_pay: bool = True) -> PersonRow:
    employee_id, number, name_en, name_ar, pay_start, pay_end, net = row
    return PersonRow(
        employee_id,
        number,
        name_en,
        name_ar,
        pay_start,
        pay_end,
        net if with_pay else None,
        reason,
    )


def _payslip_people(run_id: int) -> sa.Select:
    return sa.select(
        Payslip.employee_id,
        Payslip.employee_no,
        Payslip.name_en,
        Payslip.name_ar,
        Payslip.pay_start,
        Payslip.pay_end,
        Payslip.net,
    ).where(Payslip.run_id == run_id)


def run_changes(session: Session, run: PayrollRun) -> ChangesReport:
    """List the run's joiners, leavers and excluded employees (with names).

    * joiners: paid in this run and not in the previous month's regular run
      (without a previous run: those whose pay starts after the 1st);
    * leavers: paid in the previous run and not in this one (unless excluded
      from it), or paid in this one up to a day before the month's end;
    * excluded: the employees an officer left out of this run.
    """
    previous = previous_regular_run(session, run)
    month_end = _month_end(run.period)
    joiners: list[PersonRow] = []
    leavers: list[PersonRow] = []
    order = (Payslip.employee_no, Payslip.employee_id)
    if previous is not None:
        other = aliased(Payslip)
        absent = ~sa.exists().where(
            other.run_id == previous.id, other.employee_id == Payslip.employee_id
        )
        for row in session.execute(_payslip_people(run.id).where(absent).order_by(*order)):
            joiners.append(_person(row, "new"))
        gone = ~sa.exists().where(other.run_id == run.id, other.employee_id == Payslip.employee_id)
        # An excluded employee is listed as excluded, not as a leaver.
        kept = Payslip.employee_id.not_in(list(run.excluded_employee_ids or []))
        for row in session.execute(_payslip_people(previous.id).where(gone, kept).order_by(*order)):
            leavers.append(_person(row, "gone", with_pay=False))
    else:
        for row in session.execute(
            _payslip_people(run.id).where(Payslip.pay_start > run.period).order_by(*order)
        ):
            joiners.append(_person(row, "joined"))
    for row in session.execute(
        _payslip_people(run.id).where(Payslip.pay_end < month_end).order_by(*order)
    ):
        leavers.append(_person(row, "leaving"))
    leavers.sort(key=lambda p: (p.employee_no, p.employee_id))
    excluded = [
        PersonRow(employee_id, number, name_en, name_ar, reason="excluded")
        for employee_id, number, name_en, name_ar in employee_names(
            session, run.excluded_employee_ids or []
        )
    ]
    return ChangesReport(run, previous, joiners, leavers, excluded)


# --------------------------------------------------------------------------- tables


@dataclass
class Table:
    """A report: column names, then rows (an iterator: read it once)."""

    name: str
    columns: list[str]
    rows: Iterator[list[Any]]


def _run_codes(session: Session, run_ids: Sequence[int] | sa.Select) -> list[str]:
    """The component codes of the runs' lines, in display order."""
    condition = PayslipLine.run_id.in_(run_ids if isinstance(run_ids, sa.Select) else list(run_ids))
    return list(
        session.scalars(
            sa.select(PayslipLine.component_code)
            .where(condition)
            .group_by(PayslipLine.component_code)
            .order_by(sa.func.min(PayslipLine.display_order), PayslipLine.component_code)
        )
    )


def register_table(session: Session, run: PayrollRun) -> Table:
    """The payroll register: one row per payslip (by employee number), a column per component.

    A component appearing twice on a payslip (a retro line beside the
    month's own) is summed into its column.
    """
    codes = _run_codes(session, [run.id])
    columns = [
        "employee_no",
        "name_en",
        "name_ar",
        "grade",
        "paid_days",
        "unpaid_days",
        *codes,
        *TOTAL_COLUMNS,
    ]
    ids = list(
        session.scalars(
            sa.select(Payslip.id)
            .where(Payslip.run_id == run.id)
            .order_by(Payslip.employee_no, Payslip.id)
        )
    )
    return Table("register", columns, _register_rows(session, ids, codes))


def _register_rows(session: Session, ids: list[int], codes: list[str]) -> Iterator[list[Any]]:
    for chunk in _chunks(ids):
        amounts: dict[int, dict[str, Decimal]] = defaultdict(dict)
        for payslip_id, code, fils in session.execute(
            sa.select(PayslipLine.payslip_id, PayslipLine.component_code, _fils(PayslipLine.amount))
            .where(PayslipLine.payslip_id.in_(list(chunk)))
            .group_by(PayslipLine.payslip_id, PayslipLine.component_code)
        ):
            amounts[payslip_id][code] = _money(fils)
        for row in session.execute(
            sa.select(
                Payslip.id,
                Payslip.employee_no,
                Payslip.name_en,
                Payslip.name_ar,
                Payslip.grade,
                Payslip.paid_days,
                Payslip.unpaid_days,
                Payslip.total_earnings,
                Payslip.total_deductions,
                Payslip.net,
                Payslip.total_employer,
            )
            .where(Payslip.id.in_(list(chunk)))
            .order_by(Payslip.employee_no, Payslip.id)
        ):
            lines = amounts.get(row[0], {})
            yield [*row[1:7], *(lines.get(code) for code in codes), *row[7:]]


def component_totals_table(session: Session, run: PayrollRun) -> Table:
    """Each component's total in the run, and how many payslips carry it."""
    rows = session.execute(
        sa.select(
            PayslipLine.component_code,
            sa.func.max(PayslipLine.name_en),
            sa.func.max(PayslipLine.name_ar),
            sa.func.max(PayslipLine.category),
            sa.func.count(sa.distinct(PayslipLine.payslip_id)),
            _fils(PayslipLine.amount),
        )
        .where(PayslipLine.run_id == run.id)
        .group_by(PayslipLine.component_code)
        .order_by(sa.func.min(PayslipLine.display_order), PayslipLine.component_code)
    ).all()
    return Table(
        "components",
        ["code", "name_en", "name_ar", "category", "employees", "amount"],
        iter([[*row[:5], _money(row[5])] for row in rows]),
    )


def org_unit_table(session: Session, run: PayrollRun) -> Table:
    """Totals per org unit: employees, earnings, deductions, net, employer, each component.

    The org unit is the one the payslip recorded when the run was computed (later
    transfers do not move old runs); employees without one are grouped under an
    empty code.
    """
    codes = _run_codes(session, [run.id])
    unit_key = sa.func.coalesce(Payslip.org_unit_id, 0)
    per_unit = session.execute(
        sa.select(
            unit_key,
            sa.func.count(Payslip.id),
            _fils(Payslip.total_earnings),
            _fils(Payslip.total_deductions),
            _fils(Payslip.net),
            _fils(Payslip.total_employer),
        )
        .where(Payslip.run_id == run.id)
        .group_by(unit_key)
    ).all()
    amounts: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for unit_id, code, fils in session.execute(
        sa.select(unit_key, PayslipLine.component_code, _fils(PayslipLine.amount))
        .join(Payslip, Payslip.id == PayslipLine.payslip_id)
        .where(PayslipLine.run_id == run.id)
        .group_by(unit_key, PayslipLine.component_code)
    ):
        amounts[unit_id][code] = _money(fils)
    units = org_unit_names(session, [row[0] for row in per_unit if row[0]])
    rows = []
    for unit_id, count, *money in per_unit:
        code, name_en, name_ar = units.get(unit_id, ("", "", ""))
        rows.append(
            [
                code,
                name_en,
                name_ar,
                count,
                *(_money(value) for value in money),
                *(amounts[unit_id].get(c) for c in codes),
            ]
        )
    rows.sort(key=lambda row: (row[0] == "", row[0]))
    return Table(
        "org-units",
        ["org_unit_code", "org_unit_name_en", "org_unit_name_ar", "employees", *TOTAL_COLUMNS]
        + codes,
        iter(rows),
    )


def pension_codes(session: Session) -> tuple[set[str], set[str]]:
    """The codes of the pension components: (employee shares, employer shares).

    A pension component is one with a percent rule on the pensionable base
    (the defaults' `pension_*` and `gcc_pension_*`); deductions are the
    employee's share, employer contributions the employer's.
    """
    employee: set[str] = set()
    employer: set[str] = set()
    for code, category, base in session.execute(
        sa.select(PayComponent.code, PayComponent.category, PayRule.base)
        .join(PayRule, PayRule.component_id == PayComponent.id)
        .where(PayRule.kind == "percent")
    ):
        if PENSIONABLE not in [part.strip() for part in (base or "").split(",")]:
            continue
        if category == "deduction":
            employee.add(code)
        elif category == "employer_contribution":
            employer.add(code)
    return employee, employer


def scheme_of(nationality_category: str | None, pension_scheme: str | None) -> str:
    """The scheme a payslip's pension belongs to: the GPSSA law, or "gcc" (home scheme)."""
    if pension_scheme:
        return pension_scheme
    return "gcc" if nationality_category == "gcc" else (nationality_category or "")


def pension_table(session: Session, run: PayrollRun) -> Table:
    """Pension contributions per scheme: employees, contribution salary, both shares, total.

    The contribution salary is the base of the employee's share (the
    pensionable pay, capped as the rule says).
    """
    employee_codes, employer_codes = pension_codes(session)
    codes = sorted(employee_codes | employer_codes)
    per_scheme: dict[str, dict[str, Any]] = {}
    if codes:
        for category, scheme, category_of_line, count, base, amount in session.execute(
            sa.select(
                Payslip.nationality_category,
                Payslip.pension_scheme,
                PayslipLine.category,
                sa.func.count(sa.distinct(Payslip.id)),
                _fils(PayslipLine.base),
                _fils(PayslipLine.amount),
            )
            .join(Payslip, Payslip.id == PayslipLine.payslip_id)
            .where(PayslipLine.run_id == run.id, PayslipLine.component_code.in_(codes))
            .group_by(Payslip.nationality_category, Payslip.pension_scheme, PayslipLine.category)
        ):
            entry = per_scheme.setdefault(
                scheme_of(category, scheme),
                {"employees": 0, "salary": ZERO, "employee": ZERO, "employer": ZERO},
            )
            if category_of_line == "deduction":
                entry["employees"] += count
                entry["salary"] += _money(base)
                entry["employee"] += _money(amount)
            else:
                entry["employer"] += _money(amount)
    rows = [
        [
            scheme,
            entry["employees"],
            entry["salary"],
            entry["employee"],
            entry["employer"],
            entry["employee"] + entry["employer"],
        ]
        for scheme, entry in sorted(per_scheme.items())
    ]
    return Table(
        "pension",
        [
            "scheme",
            "employees",
            "contribution_salary",
            "employee_share",
            "employer_share",
            "total",
        ],
        iter(rows),
    )


def run_report(session: Session, run: PayrollRun, name: str) -> Table:
    """Return the run's report called `name` (one of RUN_REPORTS); KeyError otherwise."""
    builders = {
        "register": register_table,
        "components": component_totals_table,
        "org-units": org_unit_table,
        "pension": pension_table,
    }
    return builders[name](session, run)


# --------------------------------------------------------------------------- year to date


def _ytd_runs(year: int) -> sa.Select:
    return sa.select(PayrollRun.id).where(
        PayrollRun.period >= date(year, 1, 1),
        PayrollRun.period <= date(year, 12, 1),
        PayrollRun.state.in_(LOCKED_STATES),
    )


def ytd_employee_count(session: Session, year: int) -> int:
    return session.scalar(
        sa.select(sa.func.count(sa.distinct(Payslip.employee_id))).where(
            Payslip.run_id.in_(_ytd_runs(year))
        )
    )


def _ytd_employee_ids(
    session: Session, year: int, *, offset: int = 0, limit: int | None = None
) -> list[int]:
    query = (
        sa.select(Payslip.employee_id)
        .where(Payslip.run_id.in_(_ytd_runs(year)))
        .group_by(Payslip.employee_id)
        .order_by(sa.func.max(Payslip.employee_no), Payslip.employee_id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def ytd_table(session: Session, year: int, *, offset: int = 0, limit: int | None = None) -> Table:
    """Year to date per employee: the approved, posted and paid runs of `year`, per component.

    `offset`/`limit` take one page of employees (by employee number) for pages;
    without them every employee, read a chunk at a time.
    """
    codes = _run_codes(session, _ytd_runs(year))
    columns = ["employee_no", "name_en", "name_ar", "payslips", *codes, *TOTAL_COLUMNS]
    ids = _ytd_employee_ids(session, year, offset=offset, limit=limit)
    return Table("ytd", columns, _ytd_rows(session, year, ids, codes))


def _ytd_rows(session: Session, year: int, ids: list[int], codes: list[str]) -> Iterator[list[Any]]:
    runs = _ytd_runs(year)
    for chunk in _chunks(ids):
        amounts: dict[int, dict[str, Decimal]] = defaultdict(dict)
        for employee_id, code, fils in session.execute(
            sa.select(Payslip.employee_id, PayslipLine.component_code, _fils(PayslipLine.amount))
            .join(Payslip, Payslip.id == PayslipLine.payslip_id)
            .where(PayslipLine.run_id.in_(runs), Payslip.employee_id.in_(list(chunk)))
            .group_by(Payslip.employee_id, PayslipLine.component_code)
        ):
            amounts[employee_id][code] = _money(fils)
        # The latest payslip's number and names stand for the employee.
        latest = (
            sa.select(Payslip.employee_id, sa.func.max(Payslip.id).label("payslip_id"))
            .where(Payslip.run_id.in_(runs), Payslip.employee_id.in_(list(chunk)))
            .group_by(Payslip.employee_id)
            .subquery()
        )
        names = {
            employee_id: (number, name_en, name_ar)
            for employee_id, number, name_en, name_ar in session.execute(
                sa.select(
                    Payslip.employee_id, Payslip.employee_no, Payslip.name_en, Payslip.name_ar
                ).join(latest, latest.c.payslip_id == Payslip.id)
            )
        }
        totals = {
            row[0]: row[1:]
            for row in session.execute(
                sa.select(
                    Payslip.employee_id,
                    sa.func.count(Payslip.id),
                    _fils(Payslip.total_earnings),
                    _fils(Payslip.total_deductions),
                    _fils(Payslip.net),
                    _fils(Payslip.total_employer),
                )
                .where(Payslip.run_id.in_(runs), Payslip.employee_id.in_(list(chunk)))
                .group_by(Payslip.employee_id)
            )
        }
        for employee_id in chunk:
            count, *money = totals[employee_id]
            yield [
                *names[employee_id],
                count,
                *(amounts[employee_id].get(code) for code in codes),
                *(_money(value) for value in money),
            ]


# --------------------------------------------------------------------------- WPS


def wps_records(session: Session, run: PayrollRun) -> Iterator[SalaryRecord]:
    """The run's payslips as WPS salary records, by employee number, read a chunk at a time."""
    query = (
        sa.select(
            Payslip.employee_no,
            Payslip.wps_person_id,
            Payslip.bank_routing_code,
            Payslip.iban,
            Payslip.pay_start,
            Payslip.pay_end,
            Payslip.fixed_income,
            Payslip.variable_income,
            Payslip.unpaid_days,
        )
        .where(Payslip.run_id == run.id)
        .order_by(Payslip.employee_no, Payslip.id)
        .execution_options(yield_per=CHUNK)
    )
    for number, person, routing, iban, start, end, fixed, variable, unpaid in session.execute(
        query
    ):
        yield SalaryRecord(
            employee=number,
            person_id=person or "",
            routing_code=routing or "",
            iban=iban or "",
            pay_start=start,
            pay_end=end,
            fixed=fixed,
            variable=variable,
            unpaid_days=unpaid,
        )


def run_sif(session: Session, run: PayrollRun, department: Any, created_at: datetime) -> SifFile:
    """Build the run's WPS file (or its exceptions); SifError when the employer data is bad.

    The caller checks the run is approved (or posted, paid).
    """
    employer = Employer(
        employer_id=department.wps_employer_id or "",
        routing_code=department.bank_routing_code or "",
        reference=f"{run.period:%b %Y} PAYROLL".upper(),
    )
    return build_sif(
        employer, wps_records(session, run), salary_month=run.period, created_at=created_at
    )
