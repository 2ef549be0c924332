"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify

from grp.auth.permissions import public
from grp.db import db
from grp.tenancy import REVIEWED

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz() -> Any:
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz() -> Any:
    """The database answers and its schema is at the migrations' heads."""
    from grp.migrate import pending_heads

    try:
        db.session.execute(sa.text("SELECT 1").execution_options(**{REVIEWED: True}))
        pending = pending_heads()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        return jsonify(status="unavailable", reason=type(exc).__name__), 503
    if pending:
        return jsonify(status="unavailable", reason="migrations pending", pending=pending), 503
    return jsonify(status="ok")
