"""Migrations: they build exactly the models' schema, run both ways, and form clean branches."""

from __future__ import annotations

import ast
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from grp import migrate
from grp.app import create_app
from grp.db import db

VERSIONS = migrate.MIGRATIONS_DIR / "versions"
TEST_ONLY_TABLES = {"tenancy_probe"}  # grp/testing/probe.py, never migrated


def drift(connection: sa.Connection) -> list[Any]:
    """Return the differences between the database and the models' metadata."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", name) not in TEST_ONLY_TABLES

    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True, "include_object": include},
    )
    return compare_metadata(context, db.metadata)


def assert_no_drift(connection: sa.Connection) -> None:
    differences = drift(connection)
    report = "\n".join(f"  {migrate.format_difference(d)}" for d in differences)
    assert not differences, (
        f"models and migrations disagree on {connection.dialect.name} "
        f"({len(differences)} difference(s)); write a migration with "
        f"`grp db revision --autogenerate --module NAME`:\n{report}"
    )


def test_migrated_database_matches_the_models(app: Flask) -> None:
    engine = migrate.owner_engine(app)
    try:
        with engine.connect() as connection:
            assert_no_drift(connection)
    finally:
        engine.dispose()


def test_drift_is_reported_with_the_differences(app: Flask) -> None:
    """The drift check itself must see a column the migrations do not create."""
    engine = migrate.owner_engine(app)
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE sectors ADD COLUMN stray_note VARCHAR(20)")
    try:
        with engine.connect() as connection, pytest.raises(AssertionError) as failure:
            assert_no_drift(connection)
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE sectors DROP COLUMN stray_note")
        engine.dispose()
    assert "remove_column sectors.stray_note" in str(failure.value)


# --------------------------------------------------------------------------- both ways


def _app_for(url: str, tmp_path: Path, owner_url: str | None = None) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "GRP_DATABASE_OWNER_URL": owner_url or url,
            "SECRET_KEY": "test",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _round_trip(app: Flask) -> sa.Engine:
    """Upgrade an empty database, downgrade it to base, upgrade it again."""
    heads = migrate.script_heads(app)
    engine = migrate.owner_engine(app)
    assert _tables(engine) == set()

    migrate.upgrade(app)
    assert migrate.current_heads(app) == heads
    assert {"users", "departments", "role_assignments", "audit_log"} <= _tables(engine)

    migrate.downgrade(app, "base")
    assert migrate.current_heads(app) == set()
    assert _tables(engine) <= {"alembic_version"}

    migrate.upgrade(app)
    assert migrate.current_heads(app) == heads
    with engine.connect() as connection:
        assert_no_drift(connection)
    return engine


def test_upgrade_downgrade_upgrade_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    app = _app_for(f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}", tmp_path)
    engine = _round_trip(app)
    engine.dispose()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def fresh_postgres_database(grp_database: Any) -> Iterator[tuple[str, str]]:
    """Create an empty PostgreSQL database; yield (owner URL, app-role URL)."""
    from grp.testing.plugin import APP_ROLE

    server = sa.engine.make_url(os.environ["GRP_TEST_DATABASE_URL"])
    name = f"grp_migrations_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    owner = server.set(database=name).render_as_string(hide_password=False)
    app_role = server.set(database=name, username=APP_ROLE, password=None)
    try:
        yield owner, app_role.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.postgres
def test_upgrade_downgrade_upgrade_on_a_fresh_postgres_database(
    fresh_postgres_database: tuple[str, str], tmp_path: Path
) -> None:
    from grp.testing.plugin import APP_ROLE

    owner_url, app_url = fresh_postgres_database
    app = _app_for(app_url, tmp_path, owner_url=owner_url)
    engine = _round_trip(app)
    try:
        with engine.connect() as connection:

            def may(privilege: str, table: str) -> bool:
                return connection.scalar(
                    sa.text("SELECT has_table_privilege(:role, :table, :privilege)"),
                    {"role": APP_ROLE, "table": table, "privilege": privilege},
                )

            # upgrade granted the app role data access, but not to rewrite history.
            assert may("SELECT", "users") and may("INSERT", "users") and may("UPDATE", "users")
            assert may("INSERT", "audit_log") and not may("UPDATE", "audit_log")
            assert not may("DELETE", "audit_log")
            assert may("SELECT", "alembic_version") and not may("INSERT", "alembic_version")
        migrate.downgrade(app, "base")
        with engine.connect() as connection:
            leftovers = connection.scalar(
                sa.text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_log_append_only'")
            )
        assert leftovers == 0, "downgrade left the audit trigger function behind"
    finally:
        engine.dispose()
        with app.app_context():
            db.engine.dispose()


# --------------------------------------------------------------------------- revision files


def _revision_files() -> list[Path]:
    return sorted(p for p in VERSIONS.glob("*/*.py") if not p.name.startswith("__"))


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _declarations(path: Path) -> dict[str, Any]:
    """Read revision, down_revision, branch_labels and depends_on without importing."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in (
                "revision",
                "down_revision",
                "branch_labels",
                "depends_on",
            ):
                found[target.id] = ast.literal_eval(node.value)
    return found


def test_revision_ids_are_unique_and_name_their_files() -> None:
    files = _revision_files()
    assert files, f"no revision files under {VERSIONS}"
    ids = {path: _declarations(path).get("revision") for path in files}
    missing = [str(p) for p, revision in ids.items() if not revision]
    assert not missing, f"files without a `revision = ...`: {missing}"
    duplicates = [r for r, n in Counter(ids.values()).items() if n > 1]
    assert not duplicates, f"revision ids used more than once: {duplicates}"
    misnamed = [str(p) for p, revision in ids.items() if not p.stem.startswith(revision)]
    assert not misnamed, f"file names should start with their revision id: {misnamed}"


def test_every_revision_starts_its_module_branch_or_follows_one_in_the_same_folder() -> None:
    by_id = {d["revision"]: (p, d) for p in _revision_files() for d in [_declarations(p)]}
    problems = []
    roots: Counter[str] = Counter()
    for path, declared in by_id.values():
        folder = path.parent.name
        labels = _as_tuple(declared.get("branch_labels"))
        parents = _as_tuple(declared.get("down_revision"))
        if labels:
            roots[folder] += 1
            if labels != (folder,):
                problems.append(f"{path}: branch label {labels} should be ({folder!r},)")
            if parents:
                problems.append(f"{path}: a branch's first revision starts from base")
        elif not parents:
            problems.append(f"{path}: neither a branch label nor a down_revision")
        for parent in parents:
            if parent not in by_id:
                problems.append(f"{path}: down_revision {parent!r} does not exist")
            elif by_id[parent][0].parent.name != folder:
                problems.append(
                    f"{path}: down_revision {parent!r} is in another module's folder "
                    f"({by_id[parent][0].parent.name}); depend on it with depends_on instead"
                )
        for dependency in _as_tuple(declared.get("depends_on")):
            if dependency not in by_id:
                problems.append(f"{path}: depends_on {dependency!r} does not exist")
    for folder in {p.parent.name for p in _revision_files()}:
        if roots[folder] != 1:
            problems.append(f"migrations/versions/{folder}: {roots[folder]} branch starts, not 1")
    assert not problems, "\n".join(problems)


def test_all_branches_load_together_with_one_head_each() -> None:
    folders = sorted(p for p in VERSIONS.iterdir() if p.is_dir() and p.name != "__pycache__")
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    config.set_main_option("version_locations", " ".join(str(p) for p in folders))
    config.set_main_option("path_separator", "space")
    script = ScriptDirectory.from_config(config)
    assert migrate.PLATFORM_BRANCH in {p.name for p in folders}
    for folder in folders:
        heads = script.get_revisions(f"{folder.name}@head")
        assert len(heads) == 1, f"{folder.name} has {len(heads)} heads; merge them"
