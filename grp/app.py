"""The application factory."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FunctionType
from typing import Any

from flask import Flask, g, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from grp import tenancy
from grp.audit import install_audit_listener
from grp.auth.callers import CallerCache
from grp.auth.permissions import PLATFORM_PERMISSIONS, PermissionRegistry
from grp.config import load_config
from grp.connections import install_idle_ping
from grp.descriptions import install_lazy_descriptions
from grp.errors import ValidationError
from grp.extensions import api, csrf, db, login_manager
from grp.json_provider import GrpJSONProvider
from grp.logging import configure_logging, log_request
from grp.module_loader import (
    ModuleManifest,
    discover_modules,
    import_module_package,
    parse_enabled,
    resolve_load_order,
)
from grp.transactions import engine_options, finish_read_only, install_transaction_tracking

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class GrpState:
    """What the platform knows about this app: permissions, modules, menu."""

    permissions: PermissionRegistry = field(default_factory=PermissionRegistry)
    modules: list[ModuleManifest] = field(default_factory=list)
    menu: list[dict[str, str]] = field(default_factory=list)
    callers: CallerCache = field(default_factory=CallerCache)

    def render_html_error(self, error: HTTPException) -> Any:
        code = error.code or 500
        template = (
            f"errors/{code}.html" if code in (401, 403, 404, 429, 500) else "errors/generic.html"
        )
        return render_template(template, error=error, code=code), code


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for a request with no cookie.

    API clients send a bearer token and no session cookie; Flask would still build the
    cookie's serializer (key derivation set-up included) for every such request only to
    find nothing to verify.
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        # No Cookie header at all (an API client's request): nothing to parse either.
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        # An empty session nothing changed (every API request's): what Flask's own
        # save_session does for it, without first reading its seven cookie settings.
        if not session and not session.modified:
            if session.accessed:
                if "Vary" in response.headers:
                    response.vary.add("Cookie")
                else:  # what `vary.add` writes, without parsing the header into a set
                    response.headers["Vary"] = "Cookie"
            return
        super().save_session(app, session, response)


class GrpFlask(Flask):
    """Flask, with the cached caller's checks settled before a response leaves
    (grp/auth/context.py): a request found to act for a stale caller is answered afresh."""

    def full_dispatch_request(self) -> Any:
        from grp.auth.context import StaleCallerError, restart_request

        try:
            return super().full_dispatch_request()
        except StaleCallerError:
            restart_request()
            return super().full_dispatch_request()

    #: Functions `ensure_sync` answered for, with its answer (bounded: views and hooks).
    _sync_functions: dict[FunctionType, Any]
    _SYNC_FUNCTIONS_KEPT = 4096

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Flask asks this of every view and hook on every request, and its answer for a
        # plain function never changes: `inspect.iscoroutinefunction` nine times a
        # request (API search) becomes a dictionary lookup.
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        known = self.__dict__.setdefault("_sync_functions", {})
        found = known.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if len(known) < self._SYNC_FUNCTIONS_KEPT:
                known[func] = found
        return found

    def finalize_request(self, rv: Any, from_error_handler: bool = False) -> Any:
        if not from_error_handler:
            from grp.auth.context import settle_caller

            settle_caller()
        return super().finalize_request(rv, from_error_handler)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the GRP app; `config` overrides settings read from the environment."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get(
        "GRP_INSTANCE_PATH", str(PROJECT_ROOT / "instance")
    )
    app = GrpFlask(
        "grp",
        instance_path=str(Path(instance_path).resolve()),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "grp" / "static"),
    )
    app.config.update(load_config(app.instance_path, config))
    app.session_interface = CookieSessions()
    # API answers keep the schemas' field order (readable, and no sort per object) and
    # carry Arabic as UTF-8 rather than \u escapes (a third the bytes per letter);
    # orjson writes them (grp/json_provider.py).
    app.json = GrpJSONProvider(app)
    configure_logging(app.config["GRP_LOG_LEVEL"], app.config["GRP_LOG_JSON"])

    state = GrpState(callers=CallerCache(capacity=app.config["GRP_CALLER_CACHE_SIZE"]))
    app.extensions["grp"] = state
    state.permissions.register(PLATFORM_PERMISSIONS)

    # PostgreSQL: autocommit connections, transactions opened before the first write
    # (grp/transactions.py), unless GRP_DATABASE_TRANSACTIONS says always.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        on_demand=app.config["GRP_DATABASE_TRANSACTIONS"] == "on-demand",
    )
    db.init_app(app)
    tenancy.install_session_guards()
    install_audit_listener()
    with app.app_context():
        install_lazy_descriptions(db.engine)
        tenancy.install_engine_guard(db.engine)
        install_transaction_tracking(db.engine)
        install_idle_ping(db.engine, app.config["GRP_DATABASE_PING_AFTER_SECONDS"])

    _init_auth(app)
    csrf.init_app(app)
    from grp.i18n import init_i18n

    init_i18n(app)
    api.init_app(app)
    _register_platform(app)
    from grp.workflow import init_workflow

    init_workflow(app)
    from grp.pdf import init_pdf

    init_pdf(app)  # one warning line when PDF system packages are missing; no WeasyPrint import
    _load_modules(app, state)
    _mark_third_party_views_public(app)
    _install_request_hooks(app)

    from grp.cli import register_commands

    register_commands(app)
    return app


def _init_auth(app: Flask) -> None:
    from grp.auth.context import load_user, load_user_from_bearer

    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_user)
    login_manager.request_loader(load_user_from_bearer)


def _register_platform(app: Flask) -> None:
    from grp.api import register_docs_assets
    from grp.health import bp as health_bp
    from grp.platform_api import register_api
    from grp.web import register_web

    app.register_blueprint(health_bp)
    register_docs_assets(app)
    register_api(api)
    register_web(app)


def _load_modules(app: Flask, state: GrpState) -> None:
    available = discover_modules(app.config["GRP_MODULES_PACKAGE"])
    state.modules = resolve_load_order(available, parse_enabled(app.config["GRP_MODULES"]))
    for manifest in state.modules:
        state.permissions.register(manifest.permissions)
        state.menu.extend(manifest.menu)
        package = import_module_package(manifest)
        setup = getattr(package, "setup", None)
        if setup is not None:
            setup(app)


def _mark_third_party_views_public(app: Flask) -> None:
    """Static files and the OpenAPI document need no permission; say so explicitly."""
    from grp.auth.permissions import PUBLIC_ATTR

    for endpoint, view in list(app.view_functions.items()):
        if endpoint == "static" or endpoint.startswith("api-docs."):

            def public_view(*args: Any, _view: Any = view, **kwargs: Any) -> Any:
                return _view(*args, **kwargs)

            setattr(public_view, PUBLIC_ATTR, True)
            app.view_functions[endpoint] = public_view


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
}


def _install_request_hooks(app: Flask) -> None:
    from grp.auth.context import DepartmentChoiceError, begin_request, is_api_request

    @app.before_request
    def _begin() -> Any:
        g.started = time.perf_counter()
        try:
            begin_request()
        except DepartmentChoiceError as exc:
            if is_api_request():
                from grp.api import problem_response

                return problem_response(exc.status, str(exc))
            raise
        _check_csrf()
        return None

    def _check_csrf() -> None:
        if not app.config["WTF_CSRF_ENABLED"] or request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if is_api_request():
            from flask_login import current_user

            if g.get("grp_auth_method") == "token" or not current_user.is_authenticated:
                return  # bearer tokens are not sent by browsers on their own
        csrf.protect()

    defaults = list(SECURITY_HEADERS.items())
    if app.config["GRP_PRODUCTION"]:
        defaults.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    defaults_by_key = [(name.lower(), name, value) for name, value in defaults]

    @app.after_request
    def _headers(response: Any) -> Any:
        # A view may have set one of them itself; that one stays. One pass over the
        # response's few headers, not one case-insensitive search per default.
        headers = response.headers
        present = {name.lower() for name, _ in headers}
        for key, name, value in defaults_by_key:
            if key not in present:
                headers.add(name, value)
        if request.path.startswith("/api/v1/docs"):
            # Swagger UI needs inline script for its bootstrap.
            response.headers["Content-Security-Policy"] = SECURITY_HEADERS[
                "Content-Security-Policy"
            ].replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        log_request(
            response.status_code, g.get("started", time.perf_counter()), time.perf_counter()
        )
        return response

    @app.teardown_request
    def _end(exc: BaseException | None) -> None:
        # Requests commit explicitly in views; anything left open is rolled back, except
        # a transaction that only read, which commits so PostgreSQL keeps its prepared
        # statements (on PostgreSQL by default such a request opened no database
        # transaction at all: grp/transactions.py).
        if exc is not None:
            db.session.rollback()
        else:
            finish_read_only(db.session)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError) -> Any:
        """A service refused bad input: 422 with its field errors (API), nothing stored."""
        db.session.rollback()
        if is_api_request():
            from grp.api import problem_response

            return problem_response(422, "The request has invalid fields.", exc.errors)
        raise exc  # pages handle it in the view, next to their form

    @app.errorhandler(tenancy.TenancyError)
    def _tenancy_error(exc: tenancy.TenancyError) -> Any:
        db.session.rollback()
        if is_api_request():
            from grp.api import problem_response

            if g.get("department") is None:
                return problem_response(
                    400, "Name the department to act in with the X-GRP-Department header."
                )
            return problem_response(500, "Internal error.")
        raise exc
