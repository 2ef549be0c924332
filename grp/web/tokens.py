"""The user's own API tokens: list, create (the secret shown once), revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from grp.api import paginate
from grp.audit import record_event
from grp.auth import services
from grp.auth.context import require_permission
from grp.db import db
from grp.models import ApiToken
from grp.web.forms import PostForm, TokenForm
from grp.web.helpers import DEFAULT_PER_PAGE, actor, page_number, pagination

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


def _my_tokens() -> sa.Select:
    return (
        sa.select(ApiToken)
        .where(ApiToken.user_id == actor().id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )


def _render(form: TokenForm, new_token: str | None = None, status: int = 200) -> Any:
    page = paginate(_my_tokens(), page_number(), DEFAULT_PER_PAGE)
    body = render_template(
        "tokens/index.html",
        form=form,
        page=pagination(page),
        new_token=new_token,
        revoke_form=PostForm(),
    )
    # The page may carry a secret: no browser or proxy cache may keep it.
    return body, status, {"Cache-Control": "no-store"}


@bp.get("")
@require_permission("platform.token.manage")
def index() -> Any:
    """List my tokens and offer a form for a new one."""
    form = TokenForm(lifetime_hours=current_app.config["GRP_TOKEN_LIFETIME_HOURS"])
    return _render(form)


@bp.post("")
@require_permission("platform.token.manage")
def create() -> Any:
    """Create a token and show its secret this once (no redirect: it is never stored)."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _render(form)
    plain, token = services.create_api_token(
        db.session,
        actor(),
        lifetime=timedelta(hours=form.lifetime_hours.data),
        name=form.name.data,
    )
    record_event(
        db.session,
        "create",
        entity="ApiToken",
        entity_id=str(token.id),
        details={"name": token.name, "prefix": token.prefix, "expires_at": token.expires_at},
    )
    db.session.commit()
    fresh = TokenForm(formdata=None, lifetime_hours=current_app.config["GRP_TOKEN_LIFETIME_HOURS"])
    return _render(fresh, new_token=plain, status=201)


@bp.post("/<int:token_id>/revoke")
@require_permission("platform.token.manage")
def revoke(token_id: int) -> Any:
    """Revoke one of my tokens; another user's token is answered 404."""
    form = PostForm()
    if not form.validate_on_submit():
        abort(400)
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != actor().id:
        abort(404)
    services.revoke_api_token(db.session, token)
    record_event(db.session, "revoke", entity="ApiToken", entity_id=str(token.id))
    db.session.commit()
    flash(_("The token “%(name)s” is revoked.", name=token.name), "success")
    return redirect(url_for("tokens.index"), code=303)
