"""API schemas of the HR module (marshmallow).

Schemas check the JSON shape only; the rules (identifiers, bands, dates) live
in the services, whose ValidationError becomes a 422 with the same field names.
Money is a decimal string both ways.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from grp.api import PaginationQuerySchema
from grp.money import CENT, MoneyError, to_decimal
from grp.serialisation import FastDumpSchema
from modules.hr.models import (
    CONTRACT_TYPES,
    DOCUMENT_TYPES,
    NATIONALITY_CATEGORIES,
    STATUSES,
)
from modules.hr.services.employees import SORT_KEYS

ZERO = Decimal("0.00")


class MoneyField(fields.Field):
    """An exact amount: a decimal string (or an integer) in, a decimal string out."""

    default_error_messages = {
        "invalid": 'Send the amount as a decimal string, e.g. "12500.00".',
        "places": "Use at most two decimals (fils).",
    }

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{Decimal(value):.2f}"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, (float, bool)):
            raise self.make_error("invalid")
        try:
            amount = to_decimal(value.strip() if isinstance(value, str) else value)
        except MoneyError as exc:
            raise self.make_error("invalid") from exc
        if amount != amount.quantize(CENT):
            raise self.make_error("places")
        return amount.quantize(CENT)


# --------------------------------------------------------------------------- organisation


class PayBandSchema(Schema):
    band = fields.Integer(dump_only=True)
    min_basic = MoneyField(required=True)
    max_basic = MoneyField(required=True)


class GradeSchema(Schema):
    id = fields.Integer(dump_only=True)
    number = fields.Integer(dump_only=True)
    name_en = fields.String()
    name_ar = fields.String()
    bands = fields.List(fields.Nested(PayBandSchema))


class GradeUpdateSchema(Schema):
    name_en = fields.String()
    name_ar = fields.String()
    bands = fields.List(fields.Nested(PayBandSchema), validate=validate.Length(min=1, max=3))


class AllowanceTypeSchema(Schema):
    code = fields.String(dump_only=True)
    name_en = fields.String()
    name_ar = fields.String()
    pensionable = fields.Boolean()


class OrgUnitSchema(Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(required=True)
    name_en = fields.String(required=True)
    name_ar = fields.String(required=True)
    parent_id = fields.Integer(allow_none=True, load_default=None)
    is_active = fields.Boolean(load_default=True)


class OrgUnitUpdateSchema(OrgUnitSchema):
    """Fields of an org unit to change; all optional."""


class PositionSchema(Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(required=True)
    title_en = fields.String(required=True)
    title_ar = fields.String(required=True)
    org_unit_id = fields.Integer(allow_none=True, load_default=None)
    grade = fields.Function(
        lambda p: p.grade.number if p.grade else None,
        deserialize=lambda value: value,
        allow_none=True,
    )
    is_active = fields.Boolean(load_default=True)


class PositionUpdateSchema(PositionSchema):
    """Fields of a position to change; all optional."""


class AllowanceTypeUpdateSchema(AllowanceTypeSchema):
    """Fields of an allowance type to change; all optional."""


# --------------------------------------------------------------------------- contracts


class ContractInputSchema(Schema):
    """A contract version; `grade` and `band` default to the employee's."""

    start_date = fields.Date(required=True)
    end_date = fields.Date(allow_none=True, load_default=None)
    contract_type = fields.String(load_default="permanent", validate=validate.OneOf(CONTRACT_TYPES))
    grade = fields.Integer(load_default=None, allow_none=True)
    band = fields.Integer(load_default=None, allow_none=True)
    basic_salary = MoneyField(required=True)
    housing_allowance = MoneyField(load_default=ZERO)
    transport_allowance = MoneyField(load_default=ZERO)
    general_allowance = MoneyField(load_default=ZERO)
    social_allowance = MoneyField(load_default=ZERO)
    children_allowance = MoneyField(load_default=ZERO)
    cost_of_living_allowance = MoneyField(load_default=ZERO)
    other_allowance = MoneyField(load_default=ZERO)


class FirstContractSchema(ContractInputSchema):
    """The first contract given with a new employee; it starts on the hire date by default."""

    start_date = fields.Date(load_default=None, allow_none=True)


class ContractSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()
    start_date = fields.Date()
    end_date = fields.Date(allow_none=True)
    contract_type = fields.String()
    grade = fields.Function(lambda c: c.grade.number)
    band = fields.Integer()
    basic_salary = MoneyField()
    housing_allowance = MoneyField()
    transport_allowance = MoneyField()
    general_allowance = MoneyField()
    social_allowance = MoneyField()
    children_allowance = MoneyField()
    cost_of_living_allowance = MoneyField()
    other_allowance = MoneyField()
    total_fixed = MoneyField()
    created_at = fields.DateTime()


# --------------------------------------------------------------------------- employees


class EmployeeSchema(FastDumpSchema):
    """An employee as the API answers it, dumped by a compiled plan (grp/serialisation.py)."""

    id = fields.Integer()
    employee_no = fields.String()
    name_en = fields.String()
    name_ar = fields.String()
    emirates_id = fields.String()
    nationality = fields.String()
    nationality_category = fields.String()
    date_of_birth = fields.Date()
    gender = fields.String()
    marital_status = fields.String()
    children = fields.Integer()
    hire_date = fields.Date()
    pension_scheme = fields.String(allow_none=True)
    first_insured_date = fields.Date(allow_none=True)
    grade = fields.Function(lambda e: e.grade.number)
    band = fields.Integer()
    position_id = fields.Integer(allow_none=True)
    org_unit_id = fields.Integer(allow_none=True)
    manager_id = fields.Integer(allow_none=True)
    iban = fields.String(allow_none=True)
    bank_routing_code = fields.String(allow_none=True)
    wps_person_id = fields.String(allow_none=True)
    work_email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    status = fields.String()
    user_id = fields.Integer(allow_none=True)
    version = fields.Integer(
        attribute="version_id",
        metadata={"description": "Send it back with PATCH; a stale version is answered 409."},
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class EmployeeListItemSchema(EmployeeSchema):
    """An employee dumped from a row (`employee_list_rows`, `find_employee_row`): an
    employee's detail, and the items of a list page with `view=full`. The same fields
    as EmployeeSchema."""

    grade = fields.Integer()


class EmployeeSummarySchema(FastDumpSchema):
    """An item of an employee list or search (the default `view=summary`): who the
    employee is and where they work. The whole record is the employee's detail
    (`GET /employees/{id}`), or the list's items with `view=full`."""

    id = fields.Integer()
    employee_no = fields.String()
    name_en = fields.String()
    name_ar = fields.String()
    status = fields.String()
    grade = fields.Integer(metadata={"description": "Grade number, 1-16"})
    org_unit_id = fields.Integer(allow_none=True)
    position_id = fields.Integer(allow_none=True)
    manager_id = fields.Integer(allow_none=True)
    hire_date = fields.Date()
    work_email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)


class _EmployeeFieldsSchema(Schema):
    """Employee input; types only, the service checks the rules."""

    employee_no = fields.String()
    name_en = fields.String()
    name_ar = fields.String()
    emirates_id = fields.String(metadata={"example": "784-1990-1234567-6"})
    nationality = fields.String(metadata={"description": "ISO 3166-1 alpha-2, e.g. AE"})
    date_of_birth = fields.Date()
    gender = fields.String(metadata={"enum": ["male", "female"]})
    marital_status = fields.String()
    children = fields.Integer()
    hire_date = fields.Date()
    pension_scheme = fields.String(
        allow_none=True, metadata={"enum": ["law_57_2023", "law_7_1999", None]}
    )
    first_insured_date = fields.Date(allow_none=True)
    grade = fields.Integer(metadata={"description": "Grade number, 1-16"})
    band = fields.Integer()
    position_id = fields.Integer(allow_none=True)
    org_unit_id = fields.Integer(allow_none=True)
    manager_id = fields.Integer(allow_none=True)
    iban = fields.String(allow_none=True, metadata={"example": "AE070331234567890123456"})
    bank_routing_code = fields.String(allow_none=True)
    wps_person_id = fields.String(allow_none=True)
    work_email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(STATUSES)})
    user_id = fields.Integer(allow_none=True)


class EmployeeCreateSchema(_EmployeeFieldsSchema):
    contract = fields.Nested(
        FirstContractSchema,
        load_default=None,
        metadata={"description": "The first contract version (optional)"},
    )


class EmployeeUpdateSchema(_EmployeeFieldsSchema):
    version = fields.Integer(
        required=True, metadata={"description": "The `version` you read; 409 if it changed."}
    )

    @validates_schema
    def _something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if set(data) <= {"version"}:
            raise ValidationError("Send at least one field to change.")


class EmployeeQuerySchema(PaginationQuerySchema):
    q = fields.String(
        load_default=None,
        metadata={
            "description": "Words of a name (either language; each must start a word of "
            "the name), or the start of an employee number or Emirates ID (dashes optional)"
        },
    )
    org_unit_id = fields.Integer(load_default=None, metadata={"description": "Includes sub-units"})
    grade = fields.Integer(load_default=None, validate=validate.Range(min=1, max=16))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    nationality_category = fields.String(
        load_default=None, validate=validate.OneOf(NATIONALITY_CATEGORIES)
    )
    sort = fields.String(
        load_default="name_en",
        validate=validate.OneOf([*SORT_KEYS, *(f"-{key}" for key in SORT_KEYS)]),
        metadata={"description": "A key, `-key` for descending"},
    )


#: What a list's items hold: `summary` (EmployeeSummarySchema) or `full` (every field of
#: the record, as its detail answers it).
LIST_VIEWS = ("summary", "full")


class EmployeeListQuerySchema(EmployeeQuerySchema):
    view = fields.String(
        load_default="summary",
        validate=validate.OneOf(LIST_VIEWS),
        metadata={
            "description": "`summary` (default): number, names, status, grade, unit, "
            "position, manager, hire date, work email and mobile; `full`: every field "
            "of the record, as `GET /employees/{id}` answers it"
        },
    )


class ExportQuerySchema(EmployeeQuerySchema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


# --------------------------------------------------------------------------- documents


class DocumentSchema(Schema):
    id = fields.Integer()
    employee_id = fields.Integer()
    doc_type = fields.String()
    number = fields.String(allow_none=True)
    issue_date = fields.Date(allow_none=True)
    expiry_date = fields.Date(allow_none=True)
    file_name = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()


class DocumentUploadSchema(Schema):
    """multipart/form-data: the file and what it is."""

    file = Upload(required=True)
    doc_type = fields.String(required=True, validate=validate.OneOf(DOCUMENT_TYPES))
    number = fields.String(load_default=None)
    # Text, checked by the service: an empty form field means "no date".
    issue_date = fields.String(load_default=None, metadata={"format": "date"})
    expiry_date = fields.String(
        load_default=None,
        metadata={"format": "date", "description": "Needed except for certificates"},
    )


class ExpiringQuerySchema(PaginationQuerySchema):
    days = fields.Integer(load_default=30, validate=validate.Range(min=0, max=3650))


class ExpiringDocumentSchema(DocumentSchema):
    employee_no = fields.Function(lambda d: d.employee.employee_no)
    employee_name_en = fields.Function(lambda d: d.employee.name_en)


# --------------------------------------------------------------------------- import


class ImportUploadSchema(Schema):
    """multipart/form-data: the CSV or XLSX file and the mode."""

    file = Upload(required=True)
    mode = fields.String(
        load_default="dry_run",
        validate=validate.OneOf(["dry_run", "all", "valid_rows"]),
        metadata={
            "description": "dry_run: check only; all: store only if every row is valid; "
            "valid_rows: store the valid rows"
        },
    )


class RowProblemSchema(Schema):
    line = fields.Integer()
    employee_no = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ImportReportSchema(Schema):
    mode = fields.String()
    rows = fields.Integer()
    valid = fields.Integer()
    stored = fields.Integer()
    problems = fields.List(fields.Nested(RowProblemSchema))
