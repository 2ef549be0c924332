"""Marshmallow schemas of the payroll API (money as decimal strings)."""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from grp.api import PaginationQuerySchema
from modules.hr.schemas import MoneyField
from modules.payroll.models import CATEGORIES, RULE_KINDS, RUN_KINDS, WPS_KINDS


class RuleSchema(Schema):
    id = fields.Integer(dump_only=True)
    component_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(RULE_KINDS))
    priority = fields.Integer(load_default=100)
    source = fields.String(allow_none=True)
    base = fields.String(allow_none=True)
    rate = fields.String(allow_none=True)
    cap = MoneyField(allow_none=True)
    prorate_base = fields.Boolean(load_default=False)
    grade_amounts = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    formula = fields.String(allow_none=True)
    nationality_categories = fields.String(allow_none=True)
    pension_schemes = fields.String(allow_none=True)
    is_active = fields.Boolean(load_default=True)


class RuleUpdateSchema(RuleSchema):
    class Meta:
        exclude = ("component_id",)


class ComponentSchema(Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name_en = fields.String(required=True, validate=validate.Length(min=1, max=200))
    name_ar = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    pensionable = fields.Boolean(load_default=False)
    prorated = fields.Boolean(load_default=True)
    wps_kind = fields.String(load_default="fixed", validate=validate.OneOf(WPS_KINDS))
    display_order = fields.Integer(load_default=100)
    is_active = fields.Boolean(load_default=True)
    rules = fields.List(fields.Nested(RuleSchema), dump_only=True)


class ComponentUpdateSchema(Schema):
    name_en = fields.String(validate=validate.Length(min=1, max=200))
    name_ar = fields.String(validate=validate.Length(min=1, max=200))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    pensionable = fields.Boolean()
    prorated = fields.Boolean()
    wps_kind = fields.String(validate=validate.OneOf(WPS_KINDS))
    display_order = fields.Integer()
    is_active = fields.Boolean()


class UnpaidDaysSchema(Schema):
    unpaid_days = fields.Integer(load_default=0, validate=validate.Range(min=0, max=31))


class RunCreateSchema(Schema):
    period = fields.String(required=True, metadata={"example": "2026-11"})
    kind = fields.String(load_default="regular", validate=validate.OneOf(RUN_KINDS))
    inputs = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(UnpaidDaysSchema),
        load_default=dict,
        metadata={"description": 'Inputs by employee id, e.g. {"17": {"unpaid_days": 2}}'},
    )


class RunErrorSchema(Schema):
    employee_id = fields.Integer(allow_none=True)
    employee_no = fields.String(allow_none=True)
    message = fields.String()


class RunSchema(Schema):
    id = fields.Integer()
    period = fields.Method("_period")
    kind = fields.String()
    sequence = fields.Integer()
    state = fields.String()
    employee_count = fields.Integer()
    error_count = fields.Method("_error_count")
    errors = fields.List(fields.Nested(RunErrorSchema))
    excluded_employee_ids = fields.List(fields.Integer(), allow_none=True)
    total_earnings = MoneyField()
    total_deductions = MoneyField()
    total_net = MoneyField()
    total_employer = MoneyField()
    computed_by_id = fields.Integer(allow_none=True)
    approved_by_id = fields.Integer(allow_none=True)

    def _period(self, run: Any) -> str:
        return f"{run.period:%Y-%m}"

    def _error_count(self, run: Any) -> int:
        return len(run.errors)


class ExcludeSchema(Schema):
    employee_id = fields.Integer(required=True)


class UnpaidDaysInputSchema(Schema):
    employee_id = fields.Integer(required=True)
    unpaid_days = fields.Integer(required=True, validate=validate.Range(min=0, max=31))


class ComputeQuerySchema(Schema):
    sync = fields.Boolean(load_default=False)


class JobStartedSchema(Schema):
    job_id = fields.Integer(allow_none=True)
    run = fields.Nested(RunSchema)


class LineSchema(Schema):
    component_code = fields.String()
    name_en = fields.String()
    name_ar = fields.String()
    category = fields.String()
    wps_kind = fields.String()
    amount = MoneyField()
    rule_kind = fields.String()
    base = MoneyField(allow_none=True)
    rate = fields.String(allow_none=True)
    days = fields.String(allow_none=True)
    formula = fields.String(allow_none=True)
    explanation = fields.String(allow_none=True)
    retro_period = fields.Method("_retro_period")
    retro_component = fields.String(allow_none=True)
    retro_difference = MoneyField(allow_none=True)

    def _retro_period(self, line: Any) -> str | None:
        return f"{line.retro_period:%Y-%m}" if line.retro_period else None


class PayslipSummarySchema(Schema):
    id = fields.Integer()
    run_id = fields.Integer()
    employee_id = fields.Integer()
    employee_no = fields.String()
    name_en = fields.String()
    name_ar = fields.String()
    total_earnings = MoneyField()
    total_deductions = MoneyField()
    net = MoneyField()
    total_employer = MoneyField()


class PayslipSchema(PayslipSummarySchema):
    period = fields.Method("_period")
    grade = fields.String(allow_none=True)
    nationality_category = fields.String()
    pension_scheme = fields.String(allow_none=True)
    iban = fields.String(allow_none=True)
    bank_routing_code = fields.String(allow_none=True)
    wps_person_id = fields.String(allow_none=True)
    pay_start = fields.Date()
    pay_end = fields.Date()
    days_in_month = fields.Integer()
    paid_days = fields.Integer()
    unpaid_days = fields.Integer()
    fixed_income = MoneyField()
    variable_income = MoneyField()
    lines = fields.List(fields.Nested(LineSchema))

    def _period(self, payslip: Any) -> str:
        return f"{payslip.run.period:%Y-%m}"


class PayslipQuerySchema(PaginationQuerySchema):
    pass


class MonthField(fields.String):
    """A month (the first day's date) as YYYY-MM."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{value:%Y-%m}"


class MyPayslipSummarySchema(PayslipSummarySchema):
    """One line of an employee's payslip list: the month and the totals, no lines.

    Dumps the rows of `access.own_payslip_rows` (the run's period and kind are
    columns of the row).
    """

    period = MonthField()
    kind = fields.String()
    pay_start = fields.Date()
    pay_end = fields.Date()
    paid_days = fields.Integer()
    unpaid_days = fields.Integer()


class WpsExceptionSchema(Schema):
    employee = fields.String()
    field = fields.String()
    reason = fields.String()


# --------------------------------------------------------------------------- inputs and loans


def _month(value: Any) -> str | None:
    return f"{value:%Y-%m}" if value is not None else None


class PayrollInputCreateSchema(Schema):
    period = fields.String(required=True, metadata={"example": "2026-11"})
    employee_no = fields.String(metadata={"description": "The employee (or employee_id)"})
    employee_id = fields.Integer()
    component = fields.String(required=True, metadata={"example": "overtime"})
    amount = MoneyField(required=True, metadata={"example": "750.00"})
    note = fields.String(load_default="", validate=validate.Length(max=500))


class PayrollInputSchema(Schema):
    id = fields.Integer()
    period = fields.Function(lambda item: _month(item.period))
    employee_id = fields.Integer()
    component_code = fields.String()
    amount = MoneyField()
    note = fields.String()
    source = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class PayrollInputQuerySchema(PaginationQuerySchema):
    period = fields.String(metadata={"example": "2026-11"})
    employee_id = fields.Integer()
    employee_no = fields.String()


class PayrollInputImportSchema(Schema):
    """multipart/form-data: the CSV or XLSX file (employee_no, component, amount, note)."""

    file = Upload(required=True)
    period = fields.String(required=True, metadata={"example": "2026-11"})
    dry_run = fields.Boolean(
        load_default=True, metadata={"description": "Check only (the default); store nothing"}
    )
    valid_only = fields.Boolean(
        load_default=False,
        metadata={"description": "Store the valid rows even if others have errors"},
    )


class PayrollInputRowProblemSchema(Schema):
    line = fields.Integer()
    employee_no = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class PayrollInputImportReportSchema(Schema):
    period = fields.Function(lambda report: _month(report.period))
    mode = fields.String()
    rows = fields.Integer()
    valid = fields.Integer()
    stored = fields.Integer()
    problems = fields.List(fields.Nested(PayrollInputRowProblemSchema))


class PayrollLoanCreateSchema(Schema):
    employee_no = fields.String(metadata={"description": "The employee (or employee_id)"})
    employee_id = fields.Integer()
    principal = MoneyField(required=True, metadata={"example": "12000.00"})
    instalment = MoneyField(metadata={"description": "Monthly amount (or instalments)"})
    instalments = fields.Integer(metadata={"description": "Number of months (or instalment)"})
    first_period = fields.String(required=True, metadata={"example": "2026-11"})
    note = fields.String(load_default="", validate=validate.Length(max=500))


class PayrollLoanSchema(Schema):
    id = fields.Integer()
    employee_id = fields.Integer()
    principal = MoneyField()
    instalment = MoneyField()
    instalment_count = fields.Integer()
    first_period = fields.Function(lambda loan: _month(loan.first_period))
    last_period = fields.Function(lambda loan: _month(loan.last_period))
    note = fields.String()
    is_active = fields.Boolean()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class PayrollLoanQuerySchema(PaginationQuerySchema):
    employee_id = fields.Integer()


# ---------------------------------------------------------------- lifecycle, review, reports


class RunLifecycleSchema(RunSchema):
    """A run with who computed, approved, posted and paid it, and when."""

    computed_at = fields.DateTime(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    posted_by_id = fields.Integer(allow_none=True)
    posted_at = fields.DateTime(allow_none=True)
    paid_by_id = fields.Integer(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)


def _decimal_text(value: Any) -> str | None:
    return None if value is None else f"{value}"


class ChangeSchema(Schema):
    previous = MoneyField()
    current = MoneyField()
    difference = MoneyField()
    percent = fields.Function(
        lambda change: _decimal_text(change.percent),
        allow_none=True,
        metadata={"description": "Change in percent of the previous amount; null from zero"},
    )
    flagged = fields.Boolean()


class ComponentChangeSchema(ChangeSchema):
    code = fields.String()
    name_en = fields.String()
    name_ar = fields.String()
    category = fields.String()


class EmployeeVarianceSchema(ChangeSchema):
    employee_id = fields.Integer()
    employee_no = fields.String()
    name_en = fields.String()
    name_ar = fields.String()
    components = fields.List(fields.Nested(ComponentChangeSchema))


class VarianceQuerySchema(Schema):
    threshold = fields.String(
        metadata={"description": "Flag changes above this percent (default: the setting, 10)"}
    )
    amount = fields.String(
        metadata={"description": "Flag changes above this amount in AED (default: off)"}
    )
    all = fields.Boolean(
        load_default=False,
        metadata={"description": "List every changed employee, not only flagged"},
    )
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=5000))


class VarianceSchema(Schema):
    run_id = fields.Function(lambda report: report.run.id)
    period = fields.Function(lambda report: f"{report.run.period:%Y-%m}")
    previous_run_id = fields.Function(
        lambda report: report.previous.id if report.previous else None, allow_none=True
    )
    threshold_percent = fields.Function(
        lambda report: _decimal_text(report.thresholds.percent), allow_none=True
    )
    threshold_amount = fields.Function(
        lambda report: _decimal_text(report.thresholds.amount), allow_none=True
    )
    totals = fields.Dict(keys=fields.String(), values=fields.Nested(ChangeSchema))
    components = fields.List(fields.Nested(ComponentChangeSchema))
    employees = fields.List(fields.Nested(EmployeeVarianceSchema))
    employee_count = fields.Integer()
    truncated = fields.Boolean()


class PersonRowSchema(Schema):
    employee_id = fields.Integer()
    employee_no = fields.String()
    name_en = fields.String()
    name_ar = fields.String()
    pay_start = fields.Date(allow_none=True)
    pay_end = fields.Date(allow_none=True)
    net = MoneyField(allow_none=True)
    reason = fields.String(
        metadata={"enum": ["new", "joined", "gone", "leaving", "excluded"]},
    )


class ChangesSchema(Schema):
    run_id = fields.Function(lambda report: report.run.id)
    period = fields.Function(lambda report: f"{report.run.period:%Y-%m}")
    previous_run_id = fields.Function(
        lambda report: report.previous.id if report.previous else None, allow_none=True
    )
    joiners = fields.List(fields.Nested(PersonRowSchema))
    leavers = fields.List(fields.Nested(PersonRowSchema))
    excluded = fields.List(fields.Nested(PersonRowSchema))


class YtdQuerySchema(Schema):
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
