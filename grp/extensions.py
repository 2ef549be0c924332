"""Flask extensions, created once and bound to an app in create_app()."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from grp.api import GrpApi
from grp.db import db

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
api = GrpApi()

__all__ = ["api", "babel", "csrf", "db", "login_manager"]
