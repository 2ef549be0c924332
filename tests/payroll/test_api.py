"""The payroll API: components and rules, runs, maker-checker, payslips and who may read them."""

from __future__ import annotations

import csv
import io

import pytest


@pytest.fixture
def officers(create_user, api_client, payroll_departments):
    """API clients of two POLICE payroll officers (maker, checker)."""
    maker = create_user(username="api.maker", roles=[("POLICE", "payroll_officer")])
    checker = create_user(username="api.checker", roles=[("POLICE", "payroll_officer")])
    return api_client(maker, "POLICE"), api_client(checker, "POLICE")


def _approved_run(maker, checker):
    run = maker.post("/api/v1/payroll/runs", json={"period": "2026-11", "kind": "regular"})
    assert run.status_code == 201, run.json
    run_id = run.json["id"]
    computed = maker.post(f"/api/v1/payroll/runs/{run_id}/compute?sync=1")
    assert computed.status_code == 202, computed.json
    assert maker.post(f"/api/v1/payroll/runs/{run_id}/approve").status_code == 403
    approved = checker.post(f"/api/v1/payroll/runs/{run_id}/approve")
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved"
    return run_id


def test_run_lifecycle_payslips_register_and_wps(officers, make_employee, departments):
    maker, checker = officers
    make_employee(bank_routing_code="803320101", wps_person_id="00000012345678")
    make_employee(bank_routing_code="803320101", wps_person_id="00000012345679")
    run_id = _approved_run(maker, checker)

    run = maker.get(f"/api/v1/payroll/runs/{run_id}").json
    assert run["employee_count"] == 2 and run["errors"] == []
    assert run["total_net"] == "45000.00"
    page = maker.get(f"/api/v1/payroll/runs/{run_id}/payslips").json
    assert page["total"] == 2
    slip = maker.get(f"/api/v1/payroll/payslips/{page['items'][0]['id']}").json
    assert slip["net"] == "22500.00" and slip["period"] == "2026-11"
    assert {line["component_code"] for line in slip["lines"]} == {"basic", "general", "housing"}

    register = maker.get(f"/api/v1/payroll/runs/{run_id}/register.csv")
    rows = list(csv.DictReader(io.StringIO(register.get_data(as_text=True))))
    assert [row["net"] for row in rows] == ["22500.00", "22500.00"]

    sif = maker.get(f"/api/v1/payroll/runs/{run_id}/wps.sif")
    assert departments["POLICE"].wps_employer_id and departments["POLICE"].bank_routing_code
    assert sif.status_code == 200, sif.json
    lines = sif.get_data(as_text=True).strip().split("\r\n")
    assert [line.split(",")[0] for line in lines] == ["EDR", "EDR", "SCR"]
    assert lines[-1].split(",")[7] == "45000.00"


def test_duplicate_regular_run_is_409(officers):
    maker, _ = officers
    first = maker.post("/api/v1/payroll/runs", json={"period": "2026-11"})
    second = maker.post("/api/v1/payroll/runs", json={"period": "2026-11"})
    assert (first.status_code, second.status_code) == (201, 409)
    assert len(maker.get("/api/v1/payroll/runs").json) == 1


def test_wps_exceptions_are_listed(officers, make_employee):
    maker, checker = officers
    make_employee()  # no WPS person id nor routing code
    run_id = _approved_run(maker, checker)
    sif = maker.get(f"/api/v1/payroll/runs/{run_id}/wps.sif")
    assert sif.status_code == 409


def test_no_endpoint_changes_an_approved_payslip(officers, make_employee, app):
    maker, checker = officers
    make_employee()
    run_id = _approved_run(maker, checker)
    slip_id = maker.get(f"/api/v1/payroll/runs/{run_id}/payslips").json["items"][0]["id"]
    before = maker.get(f"/api/v1/payroll/payslips/{slip_id}").json
    for method in ("put", "patch", "delete"):
        response = getattr(checker, method)(f"/api/v1/payroll/payslips/{slip_id}", json={})
        assert response.status_code == 405
    assert maker.post(f"/api/v1/payroll/runs/{run_id}/compute?sync=1").status_code == 409
    assert maker.post(f"/api/v1/payroll/runs/{run_id}/compute").status_code == 409
    excluded = maker.post(f"/api/v1/payroll/runs/{run_id}/exclude", json={"employee_id": 1})
    assert excluded.status_code == 409
    assert maker.get(f"/api/v1/payroll/payslips/{slip_id}").json == before
    # Every payroll route that takes a payslip id only reads.
    for rule in app.url_map.iter_rules():
        if "payslip_id" in rule.arguments:
            assert rule.methods - {"GET", "HEAD", "OPTIONS"} == set(), rule


def test_other_department_and_colleague_payslips_are_404(
    officers, make_employee, create_user, api_client, api_as
):
    maker, checker = officers
    me = create_user(username="me.employee", roles=[("POLICE", "employee")])
    mine = make_employee(user_id=me.id)
    colleague = create_user(username="colleague", roles=[("POLICE", "employee")])
    theirs = make_employee(user_id=colleague.id)
    run_id = _approved_run(maker, checker)
    slips = {
        s["employee_id"]: s["id"]
        for s in maker.get(f"/api/v1/payroll/runs/{run_id}/payslips").json["items"]
    }
    colleague_slip = slips[theirs]

    own = api_client(me, "POLICE")
    listed = own.get("/api/v1/me/payslips").json
    assert [s["id"] for s in listed["items"]] == [slips[mine]]
    assert (listed["total"], listed["items"][0]["period"]) == (1, "2026-11")
    assert "lines" not in listed["items"][0]  # the list is summaries; details per payslip
    assert own.get("/api/v1/me/payslips?page=2").json["items"] == []
    detail = own.get(f"/api/v1/me/payslips/{slips[mine]}")
    assert detail.status_code == 200
    # The list's rows say what the payslip itself says (the run's kind only the list has).
    item = listed["items"][0]
    assert item["kind"] == "regular" and item["net"] == detail.json["net"] != "0.00"
    assert {k: v for k, v in item.items() if k != "kind"} == {
        k: detail.json[k] for k in item if k != "kind"
    }
    assert own.get(f"/api/v1/me/payslips/{colleague_slip}").status_code == 404
    assert own.get(f"/api/v1/payroll/payslips/{colleague_slip}").status_code == 403
    # The list's statement is built once; run for the colleague, it lists theirs alone.
    their_list = api_client(colleague, "POLICE").get("/api/v1/me/payslips").json
    assert [s["id"] for s in their_list["items"]] == [colleague_slip]

    other = api_as("payroll_officer", "DM")
    assert other.get(f"/api/v1/payroll/payslips/{colleague_slip}").status_code == 404
    assert other.get(f"/api/v1/payroll/runs/{run_id}").status_code == 404
    assert other.get(f"/api/v1/payroll/runs/{run_id}/wps.sif").status_code == 404


def test_formula_errors_carry_their_position(officers):
    maker, _ = officers
    components = maker.get("/api/v1/payroll/components").json
    unpaid = next(c for c in components if c["code"] == "unpaid_leave")
    bad = maker.post(
        "/api/v1/payroll/rules",
        json={"component_id": unpaid["id"], "kind": "formula", "formula": "BASIC * * 2"},
    )
    assert bad.status_code == 422
    assert "(at character 9)" in bad.json["errors"]["formula"][0]
    unknown = maker.post(
        "/api/v1/payroll/rules",
        json={"component_id": unpaid["id"], "kind": "formula", "formula": "BASICK * 2"},
    )
    assert unknown.status_code == 422 and "formula" in unknown.json["errors"]
    good = maker.post(
        "/api/v1/payroll/rules",
        json={"component_id": unpaid["id"], "kind": "formula", "formula": "BASIC * 1%"},
    )
    assert good.status_code == 201, good.json
    changed = maker.patch(f"/api/v1/payroll/rules/{good.json['id']}", json={"formula": "(1"})
    assert changed.status_code == 422 and "at character" in changed.json["errors"]["formula"][0]


def test_components_create_and_update(officers):
    maker, _ = officers
    created = maker.post(
        "/api/v1/payroll/components",
        json={
            "code": "shift_allowance",
            "name_en": "Shift allowance",
            "name_ar": "بدل المناوبة",
            "category": "earning",
            "wps_kind": "variable",
        },
    )
    assert created.status_code == 201, created.json
    again = maker.post("/api/v1/payroll/components", json={**created.json, "rules": None})
    assert again.status_code == 422
    updated = maker.patch(
        f"/api/v1/payroll/components/{created.json['id']}", json={"display_order": 5}
    )
    assert updated.json["display_order"] == 5


def test_compute_in_the_background_refuses_a_second_start(officers, make_employee):
    maker, _ = officers
    make_employee()
    run_id = maker.post("/api/v1/payroll/runs", json={"period": "2026-11"}).json["id"]
    started = maker.post(f"/api/v1/payroll/runs/{run_id}/compute")
    assert started.status_code == 202 and started.json["job_id"]
    assert maker.post(f"/api/v1/payroll/runs/{run_id}/compute").status_code == 409


def test_the_compute_job_computes_the_run_in_a_worker(officers, make_employee, app):
    from grp.workflow.jobs.worker import run_embedded_worker

    maker, checker = officers
    make_employee()
    make_employee()
    run_id = maker.post("/api/v1/payroll/runs", json={"period": "2026-11"}).json["id"]
    job_id = maker.post(f"/api/v1/payroll/runs/{run_id}/compute").json["job_id"]
    assert run_embedded_worker(app, once=True) == 1
    job = maker.get(f"/api/v1/jobs/{job_id}").json
    assert job["state"] == "succeeded", job
    run = maker.get(f"/api/v1/payroll/runs/{run_id}").json
    assert (run["state"], run["employee_count"], run["total_net"]) == ("computed", 2, "45000.00")
    # The job's starter computed the run, so the other officer approves it.
    assert maker.post(f"/api/v1/payroll/runs/{run_id}/approve").status_code == 403
    assert checker.post(f"/api/v1/payroll/runs/{run_id}/approve").status_code == 200


def test_the_compute_job_streams_many_chunks_in_one_transaction(
    officers, make_employee, app, monkeypatch
):
    """Progress is saved while the contracts still stream (a server-side cursor on
    PostgreSQL, which a commit would close), and the payslips appear all at once."""
    from grp.workflow.jobs.worker import run_embedded_worker
    from modules.hr.services import contracts
    from modules.payroll.services import runs

    maker, _ = officers
    for _ in range(7):
        make_employee()
    monkeypatch.setitem(contracts.contracts_in_period.__kwdefaults__, "chunk_size", 2)
    monkeypatch.setitem(runs.compute_run.__kwdefaults__, "chunk_employees", 2)
    monkeypatch.setitem(app.config, "GRP_JOB_PROGRESS_BATCH", 1)
    run_id = maker.post("/api/v1/payroll/runs", json={"period": "2026-11"}).json["id"]
    job_id = maker.post(f"/api/v1/payroll/runs/{run_id}/compute").json["job_id"]
    assert run_embedded_worker(app, once=True) == 1
    job = maker.get(f"/api/v1/jobs/{job_id}").json
    assert job["state"] == "succeeded", job
    assert job["done"] == 7
    run = maker.get(f"/api/v1/payroll/runs/{run_id}").json
    assert (run["state"], run["employee_count"]) == ("computed", 7)


def test_unpaid_days_entered_through_the_api_are_deducted(officers, make_employee):
    maker, checker = officers
    employee = make_employee()
    run_id = maker.post("/api/v1/payroll/runs", json={"period": "2026-11"}).json["id"]
    entered = maker.post(
        f"/api/v1/payroll/runs/{run_id}/unpaid-days",
        json={"employee_id": employee, "unpaid_days": 3},
    )
    assert entered.status_code == 200, entered.json
    run = maker.post(f"/api/v1/payroll/runs/{run_id}/compute?sync=1").json["run"]
    assert run["total_net"] == "20250.00"  # 22,500 less 3/30 of it
    checker.post(f"/api/v1/payroll/runs/{run_id}/approve")
    late = maker.post(
        f"/api/v1/payroll/runs/{run_id}/unpaid-days",
        json={"employee_id": employee, "unpaid_days": 1},
    )
    assert late.status_code == 409
