"""Alembic integration: one environment, a branch per module.

`migrations/versions/platform/` holds the platform's revisions (branch label
`platform`); a module's revisions live in `migrations/versions/<module>/` with
its name as branch label and `depends_on` the platform (or the modules it
depends on). Only the enabled modules' folders are given to Alembic, so
`upgrade heads` upgrades exactly what runs.

Migrations run as the owner of the tables (`GRP_DATABASE_OWNER_URL`); when the
application connects as another PostgreSQL role, upgrade grants that role the
data privileges it needs, and nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app

from grp.db import db

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
PLATFORM_BRANCH = "platform"


def version_locations(app: Flask) -> list[Path]:
    names = [PLATFORM_BRANCH] + [m.name for m in app.extensions["grp"].modules]
    return [
        MIGRATIONS_DIR / "versions" / n for n in names if (MIGRATIONS_DIR / "versions" / n).is_dir()
    ]


def alembic_config(app: Flask | None = None) -> Config:
    app = app or current_app._get_current_object()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", " ".join(str(p) for p in version_locations(app)))
    config.set_main_option("path_separator", "space")
    config.attributes["grp_app"] = app
    return config


def upgrade(app: Flask, revision: str = "heads") -> None:
    """Bring the database to the heads of the enabled modules, then grant the app role."""
    with app.app_context():
        command.upgrade(alembic_config(app), revision)
        grant_app_role(app)


def downgrade(app: Flask, revision: str) -> None:
    with app.app_context():
        command.downgrade(alembic_config(app), revision)


def owner_engine(app: Flask) -> sa.Engine:
    return sa.create_engine(app.config["GRP_DATABASE_OWNER_URL"], poolclass=sa.pool.NullPool)


def _username(url: str) -> str | None:
    return sa.engine.make_url(url).username


def grant_app_role(app: Flask) -> str | None:
    """Grant the application's PostgreSQL role data access if it is not the owner."""
    app_url = app.config["SQLALCHEMY_DATABASE_URI"]
    owner_url = app.config["GRP_DATABASE_OWNER_URL"]
    role = _username(app_url)
    if not app_url.startswith("postgresql") or role is None or role == _username(owner_url):
        return None
    quoted = '"' + role.replace('"', '""') + '"'
    engine = owner_engine(app)
    with engine.begin() as connection:
        for statement in (
            f"GRANT USAGE ON SCHEMA public TO {quoted}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
            # Append-only and owner-managed tables.
            f"REVOKE UPDATE, DELETE ON audit_log FROM {quoted}",
            f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {quoted}",
        ):
            connection.exec_driver_sql(statement)
    engine.dispose()
    return role


def script_heads(app: Flask) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(app)).get_heads())


def database_heads(connection: sa.Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def pending_heads() -> list[str]:
    """Heads of the enabled modules the database has not reached (empty: current)."""
    app = current_app._get_current_object()
    with db.engine.connect() as connection:
        current = database_heads(connection)
    script = ScriptDirectory.from_config(alembic_config(app))
    pending = []
    for head in script.get_heads():
        if head in current:
            continue
        # A head is reached when it is an ancestor of something applied.
        reached = any(
            head in {r.revision for r in script.iterate_revisions(applied, "base")}
            for applied in current
        )
        if not reached:
            pending.append(head)
    return sorted(pending)


# ----------------------------------------------------------------- helpers for revisions


def enable_tenant_rls(op: Any, table: str) -> None:
    """Put a tenant table under PostgreSQL row-level security (no-op on SQLite)."""
    from grp.tenancy import rls_policy_sql

    if op.get_bind().dialect.name == "postgresql":
        for statement in rls_policy_sql(table):
            op.execute(statement)


def disable_tenant_rls(op: Any, table: str) -> None:
    from grp.tenancy import drop_rls_policy_sql

    if op.get_bind().dialect.name == "postgresql":
        for statement in drop_rls_policy_sql(table):
            op.execute(statement)
