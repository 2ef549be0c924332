"""The `grp` command line: migrations, users, demo data, modules and the server."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask

from grp import migrate
from grp.app import create_app
from grp.auth import services
from grp.db import db
from grp.demo import DEMO_PASSWORD, demo_logins
from grp.models import AuditEntry, Department, RoleAssignment, Sector, User

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "a-long-admin-password"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on an empty SQLite file (not the migrated test database)."""
    apps: list[Flask] = []

    def make(**config: Any) -> Flask:
        url = f"sqlite:///{tmp_path / 'fresh' / 'grp.sqlite3'}"
        settings = {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "GRP_DATABASE_OWNER_URL": url,
            "SECRET_KEY": "test",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WTF_CSRF_ENABLED": False,
        }
        settings.update(config)
        made = create_app(settings)
        apps.append(made)
        return made

    yield make
    for made in apps:
        with made.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def modules_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Write a throw-away package of business modules; return its import name."""

    def make(manifests: list[dict[str, Any]], code: dict[str, str] | None = None) -> str:
        name = f"grpmods_{uuid.uuid4().hex[:10]}"
        package = tmp_path / "pkgs" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        for manifest in manifests:
            folder = package / manifest["name"]
            folder.mkdir()
            (folder / "__manifest__.py").write_text(repr(manifest))
            (folder / "__init__.py").write_text((code or {}).get(manifest["name"], ""))
        monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
        return name

    return make


@pytest.fixture
def migrations_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point grp.migrate at a copy of migrations/, so new revisions stay out of the tree."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", copy)
    return copy


def invoke(app: Flask, *args: str, input: str | None = None) -> click.testing.Result:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def as_tuple(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def table_names(app: Flask) -> set[str]:
    engine = migrate.owner_engine(app)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def row_counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Sector, Department, User, RoleAssignment, AuditEntry)
    }


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


# --------------------------------------------------------------------------- entry points


def test_every_grp_command_is_registered_with_help(app: Flask) -> None:
    paths = set(_commands(app.cli))
    expected = {
        ("db",),
        ("db", "upgrade"),
        ("db", "downgrade"),
        ("db", "current"),
        ("db", "heads"),
        ("db", "check"),
        ("db", "revision"),
        ("create-admin",),
        ("load-organisation",),
        ("seed-demo",),
        ("modules",),
        ("serve",),
    }
    assert expected <= paths
    for path in sorted(expected):
        command: Any = app.cli
        for name in path:
            command = command.commands[name]
        assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
        result = invoke(app, *path, "--help")
        assert result.exit_code == 0, result.output
        assert command.help.strip().splitlines()[0][:40] in " ".join(result.output.split())


def _run_python(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GRP_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "GRP_INSTANCE_PATH": str(tmp_path / "instance"),
        "GRP_MODULES_PACKAGE": "grp_no_such_modules_package",
        "GRP_LOG_JSON": "1",
    }
    env.pop("GRP_DATABASE_OWNER_URL", None)
    env.pop("GRP_PRODUCTION", None)
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_console_script_entry_point_runs_commands(tmp_path: Path) -> None:
    """`grp` enters through grp_boot.main; the stdlib `grp` module must not shadow ours."""
    code = "import sys, grp_boot; sys.argv[0] = 'grp'; grp_boot.main()"
    upgraded = _run_python(code, tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Database is at" in upgraded.stdout
    current = _run_python(code, tmp_path, "db", "current")
    assert current.returncode == 0, current.stderr
    assert "(head)" in current.stdout
    modules = _run_python(code, tmp_path, "modules")
    assert modules.returncode == 0, modules.stderr
    lines = modules.stdout.splitlines()
    assert lines[2].startswith("platform")
    assert "no business modules enabled" in modules.stdout


def test_flask_cli_reaches_the_same_commands(tmp_path: Path) -> None:
    code = "import sys; from flask.cli import main; sys.argv[0] = 'flask'; main()"
    result = _run_python(code, tmp_path, "--app", "wsgi", "db", "heads")
    assert result.returncode == 0, result.stderr
    assert "(platform)" in result.stdout


# --------------------------------------------------------------------------- db


def test_db_upgrade_current_heads_and_downgrade_on_an_empty_database(
    fresh_app: Callable[..., Flask],
) -> None:
    app = fresh_app()
    heads = migrate.script_heads(app)

    current = invoke(app, "db", "current")
    assert current.exit_code == 0, current.output
    assert "No migrations applied" in current.output

    upgraded = invoke(app, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "applied" in upgraded.output
    assert migrate.current_heads(app) == heads
    assert {"users", "departments", "audit_log"} <= table_names(app)

    again = invoke(app, "db", "upgrade")
    assert again.exit_code == 0, again.output
    assert "already up to date" in again.output

    current = invoke(app, "db", "current")
    for head in heads:
        assert f"{head} (platform)" in current.output or head in current.output
    assert "(head)" in current.output
    assert "pending" not in current.output

    listed = invoke(app, "db", "heads")
    assert listed.exit_code == 0
    # Every branch's latest revision, the platform's included (others only depend on it).
    assert heads <= {line.split()[0] for line in listed.output.splitlines()}

    unknown = invoke(app, "db", "upgrade", "no_such_revision")
    assert unknown.exit_code == 1
    assert "no_such_revision" in unknown.output
    assert "Traceback" not in unknown.output

    refused = invoke(app, "db", "downgrade", "base", input="n\n")
    assert refused.exit_code != 0
    assert migrate.current_heads(app) == heads

    downgraded = invoke(app, "db", "downgrade", "base", "--yes")
    assert downgraded.exit_code == 0, downgraded.output
    assert "downgrade" in downgraded.output
    assert migrate.current_heads(app) == set()
    assert table_names(app) <= {"alembic_version"}


def test_db_check_passes_on_the_migrated_database(app: Flask) -> None:
    result = invoke(app, "db", "check", "--ignore-table", "tenancy_probe")
    assert result.exit_code == 0, result.output
    assert "agree" in result.output


def test_db_check_fails_and_names_the_drift(app: Flask) -> None:
    engine = migrate.owner_engine(app)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE drift_probe (id INTEGER PRIMARY KEY)")
    try:
        result = invoke(app, "db", "check", "--ignore-table", "tenancy_probe")
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE drift_probe")
        engine.dispose()
    assert result.exit_code == 1
    assert "remove_table drift_probe" in result.stderr


def test_db_check_refuses_a_database_behind_the_migrations(
    fresh_app: Callable[..., Flask],
) -> None:
    result = invoke(fresh_app(), "db", "check")
    assert result.exit_code == 1
    assert "grp db upgrade" in result.output


def test_db_revision_starts_and_continues_module_branches(
    fresh_app: Callable[..., Flask],
    modules_package: Callable[..., str],
    migrations_copy: Path,
) -> None:
    package = modules_package(
        [
            {"name": "widgets", "version": "0.2.0", "depends": []},
            {"name": "gizmos", "version": "0.1.0", "depends": ["widgets"]},
        ]
    )
    app = fresh_app(GRP_MODULES_PACKAGE=package)
    platform_head = migrate.script_heads(app)
    assert invoke(app, "db", "upgrade").exit_code == 0

    # A model of the widgets module that no migration creates yet.
    gadget = sa.Table(
        "widgets_gadget",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(50), nullable=False),
    )
    try:
        first = invoke(
            app, "db", "revision", "-m", "add gadgets", "--module", "widgets", "--autogenerate"
        )
    finally:
        db.metadata.remove(gadget)
    assert first.exit_code == 0, first.output
    gizmo = invoke(app, "db", "revision", "-m", "first gizmo", "--module", "gizmos")
    assert gizmo.exit_code == 0, gizmo.output
    second = invoke(app, "db", "revision", "-m", "rename gadgets", "--module", "widgets")
    assert second.exit_code == 0, second.output

    widget_files = sorted((migrations_copy / "versions" / "widgets").glob("*.py"))
    assert [p.name for p in widget_files] == [
        "0001_widgets_add_gadgets.py",
        "0002_widgets_rename_gadgets.py",
    ]
    assert "create_table" in widget_files[0].read_text()
    assert '"widgets_gadget"' in widget_files[0].read_text()
    # Only the widgets module's tables: nothing of the platform's.
    assert '"users"' not in widget_files[0].read_text()

    script = ScriptDirectory.from_config(migrate.alembic_config(app))
    first_widget = script.get_revision("0001_widgets")
    assert first_widget.module.branch_labels == ("widgets",)
    assert first_widget.down_revision is None
    assert set(as_tuple(first_widget.dependencies)) == platform_head
    second_widget = script.get_revision("0002_widgets")
    assert second_widget.down_revision == "0001_widgets"
    assert second_widget.module.branch_labels is None  # the branch continues
    first_gizmo = script.get_revision("0001_gizmos")
    assert first_gizmo.module.branch_labels == ("gizmos",)
    # Created when widgets' head was 0001_widgets.
    assert set(as_tuple(first_gizmo.dependencies)) == {"0001_widgets"}

    upgraded = invoke(app, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "widgets_gadget" in table_names(app)
    assert migrate.current_heads(app) == {"0002_widgets", "0001_gizmos"}


def test_db_revision_refuses_a_module_that_is_not_enabled(
    fresh_app: Callable[..., Flask], migrations_copy: Path
) -> None:
    app = fresh_app(GRP_MODULES_PACKAGE="grp_no_such_modules_package")
    # A module without migrations yet (payroll has its folder now), so "no folder" is the test.
    result = invoke(app, "db", "revision", "-m", "x", "--module", "finance")
    assert result.exit_code == 1
    assert "GRP_MODULES" in result.output
    assert not (migrations_copy / "versions" / "finance").exists()


# --------------------------------------------------------------------------- create-admin


def test_create_admin_reads_the_password_from_stdin(app: Flask, departments: dict) -> None:
    result = invoke(
        app,
        "create-admin",
        "root",
        "--name",
        "Root Admin",
        "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "root"))
    assert user.name == "Root Admin"
    assert services.is_system_admin(user)
    assert services.verify_password(user.password_hash, ADMIN_PASSWORD)
    first_code = min(departments)
    assert [a.department.code for a in user.role_assignments] == [first_code]
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.entity == "User", AuditEntry.action == "create")
    )
    assert entry.actor_name.startswith("cli:")
    assert ADMIN_PASSWORD not in str(entry.after)


def test_create_admin_prompts_twice_for_a_hidden_password(app: Flask, departments: dict) -> None:
    result = invoke(
        app,
        "create-admin",
        "root",
        "--department",
        "police",
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert ADMIN_PASSWORD not in result.output  # hidden input is not echoed
    user = db.session.scalar(sa.select(User).where(User.username == "root"))
    assert [a.department.code for a in user.role_assignments] == ["POLICE"]
    assert services.authenticate(db.session, "root", ADMIN_PASSWORD) == user


def test_create_admin_refuses_mismatched_passwords(app: Flask, departments: dict) -> None:
    result = invoke(app, "create-admin", "root", input=f"{ADMIN_PASSWORD}\nsomething-else\n")
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "root")) is None


def test_create_admin_refuses_a_short_password(app: Flask, departments: dict) -> None:
    result = invoke(app, "create-admin", "root", "--password-stdin", input="short\n")
    assert result.exit_code == 1
    assert f"at least {services.MIN_PASSWORD_LENGTH} characters" in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "root")) is None


def test_create_admin_refuses_an_existing_username(
    app: Flask, create_user: Callable[..., Any]
) -> None:
    create_user("root")
    result = invoke(app, "create-admin", "ROOT", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert result.exit_code == 1
    assert "taken" in result.output


def test_create_admin_refuses_an_unknown_department(app: Flask, departments: dict) -> None:
    result = invoke(
        app, "create-admin", "root", "--department", "NOPE", "--password-stdin", input="x\n"
    )
    assert result.exit_code == 1
    assert "No department 'NOPE'" in result.output


def test_create_admin_without_departments_says_what_to_do(app: Flask) -> None:
    result = invoke(app, "create-admin", "root", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert result.exit_code == 1
    assert "grp seed-demo" in result.output
    assert "grp load-organisation" in result.output
    assert "departments" in result.output


# --------------------------------------------------------------------------- load-organisation


@pytest.mark.parametrize("app_config", [{"GRP_PRODUCTION": True}])
def test_load_organisation_creates_departments_without_logins_even_in_production(
    app: Flask,
) -> None:
    first = invoke(app, "load-organisation")
    assert first.exit_code == 0, first.output
    assert "25 departments (25 created)" in first.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    counts = row_counts()
    again = invoke(app, "load-organisation")
    assert again.exit_code == 0, again.output
    assert "(0 created)" in again.output
    assert row_counts() == counts
    admin = invoke(app, "create-admin", "root", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert admin.exit_code == 0, admin.output


# --------------------------------------------------------------------------- seed-demo


def test_seed_demo_loads_the_organisation_and_prints_the_logins(app: Flask) -> None:
    result = invoke(app, "seed-demo")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sector)) == 4
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Department)) == 25
    for login in demo_logins():
        line = next(x for x in result.output.splitlines() if x.startswith(login.username + " "))
        assert line.split() == [login.username, DEMO_PASSWORD, login.department, login.role]
        user = db.session.scalar(sa.select(User).where(User.username == login.username))
        assert services.verify_password(user.password_hash, DEMO_PASSWORD)
        assert login.role in services.role_codes_in(user, user.primary_department_id)
    roles = {(x.department, x.role) for x in demo_logins()}
    assert ("DM", "system_admin") in roles
    assert {r for d, r in roles if d == "POLICE"} == {r for d, r in roles if d == "DM"} - {
        "system_admin"
    }
    assert "http" not in result.output


def test_seed_demo_twice_changes_nothing(app: Flask) -> None:
    first = invoke(app, "seed-demo")
    assert first.exit_code == 0, first.output
    counts = row_counts()
    second = invoke(app, "seed-demo")
    assert second.exit_code == 0, second.output
    db.session.expire_all()
    assert row_counts() == counts
    assert second.output == first.output


@pytest.mark.parametrize("app_config", [{"GRP_PRODUCTION": True}])
def test_seed_demo_is_refused_in_production(app: Flask) -> None:
    result = invoke(app, "seed-demo")
    assert result.exit_code == 1
    assert "production" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Department)) == 0


def test_seed_demo_calls_the_modules_hooks_with_the_employee_count(
    fresh_app: Callable[..., Flask], modules_package: Callable[..., str]
) -> None:
    hook = (
        "def seed_demo(app, session, *, employees):\n"
        "    from grp.models import Department\n"
        "    app.config.setdefault('SEEDED', []).append(\n"
        "        (__name__.rsplit('.', 1)[-1], employees, session.query(Department).count())\n"
        "    )\n"
    )
    package = modules_package(
        [
            {"name": "alpha", "version": "1.0.0", "depends": ["beta"]},
            {"name": "beta", "version": "1.0.0", "depends": []},
            {"name": "gamma", "version": "1.0.0", "depends": []},
        ],
        code={"alpha": hook, "beta": hook},
    )
    app = fresh_app(GRP_MODULES_PACKAGE=package)
    assert invoke(app, "db", "upgrade").exit_code == 0
    result = invoke(app, "seed-demo", "--employees", "7")
    assert result.exit_code == 0, result.output
    # Dependencies first; each hook sees the organisation already loaded.
    assert app.config["SEEDED"] == [("beta", 7, 25), ("alpha", 7, 25)]


def test_seed_demo_on_an_unmigrated_database_says_to_upgrade(
    fresh_app: Callable[..., Flask],
) -> None:
    result = invoke(fresh_app(), "seed-demo")
    assert result.exit_code == 1
    assert "grp db upgrade" in result.output


# --------------------------------------------------------------------------- modules


def test_modules_lists_platform_then_modules_in_load_order(
    fresh_app: Callable[..., Flask], modules_package: Callable[..., str]
) -> None:
    package = modules_package(
        [
            {"name": "payroll", "version": "0.3.0", "depends": ["hr"]},
            {"name": "hr", "version": "1.2.0", "depends": []},
        ]
    )
    result = invoke(fresh_app(GRP_MODULES_PACKAGE=package), "modules")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()[2:]]
    assert rows[0][0] == "platform"
    assert rows[1:] == [["hr", "1.2.0", "-"], ["payroll", "0.3.0", "hr"]]
    assert "no business modules enabled" not in result.output


def test_modules_says_when_none_are_enabled(fresh_app: Callable[..., Flask]) -> None:
    result = invoke(fresh_app(GRP_MODULES_PACKAGE="grp_no_such_modules_package"), "modules")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[2].startswith("platform")
    assert "no business modules enabled" in result.output


# --------------------------------------------------------------------------- serve


def test_serve_runs_the_development_server_without_reloader(
    fresh_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake_run_simple(host: str, port: int, application: Any, **options: Any) -> None:
        calls.append((host, port, application, options))

    monkeypatch.setattr("werkzeug.serving.run_simple", fake_run_simple)
    app = fresh_app()
    result = invoke(app, "serve", "--port", "5055")
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5055/" in result.output
    assert "migration(s) pending" in result.output  # the fresh database is empty
    [(host, port, application, options)] = calls
    assert (host, port, application) == ("127.0.0.1", 5055, app)
    assert options["use_reloader"] is False
    assert options["use_debugger"] is False


def test_serve_workers_need_production(fresh_app: Callable[..., Flask]) -> None:
    result = invoke(fresh_app(), "serve", "--workers", "2")
    assert result.exit_code == 2
    assert "--production" in result.output


@pytest.fixture
def production_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRP_PRODUCTION", "0")  # restored after the test; serve sets it
    monkeypatch.setenv("GRP_DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite3'}")
    monkeypatch.delenv("GRP_DATABASE_OWNER_URL", raising=False)
    monkeypatch.setenv("GRP_INSTANCE_PATH", str(tmp_path / "prod-instance"))
    monkeypatch.setenv("GRP_MODULES_PACKAGE", "grp_no_such_modules_package")


def test_serve_production_runs_gunicorn_with_the_workers(
    fresh_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, production_env: None
) -> None:
    monkeypatch.setenv("GRP_SECRET_KEY", "a-production-secret")
    started: list[dict[str, Any]] = []

    class FakeGunicorn:
        def __init__(self, options: dict[str, Any], factory: Callable[[], Flask]) -> None:
            self.options, self.factory = options, factory

        def run(self) -> None:
            started.append(self.options)
            self.options["when_ready"](None)

    monkeypatch.setattr("grp.cli._gunicorn_application", FakeGunicorn)
    result = invoke(fresh_app(), "serve", "--production", "--port", "5056", "--workers", "3")
    assert result.exit_code == 0, result.output
    [options] = started
    assert options["bind"] == "127.0.0.1:5056"
    assert options["workers"] == 3
    assert "http://127.0.0.1:5056/" in result.output
    assert os.environ["GRP_PRODUCTION"] == "1"


@pytest.mark.parametrize(
    ("database_url", "workers"),
    [
        ("sqlite:///instance/grp.sqlite3", 5),
        ("postgresql+psycopg://grp@127.0.0.1:5432/grp", 5),
        ("postgresql+psycopg://grp@localhost/grp", 5),
        ("postgresql+psycopg:///grp?host=/var/run/postgresql", 5),  # a Unix socket
        ("postgresql+psycopg://grp@db.internal:5432/grp", 9),
        ("postgresql+psycopg://grp@10.0.0.7/grp", 9),
    ],
)
def test_default_workers_leave_the_cores_to_a_database_on_the_same_machine(
    monkeypatch: pytest.MonkeyPatch, database_url: str, workers: int
) -> None:
    from grp.cli import default_workers

    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # cores + 1 locally, 2 x cores + 1 else
    assert default_workers(database_url) == workers


def test_serve_production_defaults_to_the_workers_for_its_database(
    fresh_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, production_env: None
) -> None:
    monkeypatch.setenv("GRP_SECRET_KEY", "a-production-secret")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    started: list[dict[str, Any]] = []

    class FakeGunicorn:
        def __init__(self, options: dict[str, Any], factory: Callable[[], Flask]) -> None:
            started.append(options)

        def run(self) -> None:
            started[-1]["when_ready"](None)

    monkeypatch.setattr("grp.cli._gunicorn_application", FakeGunicorn)
    result = invoke(fresh_app(), "serve", "--production", "--port", "5058")
    assert result.exit_code == 0, result.output
    assert started[0]["workers"] == 3  # SQLite is a file on this machine: 2 cores + 1
    assert "3 workers" in result.output


def test_serve_production_refuses_without_a_secret_key(
    fresh_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, production_env: None
) -> None:
    monkeypatch.delenv("GRP_SECRET_KEY", raising=False)
    monkeypatch.setattr("grp.cli._gunicorn_application", pytest.fail)
    result = invoke(fresh_app(), "serve", "--production")
    assert result.exit_code == 1
    assert "GRP_SECRET_KEY" in result.output


def test_gunicorn_application_builds_one_app_per_worker(
    monkeypatch: pytest.MonkeyPatch, fresh_app: Callable[..., Flask]
) -> None:
    from grp.cli import _gunicorn_application

    built: list[Flask] = []

    def factory() -> Flask:
        built.append(fresh_app())
        return built[-1]

    server = _gunicorn_application({"bind": "127.0.0.1:5057", "workers": 4}, factory)
    assert server.cfg.bind == ["127.0.0.1:5057"]
    assert server.cfg.workers == 4
    assert gc.get_freeze_count() == 0
    try:
        assert server.load() is built[0]
        # What the worker built at start is left out of full collections.
        assert gc.get_freeze_count() > 0
        assert any(obj is built[0] for obj in gc.get_objects(generation=2)) is False
        assert server.load() is built[1]
    finally:
        gc.unfreeze()


def test_a_module_switched_off_after_its_migrations_ran_does_not_break_upgrade(
    fresh_app: Callable[..., Flask],
    modules_package: Callable[..., str],
    migrations_copy: Path,
) -> None:
    package = modules_package(
        [
            {"name": "widgets", "version": "0.1.0", "depends": []},
            {"name": "gizmos", "version": "0.1.0", "depends": ["widgets"]},
        ]
    )
    app = fresh_app(GRP_MODULES_PACKAGE=package)
    assert invoke(app, "db", "upgrade").exit_code == 0
    assert invoke(app, "db", "revision", "-m", "w", "--module", "widgets").exit_code == 0
    assert invoke(app, "db", "revision", "-m", "g", "--module", "gizmos").exit_code == 0
    assert invoke(app, "db", "upgrade").exit_code == 0
    assert migrate.current_heads(app) == {"0001_gizmos"}  # widgets is implied by depends_on

    # gizmos is switched off; its revision stays recorded in the database.
    without_gizmos = fresh_app(GRP_MODULES_PACKAGE=package, GRP_MODULES="widgets")
    result = invoke(without_gizmos, "db", "upgrade")
    assert result.exit_code == 0, result.output
    with without_gizmos.test_request_context():
        assert migrate.pending_heads() == []
    assert without_gizmos.test_client().get("/readyz").status_code == 200
