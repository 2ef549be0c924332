"""Flask extensions, created once and bound to an app in create_app()."""

from flask import session
from flask_babel import Babel
from flask_login import LoginManager
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


login_manager = GrpLoginManager()
csrf = CSRFProtect()
babel = Babel()
api = GrpApi()

__all__ = ["api", "babel", "csrf", "db", "login_manager"]
