"""The employee list's rows read on the driver equal the session's, value for value; a
search's own page statement reads the same page as the whole list's."""

from __future__ import annotations

import pytest

from grp.api import PAGE_LIMIT, PAGE_OFFSET, TOTAL_OVER, _page_statements
from grp.driver_rows import run_reusable_rows
from grp.tenancy import set_current_department
from modules.hr.services.employees import (
    EmployeeFilters,
    employee_list_rows,
    employee_search_rows,
)


@pytest.fixture
def employees(make_employee, hr_departments):
    """Employees of three nationality categories and two grades in POLICE, one in DM."""
    for number, nationality, grade in (
        (1, "AE", 8),
        (2, "SA", 8),
        (3, "IN", 9),
        (4, "AE", 9),
        (5, "GB", 8),
    ):
        make_employee(number=number, grade=grade, contract=None, **_nationality(nationality))
    make_employee("DM", number=6, contract=None, **_nationality("AE"))
    return hr_departments


def _nationality(code: str) -> dict[str, str]:
    if code != "AE":
        return {"nationality": code}
    # A UAE national's pension scheme and first insured date are required.
    return {
        "nationality": code,
        "pension_scheme": "law_7_1999",
        "first_insured_date": "2015-03-01",
    }


FILTERS = [
    EmployeeFilters(),
    EmployeeFilters(q="test person"),
    EmployeeFilters(q="E0000"),
    EmployeeFilters(nationality_category="gcc"),
    EmployeeFilters(nationality_category="uae", sort="-hire_date"),
    EmployeeFilters(grade=9, sort="grade"),
    EmployeeFilters(status="active", sort="-name_ar"),
]


@pytest.mark.postgres
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: repr(f))
def test_each_filter_reads_the_same_rows_on_the_driver(employees, db_session, filters):
    set_current_department(db_session, employees["POLICE"].id)
    select, values = employee_list_rows(db_session, filters)
    statements = _page_statements(select)
    for limit, offset in ((50, 0), (2, 1), (2, 10)):
        page = {**values, "grp_page_limit": limit, "grp_page_offset": offset}
        for statement in (statements.with_total, statements.page):
            expected = [dict(row) for row in db_session.execute(statement, page).mappings()]
            keys, rows = run_reusable_rows(db_session, statement, page)
            found = [dict(zip(keys, row, strict=True)) for row in rows]
            assert found == expected
            # Same types too (aware UTC datetimes, dates, ints), not just equal values.
            for got, want in zip(found, expected, strict=True):
                assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
                assert got["created_at"].utcoffset().total_seconds() == 0


@pytest.mark.postgres
def test_the_search_answers_the_same_json_either_way(employees, api_as, monkeypatch):
    """The API's answer with rows from the driver and with rows through the session."""
    officer = api_as("hr_officer", "POLICE")
    paths = [
        "/api/v1/hr/employees?q=test",
        "/api/v1/hr/employees?nationality_category=uae&per_page=1&page=2",
        "/api/v1/hr/employees?q=E00003",
        "/api/v1/hr/employees?q=nobody",
    ]
    driven = [officer.get(path).get_json() for path in paths]
    monkeypatch.setattr("grp.driver_rows.run_reusable_rows", lambda *args: None)
    through_session = [officer.get(path).get_json() for path in paths]
    assert driven == through_session
    assert [answer["total"] for answer in driven] == [5, 2, 1, 0]
    assert all(item["name_en"].startswith("Test Person") for item in driven[0]["items"])


def test_list_pages_dumped_by_position_are_the_pages_dumped_from_dicts(
    employees, api_as, monkeypatch
):
    """`paginate(dump_items=...)` dumps the rows by position (`compile_row_dump`); the
    answer is byte for byte the one of dumping each row's dict with the item schema, for
    summaries and whole records, searches and lists, full pages and past the last one."""
    from grp.serialisation import compile_dump

    officer = api_as("hr_officer", "POLICE")
    paths = [
        f"/api/v1/hr/employees?{query}{view}"
        for query in ("q=test", "q=E00003", "q=nobody", "sort=-hire_date", "per_page=2&page=2")
        for view in ("", "&view=full")
    ] + ["/api/v1/hr/employees?q=test&page=9", "/api/v1/hr/employees?page=9"]
    by_position = [officer.get(path) for path in paths]

    def from_dicts(schema, keys):
        dump = compile_dump(schema, many=True)
        return lambda rows: dump([dict(zip(keys, row, strict=True)) for row in rows])

    monkeypatch.setattr("grp.api.compile_row_dump", from_dicts)
    from_dicts_answers = [officer.get(path) for path in paths]
    for path, ours, theirs in zip(paths, by_position, from_dicts_answers, strict=True):
        assert ours.status_code == theirs.status_code == 200, path
        assert ours.data == theirs.data, path
    first = by_position[0].get_json()
    assert first["total"] == 5 and len(first["items"]) == 5
    assert list(first) == ["items", "total", "page", "per_page"]
    assert "emirates_id" not in first["items"][0]  # a summary
    assert "emirates_id" in by_position[1].get_json()["items"][0]  # a whole record


@pytest.mark.postgres
def test_an_employees_detail_answers_the_same_json_either_way(
    employees, api_as, create_user, make_employee, monkeypatch
):
    officer = api_as("hr_officer", "POLICE")
    someone = api_as("employee", "POLICE")
    mine = make_employee(number=7, contract=None, user_id=someone.user.id)
    ids = [row["id"] for row in officer.get("/api/v1/hr/employees").get_json()["items"]]
    paths = [f"/api/v1/hr/employees/{i}" for i in [*ids, 999_999]]

    def answers() -> list[tuple[int, object]]:
        found = [(a.status_code, a.get_json()) for a in map(officer.get, paths)]
        # Self-service: one's own record, and 404 for a colleague's.
        found += [(a.status_code, a.get_json()) for a in map(someone.get, paths[-3:])]
        return found

    driven = answers()
    monkeypatch.setattr("grp.driver_rows.run_reusable_rows", lambda *args: None)
    assert driven == answers()
    assert [status for status, _ in driven] == [200] * 6 + [404, 404, 200, 404]
    assert driven[-2][1]["id"] == mine and driven[-2][1]["grade"] == 8


SEARCHES = [
    EmployeeFilters(q="test person"),
    EmployeeFilters(q="test", sort="grade"),
    EmployeeFilters(q="test", sort="-grade"),
    EmployeeFilters(q="person", sort="-hire_date"),
    EmployeeFilters(q="test", sort="status"),
    EmployeeFilters(q="E0000", sort="-employee_no"),
    EmployeeFilters(q="test", sort="name_ar", nationality_category="uae"),
    EmployeeFilters(q="nobody"),
]


@pytest.mark.parametrize("filters", SEARCHES, ids=lambda f: repr(f))
def test_a_searchs_page_statement_reads_the_pages_rows_and_total(employees, db_session, filters):
    """The page found and counted on ids and sort keys, read whole after (the search's
    own page statement), equals the page cut from the whole rows: rows, order, total."""
    set_current_department(db_session, employees["POLICE"].id)
    select, narrow_page, values = employee_search_rows(
        db_session, filters, limit=PAGE_LIMIT, offset=PAGE_OFFSET, total=TOTAL_OVER
    )
    whole = _page_statements(select).with_total
    for limit, offset in ((50, 0), (2, 1), (1, 3), (2, 10)):
        page = {**values, PAGE_LIMIT: limit, PAGE_OFFSET: offset}
        expected = [dict(row) for row in db_session.execute(whole, page).mappings()]
        found = [dict(row) for row in db_session.execute(narrow_page, page).mappings()]
        assert found == expected
    first = [
        dict(row)
        for row in db_session.execute(
            narrow_page, {**values, PAGE_LIMIT: 1, PAGE_OFFSET: 0}
        ).mappings()
    ]
    matches = len(db_session.execute(select, values).all())
    assert (matches == 0) == (filters.q == "nobody")
    assert [row["grp_total"] for row in first] == ([matches] if matches else [])
