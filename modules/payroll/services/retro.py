"""Retro pay and adjustment runs: paying the difference when a paid month changes.

Approved payslips are immutable (DOMAIN.md); a contract change effective in a
month already paid is settled by difference lines in a later run:

* **Retro pay in a regular run of month M.** For each employee of the run and
  each earlier month P of the look-back (`PAYROLL_RETRO_MONTHS`, default 12)
  in which an approved, posted or paid run paid them, P is recomputed with
  today's contracts, employee facts and rules, and compared component by
  component with what every other run paid for P; the differences become
  lines (`retro`, `retro_deduction`, `retro_employer`) that name the month and
  the component and keep the signed difference.
* **An adjustment run of month M** pays, for each employee, the difference
  between what M should pay now and what the other runs paid for M; only
  employees with a difference get a payslip.

Rules of the comparison:

* "Paid" for (employee, month, component) sums the component's lines of every
  run of that month and the difference lines for that month and component
  from any run, whatever the runs' state, except the run being computed. A
  difference is therefore paid once: an adjustment run, or a later run's retro
  line, counts as paid for the next run, and two open runs never both carry it
  (the second computed sees the first's lines). A run left unapproved holds
  its differences until it is recomputed or approved.
* One-off inputs and loan instalments are taken as paid (never re-derived);
  the settlement of a leaver is HR's current one; unpaid days are those of
  the month's regular payslip.
* Only employees whose contract versions or employee record changed since
  the latest approved regular run that computed them (which corrected its
  whole look-back then), and only the months no run computed since the
  change, are recomputed; two queries per chunk find them. A recomputation
  that finds no difference adds nothing.
* A rule changed after a month was paid is not retroactive by itself: it shows
  only for employees recomputed because of a contract change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from modules.hr.services import contract_versions, contracts_changed_since
from modules.payroll.calculation import (
    RETRO_CODES,
    CalculationError,
    ComponentSpec,
    ContractPart,
    Corrected,
    InputAmount,
    Line,
    PayslipResult,
    amounts_by_code,
    compute_payslip,
    days_in_month,
    difference_lines,
)
from modules.payroll.models import LOCKED_STATES, PayrollRun, Payslip, PayslipLine
from modules.payroll.services.defaults import SETTLEMENT_CODES, difference_component_specs
from modules.payroll.services.inputs import settlement_inputs, settlements_of

if TYPE_CHECKING:  # HR's records as HR's services hand them over (annotations only)
    from modules.hr.models import Contract, Employee

DEFAULT_RETRO_MONTHS = 12
ZERO = Decimal("0.00")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def retro_months() -> int:
    """The look-back of retro pay in months (`PAYROLL_RETRO_MONTHS`; 0 turns it off)."""
    if has_app_context():
        return int(current_app.config.get("PAYROLL_RETRO_MONTHS", DEFAULT_RETRO_MONTHS))
    return DEFAULT_RETRO_MONTHS


def month_end(period: date) -> date:
    return period + timedelta(days=days_in_month(period) - 1)


def add_months(period: date, months: int) -> date:
    index = period.year * 12 + period.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def contract_parts(
    versions: Sequence[Contract], employee: Employee, start: date, end: date
) -> list[ContractPart]:
    """Return the contract versions' amounts and the days each covers in `start`..`end`."""
    parts = []
    for contract in versions:
        first = max(start, contract.start_date, employee.hire_date)
        last = min(end, contract.end_date or end)
        if last < first:
            continue
        amounts: dict[str, Decimal | None] = {"basic": contract.basic_salary}
        amounts.update(contract.allowances())
        parts.append(
            ContractPart(
                amounts=amounts, grade=str(contract.grade.number), days=(last - first).days + 1
            )
        )
    return parts


def difference_targets(specs: Sequence[ComponentSpec]) -> dict[str, ComponentSpec]:
    """Return the components difference lines are paid under (the defaults if missing)."""
    targets = difference_component_specs()
    targets.update({spec.code: spec for spec in specs if spec.code in RETRO_CODES})
    return targets


# --------------------------------------------------------------------------- what was paid


@dataclass
class PaidMonth:
    """What the runs (but the one being computed) paid an employee for a month."""

    amounts: dict[str, Decimal] = field(default_factory=dict)
    # code -> (name_en, name_ar, category) of the component's own lines
    names: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    settled_at: datetime | None = None
    locked: bool = False
    unpaid_days: int | None = None


def paid_months(
    session: Session,
    employee_ids: Sequence[int],
    first: date,
    last: date,
    *,
    exclude_run_id: int,
) -> dict[tuple[int, date], PaidMonth]:
    """Return what was paid to `employee_ids` for each month from `first` to `last`.

    Two queries: the lines summed by employee, month and component (a
    difference line counts for the month and component it corrects, with its
    signed difference), and the unpaid days of the months' regular payslips.
    """
    if not employee_ids:
        return {}
    month = sa.func.coalesce(PayslipLine.retro_period, PayrollRun.period)
    code = sa.func.coalesce(PayslipLine.retro_component, PayslipLine.component_code)
    own = PayslipLine.retro_component.is_(None)

    def fils(column: Any) -> Any:
        return sa.type_coerce(column, sa.BigInteger)

    rows = session.execute(
        sa.select(
            Payslip.employee_id,
            month.label("month"),
            code.label("code"),
            sa.func.sum(fils(sa.func.coalesce(PayslipLine.retro_difference, PayslipLine.amount))),
            sa.func.max(sa.case((own, PayslipLine.name_en))),
            sa.func.max(sa.case((own, PayslipLine.name_ar))),
            sa.func.max(sa.case((own, PayslipLine.category))),
            sa.func.max(PayrollRun.computed_at),
            sa.func.max(
                sa.case(
                    (
                        sa.and_(PayrollRun.state.in_(LOCKED_STATES), PayrollRun.period == month),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .select_from(PayslipLine)
        .join(Payslip, Payslip.id == PayslipLine.payslip_id)
        .join(PayrollRun, PayrollRun.id == PayslipLine.run_id)
        .where(
            Payslip.employee_id.in_(employee_ids),
            PayrollRun.id != exclude_run_id,
            month.between(first, last),
        )
        .group_by(Payslip.employee_id, month, code)
    ).all()
    found: dict[tuple[int, date], PaidMonth] = {}
    for employee_id, period, component, total, name_en, name_ar, category, at, locked in rows:
        period = _as_date(period)
        paid = found.setdefault((employee_id, period), PaidMonth())
        paid.amounts[component] = Decimal(int(total or 0)).scaleb(-2).quantize(Decimal("0.01"))
        if category is not None:
            paid.names[component] = (name_en, name_ar, category)
        at = _as_datetime(at)
        if at is not None and (paid.settled_at is None or at > paid.settled_at):
            paid.settled_at = at
        paid.locked = paid.locked or bool(locked)
    for employee_id, period, days in session.execute(
        sa.select(Payslip.employee_id, PayrollRun.period, Payslip.unpaid_days)
        .join(PayrollRun, PayrollRun.id == Payslip.run_id)
        .where(
            Payslip.employee_id.in_(employee_ids),
            PayrollRun.sequence == 0,
            PayrollRun.id != exclude_run_id,
            PayrollRun.period.between(first, last),
        )
    ):
        paid = found.get((employee_id, _as_date(period)))
        if paid is not None:
            paid.unpaid_days = days
    return found


def _as_date(value: Any) -> date:
    # COALESCE of two dates comes back as text on SQLite.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def corrections(
    specs: Sequence[ComponentSpec], due: Mapping[str, Decimal], paid: PaidMonth | None
) -> list[Corrected]:
    """Pair what is due with what was paid, component by component (display order)."""
    by_code = {spec.code: spec for spec in specs}
    paid_amounts = paid.amounts if paid is not None else {}
    names = paid.names if paid is not None else {}
    order = {spec.code: index for index, spec in enumerate(specs)}
    items = []
    for code in sorted(set(due) | set(paid_amounts), key=lambda c: (order.get(c, 10_000), c)):
        if code in RETRO_CODES:
            continue
        spec = by_code.get(code)
        if spec is not None:
            name_en, name_ar, category = spec.name_en, spec.name_ar, spec.category
        elif code in names:
            name_en, name_ar, category = names[code]
        else:
            continue  # only difference lines of a component that no longer exists
        items.append(
            Corrected(
                code=code,
                name_en=name_en,
                name_ar=name_ar,
                category=category,
                paid=paid_amounts.get(code, ZERO),
                due=due.get(code, ZERO),
            )
        )
    return items


def paid_inputs(paid: PaidMonth | None) -> dict[str, InputAmount]:
    """Return what was paid as "input" amounts, so a recomputation takes them as they were."""
    if paid is None:
        return {}
    return {code: InputAmount(amount) for code, amount in paid.amounts.items() if amount > 0}


def recompute_due(
    specs: Sequence[ComponentSpec],
    parts: Sequence[ContractPart],
    *,
    period: date,
    employee: Employee,
    inputs: Mapping[str, InputAmount],
    unpaid_days: int | Decimal,
) -> tuple[dict[str, Decimal], PayslipResult | None]:
    """Return what `period` pays now by component (nothing without a contract in it)."""
    if not parts:
        return {}, None
    result = compute_payslip(
        specs,
        parts,
        period=period,
        nationality_category=employee.nationality_category,
        pension_scheme=employee.pension_scheme,
        country=employee.nationality,
        unpaid_days=min(Decimal(unpaid_days), sum(p.days for p in parts)),
        inputs=inputs,
        allow_negative_net=True,
    )
    return amounts_by_code(result.lines), result


def with_settlement(
    inputs: dict[str, InputAmount], settlement_inputs: Mapping[str, InputAmount] | None
) -> dict[str, InputAmount]:
    """Replace the settlement amounts in `inputs` by HR's current settlement (or none)."""
    merged = {code: value for code, value in inputs.items() if code not in SETTLEMENT_CODES}
    for code, value in (settlement_inputs or {}).items():
        if code in SETTLEMENT_CODES:
            merged[code] = value
    return merged


# --------------------------------------------------------------------------- retro pay


class RetroPlanner:
    """Finds and computes the retro pay lines of a regular run, a chunk of employees at a time."""

    def __init__(
        self,
        session: Session,
        run: PayrollRun,
        specs: Sequence[ComponentSpec],
        *,
        months: int | None = None,
        settlements: Any = None,
    ) -> None:
        self.session = session
        self.run = run
        self.specs = specs
        self.targets = difference_targets(specs)
        months = retro_months() if months is None else months
        self.first = add_months(run.period, -months)
        self.last = run.period - timedelta(days=1)
        self.since: datetime | None = None
        self._settlements = settlements
        if months <= 0:
            return
        # Nothing to correct without a locked run in the look-back (one query per run).
        times = session.execute(
            sa.select(
                sa.func.min(sa.func.coalesce(PayrollRun.computed_at, PayrollRun.approved_at)),
                sa.func.count(PayrollRun.id),
            ).where(
                PayrollRun.period.between(self.first, self.last),
                PayrollRun.state.in_(LOCKED_STATES),
            )
        ).one()
        if times[1]:
            self.since = _as_datetime(times[0]) or EPOCH

    @property
    def active(self) -> bool:
        return self.since is not None

    def settlements(self) -> Mapping[int, Any]:
        if self._settlements is None:
            self._settlements = settlements_of(self.session, self.first, self.last)
        return self._settlements

    def changed_since(self, employees: Mapping[int, Employee]) -> dict[int, datetime]:
        """Return when each employee of the chunk last changed (contracts or record), if lately."""
        assert self.since is not None
        since = self.since
        changed: dict[int, datetime] = {
            employee_id: _as_datetime(at)
            for employee_id, at in contracts_changed_since(
                self.session, list(employees), since
            ).items()
        }
        for employee in employees.values():
            if employee.updated_at is not None and employee.updated_at >= since:
                changed[employee.id] = max(changed.get(employee.id, since), employee.updated_at)
        return changed

    def last_regular_run(self, employee_ids: Iterable[int]) -> dict[int, datetime]:
        """Return when the latest locked regular run of the look-back computed each employee."""
        wanted = sorted(employee_ids)
        if not wanted:
            return {}
        found = {}
        for employee_id, at in self.session.execute(
            sa.select(Payslip.employee_id, sa.func.max(PayrollRun.computed_at))
            .join(PayrollRun, PayrollRun.id == Payslip.run_id)
            .where(
                Payslip.employee_id.in_(wanted),
                PayrollRun.sequence == 0,
                PayrollRun.state.in_(LOCKED_STATES),
                PayrollRun.period.between(self.first, self.last),
                PayrollRun.computed_at.is_not(None),
            )
            .group_by(Payslip.employee_id)
        ):
            found[employee_id] = _as_datetime(at)
        return found

    def lines_for(
        self, employees: Mapping[int, Employee]
    ) -> tuple[dict[int, list[Line]], dict[int, str]]:
        """Return the retro lines of the chunk's employees, and the errors of those who failed."""
        if not self.active or not employees:
            return {}, {}
        changed = self.changed_since(employees)
        # A regular run that computed an employee after their change has corrected every
        # month of its look-back already: only changes since then are left.
        settled = self.last_regular_run(changed)
        changed = {
            employee_id: at
            for employee_id, at in changed.items()
            if employee_id not in settled or at >= settled[employee_id]
        }
        if not changed:
            return {}, {}
        paid = paid_months(
            self.session, sorted(changed), self.first, self.last, exclude_run_id=self.run.id
        )
        wanted = {
            key: value
            for key, value in paid.items()
            if value.locked and (value.settled_at is None or changed[key[0]] >= value.settled_at)
        }
        if not wanted:
            return {}, {}
        versions = contract_versions(
            self.session, {employee_id for employee_id, _ in wanted}, self.first, self.last
        )
        settlements = self.settlements()
        lines: dict[int, list[Line]] = {}
        errors: dict[int, str] = {}
        for (employee_id, period), paid_month in sorted(wanted.items()):
            employee = employees[employee_id]
            end = month_end(period)
            inputs = paid_inputs(paid_month)
            settlement = settlements.get(employee_id)
            if settlement is not None and period <= settlement.last_working_day <= end:
                inputs = with_settlement(inputs, settlement_inputs(settlement))
            else:
                inputs = with_settlement(inputs, None)
            try:
                due, _result = recompute_due(
                    self.specs,
                    contract_parts(versions.get(employee_id, []), employee, period, end),
                    period=period,
                    employee=employee,
                    inputs=inputs,
                    unpaid_days=paid_month.unpaid_days or 0,
                )
            except CalculationError as exc:
                errors[employee_id] = f"retro {period:%Y-%m}: {exc}"
                continue
            found = difference_lines(period, corrections(self.specs, due, paid_month), self.targets)
            if found:
                lines.setdefault(employee_id, []).extend(found)
        return lines, errors
