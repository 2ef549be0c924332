"""Query strings loaded by GRP's parser (grp.api.QueryArgumentsParser) as webargs does."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from webargs.flaskparser import FlaskParser

from grp.api import PaginationQuerySchema, QueryArgumentsParser, _query_plan
from modules.hr.schemas import EmployeeListQuerySchema, ExportQuerySchema

QUERIES = [
    "",
    "q=ahmed",
    "q=ahmed&q=fatima",  # the first value, as webargs takes it
    "q=",
    "q=%D8%B3%D8%A7%D9%86%D8%AA%D9%88%D8%B3&sort=-name_ar",
    "page=2&per_page=20",
    "page=3&per_page=500&view=full",
    "grade=4&status=active&sort=-grade",
    "org_unit_id=12&nationality_category=gcc&format=xlsx",
    "unknown=1&page=2",
]
BAD_QUERIES = [
    ("per_page=0", "per_page"),
    ("per_page=501", "per_page"),
    ("page=x", "page"),
    ("page=", "page"),
    ("sort=salary", "sort"),
    ("grade=17", "grade"),
    ("view=everything", "view"),
    ("status=retired&page=2", "status"),
]
SCHEMAS = [EmployeeListQuerySchema(), ExportQuerySchema(), PaginationQuerySchema()]


def _parse(app, parser, schema, query):
    """What `parser` answers for `query`: the loaded values, or the error and its data."""
    with app.test_request_context(f"/api/v1/anything?{query}"):
        try:
            return parser.parse(schema, location="query")
        except Exception as error:  # noqa: BLE001 - compared by the tests
            return type(error), getattr(error, "data", None)


def _webargs(app, schema, query):
    return _parse(app, FlaskParser(), schema, query)


def _ours(app, schema, query):
    return _parse(app, QueryArgumentsParser(), schema, query)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: type(s).__name__)
def test_plain_query_schemas_load_as_webargs_loads_them(app, schema):
    assert _query_plan(schema) is not None
    for query in QUERIES:
        assert _ours(app, schema, query) == _webargs(app, schema, query), query


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: type(s).__name__)
def test_bad_values_are_webargs_own_errors(app, schema):
    for query, field in BAD_QUERIES:
        if field not in schema.fields:
            continue
        ours = _ours(app, schema, query)
        assert ours == _webargs(app, schema, query), query
        error_type, data = ours
        assert field in data["messages"]["query"], (query, data)


def test_the_employee_list_answers_a_bad_argument_422_with_the_field(api_as):
    officer = api_as("hr_officer", "POLICE")
    for query, field in BAD_QUERIES:
        answer = officer.get(f"/api/v1/hr/employees?{query}")
        assert answer.status_code == 422, query
        assert field in answer.get_json()["errors"], (query, answer.get_json())


class _Checked(Schema):
    low = fields.Integer()
    high = fields.Integer()

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("low", 0) > data.get("high", 0):
            raise ValidationError("low above high")


class _Listed(Schema):
    ids = fields.List(fields.Integer())


class _Renamed(Schema):
    size = fields.Integer(data_key="page-size")


class _Dated(Schema):
    on = fields.Date()


@pytest.mark.parametrize("schema", [_Checked(), _Listed(), _Renamed(), _Dated()])
def test_other_schemas_are_left_to_webargs(app, schema):
    assert _query_plan(schema) is None
    query = "low=5&high=1&ids=1&ids=2&page-size=3&on=2026-12-07"
    assert _ours(app, schema, query) == _webargs(app, schema, query)


def test_a_required_field_missing_is_webargs_error(app):
    class Needed(Schema):
        code = fields.String(required=True, validate=validate.Length(min=2))

    schema = Needed()
    assert _query_plan(schema) is not None
    for query in ("", "code=x", "code=ab"):
        assert _ours(app, schema, query) == _webargs(app, schema, query), query
    assert _ours(app, schema, "code=ab") == {"code": "ab"}
