"""The compiled dump (grp.serialisation) gives exactly what marshmallow's dump gives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from marshmallow import Schema, fields, post_dump

from grp.serialisation import FastDumpSchema, compile_dump


class Money(fields.Field):
    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else f"{Decimal(value):.2f}"


class Grade(Schema):
    number = fields.Integer()
    label = fields.String(data_key="name")


class Plain(Schema):
    """Fields a row can be dumped by position: read by key, nothing computed."""

    id = fields.Integer()
    name = fields.String()
    code = fields.String(attribute="employee_no")
    count_text = fields.Integer(as_string=True, attribute="count")
    born = fields.Date()
    seen = fields.DateTime()
    active = fields.Boolean()
    pay = Money()
    grade = fields.Nested(Grade)
    nothing = fields.String()  # no such key: left out, as from the row's dict
    fallback = fields.String(dump_default="n/a")


class Person(Plain):
    """Every kind of field, computed ones too."""

    seen_stamp = fields.DateTime(format="timestamp", attribute="stamp")
    grades = fields.List(fields.Nested(Grade))
    tags = fields.List(fields.String())
    grade_no = fields.Function(lambda obj: len(str(obj)))
    shout = fields.Method("_shout")
    dotted = fields.Integer(attribute="grade.number")
    constant = fields.Constant("GRP")

    def _shout(self, obj: Any) -> str:
        return str(type(obj).__name__).upper()


def person(**changes: Any) -> SimpleNamespace:
    values = {
        "id": 7,
        "name": "Aisha",
        "employee_no": "E00007",
        "born": date(1990, 5, 1),
        "seen": datetime(2026, 11, 29, 10, 30, tzinfo=UTC),
        "stamp": datetime(2026, 11, 29, 10, 30, tzinfo=UTC),
        "count": 12,
        "active": True,
        "pay": 1234567,
        "grade": SimpleNamespace(number=8, label="Grade 8"),
        "grades": [SimpleNamespace(number=8, label="Grade 8")],
        "tags": ["a", 1],
        "fallback": None,
    }
    values.update(changes)
    return SimpleNamespace(**values)


OBJECTS = [
    person(),
    person(name="", born=None, seen=None, pay=None, grade=None, grades=None, tags=None),
    person(grades=[], active=False),
    person(grades=[None, SimpleNamespace(number=9, label="Grade 9")]),
    {"id": 3, "name": "from a dict", "employee_no": "E3", "grade": None},
]


@pytest.mark.parametrize("obj", OBJECTS, ids=["full", "nones", "empties", "none in a list", "dict"])
def test_compiled_dump_equals_marshmallow(obj):
    schema = Person()
    expected = schema.dump(obj)
    assert compile_dump(schema)(obj) == expected
    assert "nothing" not in expected and expected["fallback"] in (None, "n/a")


def test_many_and_page_schemas():
    page = FastDumpSchema.from_dict(
        {"items": fields.List(fields.Nested(Person)), "total": fields.Integer()}
    )()
    plain = Schema.from_dict(
        {"items": fields.List(fields.Nested(Person)), "total": fields.Integer()}
    )()
    data = {"items": OBJECTS[:3], "total": 3}
    assert page.dump(data) == plain.dump(data)
    assert compile_dump(Person(many=True))(OBJECTS[:3]) == Person(many=True).dump(OBJECTS[:3])
    assert compile_dump(Person(), many=True)(OBJECTS[:2]) == Person().dump(OBJECTS[:2], many=True)


def test_only_exclude_and_hooks_are_respected():
    assert compile_dump(Person(only=("id", "name")))(person()) == {"id": 7, "name": "Aisha"}
    assert "pay" not in compile_dump(Person(exclude=("pay",)))(person())

    class Hooked(Person):
        @post_dump
        def envelope(self, data: dict, **kwargs: Any) -> dict:
            return {"wrapped": data["id"]}

    assert compile_dump(Hooked())(person()) == {"wrapped": 7}


def test_the_employee_and_payslip_list_schemas_compile_to_the_same_output():
    # The schemas of the hot list endpoints: any field type they use must be handled.
    from modules.hr.schemas import EmployeeSchema
    from modules.payroll.schemas import MyPayslipSummarySchema

    values = {name: None for name in EmployeeSchema().fields}
    values.update(version_id=3, grade=SimpleNamespace(number=8), nationality_category="uae")
    employee = SimpleNamespace(**values)
    employee.id, employee.name_en, employee.hire_date = 5, "Sara", date(2020, 1, 1)
    # marshmallow's own dump: EmployeeSchema's `dump` is the compiled one.
    assert compile_dump(EmployeeSchema())(employee) == Schema.dump(EmployeeSchema(), employee)
    assert EmployeeSchema().dump(employee) == Schema.dump(EmployeeSchema(), employee)
    values = {name: None for name in MyPayslipSummarySchema().fields}
    values.update(period=date(2026, 11, 1), kind="regular", net=1234500)
    payslip = SimpleNamespace(**values)
    dumped = compile_dump(MyPayslipSummarySchema())(payslip)
    assert dumped == MyPayslipSummarySchema().dump(payslip)
    assert dumped["period"] == "2026-11"


def test_a_database_row_dumps_like_the_object_it_describes():
    """List pages dump rows (`paginate(rows=True)`); missing columns are left out alike."""
    import sqlalchemy as sa

    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(
                sa.literal(3).label("id"),
                sa.literal("from a row").label("name"),
                sa.literal("E3").label("employee_no"),
                sa.literal(None).label("grade"),
            )
        ).one()
    schema = Person()
    assert compile_dump(schema)(row._mapping) == schema.dump(row._mapping)
    assert compile_dump(schema)(row._mapping)["name"] == "from a row"


# --------------------------------------------------------------------------- rows by position


ROW_KEYS = ("id", "name", "employee_no", "count", "born", "seen", "active", "pay", "grade", "extra")
ROWS = [
    (
        7,
        "Aisha",
        "E7",
        12,
        date(1990, 5, 1),
        datetime(2026, 11, 29, tzinfo=UTC),
        True,
        1234567,
        {"number": 8, "label": "Grade 8"},
        "not in the schema",
    ),
    (8, None, None, None, None, None, None, None, None, None),
    (9, b"bytes", "E9", 0, date(2000, 1, 1), None, False, 0, None, 1),
]


@pytest.mark.parametrize("schema", [Plain(), Person(), Plain(only=("id", "born"))], ids=str)
def test_rows_dump_by_position_as_their_dicts_dump(schema):
    from grp.serialisation import compile_row_dump

    as_dicts = [dict(zip(ROW_KEYS, row, strict=True)) for row in ROWS]
    expected = Schema.dump(schema, as_dicts, many=True)
    assert compile_row_dump(schema, ROW_KEYS)(ROWS) == expected
    assert compile_row_dump(schema, ROW_KEYS)([]) == []
    # Another order of the same keys is another shape, dumped alike.
    order = (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
    keys = tuple(ROW_KEYS[i] for i in order)
    rows = [tuple(row[i] for i in order) for row in ROWS]
    assert compile_row_dump(schema, keys)(rows) == expected


def test_a_row_dump_reads_no_dicts_where_it_need_not():
    """Plain fields read the row by position; a schema computing from the whole object
    (Person: Function, Method, a dotted attribute) is given the dicts."""
    from grp.serialisation import compile_row_dump

    longer = [(*row, "a value without a key") for row in ROWS]  # no dict can be made
    assert compile_row_dump(Plain(), ROW_KEYS)(longer)[0]["born"] == "1990-05-01"
    with pytest.raises(ValueError, match="zip"):
        compile_row_dump(Person(), ROW_KEYS)(longer)
    assert compile_row_dump(Person(), ROW_KEYS)(ROWS)[0]["shout"] == "DICT"


def test_a_key_the_row_lacks_named_like_a_dicts_attribute_is_read_from_the_dict():
    from grp.serialisation import compile_row_dump

    class Odd(Plain):
        keys = fields.String()  # not in the row: the dict's method, as marshmallow reads it

    dumped = compile_row_dump(Odd(), ROW_KEYS)(ROWS[:1])[0]
    assert dumped["keys"].startswith("<built-in method keys of dict")
    assert dumped == {**compile_row_dump(Plain(), ROW_KEYS)(ROWS[:1])[0], "keys": dumped["keys"]}
