"""pytest plugin: a migrated database per test, an app, and factory fixtures.

Databases: SQLite by default (a migrated template file copied for each test);
PostgreSQL when `GRP_TEST_DATABASE_URL` names a server and a role that may
create databases (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test).
There, one database is created per test run and migrated as that owner, and the
app connects as a separate non-owner role (`grp_test_app`) so that row-level
security applies exactly as in production. Tests marked `postgres` are skipped
on SQLite.

Fixtures: `app`, `client`, `runner`, `db_session`, `departments` (the 25 demo
departments), `create_department`, `create_user(roles=[("POLICE", "hr_officer")])`,
`login(client, user)`, `client_as(role, department)`, `api_client(user)`,
`api_as(role, department)`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask.testing import FlaskClient

TEST_PASSWORD = "correct-horse-battery"  # noqa: S105 - test fixtures only
APP_ROLE = "grp_test_app"


@dataclass
class TestDatabase:
    """Where tests' databases live and how to reset them."""

    dialect: str
    owner_url: str
    app_url: str
    template: Path | None = None
    _tables: list[str] = field(default_factory=list)

    def urls_for_test(self, tmp_path: Path) -> tuple[str, str]:
        if self.dialect == "sqlite":
            target = tmp_path / "grp-test.sqlite3"
            shutil.copyfile(self.template, target)
            url = f"sqlite:///{target}"
            return url, url
        return self.app_url, self.owner_url

    def reset(self) -> None:
        """Empty every table but the reference data (PostgreSQL; SQLite copies a template)."""
        if self.dialect == "sqlite":
            return
        engine = sa.create_engine(self.owner_url, poolclass=sa.pool.NullPool)
        with engine.begin() as connection:
            # Replica mode skips triggers, including the audit log's append-only ones:
            # only the test harness, connected as a superuser, may do this.
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            tables = ", ".join(self._tables)
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        engine.dispose()


def _fast_password_hashing() -> None:
    # Argon2's production cost (64 MiB, 3 passes) would dominate a suite that creates
    # hundreds of users; tests check behaviour, not hashing cost.
    from grp.auth import services

    services._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _migrate_and_prepare(owner_url: str, app_url: str, instance: Path) -> list[str]:
    from grp.app import create_app
    from grp.auth.services import ensure_built_in_roles
    from grp.db import db
    from grp.migrate import upgrade
    from grp.testing.probe import create_probe_table

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app_url,
            "GRP_DATABASE_OWNER_URL": owner_url,
            "SECRET_KEY": "test",
            "INSTANCE_PATH": str(instance),
        }
    )
    upgrade(app)
    engine = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        create_probe_table(connection, APP_ROLE if owner_url != app_url else None)
    with Session(engine) as session:
        ensure_built_in_roles(session)
        session.commit()
    tables = [
        t for t in sa.inspect(engine).get_table_names() if t not in ("alembic_version", "roles")
    ]
    engine.dispose()
    with app.app_context():
        db.engine.dispose()
    return tables


from sqlalchemy.orm import Session  # noqa: E402


@pytest.fixture(scope="session")
def grp_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    """One migrated database (or template) for the whole run."""
    _fast_password_hashing()
    base_url = os.environ.get("GRP_TEST_DATABASE_URL")
    instance = tmp_path_factory.mktemp("instance")
    if not base_url:
        template = tmp_path_factory.mktemp("db") / "template.sqlite3"
        url = f"sqlite:///{template}"
        _migrate_and_prepare(url, url, instance)
        yield TestDatabase("sqlite", url, url, template=template)
        return
    server = sa.engine.make_url(base_url)
    name = f"grp_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
        )
        if not exists:
            # A concurrent test run may create it meanwhile.
            with contextlib.suppress(sa.exc.ProgrammingError):
                connection.exec_driver_sql(
                    f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                )
    owner_url = server.set(database=name).render_as_string(hide_password=False)
    app_url = server.set(database=name, username=APP_ROLE, password=None).render_as_string(
        hide_password=False
    )
    try:
        tables = _migrate_and_prepare(owner_url, app_url, instance)
        yield TestDatabase("postgresql", owner_url, app_url, _tables=tables)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("GRP_TEST_DATABASE_URL"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set GRP_TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context, as in production.

    Flask reuses an already pushed app context for a request; the `app` fixture
    keeps one pushed for the test body, so without this, `g` (and Flask-Login's
    cached user) and the database session would leak between requests.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Extra settings for the `app` fixture; override in a test module to change them."""
    return {}


@pytest.fixture
def app(grp_database: TestDatabase, tmp_path: Path, app_config: dict[str, Any]) -> Iterator[Any]:
    from grp.app import create_app
    from grp.db import db

    app_url, owner_url = grp_database.urls_for_test(tmp_path)
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": app_url,
        "GRP_DATABASE_OWNER_URL": owner_url,
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WTF_CSRF_ENABLED": False,
        "GRP_LOG_JSON": True,
    }
    config.update(app_config)
    flask_app = create_app(config)
    flask_app.test_client_class = IsolatedClient
    with flask_app.app_context():
        yield flask_app
        db.session.remove()
        db.engine.dispose()
    grp_database.reset()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def db_session(app: Any) -> Any:
    from grp.db import db

    return db.session


@pytest.fixture
def driver_pipelines(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times a statement went to PostgreSQL with a rider in one round trip
    (`grp.driver.ride_along`), as `{"n": count}`."""
    from grp import driver

    count = {"n": 0}
    original = driver._execute_with_rider

    def counted(*args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(driver, "_execute_with_rider", counted)
    return count


@pytest.fixture
def sql_statements(app: Any) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends from now on, as a list (clear it at will)."""
    from sqlalchemy import event

    from grp.db import db

    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def departments(app: Any) -> dict[str, Any]:
    """The 4 sectors and 25 departments of DOMAIN.md, by department code."""
    from grp.db import db
    from grp.demo import load_organisation

    result = load_organisation(db.session)
    db.session.commit()
    return result


@pytest.fixture
def create_department(app: Any) -> Callable[..., Any]:
    from grp.db import db
    from grp.models import Department, Sector

    def _create(
        code: str = "TESTDEPT", name_en: str | None = None, name_ar: str | None = None
    ) -> Any:
        sector = db.session.scalar(sa.select(Sector).where(Sector.code == "TEST"))
        if sector is None:
            sector = Sector(code="TEST", name_en="Test sector", name_ar="قطاع الاختبار")
            db.session.add(sector)
        department = Department(
            code=code,
            name_en=name_en or f"Department {code}",
            name_ar=name_ar or f"دائرة {code}",
            sector=sector,
        )
        db.session.add(department)
        db.session.commit()
        return department

    return _create


@pytest.fixture
def create_user(app: Any, departments: dict[str, Any]) -> Callable[..., Any]:
    """Create a user: `create_user(roles=[("POLICE", "hr_officer")])`."""
    from grp.auth import services
    from grp.db import db

    counter = iter(range(1, 1_000_000))

    def _create(
        username: str | None = None,
        *,
        roles: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (("POLICE", "employee"),),
        password: str = TEST_PASSWORD,
        name: str | None = None,
        language: str = "en",
    ) -> Any:
        username = username or f"user{next(counter)}"
        user = services.create_user(
            db.session,
            username=username,
            password=password,
            name=name or username.title(),
            roles=list(roles),
            language=language,
        )
        db.session.commit()
        return user

    return _create


@pytest.fixture
def login(app: Any) -> Callable[..., Any]:
    """Sign `user` in on `client` through the login form; returns the response."""

    def _login(client: Any, user: Any, password: str = TEST_PASSWORD) -> Any:
        response = client.post("/login", data={"username": user.username, "password": password})
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        return response

    return _login


@pytest.fixture
def client_as(
    app: Any, create_user: Callable[..., Any], login: Callable[..., Any]
) -> Callable[..., Any]:
    """A browser client signed in with `role` in `department`: `client_as("hr_officer")`."""

    def _client_as(role: str, department: str = "POLICE", **user_kwargs: Any) -> Any:
        user = create_user(roles=[(department, role)], **user_kwargs)
        browser = app.test_client()
        login(browser, user)
        browser.user = user
        return browser

    return _client_as


class ApiClient:
    """A test client that sends a bearer token (and optionally a department)."""

    def __init__(self, client: Any, token: str, user: Any, department: str | None) -> None:
        self.client, self.token, self.user, self.department = client, token, user, department

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.department:
            headers["X-GRP-Department"] = self.department
        headers.update(extra or {})
        return headers

    def open(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.open(path, method=method, headers=self._headers(headers), **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.open("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.open("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.open("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.open("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.open("DELETE", path, **kw)


@pytest.fixture
def api_client(app: Any) -> Callable[..., ApiClient]:
    """`api_client(user, department=None)`: an API client with a fresh token for `user`."""
    from datetime import timedelta

    from grp.auth import services
    from grp.db import db

    def _api_client(user: Any, department: str | None = None) -> ApiClient:
        plain, _ = services.create_api_token(db.session, user, lifetime=timedelta(hours=1))
        db.session.commit()
        return ApiClient(app.test_client(), plain, user, department)

    return _api_client


@pytest.fixture
def api_as(
    create_user: Callable[..., Any], api_client: Callable[..., ApiClient]
) -> Callable[..., ApiClient]:
    """An API client for a new user holding `role` in `department`."""

    def _api_as(role: str, department: str = "POLICE", **user_kwargs: Any) -> ApiClient:
        user = create_user(roles=[(department, role)], **user_kwargs)
        return api_client(user, department)

    return _api_as
