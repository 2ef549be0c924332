"""Audit log: who, when, department, what, before and after, in the same transaction."""

from __future__ import annotations

import sqlalchemy as sa

from grp.audit import set_actor
from grp.models import AuditEntry, Department


def entries(session, **filters):
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    for key, value in filters.items():
        query = query.where(getattr(AuditEntry, key) == value)
    return session.scalars(query).all()


def test_update_records_only_changed_fields_with_before_and_after(
    departments, db_session, create_user
):
    actor = create_user("root", roles=[("DM", "system_admin")])
    set_actor(db_session, actor.id, actor.username)
    police = departments["POLICE"]
    police.name_en = "Dubai Police General HQ"
    db_session.commit()
    [entry] = entries(db_session, entity="Department", action="update")
    assert entry.before == {"name_en": "Dubai Police"}
    assert entry.after["name_en"] == "Dubai Police General HQ"
    assert "name_ar" not in entry.after
    assert entry.department_id == police.id
    assert entry.actor_id == actor.id and entry.actor_name == "root"
    assert entry.entity_id == str(police.id)
    assert entry.at is not None and entry.at.tzinfo is not None


def test_rolled_back_change_leaves_no_entry(departments, db_session):
    before = len(entries(db_session))
    departments["DM"].name_en = "Renamed"
    db_session.flush()
    assert len(entries(db_session)) == before + 1  # written in the same transaction...
    db_session.rollback()
    assert len(entries(db_session)) == before  # ...and gone with it


def test_create_and_delete_are_recorded(departments, db_session):
    sector = departments["POLICE"].sector
    department = Department(code="NEWDEPT", name_en="New", name_ar="جديد", sector=sector)
    db_session.add(department)
    db_session.commit()
    department_id = department.id
    db_session.delete(department)
    db_session.commit()
    created = entries(
        db_session, entity="Department", action="create", entity_id=str(department_id)
    )
    deleted = entries(
        db_session, entity="Department", action="delete", entity_id=str(department_id)
    )
    assert created[0].after["code"] == "NEWDEPT" and created[0].before is None
    assert deleted[0].before["name_ar"] == "جديد" and deleted[0].after is None


def test_secrets_are_never_copied_into_the_log(create_user, db_session):
    user = create_user("someone", roles=[("POLICE", "employee")])
    user.password_hash = "changed-hash"
    user.name = "Someone Else"
    db_session.commit()
    for entry in entries(db_session, entity="User"):
        assert "password_hash" not in (entry.before or {})
        assert "password_hash" not in (entry.after or {})
