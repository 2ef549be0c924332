"""Shared set-up of the approval tests (no tests here): a document type, an org chart, a policy.

POLICE has an employee, their manager `mgr` and `mgr`'s manager `boss`, two HR
officers, an HR officer who is also a requester (`hr.maker`), someone
uninvolved (`outsider`) and a department administrator; DM has its own
administrator and manager. The policy "Expenses" routes `test.expense`
documents to the requester's manager (escalated to that manager's manager
after 48 hours), then, above 10,000.00 only, to any one HR officer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from grp.db import db
from grp.models import User
from grp.tenancy import set_current_department
from grp.workflow.approvals import (
    approval_decided,
    register_document_type,
    set_manager_resolver,
    submit_for_approval,
)
from grp.workflow.approvals.models import ApprovalRequest
from grp.workflow.approvals.policies import create_policy

DOC = "test.expense"
THRESHOLD = Decimal("10000.00")


@dataclass
class World:
    """The people, the policy and what the module and the signal were told."""

    app: Any
    police: Any
    dm: Any
    users: dict[str, User]
    managers: dict[int, int]
    policy_id: int
    decided: list[tuple[int, str]] = field(default_factory=list)
    signalled: list[tuple[int, str]] = field(default_factory=list)

    def __getattr__(self, name: str) -> User:
        users = self.__dict__.get("users", {})
        key = name.replace("_", ".")
        if key in users:
            return users[key]
        raise AttributeError(name)

    def submit(
        self,
        amount: str | None = "500.00",
        *,
        requester: str = "emp",
        document_id: str = "EXP-1",
        **kwargs: Any,
    ) -> ApprovalRequest:
        """Submit a test expense in POLICE and commit; return the request."""
        request = submit_for_approval(
            db.session,
            document_type=DOC,
            document_id=document_id,
            requester=self.users[requester],
            amount=None if amount is None else Decimal(amount),
            summary=f"Expense {document_id}",
            **kwargs,
        )
        db.session.commit()
        return request

    def reload(self, request_id: int) -> ApprovalRequest:
        """Read a request again (pages and the API change it in their own sessions)."""
        db.session.expire_all()
        return db.session.get(ApprovalRequest, request_id)


def expense_policy(**changes: Any) -> dict[str, Any]:
    """The "Expenses" policy as the services and the API take it."""
    policy: dict[str, Any] = {
        "document_type": DOC,
        "name": "Expenses",
        "steps": [
            {
                "name": "Manager",
                "approver_kind": "manager",
                "escalate_after_hours": 48,
                "escalation_kind": "manager",
            },
            {
                "name": "HR",
                "approver_kind": "role",
                "role_code": "hr_officer",
                "mode": "any",
                "min_amount": THRESHOLD,
            },
        ],
    }
    policy.update(changes)
    return policy


def build_world(app: Any, create_user: Callable[..., User], departments: dict[str, Any]) -> World:
    """Create the people, register the document type and the org chart, save the policy."""
    people = {
        "emp": [("POLICE", "employee")],
        "mgr": [("POLICE", "manager")],
        "boss": [("POLICE", "manager")],
        "hr1": [("POLICE", "hr_officer")],
        "hr2": [("POLICE", "hr_officer")],
        "hr.maker": [("POLICE", "hr_officer"), ("POLICE", "employee")],
        "outsider": [("POLICE", "employee")],
        "police.admin": [("POLICE", "department_admin")],
        "dm.admin": [("DM", "department_admin")],
        "dm.mgr": [("DM", "manager")],
    }
    users = {name: create_user(name, roles=roles) for name, roles in people.items()}
    chart = {"emp": "mgr", "hr.maker": "mgr", "hr1": "mgr", "hr2": "mgr", "outsider": "mgr"}
    chart["mgr"] = "boss"
    managers = {users[a].id: users[b].id for a, b in chart.items()}

    def resolve(session: Any, user: User) -> User | None:
        manager_id = managers.get(user.id)
        return session.get(User, manager_id) if manager_id else None

    set_manager_resolver(app, resolve)
    world = World(
        app=app,
        police=departments["POLICE"],
        dm=departments["DM"],
        users=users,
        managers=managers,
        policy_id=0,
    )
    register_document_type(
        app,
        DOC,
        "Test expense",
        "مصروف تجريبي",
        on_decided=lambda session, request: world.decided.append((request.id, request.state)),
    )
    set_current_department(db.session, world.police.id)
    world.policy_id = create_policy(db.session, expense_policy()).id
    db.session.commit()
    return world


def world_fixture(
    app: Any, create_user: Callable[..., User], departments: dict[str, Any]
) -> Iterator[World]:
    """Build the world and listen to the signal for the test's duration."""
    world = build_world(app, create_user, departments)

    def receiver(sender: Any, request: ApprovalRequest, session: Any) -> None:
        world.signalled.append((request.id, request.state))

    approval_decided.connect(receiver, sender=app, weak=False)
    try:
        yield world
    finally:
        approval_decided.disconnect(receiver, sender=app)
