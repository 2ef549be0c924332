"""Payroll runs: create, compute (bulk), exclude, approve (maker-checker), and their payslips.

Lifecycle (DOMAIN.md): draft → computed → approved → posted → paid. A run can
be recomputed until it is approved; from then on its payslips are immutable,
which `install_payslip_guards` enforces in the ORM for every code path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from itertools import groupby
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session

from grp.db import utcnow
from grp.errors import ValidationError
from grp.models import User
from grp.money import from_fils
from grp.tenancy import bulk_insert, current_department_id
from modules.hr.services import (
    contracts_in_period,
    employees_by_id,
    unpaid_leave_days_by_employee,
)
from modules.payroll.calculation import (
    CalculationError,
    Line,
    PayslipResult,
    compute_payslip,
    days_in_month,
    difference_lines,
)
from modules.payroll.i18n import _
from modules.payroll.models import (
    LOCKED_STATES,
    RUN_KINDS,
    PayrollRun,
    PayrollRunError,
    Payslip,
    PayslipLine,
)
from modules.payroll.services.components import component_specs
from modules.payroll.services.inputs import (
    month_inputs,
    on_unpaid_leave,
    settlement_inputs,
    settlements_of,
)
from modules.payroll.services.retro import (
    RetroPlanner,
    contract_parts,
    corrections,
    difference_targets,
    month_end,
    paid_inputs,
    paid_months,
    recompute_due,
    with_settlement,
)

if TYPE_CHECKING:
    # HR's records, read through modules.hr.services (type hints only).
    from modules.hr.models import Contract, Employee


#: Execution option with which the run service (only) rewrites a run's payslips.
REWRITE = "payroll_rewrite"
CHUNK_EMPLOYEES = 500


class RunStateError(Exception):
    """The run is not in a state that allows this (API 409)."""


class DuplicateRunError(RunStateError):
    """The department already has a regular run for the month (API 409)."""


class ApprovalRefused(PermissionError):
    """The actor may not approve this run: no permission, or they computed it (API 403)."""


class PayslipLocked(RuntimeError):
    """Something tried to change a payslip of an approved run."""


# --------------------------------------------------------------------------- runs


def parse_period(text: str | date) -> date:
    """Return the 1st of the month named by "YYYY-MM" (or a date); ValidationError otherwise."""
    if isinstance(text, date):
        return text.replace(day=1)
    try:
        year, month = (int(part) for part in str(text).split("-")[:2])
        return date(year, month, 1)
    except (TypeError, ValueError):
        raise ValidationError({"period": [_("A month such as 2026-11.")]}) from None


def create_run(
    session: Session,
    period: str | date,
    kind: str = "regular",
    *,
    inputs: Mapping[str, Any] | None = None,
) -> PayrollRun:
    """Add a draft run of the current department; DuplicateRunError for a second regular run."""
    month = parse_period(period)
    if kind not in RUN_KINDS:
        raise ValidationError({"kind": [_("One of: %(choices)s.", choices=", ".join(RUN_KINDS))]})
    clean_inputs = _clean_inputs(inputs or {})
    if kind == "regular":
        sequence = 0
        if session.scalar(
            sa.select(PayrollRun.id).where(PayrollRun.period == month, PayrollRun.sequence == 0)
        ):
            raise DuplicateRunError(f"a regular run for {month:%Y-%m} exists")
    else:
        last = session.scalar(
            sa.select(sa.func.max(PayrollRun.sequence)).where(PayrollRun.period == month)
        )
        sequence = (last or 0) + 1
    run = PayrollRun(period=month, kind=kind, sequence=sequence, inputs=clean_inputs)
    try:
        # The unique key settles two concurrent creates; a savepoint keeps the caller's work.
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        raise DuplicateRunError(f"a regular run for {month:%Y-%m} exists") from None
    return run


def _clean_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for employee_id, values in inputs.items():
        try:
            days = int((values or {}).get("unpaid_days", 0))
            cleaned[str(int(employee_id))] = {"unpaid_days": days}
        except (TypeError, ValueError, AttributeError):
            raise ValidationError(
                {"inputs": [_("Bad input for employee %(id)s.", id=employee_id)]}
            ) from None
        if days < 0:
            raise ValidationError(
                {"inputs": [_("Negative unpaid days for employee %(id)s.", id=employee_id)]}
            )
    return cleaned


def find_run(session: Session, run_id: int) -> PayrollRun | None:
    return session.scalar(sa.select(PayrollRun).where(PayrollRun.id == run_id))


def set_unpaid_days(session: Session, run: PayrollRun, employee_id: int, days: int) -> None:
    """Record an employee's unpaid leave days for the run's month (before approval)."""
    _require_state(run, ("draft", "computed"))
    inputs = dict(run.inputs or {})
    inputs.update(_clean_inputs({str(employee_id): {"unpaid_days": days}}))
    run.inputs = inputs
    session.flush()


def exclude_employee(session: Session, run: PayrollRun, employee_id: int) -> None:
    """Leave an employee out of the run (their error no longer blocks approval)."""
    _require_state(run, ("draft", "computed"))
    excluded = set(run.excluded_employee_ids or [])
    excluded.add(employee_id)
    run.excluded_employee_ids = sorted(excluded)
    session.execute(
        sa.delete(PayrollRunError).where(
            PayrollRunError.run_id == run.id, PayrollRunError.employee_id == employee_id
        )
    )
    _rewrite(
        session,
        sa.delete(PayslipLine).where(
            PayslipLine.run_id == run.id,
            PayslipLine.payslip_id.in_(
                sa.select(Payslip.id).where(
                    Payslip.run_id == run.id, Payslip.employee_id == employee_id
                )
            ),
        ),
    )
    _rewrite(
        session,
        sa.delete(Payslip).where(Payslip.run_id == run.id, Payslip.employee_id == employee_id),
    )
    _update_totals(session, run)
    session.expire(run, ["errors"])
    session.flush()


def _require_state(run: PayrollRun, states: Iterable[str]) -> None:
    if run.state not in states:
        raise RunStateError(f"the run is {run.state}")


def _rewrite(session: Session, statement: Any) -> None:
    session.execute(statement.execution_options(**{REWRITE: True}))


# --------------------------------------------------------------------------- compute


def compute_run(
    session: Session,
    run: PayrollRun,
    actor: User | None,
    *,
    chunk_employees: int = CHUNK_EMPLOYEES,
    progress: Any = None,
    retro_months: int | None = None,
) -> PayrollRun:
    """Compute every payslip of the run, replacing those of an earlier computation.

    Streams the contracts in force in the month, computes employee by employee,
    and writes payslips and lines in bulk per chunk. An employee who cannot be
    computed is recorded as a run error; the others go on. A regular run adds
    the month's inputs, loans, HR's unpaid leave and leavers' settlements, and
    the retro pay of earlier months (`services.retro`); an adjustment run pays
    only the differences of its own month. Everything is read per chunk in one
    query per kind, never per employee.
    """
    _require_state(run, ("draft", "computed"))
    # Back to draft first: a job commits progress midway, and a half-rewritten run
    # must never look computed (approvable).
    run.state = "draft"
    _rewrite(session, sa.delete(PayslipLine).where(PayslipLine.run_id == run.id))
    _rewrite(session, sa.delete(Payslip).where(Payslip.run_id == run.id))
    session.execute(sa.delete(PayrollRunError).where(PayrollRunError.run_id == run.id))
    computation = _Computation(session, run, retro_months=retro_months)
    excluded = set(run.excluded_employee_ids or [])
    contracts = (
        c
        for c in contracts_in_period(session, computation.start, computation.end)
        if c.employee_id not in excluded
    )
    groups: Iterator[tuple[int, list[Contract]]] = (
        (employee_id, list(group))
        for employee_id, group in groupby(contracts, key=lambda c: c.employee_id)
    )
    if run.kind == "adjustment":
        groups = computation.with_paid_without_contract(groups, excluded)
    for chunk in _chunks(groups, chunk_employees):
        slips, lines, errors = computation.compute_chunk(chunk)
        bulk_insert(session, PayrollRunError, errors)
        ids = dict(
            bulk_insert(session, Payslip, slips, returning=(Payslip.employee_id, Payslip.id))
        )
        bulk_insert(
            session,
            PayslipLine,
            [
                {**row, "payslip_id": ids[employee_id]}
                for employee_id, rows in lines.items()
                for row in rows
            ],
        )
        if progress is not None:
            progress(len(chunk))
    run.state = "computed"
    run.computed_by_id = actor.id if actor is not None else None
    run.computed_at = utcnow()
    run.approved_by_id = None
    _update_totals(session, run)
    session.expire(run, ["errors"])
    session.flush()
    return run


class _Computation:
    """The facts of one run's computation read once, and the computation of a chunk."""

    def __init__(self, session: Session, run: PayrollRun, *, retro_months: int | None) -> None:
        self.session = session
        self.run = run
        self.specs = component_specs(session)
        self.targets = difference_targets(self.specs)
        self.start = run.period
        self.end = month_end(run.period)
        self.manual = run.inputs or {}
        # Few per month: read once for the run (HR answers for the department's month).
        self.settlements = settlements_of(session, self.start, self.end)
        self.on_leave = on_unpaid_leave(session, self.start, self.end)
        self.retro = (
            RetroPlanner(session, run, self.specs, months=retro_months)
            if run.kind == "regular"
            else None
        )

    def with_paid_without_contract(
        self, groups: Iterator[tuple[int, list[Contract]]], excluded: set[int]
    ) -> Iterator[tuple[int, list[Contract]]]:
        """Add the employees paid for the month who no longer have a contract in it."""
        paid = set(
            self.session.scalars(
                sa.select(Payslip.employee_id)
                .join(PayrollRun, PayrollRun.id == Payslip.run_id)
                .where(PayrollRun.period == self.start, PayrollRun.id != self.run.id)
                .distinct()
            )
        )
        seen = set()
        for employee_id, versions in groups:
            seen.add(employee_id)
            yield employee_id, versions
        for employee_id in sorted(paid - seen - excluded):
            yield employee_id, []

    def unpaid_days(
        self, chunk: list[tuple[int, list[Contract]]], employees: dict[int, Employee]
    ) -> dict[int, int | Decimal]:
        """Each chunk employee's unpaid days: the run's manual figure, else HR's approved
        unpaid leave in their contract's part of the month (one HR call for the chunk)."""
        days: dict[int, int | Decimal] = {}
        periods: dict[int, tuple[date, date]] = {}
        for employee_id, versions in chunk:
            manual = self.manual.get(str(employee_id)) or {}
            if "unpaid_days" in manual:
                days[employee_id] = int(manual["unpaid_days"])
            elif employee_id in self.on_leave and versions:
                first = max(self.start, versions[0].start_date, employees[employee_id].hire_date)
                last = min(self.end, versions[-1].end_date or self.end)
                periods[employee_id] = (first, last)
            else:
                days[employee_id] = 0
        if periods:
            days.update(unpaid_leave_days_by_employee(self.session, periods))
        return days

    def compute_chunk(
        self, chunk: list[tuple[int, list[Contract]]]
    ) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]], list[dict[str, Any]]]:
        """Return the payslip rows, line rows (by employee) and error rows of a chunk."""
        employees = employees_by_id(self.session, [eid for eid, _ in chunk])
        slips: list[dict[str, Any]] = []
        lines: dict[int, list[dict[str, Any]]] = {}
        errors: list[dict[str, Any]] = []
        compute = self._adjustments if self.run.kind == "adjustment" else self._regular
        for employee_id, outcome in compute(chunk, employees):
            employee = employees[employee_id]
            if isinstance(outcome, str):
                errors.append(
                    {
                        "run_id": self.run.id,
                        "employee_id": employee_id,
                        "employee_no": employee.employee_no,
                        "message": outcome[:500],
                    }
                )
                continue
            versions, result = outcome
            slips.append(_payslip_row(self.run, employee, versions, result, self.start, self.end))
            lines[employee_id] = [_line_row(self.run, line) for line in result.lines]
        return slips, lines, errors

    def _regular(
        self, chunk: list[tuple[int, list[Contract]]], employees: dict[int, Employee]
    ) -> Iterator[tuple[int, Any]]:
        ids = [employee_id for employee_id, _ in chunk]
        month = month_inputs(self.session, self.start, ids, leavers=self.settlements)
        retro_lines, retro_errors = (
            self.retro.lines_for(employees) if self.retro is not None else ({}, {})
        )
        unpaid = self.unpaid_days(chunk, employees)
        for employee_id, versions in chunk:
            employee = employees[employee_id]
            if employee_id in retro_errors:
                yield employee_id, retro_errors[employee_id]
                continue
            try:
                result = compute_payslip(
                    self.specs,
                    contract_parts(versions, employee, self.start, self.end),
                    period=self.start,
                    nationality_category=employee.nationality_category,
                    pension_scheme=employee.pension_scheme,
                    country=employee.nationality,
                    unpaid_days=unpaid[employee_id],
                    inputs=month.get(employee_id),
                    extra_lines=retro_lines.get(employee_id, ()),
                )
            except CalculationError as exc:
                yield employee_id, str(exc)
                continue
            yield employee_id, (versions, result)

    def _adjustments(
        self, chunk: list[tuple[int, list[Contract]]], employees: dict[int, Employee]
    ) -> Iterator[tuple[int, Any]]:
        ids = [employee_id for employee_id, _ in chunk]
        paid = paid_months(self.session, ids, self.start, self.start, exclude_run_id=self.run.id)
        # Someone never paid for the month (excluded from its run, or hired late) is paid
        # in full, with the month's inputs; for the others inputs and loans stay as paid.
        fresh = [employee_id for employee_id in ids if (employee_id, self.start) not in paid]
        month = month_inputs(self.session, self.start, fresh, leavers=self.settlements)
        fresh_ids = set(fresh)
        unpaid_of_fresh = self.unpaid_days(
            [(eid, versions) for eid, versions in chunk if eid in fresh_ids],
            employees,
        )
        for employee_id, versions in chunk:
            employee = employees[employee_id]
            paid_month = paid.get((employee_id, self.start))
            if paid_month is None:
                inputs = month.get(employee_id, {})
                unpaid = unpaid_of_fresh[employee_id]
            else:
                settlement = self.settlements.get(employee_id)
                inputs = with_settlement(
                    paid_inputs(paid_month),
                    settlement_inputs(settlement) if settlement is not None else None,
                )
                unpaid = paid_month.unpaid_days or 0
            try:
                due, due_result = recompute_due(
                    self.specs,
                    contract_parts(versions, employee, self.start, self.end),
                    period=self.start,
                    employee=employee,
                    inputs=inputs,
                    unpaid_days=unpaid,
                )
            except CalculationError as exc:
                yield employee_id, str(exc)
                continue
            found = difference_lines(
                self.start,
                corrections(self.specs, due, paid_month),
                self.targets,
                label="Adjustment",
                label_ar="تسوية",
            )
            if not found:
                continue  # nothing to correct: no payslip
            result = PayslipResult(
                lines=found,
                days_in_month=days_in_month(self.start),
                paid_days=due_result.paid_days if due_result is not None else 0,
            )
            if result.net < 0:
                # English, like the calculation's other run errors.
                yield (
                    employee_id,
                    f"the difference is a recovery of {-result.net:,.2f}: exclude the employee "
                    "here; the next regular run deducts it",
                )
                continue
            yield employee_id, (versions, result)


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _payslip_row(
    run: PayrollRun,
    employee: Employee,
    versions: list[Contract],
    result: PayslipResult,
    start: date,
    end: date,
) -> dict[str, Any]:
    if versions:
        pay_start = max(start, versions[0].start_date, employee.hire_date)
        pay_end = min(end, versions[-1].end_date or end)
        grade = str(versions[-1].grade.number)
    else:  # an adjustment for someone whose contract no longer covers the month
        pay_start, pay_end, grade = start, end, str(employee.grade.number)
    return {
        "run_id": run.id,
        "employee_id": employee.id,
        "employee_no": employee.employee_no,
        "name_en": employee.name_en,
        "name_ar": employee.name_ar,
        "grade": grade,
        "org_unit_id": employee.org_unit_id,
        "nationality_category": employee.nationality_category,
        "pension_scheme": employee.pension_scheme,
        "iban": employee.iban,
        "bank_routing_code": employee.bank_routing_code,
        "wps_person_id": employee.wps_person_id,
        "pay_start": pay_start,
        "pay_end": max(pay_end, pay_start),
        "days_in_month": result.days_in_month,
        "paid_days": result.paid_days,
        "unpaid_days": result.unpaid_days,
        "total_earnings": result.total_earnings,
        "total_deductions": result.total_deductions,
        "net": result.net,
        "total_employer": result.total_employer,
        "fixed_income": result.income("fixed"),
        "variable_income": result.income("variable"),
    }


def _line_row(run: PayrollRun, line: Line) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "component_code": line.code,
        "name_en": line.name_en,
        "name_ar": line.name_ar,
        "category": line.category,
        "wps_kind": line.wps_kind,
        "display_order": line.display_order,
        "amount": line.amount,
        "rule_kind": line.rule_kind,
        "base": line.base,
        "rate": line.rate,
        "days": line.days,
        "formula": line.formula,
        "explanation": line.explanation,
        "retro_period": line.retro_period,
        "retro_component": line.retro_component,
        "retro_difference": line.retro_difference,
    }


def _update_totals(session: Session, run: PayrollRun) -> None:
    def fils(column: Any) -> Any:
        # Money stores integer fils; summing them is exact on both databases.
        return sa.func.coalesce(sa.func.sum(sa.type_coerce(column, sa.BigInteger)), 0)

    row = session.execute(
        sa.select(
            sa.func.count(Payslip.id),
            fils(Payslip.total_earnings),
            fils(Payslip.total_deductions),
            fils(Payslip.net),
            fils(Payslip.total_employer),
        ).where(Payslip.run_id == run.id)
    ).one()
    run.employee_count = row[0]
    run.total_earnings, run.total_deductions, run.total_net, run.total_employer = (
        from_fils(int(value)) for value in row[1:]
    )


# --------------------------------------------------------------------------- approve


def may_approve(actor: User, department_id: int) -> bool:
    """Return whether `actor` holds payroll.run.approve in the department."""
    from grp.auth.context import registry
    from grp.auth.services import role_codes_in

    return registry().allows(role_codes_in(actor, department_id), "payroll.run.approve")


def approve_run(session: Session, run: PayrollRun, actor: User) -> PayrollRun:
    """Approve a computed run without errors; the approver must not be who computed it."""
    department_id = current_department_id(session)
    if department_id is None or not may_approve(actor, department_id):
        raise ApprovalRefused("approving a payroll run needs payroll.run.approve")
    if run.computed_by_id is not None and run.computed_by_id == actor.id:
        raise ApprovalRefused("the user who computed the run cannot approve it (maker-checker)")
    _require_state(run, ("computed",))
    if session.scalar(
        sa.select(sa.func.count(PayrollRunError.id)).where(PayrollRunError.run_id == run.id)
    ):
        raise RunStateError("the run has employee errors: fix them or exclude the employees")
    run.state = "approved"
    run.approved_by_id = actor.id
    run.approved_at = utcnow()
    session.flush()
    return run


# --------------------------------------------------------------------------- guards


def _locked_run_ids(session: Session, run_ids: set[int]) -> set[int]:
    if not run_ids:
        return set()
    with session.no_autoflush:
        return set(
            session.scalars(
                sa.select(PayrollRun.id).where(
                    PayrollRun.id.in_(run_ids), PayrollRun.state.in_(LOCKED_STATES)
                )
            )
        )


def _refuse_locked_payslip_changes(session: Session, flush_context: Any, instances: Any) -> None:
    run_ids = set()
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, PayrollRun):
            _check_locked_run_change(obj, deleted=obj in session.deleted)
            continue
        if isinstance(obj, (Payslip, PayslipLine)) and (
            obj in session.deleted or session.is_modified(obj)
        ):
            run_ids.add(obj.run_id)
    if _locked_run_ids(session, run_ids):
        raise PayslipLocked("payslips of an approved run cannot be changed")


#: Fields of an approved run that may still change besides its state (forward only):
#: the record of who posted it and who marked it paid.
_RUN_TIMESTAMPS = {"updated_at", "posted_by_id", "posted_at", "paid_by_id", "paid_at"}


def _check_locked_run_change(run: PayrollRun, *, deleted: bool) -> None:
    """Refuse to delete an approved run, or to change it other than moving its state on."""
    attrs = sa.inspect(run).attrs
    history = attrs.state.history
    old_state = history.deleted[0] if history.deleted else run.state
    if old_state not in LOCKED_STATES:
        return
    if deleted:
        raise PayslipLocked("an approved payroll run cannot be deleted")
    order = ("draft", "computed", *LOCKED_STATES)
    if history.has_changes() and order.index(run.state) <= order.index(old_state):
        raise PayslipLocked("an approved payroll run only moves forward (posted, paid)")
    for attr in attrs:
        if attr.key in {"state", *_RUN_TIMESTAMPS} or not hasattr(attr, "history"):
            continue
        if attr.history.has_changes() and attr.key not in ("errors",):
            raise PayslipLocked(f"an approved payroll run cannot change its {attr.key}")


def _refuse_bulk_payslip_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    if state.execution_options.get(REWRITE) or state.local_execution_options.get(REWRITE):
        return
    tables = {getattr(m, "local_table", None) for m in state.all_mappers}
    if Payslip.__table__ in tables or PayslipLine.__table__ in tables:
        raise PayslipLocked("payslips change only through the payroll run service")


def install_payslip_guards() -> None:
    """Refuse changes to payslips of approved runs, and bulk changes outside the service."""
    if not event.contains(Session, "before_flush", _refuse_locked_payslip_changes):
        event.listen(Session, "before_flush", _refuse_locked_payslip_changes)
        event.listen(Session, "do_orm_execute", _refuse_bulk_payslip_changes)
