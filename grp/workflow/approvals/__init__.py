"""Approvals: policies as data, routing to approvers, decisions with history, the inbox.

Public API (stable: modules call it):

    register_document_type(app, code, name_en, name_ar, on_decided=None)
    set_manager_resolver(app, resolver)   # resolver(session, user) -> User | None
    submit_for_approval(session, *, document_type, document_id, requester,
                        amount=None, attributes=None, summary="") -> ApprovalRequest
    decide(session, request, *, actor, approve, comment="") -> ApprovalRequest

Also: `preparer=` and `now=` on `submit_for_approval`, `now=` on `decide`;
`cancel_approval`, `pending_request_for`, `escalate_overdue_approvals(session,
now=None)` (for the scheduler; `grp approvals escalate` runs it once), the
`approval_decided` signal (sender: the app; kwargs `request`, `session`), and
the errors in `grp.workflow.approvals.errors`. The rules and the choices made
where the issue left a choice are in `services`' docstring.
"""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from grp.auth.permissions import ALL_ROLES, DEPARTMENT_ADMIN
from grp.workflow.approvals.errors import (
    ApprovalError,
    ApprovalValidationError,
    CommentRequiredError,
    MakerCheckerError,
    NoApproverError,
    NoPolicyError,
    NotAnApproverError,
)
from grp.workflow.approvals.models import ApprovalRequest
from grp.workflow.approvals.registry import (
    EXTENSION_KEY,
    ApprovalRegistry,
    register_document_type,
    set_manager_resolver,
)
from grp.workflow.approvals.services import (
    cancel_approval,
    decide,
    escalate_overdue_approvals,
    pending_request_for,
    submit_for_approval,
)
from grp.workflow.approvals.signals import approval_decided

PERMISSIONS: dict[str, tuple[str, ...]] = {
    # Anyone may be an approver (a manager, an HR officer, a named user) or a requester.
    "platform.approval.read": ALL_ROLES,
    "platform.approval.decide": ALL_ROLES,
    "platform.approval_delegation.manage": ALL_ROLES,
    "platform.approval_policy.manage": (DEPARTMENT_ADMIN,),
}

MENU: tuple[dict[str, str], ...] = (
    {
        "label_en": "Awaiting my decision",
        "label_ar": "بانتظار قراري",
        "endpoint": "approvals.inbox",
        "permission": "platform.approval.decide",
    },
    {
        "label_en": "Delegations",
        "label_ar": "التفويضات",
        "endpoint": "approvals.delegations",
        "permission": "platform.approval_delegation.manage",
    },
    {
        "label_en": "Approval policies",
        "label_ar": "سياسات الموافقة",
        "endpoint": "approvals.policies",
        "permission": "platform.approval_policy.manage",
    },
)

approvals_cli = AppGroup("approvals", help="Approval engine: escalation of overdue approvals.")


@approvals_cli.command("escalate")
@click.option(
    "--now",
    "now",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Pretend it is this UTC time (for checks); default: now.",
)
def escalate_command(now: datetime | None) -> None:
    """Escalate approvals pending longer than their step allows, in every department."""
    from datetime import UTC

    from grp.audit import set_actor
    from grp.db import db

    set_actor(db.session, None, "cli:approvals-escalate")
    moved = escalate_overdue_approvals(db.session, now.replace(tzinfo=UTC) if now else None)
    db.session.commit()
    click.echo(f"Escalated {moved} overdue approval task{'s' if moved != 1 else ''}.")


def run_escalation() -> int:
    """Escalate overdue approvals: the function the scheduler calls (it commits after)."""
    from grp.db import db

    return escalate_overdue_approvals(db.session)


def init_app(app: Flask) -> None:
    """Register the approval engine's permissions, API, pages, menu and CLI on `app`."""
    from grp.extensions import api
    from grp.workflow.approvals.api import BLUEPRINTS
    from grp.workflow.approvals.views import bp

    app.extensions[EXTENSION_KEY] = ApprovalRegistry()
    state = app.extensions["grp"]
    state.permissions.register(PERMISSIONS)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(bp)
    state.menu.extend(dict(item) for item in MENU)
    app.cli.add_command(approvals_cli)
    _schedule_escalation(app)


def _schedule_escalation(app: Flask) -> None:
    """Escalate overdue approvals hourly from the deployment's one scheduler."""
    from grp.workflow.jobs import register_scheduled_job

    register_scheduled_job(
        app,
        "platform.approvals.escalate",
        "grp.workflow.approvals:run_escalation",
        "interval",
        description="Escalate approval tasks waiting longer than their step allows.",
        hours=1,
    )


__all__ = [
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalValidationError",
    "CommentRequiredError",
    "MakerCheckerError",
    "NoApproverError",
    "NoPolicyError",
    "NotAnApproverError",
    "approval_decided",
    "cancel_approval",
    "decide",
    "escalate_overdue_approvals",
    "init_app",
    "pending_request_for",
    "register_document_type",
    "run_escalation",
    "set_manager_resolver",
    "submit_for_approval",
]
