"""Marshmallow schemas of the payroll API (money as decimal strings)."""

from __future__ import annotations

from typing import Any

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


class WpsExceptionSchema(Schema):
    employee = fields.String()
    field = fields.String()
    reason = fields.String()
