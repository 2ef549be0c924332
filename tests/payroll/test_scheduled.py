"""The daily preparation of next month's draft runs, and the officers' reminders."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa


@pytest.fixture
def officers(create_user, payroll_departments):
    """Two payroll officers of POLICE (one reads Arabic), one of DM, and a POLICE HR officer."""
    return {
        "police": create_user(username="sched.police", roles=[("POLICE", "payroll_officer")]),
        "police_ar": create_user(
            username="sched.police.ar", roles=[("POLICE", "payroll_officer")], language="ar"
        ),
        "dm": create_user(username="sched.dm", roles=[("DM", "payroll_officer")]),
        "hr": create_user(username="sched.hr", roles=[("POLICE", "hr_officer")]),
    }


def _runs(db_session, departments):
    """Every department's runs as (code, month, state)."""
    from grp.tenancy import department_context
    from modules.payroll.models import PayrollRun

    found = []
    for code, department in departments.items():
        with department_context(db_session, department.id):
            for period, state in db_session.execute(sa.select(PayrollRun.period, PayrollRun.state)):
                found.append((code, f"{period:%Y-%m}", state))
            db_session.rollback()
    return sorted(found)


def _notifications(db_session):
    from grp.workflow.notifications.models import Notification

    return db_session.execute(
        sa.select(
            Notification.user_id, Notification.event, Notification.title, Notification.link
        ).order_by(Notification.user_id, Notification.id)
    ).all()


def test_prepares_next_month_once_and_reminds_the_officers(
    db_session, payroll_departments, officers
):
    from grp.workflow.notifications.models import OutboxMessage
    from modules.payroll.scheduled import EVENT, prepare_payroll_runs

    officers["police_ar"].email = "police.payroll@example.ae"
    db_session.commit()
    report = prepare_payroll_runs(db_session, today=date(2026, 10, 20), prepare_day=20)
    # POLICE and DM have salary components (the fixture seeds them); the other 23 have none.
    assert report.period == date(2026, 11, 1)
    assert sorted(report.created) == ["DM", "POLICE"]
    assert report.reminded == 3
    assert _runs(db_session, payroll_departments) == [
        ("DM", "2026-11", "draft"),
        ("POLICE", "2026-11", "draft"),
    ]
    notes = _notifications(db_session)
    assert [(user_id, event) for user_id, event, _, _ in notes] == [
        (officers["police"].id, EVENT),
        (officers["police_ar"].id, EVENT),
        (officers["dm"].id, EVENT),
    ]
    by_user = {user_id: (title, link) for user_id, _, title, link in notes}
    assert by_user[officers["police"].id] == (
        "Payroll of 2026-11 is ready for your inputs",
        f"/payroll/runs/{report.created['POLICE']}",
    )
    assert by_user[officers["police_ar"].id][0] == "مسير رواتب شهر 2026-11 جاهز لإدخالاتك"
    # By e-mail too, for an officer with an address, in their language.
    emails = db_session.execute(
        sa.select(OutboxMessage.recipient_id, OutboxMessage.channel, OutboxMessage.body)
    ).all()
    assert [(user_id, channel) for user_id, channel, _ in emails] == [
        (officers["police_ar"].id, "email")
    ]
    assert "شرطة دبي" in emails[0][2] and "2026-11" in emails[0][2]

    again = prepare_payroll_runs(db_session, today=date(2026, 10, 20), prepare_day=20)
    later = prepare_payroll_runs(db_session, today=date(2026, 10, 28), prepare_day=20)
    assert (again.created, again.reminded, later.created) == ({}, 0, {})
    assert len(_runs(db_session, payroll_departments)) == 2
    assert len(_notifications(db_session)) == 3


def test_nothing_before_the_prepare_day(db_session, payroll_departments, officers):
    from modules.payroll.scheduled import prepare_payroll_runs

    report = prepare_payroll_runs(db_session, today=date(2026, 10, 19), prepare_day=20)
    assert report.period is None and report.created == {}
    assert _runs(db_session, payroll_departments) == []
    assert _notifications(db_session) == []


def test_a_department_with_a_run_already_is_left_alone(
    db_session, in_department, payroll_departments, officers
):
    from modules.payroll.scheduled import prepare_payroll_runs
    from modules.payroll.services import create_run

    with in_department("POLICE"):
        create_run(db_session, "2027-01")
        db_session.commit()
    # December 31st, prepare day 31: next month is January of the next year.
    report = prepare_payroll_runs(db_session, today=date(2026, 12, 31), prepare_day=31)
    assert report.created.keys() == {"DM"}
    assert _runs(db_session, payroll_departments) == [
        ("DM", "2027-01", "draft"),
        ("POLICE", "2027-01", "draft"),
    ]
    assert {user_id for user_id, *_ in _notifications(db_session)} == {officers["dm"].id}


def test_prepare_day_past_the_month_end_is_its_last_day():
    from modules.payroll.scheduled import is_prepare_time, next_month

    assert is_prepare_time(date(2027, 2, 28), 31)
    assert not is_prepare_time(date(2027, 2, 27), 31)
    assert is_prepare_time(date(2026, 10, 21), 20)  # a missed day is caught up
    assert next_month(date(2026, 12, 5)) == date(2027, 1, 1)


def test_the_scheduled_job_and_its_settings(app, db_session, payroll_departments, officers):
    from grp.workflow.jobs.registry import state_of
    from grp.workflow.notifications.registry import state as notification_state
    from modules.payroll.scheduled import EVENT, JOB_ID, run_payroll_preparation

    spec = state_of(app).scheduled[JOB_ID]
    assert spec.func == "modules.payroll.scheduled:run_payroll_preparation"
    assert spec.trigger == "cron" and spec.trigger_args == {"hour": 2, "minute": 30}
    assert app.config["PAYROLL_PREPARE_DAY"] == 20 and app.config["PAYROLL_SCHEDULE_ENABLED"]
    assert EVENT in notification_state(app).templates
    # The scheduler's entry point works on today's date in Dubai with the setting.
    app.config["PAYROLL_PREPARE_DAY"] = 1
    result = run_payroll_preparation()
    assert sorted(result["created"]) == ["DM", "POLICE"] and result["reminded"] == 3
    assert run_payroll_preparation()["created"] == {}


@pytest.mark.parametrize("app_config", [{"PAYROLL_SCHEDULE_ENABLED": "0"}])
def test_the_schedule_can_be_switched_off(app):
    from grp.workflow.jobs.registry import state_of
    from modules.payroll.scheduled import JOB_ID

    assert JOB_ID not in state_of(app).scheduled
    assert app.config["PAYROLL_SCHEDULE_ENABLED"] is False


def test_a_bad_prepare_day_stops_start_up(grp_database, tmp_path):
    from grp.app import create_app

    app_url, owner_url = grp_database.urls_for_test(tmp_path)
    with pytest.raises(ValueError, match="PAYROLL_PREPARE_DAY"):
        create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": app_url,
                "GRP_DATABASE_OWNER_URL": owner_url,
                "SECRET_KEY": "x",
                "INSTANCE_PATH": str(tmp_path / "instance"),
                "PAYROLL_PREPARE_DAY": 32,
            }
        )
