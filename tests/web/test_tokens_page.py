"""The API tokens page: create (secret shown once), list, revoke."""

from __future__ import annotations

import re

import sqlalchemy as sa

from grp.models import ApiToken


def new_token_in(html: str) -> str:
    match = re.search(r'id="new-token-value"[^>]*value="(grp_[^"]+)"', html)
    assert match, "no new token on the page"
    return match.group(1)


def test_token_page_offers_the_configured_default_lifetime(app, client_as):
    page = client_as("employee").get("/tokens")
    assert page.status_code == 200
    assert "You have no tokens." in page.text
    default = app.config["GRP_TOKEN_LIFETIME_HOURS"]
    assert re.search(rf'id="lifetime_hours"[^>]*value="{default}"', page.text)


def test_create_token_shows_it_once_and_it_works_on_the_api(client_as):
    browser = client_as("employee")
    response = browser.post("/tokens", data={"name": "finance export", "lifetime_hours": "48"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    plain = new_token_in(response.text)
    assert "shown only this once" in response.text

    listing = browser.get("/tokens")
    assert plain not in listing.text
    assert "finance export" in listing.text and plain[:12] in listing.text

    api = browser.application.test_client()
    me = api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {plain}"})
    assert me.status_code == 200 and me.get_json()["username"] == browser.user.username

    from grp.db import db

    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "finance export"))
    lifetime = token.expires_at - token.created_at
    assert 47.9 < lifetime.total_seconds() / 3600 <= 48


def test_invalid_lifetime_gets_a_field_message(client_as):
    from grp.db import db

    browser = client_as("employee")
    for hours in ("0", "721", "soon"):
        response = browser.post("/tokens", data={"name": "x", "lifetime_hours": hours})
        assert response.status_code == 200, hours
        assert 'id="lifetime_hours-errors"' in response.text, hours
        assert "new-token-value" not in response.text
    response = browser.post("/tokens", data={"name": "", "lifetime_hours": "5"})
    assert "Name the token." in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_revoke_my_token(client_as, fresh):
    browser = client_as("employee")
    plain = new_token_in(browser.post("/tokens", data={"name": "ci", "lifetime_hours": "1"}).text)
    from grp.db import db

    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "ci"))
    response = browser.post(f"/tokens/{token.id}/revoke")
    assert response.status_code == 303
    assert fresh(ApiToken, token.id).revoked_at is not None
    page = browser.get("/tokens")
    assert "The token “ci” is revoked." in page.text
    assert f"/tokens/{token.id}/revoke" not in page.text  # nothing left to revoke
    api = browser.application.test_client()
    assert (
        api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    )


def test_someone_elses_token_is_404(client_as, fresh):
    owner = client_as("employee")
    owner.post("/tokens", data={"name": "mine", "lifetime_hours": "1"})
    from grp.db import db

    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "mine"))
    other = client_as("system_admin")
    assert other.post(f"/tokens/{token.id}/revoke").status_code == 404
    assert other.post("/tokens/999999/revoke").status_code == 404
    assert fresh(ApiToken, token.id).revoked_at is None
    assert "mine" not in other.get("/tokens").text
