"""Liveness and readiness probes.

`/healthz` answers while the process runs; `/readyz` only when the database
answers and is migrated to the heads of the enabled modules, so a load
balancer sends no traffic to an instance whose schema is behind its code.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify

from grp.auth.permissions import public
from grp.db import db
from grp.tenancy import REVIEWED

bp = Blueprint("health", __name__)
logger = logging.getLogger(__name__)


@bp.after_request
def _never_cache(response: Any) -> Any:
    # A cached "ok" would hide an outage from the prober.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
@public
def healthz() -> Any:
    """Answer that the process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz() -> Any:
    """Answer 200 when the database answers and its schema is at the migrations' heads."""
    from grp.migrate import pending_heads

    try:
        db.session.execute(sa.text("SELECT 1").execution_options(**{REVIEWED: True}))
        pending = pending_heads()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        # The exception text may name hosts or paths: log it, answer with its type only.
        logger.warning("not ready: %s: %s", type(exc).__name__, exc)
        return jsonify(status="unavailable", reason=type(exc).__name__), 503
    if pending:
        return jsonify(status="unavailable", reason="migrations pending", pending=pending), 503
    return jsonify(status="ok")
