"""Department tenancy: scoping, the four known holes, cross-department reading, and RLS.

Uses the test-only tenant table `tenancy_probe` (grp/testing/probe.py): the
platform owns no department data itself.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from grp import tenancy
from grp.auth import services
from grp.models import AuditEntry
from grp.tenancy import (
    REVIEWED,
    TenancyError,
    all_departments,
    bulk_insert,
    department_context,
    reusable,
    set_current_department,
)
from grp.testing.probe import TenancyProbe


@pytest.fixture
def two_departments(departments, db_session):
    """Rows in POLICE and DM; returns (police, dm, police_row_id, dm_row_id)."""
    police, dm = departments["POLICE"], departments["DM"]
    with department_context(db_session, police.id):
        police_row = TenancyProbe(label="police secret")
        db_session.add(police_row)
        db_session.commit()
        police_id = police_row.id
    with department_context(db_session, dm.id):
        dm_row = TenancyProbe(label="dm secret")
        db_session.add(dm_row)
        db_session.commit()
        dm_id = dm_row.id
    return police, dm, police_id, dm_id


def labels(session: Session) -> list[str]:
    return sorted(session.scalars(sa.select(TenancyProbe.label)))


def test_insert_takes_the_current_department(two_departments, db_session):
    police, dm, police_id, _ = two_departments
    set_current_department(db_session, police.id)
    assert db_session.get(TenancyProbe, police_id).department_id == police.id


def test_each_department_sees_only_its_rows(two_departments, db_session):
    police, dm, police_id, dm_id = two_departments
    set_current_department(db_session, police.id)
    assert labels(db_session) == ["police secret"]
    assert db_session.get(TenancyProbe, dm_id) is None
    count = db_session.scalar(sa.select(sa.func.count()).select_from(TenancyProbe))
    assert count == 1
    set_current_department(db_session, dm.id)
    assert labels(db_session) == ["dm secret"]
    assert db_session.get(TenancyProbe, police_id) is None


def test_aliases_and_subqueries_are_scoped(two_departments, db_session):
    police, *_ = two_departments
    set_current_department(db_session, police.id)
    other = sa.orm.aliased(TenancyProbe)
    assert list(db_session.scalars(sa.select(other.label))) == ["police secret"]
    subquery = sa.select(TenancyProbe.id).scalar_subquery()
    assert db_session.scalar(sa.select(sa.func.count()).where(sa.literal(1) == 1)) == 1
    assert db_session.scalar(sa.select(TenancyProbe.label).where(TenancyProbe.id == subquery)) == (
        "police secret"
    )


def test_no_department_cannot_read_or_write(two_departments, db_session):
    set_current_department(db_session, None)
    with pytest.raises(TenancyError, match="no current department"):
        db_session.scalars(sa.select(TenancyProbe)).all()
    db_session.add(TenancyProbe(label="orphan"))
    with pytest.raises(TenancyError, match="no current department"):
        db_session.flush()
    db_session.rollback()


# ------------------------------------------------------------------ hole 1: bulk UPDATE/DELETE


def test_bulk_update_and_delete_touch_only_the_current_department(two_departments, db_session):
    police, dm, *_ = two_departments
    set_current_department(db_session, police.id)
    updated = db_session.execute(sa.update(TenancyProbe).values(label="changed"))
    assert updated.rowcount == 1
    deleted = db_session.execute(sa.delete(TenancyProbe))
    assert deleted.rowcount == 1
    db_session.commit()
    set_current_department(db_session, dm.id)
    assert labels(db_session) == ["dm secret"]


def test_bulk_update_cannot_move_rows_to_another_department(two_departments, db_session):
    police, dm, *_ = two_departments
    set_current_department(db_session, police.id)
    with pytest.raises(TenancyError, match="cannot be moved"):
        db_session.execute(sa.update(TenancyProbe).values(department_id=dm.id))


def test_core_statements_on_tenant_tables_are_refused(two_departments, db_session):
    police, *_ = two_departments
    set_current_department(db_session, police.id)
    table = TenancyProbe.__table__
    for statement in (sa.select(table), sa.update(table).values(label="x"), sa.delete(table)):
        with pytest.raises(TenancyError, match="not department-scoped"):
            db_session.execute(statement)


# ------------------------------------------------------------------ hole 2: raw SQL


def test_raw_sql_is_refused_unless_reviewed(two_departments, db_session):
    police, *_ = two_departments
    set_current_department(db_session, police.id)
    with pytest.raises(TenancyError, match="raw SQL"):
        db_session.execute(sa.text("SELECT label FROM tenancy_probe"))
    with pytest.raises(TenancyError, match="raw SQL"):
        db_session.connection().execute(sa.text("DELETE FROM tenancy_probe"))
    with pytest.raises(TenancyError, match="bypasses department scoping"):
        db_session.connection().execute(sa.delete(TenancyProbe.__table__))
    db_session.rollback()
    reviewed = sa.text("SELECT 1").execution_options(**{REVIEWED: True})
    assert db_session.execute(reviewed).scalar() == 1


def test_engine_connections_outside_the_session_are_guarded(app, two_departments):
    from grp.db import db

    with db.engine.connect() as connection:
        with pytest.raises(TenancyError):
            connection.execute(sa.select(TenancyProbe.__table__)).all()
        with pytest.raises(TenancyError):
            connection.execute(sa.text("SELECT * FROM tenancy_probe")).all()


# ------------------------------------------------------------------ hole 3: foreign insert


def test_insert_carrying_another_departments_id_is_refused(two_departments, db_session):
    police, dm, *_ = two_departments
    set_current_department(db_session, police.id)
    db_session.add(TenancyProbe(label="planted", department_id=dm.id))
    with pytest.raises(TenancyError, match="refusing to insert"):
        db_session.flush()
    db_session.rollback()
    with pytest.raises(TenancyError):
        db_session.execute(sa.insert(TenancyProbe).values(label="planted", department_id=dm.id))
    db_session.rollback()
    set_current_department(db_session, dm.id)
    assert labels(db_session) == ["dm secret"]


def test_a_record_cannot_be_moved_to_another_department(two_departments, db_session):
    police, dm, police_id, _ = two_departments
    set_current_department(db_session, police.id)
    row = db_session.get(TenancyProbe, police_id)
    row.department_id = dm.id
    with pytest.raises(TenancyError, match="cannot be moved"):
        db_session.flush()
    db_session.rollback()


def test_bulk_insert_stamps_the_department_and_refuses_foreign_rows(two_departments, db_session):
    police, dm, *_ = two_departments
    set_current_department(db_session, police.id)
    bulk_insert(db_session, TenancyProbe, [{"label": f"bulk {i}"} for i in range(3)])
    db_session.commit()
    assert labels(db_session) == ["bulk 0", "bulk 1", "bulk 2", "police secret"]
    with pytest.raises(TenancyError, match="another department"):
        bulk_insert(db_session, TenancyProbe, [{"label": "x", "department_id": dm.id}])


# ------------------------------------------------------------------ hole 4: identity map


def test_switching_department_empties_the_identity_map(two_departments, db_session):
    police, dm, police_id, _ = two_departments
    set_current_department(db_session, police.id)
    cached = db_session.get(TenancyProbe, police_id)
    assert cached is not None
    set_current_department(db_session, dm.id)
    # Without the guard, get() would answer from the identity map without SQL.
    assert db_session.get(TenancyProbe, police_id) is None
    assert cached not in db_session


def test_an_object_from_the_previous_department_cannot_be_changed(two_departments, db_session):
    police, dm, police_id, _ = two_departments
    set_current_department(db_session, police.id)
    row = db_session.get(TenancyProbe, police_id)
    set_current_department(db_session, dm.id)
    row = db_session.merge(row, load=False)
    row.label = "tampered"
    with pytest.raises(TenancyError, match="refusing to change"):
        db_session.flush()
    db_session.rollback()


def test_switching_department_with_unflushed_changes_is_refused(two_departments, db_session):
    police, dm, *_ = two_departments
    police_id, dm_id = police.id, dm.id  # read now: a later refresh would autoflush
    set_current_department(db_session, police_id)
    db_session.add(TenancyProbe(label="pending"))
    with pytest.raises(TenancyError, match="unflushed"):
        set_current_department(db_session, dm_id)
    db_session.rollback()


# ------------------------------------------------------------------ cross-department reading


def test_system_admin_reads_across_departments_read_only_and_audited(
    two_departments, db_session, create_user
):
    police, dm, *_ = two_departments
    admin = create_user("root", roles=[("DM", "system_admin")])
    set_current_department(db_session, dm.id)
    with services.read_across_departments(db_session, admin, "annual headcount report"):
        assert labels(db_session) == ["dm secret", "police secret"]
        db_session.add(TenancyProbe(label="sneaky"))
        with pytest.raises(TenancyError, match="read-only"):
            db_session.flush()
    db_session.commit()
    # Back to normal scoping, and nothing loaded inside the block is still cached.
    assert labels(db_session) == ["dm secret"]
    entry = db_session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "cross_department_read")
    )
    assert entry.after == {"reason": "annual headcount report"}
    assert entry.department_id == dm.id


#: A statement kept for the whole process, as a module constant or a bounded cache would.
REUSED_LABELS = reusable(
    sa.select(TenancyProbe.label).where(TenancyProbe.label != sa.bindparam("unwanted"))
)


def test_a_reusable_statement_is_scoped_to_each_department_it_runs_for(
    two_departments, db_session, create_user
):
    police, dm, *_ = two_departments

    def run() -> list[str]:
        return sorted(db_session.scalars(REUSED_LABELS, {"unwanted": "nobody"}))

    set_current_department(db_session, police.id)
    assert run() == ["police secret"]
    set_current_department(db_session, dm.id)
    assert run() == ["dm secret"]
    # The values are those given at execution, not those of an earlier run.
    assert sorted(db_session.scalars(REUSED_LABELS, {"unwanted": "dm secret"})) == []
    # Its scoped form is kept, one per department, and used again.
    forms = tenancy._SCOPED[REUSED_LABELS]
    assert set(forms) == {police.id, dm.id}
    kept = forms[police.id]
    set_current_department(db_session, police.id)
    assert run() == ["police secret"]
    assert tenancy._SCOPED[REUSED_LABELS][police.id] is kept
    # Across departments (audited) it reads every department, as any statement does.
    admin = create_user("root", roles=[("DM", "system_admin")])
    with services.read_across_departments(db_session, admin, "headcount"):
        assert run() == ["dm secret", "police secret"]
    db_session.rollback()
    set_current_department(db_session, None)
    with pytest.raises(TenancyError, match="no current department"):
        run()


def test_only_system_admins_read_across_departments(two_departments, db_session, create_user):
    officer = create_user("officer", roles=[("POLICE", "hr_officer")])
    with (
        pytest.raises(PermissionError),
        services.read_across_departments(db_session, officer, "curious"),
    ):
        pass


def test_cross_department_read_needs_a_reason(two_departments, db_session):
    with (
        pytest.raises(TenancyError, match="reason"),
        all_departments(db_session, reason="  ", audit=lambda r: None),
    ):
        pass


# ------------------------------------------------------------------ PostgreSQL row-level security


@pytest.fixture
def application_filter_off(app):
    """Switch every application-level guard off, leaving only PostgreSQL's row-level security."""
    from grp.db import db

    listeners = [
        (Session, "do_orm_execute", tenancy._scope_orm_execute),
        (Session, "before_flush", tenancy._guard_flush),
        (db.engine, "before_execute", tenancy._guard_engine_execute),
    ]
    for target, name, function in listeners:
        event.remove(target, name, function)
    try:
        yield
    finally:
        for target, name, function in listeners:
            event.listen(target, name, function)


@pytest.mark.postgres
def test_rls_hides_other_departments_rows_without_the_app_filter(
    two_departments, db_session, application_filter_off
):
    police, dm, police_id, dm_id = two_departments
    set_current_department(db_session, police.id)
    assert labels(db_session) == ["police secret"]
    raw = sa.text("SELECT label FROM tenancy_probe").execution_options(**{REVIEWED: True})
    assert list(db_session.scalars(raw)) == ["police secret"]
    assert db_session.get(TenancyProbe, dm_id) is None


@pytest.mark.postgres
def test_rls_refuses_writes_into_other_departments(
    two_departments, db_session, application_filter_off
):
    police, dm, police_id, dm_id = two_departments
    set_current_department(db_session, police.id)
    db_session.add(TenancyProbe(label="planted", department_id=dm.id))
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        db_session.flush()
    db_session.rollback()
    update = sa.text("UPDATE tenancy_probe SET label = 'hacked' WHERE id = :id")
    result = db_session.execute(update.execution_options(**{REVIEWED: True}), {"id": dm_id})
    assert result.rowcount == 0
    delete = sa.text("DELETE FROM tenancy_probe WHERE id = :id")
    assert (
        db_session.execute(delete.execution_options(**{REVIEWED: True}), {"id": dm_id}).rowcount
        == 0
    )
    db_session.commit()
    set_current_department(db_session, dm.id)
    assert labels(db_session) == ["dm secret"]


@pytest.mark.postgres
def test_rls_shows_nothing_when_no_department_is_set(app, two_departments):
    from grp.db import db

    with db.engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT count(*) FROM tenancy_probe").execution_options(**{REVIEWED: True})
        ).scalar()
    assert rows == 0


@pytest.mark.postgres
def test_a_transaction_after_a_departments_one_starts_with_no_department(
    two_departments, db_session, application_filter_off
):
    """A transaction without a department must not inherit the department of the
    connection's previous user, even with the pool handing back the very same connection
    (on demand the connection holds it and tenancy._on_begin clears it; always, it ended
    with the previous transaction)."""
    police, dm, police_id, dm_id = two_departments
    raw = sa.text("SELECT label FROM tenancy_probe").execution_options(**{REVIEWED: True})
    setting = sa.text("SELECT current_setting('grp.department_id', true)").execution_options(
        **{REVIEWED: True}
    )
    set_current_department(db_session, police.id)
    assert list(db_session.scalars(raw)) == ["police secret"]
    connection = db_session.connection().connection.dbapi_connection
    db_session.commit()
    set_current_department(db_session, None)
    assert db_session.connection().connection.dbapi_connection is connection
    assert db_session.scalar(setting) in ("", None)
    assert list(db_session.scalars(raw)) == []
    db_session.rollback()


def _setting_on(dbapi_connection) -> str:
    """The department the database connection holds for itself, read beside the session."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT current_setting('grp.department_id', true)")
        return cursor.fetchone()[0] or ""
    finally:
        cursor.close()


@pytest.mark.postgres
def test_the_department_is_sent_once_per_connection_not_per_transaction(
    two_departments, db_session, sql_statements
):
    police, dm, police_id, dm_id = two_departments
    set_current_department(db_session, police.id)
    assert labels(db_session) == ["police secret"]
    connection = db_session.connection().connection.dbapi_connection
    db_session.commit()
    assert labels(db_session) == ["police secret"]
    assert db_session.connection().connection.dbapi_connection is connection
    db_session.commit()
    assert sum("set_config" in statement for statement in sql_statements) == 1


@pytest.mark.postgres
def test_a_rolled_back_write_leaves_the_connections_department(
    two_departments, db_session, application_filter_off
):
    police, dm, police_id, dm_id = two_departments
    set_current_department(db_session, police.id)
    db_session.add(TenancyProbe(label="police draft", department_id=police.id))
    db_session.flush()
    db_session.rollback()
    raw = sa.text("SELECT label FROM tenancy_probe").execution_options(**{REVIEWED: True})
    assert list(db_session.scalars(raw)) == ["police secret"]


@pytest.mark.postgres
def test_a_department_switched_inside_a_write_transaction_ends_with_it(
    two_departments, db_session, application_filter_off
):
    police, dm, police_id, dm_id = two_departments
    raw = sa.text("SELECT label FROM tenancy_probe").execution_options(**{REVIEWED: True})
    set_current_department(db_session, police.id)
    db_session.add(TenancyProbe(label="police new", department_id=police.id))
    db_session.flush()  # a transaction is open from here
    connection = db_session.connection().connection.dbapi_connection
    set_current_department(db_session, dm.id)  # for this transaction only
    assert list(db_session.scalars(raw)) == ["dm secret"]
    db_session.commit()
    assert _setting_on(connection) == str(police.id)  # the transaction's setting ended
    assert list(db_session.scalars(raw)) == ["dm secret"]  # the next one sets its own
    assert _setting_on(connection) == str(dm.id)
    db_session.commit()


@pytest.mark.postgres
def test_an_engine_connection_after_a_departments_session_holds_no_department(
    two_departments, db_session
):
    """The pool hands the session's connection, still holding POLICE, to code that runs
    a reviewed statement without a session: it must see what a new connection would."""
    from grp.db import db

    police, dm, police_id, dm_id = two_departments
    set_current_department(db_session, police.id)
    assert labels(db_session) == ["police secret"]
    connection = db_session.connection().connection.dbapi_connection
    db_session.commit()
    db_session.close()
    assert db.engine.pool.checkedin() == 1
    with db.engine.connect() as engine_connection:
        assert engine_connection.connection.dbapi_connection is connection
        count = sa.text("SELECT count(*) FROM tenancy_probe").execution_options(**{REVIEWED: True})
        assert engine_connection.scalar(count) == 0
    assert _setting_on(connection) == ""


@pytest.mark.postgres
def test_a_streamed_read_on_such_a_connection_is_cleared_first(two_departments, db_session):
    from grp.db import db

    police, dm, police_id, dm_id = two_departments
    set_current_department(db_session, police.id)
    assert labels(db_session) == ["police secret"]
    db_session.commit()
    db_session.close()
    with db.engine.connect() as engine_connection:
        rows = engine_connection.execution_options(yield_per=1).execute(
            sa.text("SELECT label FROM tenancy_probe").execution_options(**{REVIEWED: True})
        )
        assert list(rows) == []


@pytest.mark.postgres
def test_rls_all_departments_setting_opens_reading_only(
    two_departments, db_session, create_user, application_filter_off
):
    police, dm, police_id, dm_id = two_departments
    admin = create_user("root", roles=[("DM", "system_admin")])
    set_current_department(db_session, dm.id)
    with services.read_across_departments(db_session, admin, "report"):
        assert labels(db_session) == ["dm secret", "police secret"]
        update = sa.text("UPDATE tenancy_probe SET label = 'x' WHERE id = :id")
        changed = db_session.execute(
            update.execution_options(**{REVIEWED: True}), {"id": police_id}
        )
        assert changed.rowcount == 0


@pytest.mark.postgres
def test_the_application_role_is_subject_to_rls(app, grp_database):
    from grp.db import db

    with db.engine.connect() as connection:
        role = connection.execute(
            sa.text(
                "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            ).execution_options(**{REVIEWED: True})
        ).one()
        owner = connection.execute(
            sa.text(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'tenancy_probe'"
            ).execution_options(**{REVIEWED: True})
        ).scalar()
    assert role.rolsuper is False and role.rolbypassrls is False
    assert owner != role.rolname


# ------------------------------------------------------------------ audit log is append-only


def test_audit_log_refuses_update_and_delete(app, departments, create_user, db_session):
    create_user("audited", roles=[("POLICE", "employee")])
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) > 0
    from grp.db import db

    # Even the owner connection (migrations' role) cannot rewrite history.
    engine = sa.create_engine(app.config["GRP_DATABASE_OWNER_URL"])
    for statement in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"):
        with (
            engine.connect() as connection,
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
        ):
            connection.exec_driver_sql(statement)
    engine.dispose()
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "forged")
        )
        == 0
    )
