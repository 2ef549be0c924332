"""Reusable SELECTs run on the driver read what the session reads, scoped the same way."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from grp import driver
from grp.auth import services
from grp.driver_rows import run_reusable_rows
from grp.tenancy import department_context, reusable, set_current_department
from grp.testing.probe import TenancyProbe

LABELS = reusable(
    sa.select(TenancyProbe.id, TenancyProbe.label, TenancyProbe.department_id)
    .where(TenancyProbe.label != sa.bindparam("unwanted", type_=sa.String))
    .order_by(TenancyProbe.id)
)

#: One probe by id: given a value that is not a number, the driver raises.
NUMBERED = reusable(
    sa.select(TenancyProbe.label).where(
        TenancyProbe.id == sa.bindparam("probe_id", type_=sa.Integer)
    )
)


@pytest.fixture
def probes(departments, db_session):
    """Two rows in POLICE and one in DM; returns (police, dm)."""
    police, dm = departments["POLICE"], departments["DM"]
    for department, labels in ((police, ["p1", "p2"]), (dm, ["d1"])):
        with department_context(db_session, department.id):
            db_session.add_all(TenancyProbe(label=label) for label in labels)
            db_session.commit()
    return police, dm


def by_session(db_session, statement, values) -> tuple[tuple[str, ...], list[list]]:
    result = db_session.execute(statement, values)
    return tuple(result.keys()), [list(row) for row in result]


@pytest.mark.postgres
def test_rows_are_the_sessions_for_each_department_with_the_values_given(probes, db_session):
    police, dm = probes
    set_current_department(db_session, police.id)
    found = run_reusable_rows(db_session, LABELS, {"unwanted": "p2"})
    assert found == by_session(db_session, LABELS, {"unwanted": "p2"})
    assert [row[1:] for row in found[1]] == [["p1", police.id]]
    # Values are those of this run, not of the run that compiled the plan.
    assert [row[1] for row in run_reusable_rows(db_session, LABELS, {"unwanted": "x"})[1]] == [
        "p1",
        "p2",
    ]
    set_current_department(db_session, dm.id)
    assert run_reusable_rows(db_session, LABELS, {"unwanted": "x"})[1] == [
        [row[0], "d1", dm.id] for row in by_session(db_session, LABELS, {"unwanted": "x"})[1]
    ]


@pytest.mark.postgres
def test_row_level_security_applies_to_it(probes, db_session, app):
    """Without the application's criteria the database still shows one department only."""
    police, _ = probes
    set_current_department(db_session, police.id)
    unscoped = sa.select(TenancyProbe.label).execution_options(grp_tenancy_reviewed=True)
    plan = driver._plan_for(unscoped, db_session.connection().dialect, {})
    rows = driver._execute(db_session.connection(), plan, dict(plan.constants))
    assert sorted(row[0] for row in rows) == ["p1", "p2"]


@pytest.mark.postgres
def test_across_departments_or_for_none_it_is_left_to_the_session(probes, db_session, create_user):
    admin = create_user("root", roles=[("DM", "system_admin")])
    with services.read_across_departments(db_session, admin, "headcount"):
        assert run_reusable_rows(db_session, LABELS, {"unwanted": "x"}) is None
    db_session.rollback()
    set_current_department(db_session, None)
    assert run_reusable_rows(db_session, LABELS, {"unwanted": "x"}) is None


@pytest.mark.postgres
def test_statements_it_does_not_handle_are_left_to_the_session(probes, db_session):
    police, _ = probes
    set_current_department(db_session, police.id)
    locking = reusable(sa.select(TenancyProbe.label).with_for_update())
    assert run_reusable_rows(db_session, locking, {}) is None
    not_reusable = sa.select(TenancyProbe.label)
    assert run_reusable_rows(db_session, not_reusable, {}) is None
    # A list of the caller's would change the SQL with its length.
    expanding = reusable(
        sa.select(TenancyProbe.label).where(
            TenancyProbe.label.in_(sa.bindparam("labels", expanding=True))
        )
    )
    assert run_reusable_rows(db_session, expanding, {"labels": ["p1"]}) is None
    assert db_session.scalars(expanding, {"labels": ["p1"]}).all() == ["p1"]


@pytest.mark.postgres
def test_the_engines_listeners_see_the_statement(probes, db_session, sql_statements):
    police, _ = probes
    set_current_department(db_session, police.id)
    sql_statements.clear()
    run_reusable_rows(db_session, LABELS, {"unwanted": "x"})
    assert len(sql_statements) == 1
    assert "tenancy_probe" in sql_statements[0]


@pytest.mark.postgres
def test_a_driver_error_is_left_to_the_session_and_raised_as_sqlalchemys(probes, db_session):
    police, _ = probes
    set_current_department(db_session, police.id)
    assert run_reusable_rows(db_session, NUMBERED, {"probe_id": "not a number"}) is None
    with pytest.raises(sa.exc.DBAPIError):
        db_session.execute(NUMBERED, {"probe_id": "not a number"}).all()
    db_session.rollback()
    # The connection is still usable for the next statement.
    set_current_department(db_session, police.id)
    assert len(run_reusable_rows(db_session, LABELS, {"unwanted": "x"})[1]) == 2


def test_other_drivers_are_left_to_the_session(probes, db_session):
    police, _ = probes
    set_current_department(db_session, police.id)
    if db_session.connection().dialect.driver == "psycopg":
        pytest.skip("SQLite only")
    assert run_reusable_rows(db_session, LABELS, {"unwanted": "x"}) is None


@pytest.mark.postgres
def test_the_department_setting_with_a_callers_checks_runs_on_the_driver(
    departments, db_session, create_user
):
    """The statement every request sends: on the driver, the same answers as SQLAlchemy's."""
    from datetime import UTC, datetime

    from grp import tenancy
    from grp.auth.callers import TOKEN_CHECKS

    user = create_user("checked", roles=[("POLICE", "hr_officer")])
    statement = tenancy._settings_statement(TOKEN_CHECKS)
    values = {
        "grp_department_setting": str(departments["POLICE"].id),
        "grp_all_departments_setting": "off",
        "grp_settings_local": True,
        "grp_caller_user_id": user.id,
        "grp_caller_token_id": 0,
        "grp_caller_now": datetime.now(UTC),
    }
    connection = db_session.connection()
    keys, rows = driver.run_on_driver(connection, statement, values)
    expected = connection.execute(statement, values).one()._mapping
    assert dict(zip(keys, rows[0], strict=True)) == dict(expected)
    assert dict(expected)["assignment_count"] == 1
    assert dict(expected)["token_valid"] is False
    db_session.rollback()


@pytest.mark.postgres
def test_a_value_computed_at_each_run_is_not_fixed_in_a_plan(probes, db_session):
    police, _ = probes
    set_current_department(db_session, police.id)
    computed = reusable(
        sa.select(TenancyProbe.label).where(
            TenancyProbe.label == sa.bindparam("wanted", callable_=lambda: "p1", type_=sa.String)
        )
    )
    assert run_reusable_rows(db_session, computed, {}) is None


# --------------------------------------------------------------------------- riding along

#: A statement to ride along: it sets a custom setting for the connection, so a later
#: statement can tell whether it ran first.
MARK = reusable(
    sa.select(
        sa.func.set_config("grp.test_mark", sa.bindparam("mark", type_=sa.String), False).label(
            "mark"
        )
    )
)
READ_MARK = sa.text("SELECT current_setting('grp.test_mark', true)").execution_options(
    grp_tenancy_reviewed=True
)


class Answers:
    """An `on_rows` callback that keeps what it was given (and can refuse it)."""

    def __init__(self, refuse: bool = False) -> None:
        self.seen: list[tuple[tuple[str, ...], list[list]]] = []
        self.refuse = refuse

    def __call__(self, keys, rows) -> None:
        self.seen.append((keys, rows))
        if self.refuse:
            raise LookupError("refused")


@pytest.mark.postgres
def test_a_rider_goes_first_in_the_same_round_trip(
    probes, db_session, sql_statements, driver_pipelines
):
    police, _ = probes
    set_current_department(db_session, police.id)
    connection = db_session.connection()
    answers = Answers()
    assert driver.ride_along(connection, MARK, {"mark": "one"}, answers)
    sql_statements.clear()
    keys, rows = run_reusable_rows(db_session, LABELS, {"unwanted": "x"})
    assert [row[1] for row in rows] == ["p1", "p2"]
    assert answers.seen == [(("mark",), [["one"]])]
    assert driver_pipelines["n"] == 1
    # The listeners saw both, the rider first.
    assert len(sql_statements) == 2
    assert "set_config" in sql_statements[0] and "tenancy_probe" in sql_statements[1]
    # It rode once: the next statement goes alone.
    run_reusable_rows(db_session, LABELS, {"unwanted": "x"})
    assert len(answers.seen) == 1 and driver_pipelines["n"] == 1
    db_session.rollback()


@pytest.mark.postgres
def test_what_the_rider_raises_is_raised_instead_of_the_rows(probes, db_session):
    police, _ = probes
    set_current_department(db_session, police.id)
    driver.ride_along(db_session.connection(), MARK, {"mark": "two"}, Answers(refuse=True))
    with pytest.raises(LookupError):
        run_reusable_rows(db_session, LABELS, {"unwanted": "x"})
    db_session.rollback()


@pytest.mark.postgres
def test_before_a_statement_through_sqlalchemy_the_rider_goes_alone(
    probes, db_session, driver_pipelines
):
    police, _ = probes
    set_current_department(db_session, police.id)
    answers = Answers()
    driver.ride_along(db_session.connection(), MARK, {"mark": "three"}, answers)
    assert db_session.execute(READ_MARK).scalar() == "three"
    assert answers.seen == [(("mark",), [["three"]])]
    assert driver_pipelines["n"] == 0
    db_session.rollback()


@pytest.mark.postgres
def test_a_driver_error_sends_the_rider_alone_then_raises_as_sqlalchemy(probes, db_session):
    police, _ = probes
    set_current_department(db_session, police.id)
    answers = Answers()
    driver.ride_along(db_session.connection(), MARK, {"mark": "four"}, answers)
    assert run_reusable_rows(db_session, NUMBERED, {"probe_id": "not a number"}) is None
    assert answers.seen == []  # not answered from the failed round trip
    with pytest.raises(sa.exc.DBAPIError):
        db_session.execute(NUMBERED, {"probe_id": "not a number"}).all()
    assert answers.seen == [(("mark",), [["four"]])]  # sent again, alone, before it
    db_session.rollback()
    set_current_department(db_session, police.id)
    assert len(run_reusable_rows(db_session, LABELS, {"unwanted": "x"})[1]) == 2


@pytest.mark.postgres
def test_a_rider_not_sent_is_forgotten_with_its_connection(probes, db_session, driver_pipelines):
    police, _ = probes
    set_current_department(db_session, police.id)
    answers = Answers()
    driver.ride_along(db_session.connection(), MARK, {"mark": "five"}, answers)
    db_session.rollback()  # the connection goes back to the pool
    set_current_department(db_session, police.id)
    assert len(run_reusable_rows(db_session, LABELS, {"unwanted": "x"})[1]) == 2
    assert db_session.execute(READ_MARK).scalar() in (None, "")
    assert answers.seen == [] and driver_pipelines["n"] == 0
    db_session.rollback()


def test_checks_answered_later_are_answered_at_once_off_psycopg(probes, db_session):
    from grp.auth.callers import SESSION_CHECKS
    from grp.tenancy import set_department_checked_later

    police, _ = probes
    if db_session.get_bind().dialect.driver == "psycopg":
        pytest.skip("SQLite only")
    user_id = db_session.scalar(
        sa.select(sa.func.min(sa.literal_column("id"))).select_from(sa.table("users"))
    )
    answers = []
    set_department_checked_later(
        db_session, police.id, SESSION_CHECKS, {"grp_caller_user_id": user_id}, answers.append
    )
    assert len(answers) == 1 and answers[0]["token_valid"]
