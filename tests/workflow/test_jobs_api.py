"""Jobs API: list, detail with progress, result download, starting (409 on the same work),
cancelling, another department's job answered 404, scheduled jobs for system administrators."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from grp.db import db
from grp.workflow.jobs import start_job
from grp.workflow.jobs.models import Job
from grp.workflow.jobs.runner import new_worker_id
from grp.workflow.jobs.services import claim_job
from grp.workflow.jobs.worker import run_embedded_worker

DEMO = "platform.demo_count"


@pytest.fixture
def app_config():
    return {"GRP_JOB_PROGRESS_BATCH": 5, "GRP_JOB_POLL_SECONDS": 0.05}


def queue_demo(department, *, actor=None, **params) -> Job:
    job = start_job(db.session, kind=DEMO, department_id=department.id, params=params, actor=actor)
    db.session.commit()
    return job


def test_progress_is_visible_through_the_api(app, api_as, departments):
    client = api_as("payroll_officer", "POLICE")
    job = queue_demo(departments["POLICE"], actor=client.user, count=20, fail_every=7)
    queued = client.get(f"/api/v1/jobs/{job.id}").get_json()
    assert queued["state"] == "queued" and queued["done"] == 0 and queued["total"] is None
    assert queued["created_by"] == client.user.username and queued["result_url"] is None
    # Half-way: what a worker committed so far is what the API shows.
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job.id)
        .values(state="running", done=10, total=20, worker_id="w:1:x")
    )
    db.session.commit()
    running = client.get(f"/api/v1/jobs/{job.id}").get_json()
    assert (running["state"], running["done"], running["total"], running["percent"]) == (
        "running",
        10,
        20,
        50,
    )
    db.session.execute(
        sa.update(Job).where(Job.id == job.id).values(state="queued", done=0, worker_id=None)
    )
    db.session.commit()
    run_embedded_worker(app, once=True)
    body = client.get(f"/api/v1/jobs/{job.id}").get_json()
    assert (body["state"], body["done"], body["total"], body["percent"]) == (
        "succeeded",
        20,
        20,
        100,
    )
    assert body["error_count"] == 2
    assert [e["item"] for e in body["errors"]] == ["7", "14"]
    assert body["result_url"] == f"/api/v1/jobs/{job.id}/result"
    download = client.get(body["result_url"])
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    expected = "".join(f"{n}\n" for n in range(1, 21) if n % 7)
    assert download.get_data(as_text=True) == expected
    download.close()


def test_the_list_shows_the_departments_jobs_newest_first(api_as, departments):
    client = api_as("hr_officer", "POLICE")
    first = queue_demo(departments["POLICE"], count=1)
    second = queue_demo(departments["POLICE"], count=2)
    queue_demo(departments["DM"], count=3)
    page = client.get("/api/v1/jobs?per_page=1").get_json()
    assert page["total"] == 2 and page["per_page"] == 1
    assert [item["id"] for item in page["items"]] == [second.id]
    everything = client.get("/api/v1/jobs").get_json()
    assert [item["id"] for item in everything["items"]] == [second.id, first.id]
    assert "errors" not in everything["items"][0]


def test_another_departments_job_is_404(app, api_as, departments):
    dm_job = queue_demo(departments["DM"], count=2)
    run_embedded_worker(app, once=True)
    police = api_as("department_admin", "POLICE")
    for path in (f"/api/v1/jobs/{dm_job.id}", f"/api/v1/jobs/{dm_job.id}/result"):
        response = police.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json"
    assert police.post(f"/api/v1/jobs/{dm_job.id}/cancel").status_code == 404
    assert police.get("/api/v1/jobs").get_json()["total"] == 0
    assert api_as("department_admin", "DM").get(f"/api/v1/jobs/{dm_job.id}").status_code == 200


def test_starting_the_same_work_twice_is_409(api_as):
    admin = api_as("department_admin", "POLICE")
    payload = {"kind": DEMO, "params": {"count": 5}, "dedupe_key": "demo"}
    first = admin.post("/api/v1/jobs", json=payload)
    assert first.status_code == 202, first.get_json()
    assert first.get_json()["state"] == "queued"
    again = admin.post("/api/v1/jobs", json=payload)
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert "already queued or running" in again.get_json()["detail"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1
    other = admin.post("/api/v1/jobs", json={**payload, "dedupe_key": "other"})
    assert other.status_code == 202


def test_starting_needs_the_kinds_permission_and_a_known_kind(api_as):
    officer = api_as("hr_officer", "POLICE")
    refused = officer.post("/api/v1/jobs", json={"kind": DEMO, "params": {"count": 1}})
    assert refused.status_code == 403
    admin = api_as("department_admin", "POLICE")
    unknown = admin.post("/api/v1/jobs", json={"kind": "nope.nothing"})
    assert unknown.status_code == 422 and "kind" in unknown.get_json()["errors"]
    assert api_as("employee", "POLICE").get("/api/v1/jobs").status_code == 403


def test_cancelling_through_the_api(api_as, departments):
    admin = api_as("department_admin", "POLICE")
    job = queue_demo(departments["POLICE"], count=5)
    cancelled = admin.post(f"/api/v1/jobs/{job.id}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
    assert admin.post(f"/api/v1/jobs/{job.id}/cancel").status_code == 409
    running = queue_demo(departments["POLICE"], count=5)
    claim_job(db.session(), new_worker_id())
    asked = admin.post(f"/api/v1/jobs/{running.id}/cancel").get_json()
    assert asked["state"] == "running" and asked["cancel_requested_at"] is not None
    assert api_as("hr_officer", "POLICE").post(f"/api/v1/jobs/{job.id}/cancel").status_code == 403


def test_scheduled_jobs_are_listed_for_system_administrators_only(api_as):
    root = api_as("system_admin", "DM")
    body = root.get("/api/v1/scheduled-jobs").get_json()
    reaper = next(item for item in body["items"] if item["id"] == "platform.jobs.reaper")
    assert reaper["trigger"] == "interval(minutes=1)"
    assert reaper["func"] == "grp.workflow.jobs.scheduler:reap_jobs"
    assert reaper["last_runs"] == [] and body["total"] == len(body["items"])
    assert api_as("department_admin", "POLICE").get("/api/v1/scheduled-jobs").status_code == 403


def test_the_openapi_document_describes_the_jobs_api(client):
    # tests/test_api_shell.py validates the whole document.
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/result",
        "/api/v1/scheduled-jobs",
    ):
        assert path in spec["paths"], path
    job = spec["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]
    assert job["content"]["application/json"]["schema"]["$ref"].endswith("/JobDetail")
