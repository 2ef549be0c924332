"""Flask extensions, created once and bound to an app in create_app()."""

from typing import Any

from flask import current_app, request, session
from flask_babel import Babel
from flask_login import LoginManager
from flask_login.signals import user_accessed
from flask_wtf.csrf import CSRFProtect

from grp.api import GrpApi
from grp.db import db


class GrpLoginManager(LoginManager):
    """Flask-Login, without its session check where there is no session to check."""

    def _session_protection_failed(self) -> bool:
        # Flask-Login hashes the client's address and user agent (SHA-512) on every
        # request before it looks at the session, and an empty session passes anyway:
        # bearer-token and anonymous requests, most of the API's, paid that for nothing.
        if not session:
            return False
        return bool(super()._session_protection_failed())

    def _load_user(self) -> Any:
        # A request with no cookies and an empty session (an API client's): what
        # Flask-Login's own `_load_user` does for it (the session holds no user, there is
        # no remember-me cookie, so the request loader decides), without its session and
        # configuration look-ups and parsing an absent Cookie header.
        if (
            self._request_callback is not None
            and "HTTP_COOKIE" not in request.environ
            and not session
        ):
            user_accessed.send(current_app._get_current_object())
            return self._update_request_context_with_user(self._load_user_from_request(request))
        return super()._load_user()


login_manager = GrpLoginManager()
csrf = CSRFProtect()
babel = Babel()
api = GrpApi()

__all__ = ["api", "babel", "csrf", "db", "login_manager"]
