"""Employees API: identifiers, field errors, scoping (other department, colleagues), 409, lists."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hr_data import (
    BAD_CHECKSUM_IBANS,
    BAD_EMIRATES_ID,
    BAD_LENGTH_IBAN,
    VALID_EMIRATES_IDS,
    VALID_IBANS,
    contract_data,
    employee_data,
)

from modules.hr.models import Contract, Employee

BASE = "/api/v1/hr/employees"


@pytest.fixture
def officer(api_as, hr_departments):
    return api_as("hr_officer", "POLICE")


def count_employees(db_session, in_department, code="POLICE"):
    with in_department(code):
        return db_session.scalar(sa.select(sa.func.count()).select_from(Employee))


def test_officer_creates_an_employee_with_a_first_contract(officer, db_session, in_department):
    response = officer.post(
        BASE,
        json={**employee_data(1, emirates_id="784199012345676"), "contract": contract_data()},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["emirates_id"] == "784-1990-1234567-6"  # stored normalised
    assert body["grade"] == 8 and body["band"] == 2
    assert body["nationality_category"] == "other"
    assert body["version"] == 1
    with in_department("POLICE"):
        contract = db_session.scalar(sa.select(Contract).where(Contract.employee_id == body["id"]))
        assert str(contract.basic_salary) == "10000.00"
        assert contract.start_date.isoformat() == "2015-03-01"


def test_the_first_contract_starts_on_the_hire_date_by_default(officer):
    contract = {k: v for k, v in contract_data().items() if k != "start_date"}
    response = officer.post(
        BASE, json={**employee_data(1, hire_date="2019-06-02"), "contract": contract}
    )
    assert response.status_code == 201, response.get_json()
    history = officer.get(f"{BASE}/{response.get_json()['id']}/contracts").get_json()
    assert [(c["version"], c["start_date"]) for c in history] == [(1, "2019-06-02")]


@pytest.mark.parametrize("emirates_id", VALID_EMIRATES_IDS)
def test_domain_emirates_ids_are_accepted(officer, emirates_id):
    response = officer.post(BASE, json=employee_data(1, emirates_id=emirates_id))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["emirates_id"] == emirates_id


def test_invalid_emirates_id_is_422_naming_the_field(officer, db_session, in_department):
    response = officer.post(BASE, json=employee_data(1, emirates_id=BAD_EMIRATES_ID))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert list(errors) == ["emirates_id"]
    assert "check digit" in errors["emirates_id"][0]
    assert count_employees(db_session, in_department) == 0


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_domain_ibans_are_accepted(officer, iban):
    response = officer.post(BASE, json=employee_data(1, iban=iban))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["iban"] == iban


@pytest.mark.parametrize("iban", [*BAD_CHECKSUM_IBANS, BAD_LENGTH_IBAN])
def test_invalid_ibans_are_422_naming_the_field(officer, iban):
    response = officer.post(BASE, json=employee_data(1, iban=iban))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert list(errors) == ["iban"]
    reason = "23 characters" if iban == BAD_LENGTH_IBAN else "check digits"
    assert reason in errors["iban"][0]


def test_every_bad_field_is_reported_at_once(officer):
    response = officer.post(
        BASE,
        json={
            **employee_data(
                1,
                emirates_id="123",
                iban="AE00",
                nationality="XX",
                name_ar="Latin only",
                bank_routing_code="12",
                wps_person_id="abc",
            ),
            "contract": contract_data(basic_salary="5000.00"),
        },
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert "basic_salary" in errors["contract"]
    assert {
        "emirates_id",
        "iban",
        "nationality",
        "name_ar",
        "bank_routing_code",
        "wps_person_id",
    } <= set(errors)


def test_money_must_be_a_decimal_string_not_a_float(officer):
    response = officer.post(
        BASE, json={**employee_data(1), "contract": contract_data(basic_salary=10000.5)}
    )
    assert response.status_code == 422
    assert "basic_salary" in response.get_json()["errors"]["contract"]


def test_pension_rules_of_uae_nationals(officer):
    national = employee_data(1, nationality="AE")
    missing = officer.post(BASE, json=national)
    assert missing.status_code == 422
    assert {"pension_scheme", "first_insured_date"} <= set(missing.get_json()["errors"])
    wrong_law = officer.post(
        BASE,
        json={**national, "pension_scheme": "law_7_1999", "first_insured_date": "2024-01-01"},
    )
    assert "law_57_2023" in wrong_law.get_json()["errors"]["pension_scheme"][0]
    ok = officer.post(
        BASE,
        json={**national, "pension_scheme": "law_57_2023", "first_insured_date": "2024-01-01"},
    )
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["nationality_category"] == "uae"
    foreigner = officer.post(BASE, json=employee_data(2, pension_scheme="law_7_1999"))
    assert "pension_scheme" in foreigner.get_json()["errors"]


def test_employee_number_and_emirates_id_are_unique_in_the_department(officer, api_as):
    assert officer.post(BASE, json=employee_data(1)).status_code == 201
    again = officer.post(BASE, json=employee_data(1, employee_no="e00001"))
    assert again.status_code == 422
    assert set(again.get_json()["errors"]) == {"employee_no", "emirates_id"}
    # Another department may have the same numbers: the keys include the department.
    dm_officer = api_as("hr_officer", "DM")
    assert dm_officer.post(BASE, json=employee_data(1)).status_code == 201


def test_references_to_another_departments_grade_or_unit_are_refused(
    officer, api_as, db_session, in_department
):
    dm_officer = api_as("hr_officer", "DM")
    unit = dm_officer.post(
        "/api/v1/hr/org-units", json={"code": "DM-X", "name_en": "DM unit", "name_ar": "وحدة"}
    ).get_json()
    response = officer.post(BASE, json=employee_data(1, org_unit_id=unit["id"]))
    assert response.status_code == 422
    assert "org_unit_id" in response.get_json()["errors"]


def test_other_departments_employee_is_404(officer, api_as, make_employee):
    dm_employee = make_employee("DM")
    for method in ("get", "patch"):
        response = getattr(officer, method)(
            f"{BASE}/{dm_employee}", json={"version": 1, "children": 1}
        )
        assert response.status_code == 404, method
    assert officer.get(f"{BASE}/{dm_employee}/contracts").status_code == 404
    assert officer.get(f"{BASE}/{dm_employee}/documents").status_code == 404
    assert officer.post(f"{BASE}/{dm_employee}/contracts", json=contract_data()).status_code == 404
    listed = officer.get(BASE).get_json()
    assert dm_employee not in [e["id"] for e in listed["items"]]


def test_an_employee_sees_only_themselves(api_as, create_user, api_client, make_employee):
    me = create_user("police.me", roles=[("POLICE", "employee")])
    mine = make_employee(user_id=me.id)
    colleague = make_employee()
    client = api_client(me, "POLICE")
    assert client.get(f"{BASE}/{colleague}").status_code == 404
    assert client.get(f"{BASE}/{colleague}/contracts").status_code == 404
    assert client.get(f"{BASE}/{colleague}/documents").status_code == 404
    assert client.get(BASE).status_code == 403  # the list is for officers
    own = client.get("/api/v1/me")
    assert own.status_code == 200
    assert own.get_json()["id"] == mine
    assert client.get(f"{BASE}/{mine}").status_code == 200
    assert client.get(f"{BASE}/{mine}/contracts").get_json()[0]["basic_salary"] == "10000.00"
    assert (
        client.patch(f"{BASE}/{mine}", json={"version": 1, "mobile": "+971500000000"}).status_code
        == 403
    )


def test_me_is_404_without_a_linked_record(api_as, hr_departments):
    assert api_as("employee", "POLICE").get("/api/v1/me").status_code == 404


def test_patch_updates_and_bumps_the_version(officer, make_employee):
    employee_id = make_employee()
    response = officer.patch(
        f"{BASE}/{employee_id}", json={"version": 1, "mobile": "050 123 4567", "children": 3}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["mobile"] == "0501234567" and body["children"] == 3
    assert body["version"] == 2


def test_a_stale_edit_is_409(officer, make_employee):
    employee_id = make_employee()
    first = officer.patch(f"{BASE}/{employee_id}", json={"version": 1, "children": 3})
    assert first.status_code == 200
    stale = officer.patch(f"{BASE}/{employee_id}", json={"version": 1, "children": 4})
    assert stale.status_code == 409
    assert stale.mimetype == "application/problem+json"
    assert officer.get(f"{BASE}/{employee_id}").get_json()["children"] == 3


def test_patch_needs_the_version_and_a_change(officer, make_employee):
    employee_id = make_employee()
    assert (
        "version"
        in officer.patch(f"{BASE}/{employee_id}", json={"children": 1}).get_json()["errors"]
    )
    assert officer.patch(f"{BASE}/{employee_id}", json={"version": 1}).status_code == 422


def test_grade_changes_through_a_contract_version_once_a_contract_exists(officer, make_employee):
    employee_id = make_employee()
    response = officer.patch(f"{BASE}/{employee_id}", json={"version": 1, "grade": 9})
    assert response.status_code == 422
    assert "new contract version" in response.get_json()["errors"]["grade"][0]


def test_manager_must_not_make_a_loop(officer, make_employee):
    boss = make_employee()
    report = make_employee(manager_id=boss)
    loop = officer.patch(f"{BASE}/{boss}", json={"version": 1, "manager_id": report})
    assert loop.status_code == 422
    assert "manager_id" in loop.get_json()["errors"]
    itself = officer.patch(f"{BASE}/{boss}", json={"version": 1, "manager_id": boss})
    assert itself.status_code == 422


def test_user_link_must_hold_a_role_here_and_be_unique(officer, create_user, make_employee):
    outsider = create_user("dm.only", roles=[("DM", "employee")])
    insider = create_user("police.x", roles=[("POLICE", "employee")])
    first = make_employee()
    second = make_employee()
    refused = officer.patch(f"{BASE}/{first}", json={"version": 1, "user_id": outsider.id})
    assert "user_id" in refused.get_json()["errors"]
    ok = officer.patch(f"{BASE}/{first}", json={"version": 1, "user_id": insider.id})
    assert ok.status_code == 200
    taken = officer.patch(f"{BASE}/{second}", json={"version": 1, "user_id": insider.id})
    assert "already linked" in taken.get_json()["errors"]["user_id"][0]


def test_employee_endpoints_need_their_permissions(api_as, hr_departments):
    payroll = api_as("payroll_officer", "POLICE")
    assert payroll.get(BASE).status_code == 403
    assert payroll.post(BASE, json=employee_data(1)).status_code == 403


# --------------------------------------------------------------------------- list


@pytest.fixture
def staff(make_employee):
    """Six employees with distinct names, grades, statuses and nationalities."""
    return {
        "aisha": make_employee(
            number=1,
            name_en="Aisha Al Mansoori",
            name_ar="عائشة المنصوري",
            nationality="AE",
            pension_scheme="law_7_1999",
            first_insured_date="2015-03-01",
            emirates_id="784-1990-1234567-6",
        ),
        "bilal": make_employee(
            number=2, name_en="Bilal Qureshi", name_ar="بلال قريشي", nationality="PK"
        ),
        "carla": make_employee(
            number=3,
            name_en="Carla Santos",
            name_ar="كارلا سانتوس",
            nationality="PH",
            status="suspended",
        ),
        "dana": make_employee(
            number=4,
            name_en="Dana Haddad",
            name_ar="دانة حداد",
            nationality="SA",
            grade=4,
            band=1,
            contract=None,
        ),
        "emad": make_employee(
            number=5, name_en="Emad Hassan", name_ar="عماد حسن", nationality="EG"
        ),
        "fahad": make_employee(
            number=6, name_en="Fahad Al Kuwari", name_ar="فهد الكواري", nationality="QA"
        ),
    }


def names(response):
    assert response.status_code == 200, response.get_json()
    return [item["name_en"].split()[0].lower() for item in response.get_json()["items"]]


def test_list_searches_names_numbers_and_emirates_ids(officer, staff):
    assert names(officer.get(f"{BASE}?q=santos")) == ["carla"]
    assert names(officer.get(f"{BASE}?q=المنصوري")) == ["aisha"]
    assert names(officer.get(f"{BASE}?q=e00002")) == ["bilal"]
    assert names(officer.get(f"{BASE}?q=784199012345676")) == ["aisha"]
    assert names(officer.get(f"{BASE}?q=784-1990-1234567-6")) == ["aisha"]
    assert names(officer.get(f"{BASE}?q=7841990")) == ["aisha"]
    assert names(officer.get(f"{BASE}?q=100%25")) == []  # LIKE wildcards are literal


def test_list_filters_by_grade_status_and_nationality_category(officer, staff):
    assert names(officer.get(f"{BASE}?grade=4")) == ["dana"]
    assert names(officer.get(f"{BASE}?status=suspended")) == ["carla"]
    assert names(officer.get(f"{BASE}?nationality_category=uae")) == ["aisha"]
    assert names(officer.get(f"{BASE}?nationality_category=gcc")) == ["dana", "fahad"]
    assert names(officer.get(f"{BASE}?nationality_category=other&status=active")) == [
        "bilal",
        "emad",
    ]
    assert officer.get(f"{BASE}?nationality_category=martian").status_code == 422


def test_list_filters_by_org_unit_including_sub_units(officer, staff):
    parent = officer.post(
        "/api/v1/hr/org-units", json={"code": "OPS", "name_en": "Operations", "name_ar": "العمليات"}
    ).get_json()
    child = officer.post(
        "/api/v1/hr/org-units",
        json={"code": "OPS-1", "name_en": "Field", "name_ar": "الميدان", "parent_id": parent["id"]},
    ).get_json()
    for key, unit in (("bilal", parent), ("emad", child)):
        assert (
            officer.patch(
                f"{BASE}/{staff[key]}", json={"version": 1, "org_unit_id": unit["id"]}
            ).status_code
            == 200
        )
    assert names(officer.get(f"{BASE}?org_unit_id={parent['id']}")) == ["bilal", "emad"]
    assert names(officer.get(f"{BASE}?org_unit_id={child['id']}")) == ["emad"]


def test_list_sorts_and_pages(officer, staff):
    assert names(officer.get(f"{BASE}?sort=-name_en&per_page=2")) == ["fahad", "emad"]
    page2 = officer.get(f"{BASE}?sort=-name_en&per_page=2&page=2").get_json()
    assert [i["name_en"].split()[0].lower() for i in page2["items"]] == ["dana", "carla"]
    assert page2["total"] == 6 and page2["page"] == 2 and page2["per_page"] == 2
    assert names(officer.get(f"{BASE}?sort=grade"))[0] == "dana"
    assert names(officer.get(f"{BASE}?sort=employee_no")) == [
        "aisha",
        "bilal",
        "carla",
        "dana",
        "emad",
        "fahad",
    ]
    assert officer.get(f"{BASE}?sort=password").status_code == 422


def test_employee_changes_are_audited(officer, make_employee, db_session):
    from grp.models import AuditEntry

    employee_id = make_employee()
    officer.patch(f"{BASE}/{employee_id}", json={"version": 1, "children": 3})
    entry = db_session.scalar(
        sa.select(AuditEntry).where(AuditEntry.entity == "Employee", AuditEntry.action == "update")
    )
    assert entry.entity_id == str(employee_id)
    assert entry.before["children"] == 2 and entry.after["children"] == 3
    assert entry.actor_name == officer.user.username


def test_a_save_between_read_and_write_is_caught_at_flush(db_session, in_department, make_employee):
    """Two officers read version 1; the second write finds the row changed (StaleDataError)."""
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.exc import StaleDataError

    from grp.db import db
    from grp.tenancy import set_current_department
    from modules.hr.services.employees import update_employee

    employee_id = make_employee()
    with in_department("POLICE"):
        department_id = db_session.info["grp_department_id"]
        mine = db_session.scalar(sa.select(Employee).where(Employee.id == employee_id))
        with Session(db.engine) as other:
            set_current_department(other, department_id)
            theirs = other.scalar(sa.select(Employee).where(Employee.id == employee_id))
            update_employee(
                other, theirs, {"children": 5}, expected_version=1, department_id=department_id
            )
            other.commit()
        with pytest.raises(StaleDataError):
            update_employee(
                db_session, mine, {"children": 1}, expected_version=1, department_id=department_id
            )
        db_session.rollback()
        fresh = db_session.scalar(sa.select(Employee).where(Employee.id == employee_id))
        assert (fresh.children, fresh.version_id) == (5, 2)


SUMMARY_FIELDS = {
    "id",
    "employee_no",
    "name_en",
    "name_ar",
    "status",
    "grade",
    "org_unit_id",
    "position_id",
    "manager_id",
    "hire_date",
    "work_email",
    "mobile",
}
LIST_QUERIES = ("", "?q=santos", "?grade=4&sort=-grade", "?sort=grade&per_page=3&page=2")


def test_a_full_list_item_is_the_employee_as_the_detail_shows_it(officer, staff):
    """`view=full`: every field of the record, the same as its detail answers."""
    for query in LIST_QUERIES:
        separator = "&" if query else "?"
        page = officer.get(f"{BASE}{query}{separator}view=full")
        assert page.status_code == 200, page.get_json()
        assert page.get_json()["items"], query
        for item in page.get_json()["items"]:
            detail = officer.get(f"{BASE}/{item['id']}").get_json()
            assert item == detail
            assert {"iban", "emirates_id", "date_of_birth", "version"} <= set(item)


def test_a_list_item_is_a_summary_of_the_detail_by_default(officer, staff):
    """Lists and searches answer who and where; identity documents, bank details, birth
    dates and family stay in the record."""
    for query in LIST_QUERIES:
        page = officer.get(f"{BASE}{query}")
        assert page.status_code == 200, page.get_json()
        full = officer.get(f"{BASE}{query}{'&' if query else '?'}view=full").get_json()
        summary = page.get_json()
        assert (summary["total"], summary["page"], summary["per_page"]) == (
            full["total"],
            full["page"],
            full["per_page"],
        )
        assert [item["id"] for item in summary["items"]] == [i["id"] for i in full["items"]]
        for item in summary["items"]:
            assert set(item) == SUMMARY_FIELDS
            detail = officer.get(f"{BASE}/{item['id']}").get_json()
            assert item == {name: detail[name] for name in SUMMARY_FIELDS}
    # The same as asked for by name.
    assert officer.get(f"{BASE}?q=santos&view=summary").get_json() == (
        officer.get(f"{BASE}?q=santos").get_json()
    )


def test_an_unknown_list_view_is_refused_with_the_field(officer, staff):
    answer = officer.get(f"{BASE}?view=everything")
    assert answer.status_code == 422
    assert "view" in answer.get_json()["errors"]


def test_another_departments_list_holds_none_of_these_employees(api_as, staff):
    dm_officer = api_as("hr_officer", "DM")
    for query in ("", "?q=santos", "?grade=4", "?sort=grade"):
        page = dm_officer.get(f"{BASE}{query}")
        assert page.status_code == 200
        assert page.get_json()["items"] == [] and page.get_json()["total"] == 0
