"""Job pages: the list, a job's progress bar (refreshing while it runs), errors, download,
cancel, another department's job answered 404, and the scheduled jobs page."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from grp.db import db
from grp.workflow.jobs import start_job
from grp.workflow.jobs.models import Job, JobRun
from grp.workflow.jobs.worker import run_embedded_worker

DEMO = "platform.demo_count"


@pytest.fixture
def app_config():
    return {"GRP_JOB_PROGRESS_BATCH": 5, "GRP_JOB_POLL_SECONDS": 0.05}


def queue_demo(department, **params) -> Job:
    job = start_job(db.session, kind=DEMO, department_id=department.id, params=params, actor=None)
    db.session.commit()
    return job


def set_progress(job: Job, **values) -> None:
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(**values))
    db.session.commit()


def test_a_running_job_shows_its_progress_bar_and_refreshes(client_as, departments):
    browser = client_as("payroll_officer", "POLICE")
    job = queue_demo(departments["POLICE"], count=40)
    set_progress(job, state="running", done=10, total=40, worker_id="w:1:x")
    page = browser.get(f"/jobs/{job.id}")
    assert page.status_code == 200
    assert re.search(r'<progress aria-labelledby="[^"]+" max="40" value="10">', page.text)
    assert "10 of 40 (25%)" in page.text
    assert '<meta http-equiv="refresh" content="3">' in page.text
    assert "<script" not in page.text  # CSP: no inline script
    listing = browser.get("/jobs")
    assert listing.status_code == 200
    assert f'href="/jobs/{job.id}"' in listing.text and 'max="40" value="10"' in listing.text


def test_an_unknown_total_shows_an_indeterminate_bar(client_as, departments):
    browser = client_as("hr_officer", "POLICE")
    job = queue_demo(departments["POLICE"], count=40)
    page = browser.get(f"/jobs/{job.id}").text
    assert re.search(r"<progress aria-labelledby=\"[^\"]+\"></progress>", page)


def test_a_finished_job_shows_errors_and_its_download(app, client_as, departments):
    browser = client_as("department_admin", "POLICE")
    job = queue_demo(departments["POLICE"], count=12, fail_every=5)
    run_embedded_worker(app, once=True)
    page = browser.get(f"/jobs/{job.id}").text
    assert 'max="12" value="12"' in page and "http-equiv" not in page
    assert "Succeeded" in page
    assert "5 is a multiple of 5" in page and "10 is a multiple of 5" in page
    assert f'href="/jobs/{job.id}/result"' in page
    download = browser.get(f"/jobs/{job.id}/result")
    assert download.status_code == 200
    assert download.get_data(as_text=True).splitlines()[:4] == ["1", "2", "3", "4"]
    download.close()


def test_a_failed_job_shows_the_reason(app, client_as, departments):
    browser = client_as("department_admin", "POLICE")
    job = queue_demo(departments["POLICE"], count=10, fail_at=3)
    run_embedded_worker(app, once=True)
    page = browser.get(f"/jobs/{job.id}").text
    assert "Failed" in page and "RuntimeError: asked to fail at 3" in page
    assert f"/jobs/{job.id}/result" not in page
    assert browser.get(f"/jobs/{job.id}/result").status_code == 404


def test_another_departments_job_page_is_404(app, client_as, departments):
    browser = client_as("department_admin", "POLICE")
    job = queue_demo(departments["DM"], count=3)
    run_embedded_worker(app, once=True)
    assert browser.get(f"/jobs/{job.id}").status_code == 404
    assert browser.get(f"/jobs/{job.id}/result").status_code == 404
    assert browser.post(f"/jobs/{job.id}/cancel").status_code == 404
    assert f"/jobs/{job.id}" not in browser.get("/jobs").text


def test_cancel_button(client_as, departments):
    browser = client_as("department_admin", "POLICE")
    job = queue_demo(departments["POLICE"], count=3)
    page = browser.get(f"/jobs/{job.id}").text
    assert f'action="/jobs/{job.id}/cancel"' in page
    response = browser.post(f"/jobs/{job.id}/cancel")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Job, job.id).state == "cancelled"
    again = browser.post(f"/jobs/{job.id}/cancel", follow_redirects=True)
    assert "This job has already finished." in again.text
    officer_page = client_as("hr_officer", "POLICE").get(f"/jobs/{job.id}").text
    assert "/cancel" not in officer_page


def test_pages_need_the_permissions_and_the_menu_links_them(client_as):
    assert client_as("employee", "POLICE").get("/jobs").status_code == 403
    assert client_as("department_admin", "POLICE").get("/jobs/scheduled").status_code == 403
    home = client_as("hr_officer", "POLICE").get("/").text
    assert 'href="/jobs"' in home and 'href="/jobs/scheduled"' not in home


def test_scheduled_jobs_page_lists_jobs_and_their_last_runs(client_as):
    from datetime import UTC, datetime

    db.session.add(
        JobRun(
            job_id="platform.jobs.reaper",
            scheduled_run_time=datetime(2026, 1, 1, 8, 0, tzinfo=UTC),
            started_at=datetime(2026, 1, 1, 8, 0, tzinfo=UTC),
            finished_at=datetime(2026, 1, 1, 8, 0, 1, tzinfo=UTC),
            outcome="failed",
            error="OperationalError: gone\ntraceback...",
        )
    )
    db.session.commit()
    root = client_as("system_admin", "DM")
    page = root.get("/jobs/scheduled")
    assert page.status_code == 200
    assert "platform.jobs.reaper" in page.text and "interval(minutes=1)" in page.text
    # 08:00 UTC is 12:00 in Dubai.
    assert "2026-01-01 12:00" in page.text and "failed" in page.text
    assert "OperationalError: gone" in page.text and "traceback" not in page.text
    assert 'href="/jobs/scheduled"' in root.get("/").text


def test_the_pages_are_translated(client_as, departments):
    browser = client_as("hr_officer", "POLICE", language="ar")
    job = queue_demo(departments["POLICE"], count=3)
    page = browser.get(f"/jobs/{job.id}").text
    assert 'dir="rtl"' in page and "في الانتظار" in page
    assert "المهام في الخلفية" in browser.get("/jobs").text
