"""Approvals: policies as data, routing to approvers, decisions with history, the inbox.

Public API (stable: modules call it):

    register_document_type(app, code, name_en, name_ar, on_decided=None)
    set_manager_resolver(app, resolver)   # resolver(session, user) -> User | None
    submit_for_approval(session, *, document_type, document_id, requester,
                        amount=None, attributes=None, summary="") -> ApprovalRequest
    decide(session, request, *, actor, approve, comment="") -> ApprovalRequest
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    pass
