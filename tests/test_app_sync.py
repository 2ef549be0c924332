"""GrpFlask.ensure_sync: Flask's answer for a view or hook, worked out once per function."""

from __future__ import annotations

from typing import Any

import flask.app
import pytest
from flask import Flask


def test_a_plain_function_is_asked_about_once_and_returned_as_it_is(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Any] = []
    real = flask.app.iscoroutinefunction

    def counting(func: Any) -> bool:
        asked.append(func)
        return real(func)

    monkeypatch.setattr(flask.app, "iscoroutinefunction", counting)

    def view() -> str:
        return "ok"

    assert app.ensure_sync(view) is view
    assert app.ensure_sync(view) is view
    assert asked == [view]


def test_requests_still_run_their_hooks_and_views(client: Any) -> None:
    for _ in range(2):  # the second time from what the first worked out
        answer = client.get("/healthz")
        assert answer.status_code == 200
        assert answer.headers["X-Content-Type-Options"] == "nosniff"  # an after_request hook


def test_a_coroutine_function_is_still_wrapped_by_flask(app: Flask) -> None:
    async def view() -> str:
        return "ok"

    for _ in range(2):
        try:
            wrapped = app.ensure_sync(view)
        except RuntimeError as exc:  # Flask without its "async" extra (asgiref)
            assert "async" in str(exc)
        else:
            assert wrapped is not view


def test_bound_methods_are_not_kept(app: Flask) -> None:
    class Views:
        def show(self) -> str:
            return "ok"

    views = Views()
    kept = len(app.__dict__.get("_sync_functions", {}))
    for _ in range(3):
        assert app.ensure_sync(views.show) == views.show
    assert len(app.__dict__.get("_sync_functions", {})) == kept


# --------------------------------------------------------------------------- session cookies


@pytest.mark.parametrize("vary", [None, "Accept-Encoding", "Cookie"])
@pytest.mark.parametrize("accessed", [False, True])
@pytest.mark.parametrize("contents", [{}, {"department_id": 3}])
@pytest.mark.parametrize("modified", [False, True])
def test_saving_a_session_answers_as_flasks_own_interface(
    app: Flask, accessed: bool, contents: dict[str, Any], modified: bool, vary: str | None
) -> None:
    """CookieSessions.save_session skips Flask's cookie settings for an empty session
    nothing changed; every case gives the headers Flask's own interface gives."""
    from flask.sessions import SecureCookieSessionInterface

    from grp.app import CookieSessions

    def headers(interface: SecureCookieSessionInterface) -> list[tuple[str, str]]:
        with app.test_request_context("/api/v1/auth/me"):
            session = interface.session_class(contents)
            session.modified = modified
            session.accessed = accessed
            response = app.response_class("{}")
            if vary:
                response.headers["Vary"] = vary
            interface.save_session(app, session, response)
            return sorted(response.headers.items())

    ours, flasks = headers(CookieSessions()), headers(SecureCookieSessionInterface())
    assert ours == flasks
    if contents and modified:
        assert any(name == "Set-Cookie" for name, _ in ours)


def test_a_request_without_cookies_opens_an_empty_session_and_one_with_a_cookie_its_own(
    client: Any, app: Flask
) -> None:
    from grp.app import CookieSessions

    interface = CookieSessions()
    with app.test_request_context("/healthz"):
        from flask import request

        assert dict(interface.open_session(app, request)) == {}
    signed = interface.get_signing_serializer(app).dumps({"department_id": 7})
    name = interface.get_cookie_name(app)
    with app.test_request_context("/healthz", headers={"Cookie": f"{name}={signed}"}):
        assert dict(interface.open_session(app, request)) == {"department_id": 7}
    with app.test_request_context("/healthz", headers={"Cookie": "other=1"}):
        assert dict(interface.open_session(app, request)) == {}
