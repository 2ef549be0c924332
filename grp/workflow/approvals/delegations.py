"""Delegation: someone decides another person's approvals between two days.

A delegate may decide the delegator's tasks only inside the window (days in
Asia/Dubai, both ends included) and for the document types it names (none: all);
the history records both the delegate and the approver they acted for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.db import utcnow
from grp.models import User
from grp.tenancy import current_department_id
from grp.workflow.approvals.errors import N_, ApprovalValidationError, Message
from grp.workflow.approvals.models import ApprovalDelegation
from grp.workflow.approvals.registry import local_date, members_of, registry


def delegations_to(
    session: Session, delegate: User, day: date, delegator_ids: Iterable[int] | None = None
) -> list[ApprovalDelegation]:
    """Return the delegations in force on `day` that let `delegate` act for others."""
    query = sa.select(ApprovalDelegation).where(
        ApprovalDelegation.delegate_id == delegate.id,
        ApprovalDelegation.revoked_at.is_(None),
        ApprovalDelegation.starts_on <= day,
        ApprovalDelegation.ends_on >= day,
    )
    if delegator_ids is not None:
        query = query.where(ApprovalDelegation.delegator_id.in_(set(delegator_ids)))
    return list(session.scalars(query.order_by(ApprovalDelegation.id)))


def delegates_of(
    session: Session, delegator: User, day: date, document_type_code: str
) -> list[User]:
    """Return the users who may act for `delegator` on `day` for this document type."""
    delegations = session.scalars(
        sa.select(ApprovalDelegation).where(
            ApprovalDelegation.delegator_id == delegator.id,
            ApprovalDelegation.revoked_at.is_(None),
            ApprovalDelegation.starts_on <= day,
            ApprovalDelegation.ends_on >= day,
        )
    )
    return [d.delegate for d in delegations if d.covers(day, document_type_code)]


def _clean_delegation(
    session: Session,
    *,
    delegator: User | None,
    delegate: User | None,
    starts_on: date | None,
    ends_on: date | None,
    document_types: list[str] | None,
    today: date,
) -> None:
    errors: dict[str, list[str]] = {}
    department_id = current_department_id(session)
    members = members_of(
        session, department_id, [u.id for u in (delegator, delegate) if u is not None]
    )
    if delegator is None or delegator.id not in members:
        errors["delegator_id"] = [Message(N_("Choose a user of this department."))]
    if delegate is None or delegate.id not in members or not delegate.is_active:
        errors["delegate_id"] = [Message(N_("Choose an active user of this department."))]
    elif delegator is not None and delegate.id == delegator.id:
        errors["delegate_id"] = [Message(N_("Choose someone other than the person who delegates."))]
    if starts_on is None:
        errors["starts_on"] = [Message(N_("Enter the first day."))]
    if ends_on is None:
        errors["ends_on"] = [Message(N_("Enter the last day."))]
    elif starts_on is not None and ends_on < starts_on:
        errors["ends_on"] = [Message(N_("The last day cannot be before the first day."))]
    elif ends_on < today:
        errors["ends_on"] = [Message(N_("The last day cannot be in the past."))]
    unknown = [t for t in document_types or [] if t not in registry().document_types]
    if unknown:
        errors["document_types"] = [
            Message(N_("Unknown document types: %(types)s."), types=", ".join(unknown))
        ]
    if errors:
        raise ApprovalValidationError(errors)


def create_delegation(
    session: Session,
    *,
    delegator: User,
    delegate: User | None,
    starts_on: date | None,
    ends_on: date | None,
    actor: User,
    actor_is_admin: bool = False,
    document_types: list[str] | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> ApprovalDelegation:
    """Let `delegate` decide `delegator`'s approvals from `starts_on` to `ends_on`.

    Users delegate their own approvals; a department administrator
    (`actor_is_admin`) may set one up for anyone in the department.
    """
    if delegator.id != actor.id and not actor_is_admin:
        raise ApprovalValidationError(
            {"delegator_id": [Message(N_("You can delegate only your own approvals."))]}
        )
    _clean_delegation(
        session,
        delegator=delegator,
        delegate=delegate,
        starts_on=starts_on,
        ends_on=ends_on,
        document_types=document_types,
        today=local_date(now),
    )
    delegation = ApprovalDelegation(
        delegator_id=delegator.id,
        delegate_id=delegate.id,
        starts_on=starts_on,
        ends_on=ends_on,
        document_types=sorted(set(document_types)) if document_types else None,
        reason=(reason or "").strip()[:500],
        created_by_id=actor.id,
    )
    session.add(delegation)
    session.flush()
    return delegation


def revoke_delegation(
    session: Session, delegation: ApprovalDelegation, *, now: datetime | None = None
) -> None:
    """End a delegation now; decisions already taken under it stand."""
    if delegation.revoked_at is None:
        delegation.revoked_at = now or utcnow()
        session.flush()


def delegations_query(user: User | None = None) -> sa.Select:
    """Delegations of the current department given by or to `user` (None: all), newest first."""
    query = sa.select(ApprovalDelegation).order_by(
        ApprovalDelegation.starts_on.desc(), ApprovalDelegation.id.desc()
    )
    if user is not None:
        query = query.where(
            sa.or_(
                ApprovalDelegation.delegator_id == user.id,
                ApprovalDelegation.delegate_id == user.id,
            )
        )
    return query
