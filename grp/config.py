"""Settings read from the environment.

Every setting has a `GRP_` environment variable. Nothing secret lives in the
repository: a missing secret key is generated once into the instance folder for
local use and refused in production.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


class ConfigurationError(RuntimeError):
    """The settings cannot start the application."""


#: GRP_DATABASE_TRANSACTIONS values (grp/transactions.py).
TRANSACTION_MODES = ("on-demand", "always")


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(instance_path: Path, production: bool) -> str:
    from_env = os.environ.get("GRP_SECRET_KEY")
    if from_env:
        return from_env
    if production:
        raise ConfigurationError(
            "GRP_SECRET_KEY is not set. Production mode refuses to start without an "
            "explicit secret key (generate one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')."
        )
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created with owner-only permissions: the key signs every session cookie.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load_config(
    instance_path: str | Path, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build the Flask configuration from the environment, then apply `overrides`."""
    overrides = dict(overrides or {})
    instance = Path(instance_path)
    production = (
        _bool(os.environ.get("GRP_PRODUCTION"), False) or os.environ.get("GRP_ENV") == "production"
    )
    production = bool(overrides.get("GRP_PRODUCTION", production))

    database_url = os.environ.get("GRP_DATABASE_URL") or f"sqlite:///{instance / 'grp.sqlite3'}"
    config: dict[str, Any] = {
        "GRP_PRODUCTION": production,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # Migrations run as the owner of the tables; the application as a role that
        # does not own them, so PostgreSQL row-level security applies to it.
        "GRP_DATABASE_OWNER_URL": os.environ.get("GRP_DATABASE_OWNER_URL") or database_url,
        "GRP_MODULES": os.environ.get("GRP_MODULES", ""),
        "GRP_MODULES_PACKAGE": os.environ.get("GRP_MODULES_PACKAGE", "modules"),
        "GRP_LOGIN_MAX_FAILURES": int(os.environ.get("GRP_LOGIN_MAX_FAILURES", "5")),
        "GRP_LOGIN_LOCK_MINUTES": int(os.environ.get("GRP_LOGIN_LOCK_MINUTES", "15")),
        "GRP_TOKEN_LIFETIME_HOURS": int(os.environ.get("GRP_TOKEN_LIFETIME_HOURS", "24")),
        # Callers (token or session user, with roles and departments) a process keeps
        # between requests; each request still checks its caller against the database
        # (grp/auth/callers.py). 0 turns the cache off.
        "GRP_CALLER_CACHE_SIZE": int(os.environ.get("GRP_CALLER_CACHE_SIZE", "2048")),
        "GRP_LOG_JSON": _bool(os.environ.get("GRP_LOG_JSON"), True),
        "GRP_LOG_LEVEL": os.environ.get("GRP_LOG_LEVEL", "INFO"),
        # A pooled connection is pinged before use only after sitting idle this long
        # (grp/connections.py); 0 pings before every use.
        "GRP_DATABASE_PING_AFTER_SECONDS": float(
            os.environ.get("GRP_DATABASE_PING_AFTER_SECONDS", "10")
        ),
        # PostgreSQL: `on-demand` opens a transaction only before a statement that may
        # write, with the department set per connection; `always` opens one for every
        # request (for a proxy that pools by transaction). grp/transactions.py.
        "GRP_DATABASE_TRANSACTIONS": os.environ.get("GRP_DATABASE_TRANSACTIONS", "on-demand"),
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_ENABLED": True,
        # Checked in a before_request hook once the user is known: forms and
        # cookie-authenticated API calls need the token, bearer-token calls do not.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Dubai",
        "GRP_LANGUAGES": ("en", "ar"),
        "MAX_CONTENT_LENGTH": int(os.environ.get("GRP_MAX_UPLOAD_BYTES", str(16 * 1024 * 1024))),
        # flask-smorest
        "API_TITLE": "GRP API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/static/",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session"},
                }
            },
            "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        },
    }
    config.update(overrides)
    if config["GRP_DATABASE_TRANSACTIONS"] not in TRANSACTION_MODES:
        raise ConfigurationError(
            f"GRP_DATABASE_TRANSACTIONS must be one of {', '.join(TRANSACTION_MODES)}, "
            f"not {config['GRP_DATABASE_TRANSACTIONS']!r}."
        )
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = _secret_key(instance, bool(config["GRP_PRODUCTION"]))
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite serialises writers; a short busy timeout beats "database is locked".
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 15}}
    return config
