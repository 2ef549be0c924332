"""Two final approvals racing for the same annual balance never overdraw it (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from grp.db import db
from grp.errors import ValidationError
from grp.models import User
from grp.tenancy import set_current_department
from grp.workflow.approvals import decide
from grp.workflow.approvals.models import ApprovalRequest
from modules.hr.services.leave import adjust_balance


@pytest.mark.postgres
def test_two_approvals_for_the_same_balance_never_overdraw_it(leave_world, app):
    # 20 days: two 5-day requests fit when made; then HR takes 15 days away, so
    # only one of them still fits when the two HR officers approve at once.
    first = leave_world.request(date(2026, 12, 7), date(2026, 12, 11))
    second = leave_world.request(date(2026, 12, 14), date(2026, 12, 18))
    for request in (first, second):
        decide(
            db.session,
            db.session.get(ApprovalRequest, request.approval_request_id),
            actor=leave_world.user("mgr"),
            approve=True,
        )
        db.session.commit()
    adjust_balance(
        db.session, leave_world.employee(), leave_world.leave_type("annual"), "-15", "correction"
    )
    db.session.commit()
    assert leave_world.annual_balance() == Decimal("5.00")

    ready = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def approve(username: str, approval_id: int) -> None:
        with app.app_context():
            session = sa.orm.Session(db.engine)
            try:
                set_current_department(session, leave_world.police.id)
                approval = session.get(ApprovalRequest, approval_id)
                actor = session.get(User, leave_world.users[username].id)
                ready.wait(timeout=10)
                decide(session, approval, actor=actor, approve=True)
                session.commit()
                outcomes[username] = "approved"
            except ValidationError as exc:
                session.rollback()
                outcomes[username] = str(exc)
            finally:
                session.close()

    threads = [
        threading.Thread(target=approve, args=("hr1", first.approval_request_id)),
        threading.Thread(target=approve, args=("hr2", second.approval_request_id)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values())[0] == "approved"
    assert "no longer covers" in sorted(outcomes.values())[1]
    assert leave_world.annual_balance() == Decimal("0.00")
    db.session.expire_all()
    states = sorted(
        db.session.get(ApprovalRequest, r.approval_request_id).state for r in (first, second)
    )
    assert states == ["approved", "pending"]  # the refused decision was undone
