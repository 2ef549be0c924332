"""Alembic integration: one environment, a branch per module.

`migrations/versions/platform/` holds the platform's revisions (branch label
`platform`); a module's revisions live in `migrations/versions/<module>/` with
its name as branch label and `depends_on` the platform (or the modules it
depends on). Alembic sees every module's folder, so a module switched off
after its migrations ran does not confuse it, but upgrading to "heads" upgrades
exactly the platform's and the enabled modules' branches (`enabled_heads`).

Migrations run as the owner of the tables (`GRP_DATABASE_OWNER_URL`); when the
application connects as another PostgreSQL role, upgrade grants that role the
data privileges it needs, and nothing more.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from flask import Flask, current_app

from grp.db import Base, db

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
PLATFORM_BRANCH = "platform"
#: The platform's own branches, each in its own folder and always enabled: the core
#: tables, then one branch per workflow part (they depend on the core, not on each other).
PLATFORM_BRANCHES = (PLATFORM_BRANCH, "approvals", "jobs", "notifications")

#: Called once per applied migration step with a one-line description.
StepCallback = Callable[[str], None]


class MigrationError(RuntimeError):
    """A migration command cannot do what was asked (unknown module, database behind)."""


def versions_dir() -> Path:
    """Return the folder holding one sub-folder of revisions per branch."""
    # Read at call time, not import time, so tests can point it at a copy.
    return MIGRATIONS_DIR / "versions"


def _enabled_folders(app: Flask) -> list[Path]:
    names = [*PLATFORM_BRANCHES] + [m.name for m in app.extensions["grp"].modules]
    return [versions_dir() / n for n in names if (versions_dir() / n).is_dir()]


def _topmost(script: ScriptDirectory, heads: Iterable[str]) -> list[str]:
    """Drop heads that another of `heads` builds on.

    A branch's first revision depends on the platform's head without revising
    it, so Alembic still calls that head "a head"; upgrading to both at once is
    an overlap error.
    """
    heads = list(heads)
    below = {
        revision.revision
        for head in heads
        for revision in script.iterate_revisions(head, "base")
        if revision.revision != head
    }
    return sorted(head for head in heads if head not in below)


def version_locations(app: Flask) -> list[Path]:
    """Return the revision folders of the platform and of every module found.

    Disabled modules' folders are included too: a module switched off after its
    migrations ran leaves its revision in the database, and Alembic must still
    know it. Upgrades only target the enabled branches (see `enabled_heads`).
    """
    from grp.module_loader import discover_modules

    folders = _enabled_folders(app)
    for name in sorted(discover_modules(app.config["GRP_MODULES_PACKAGE"])):
        folder = versions_dir() / name
        if folder.is_dir() and folder not in folders:
            folders.append(folder)
    return folders


def enabled_heads(app: Flask, script: ScriptDirectory | None = None) -> list[str]:
    """Return the heads of the platform's and the enabled modules' branches."""
    script = script or script_directory(app)
    folders = [folder.resolve() for folder in _enabled_folders(app)]
    heads = []
    for head in script.get_heads():
        path = Path(script.get_revision(head).path).resolve()
        if any(folder in path.parents for folder in folders):
            heads.append(head)
    return _topmost(script, heads)


def alembic_config(app: Flask | None = None) -> Config:
    """Build the Alembic configuration for `app` (no alembic.ini: everything is derived)."""
    app = app or current_app._get_current_object()
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", " ".join(str(p) for p in version_locations(app)))
    config.set_main_option("path_separator", "space")
    _configure_formatting_hooks(config)
    config.attributes["grp_app"] = app
    return config


def _configure_formatting_hooks(config: Config) -> None:
    """Format new revision files with ruff, when it is installed, so they pass the lint."""
    candidates = [Path(sys.executable).with_name("ruff"), shutil.which("ruff")]
    ruff = next((str(c) for c in candidates if c and os.access(c, os.X_OK)), None)
    if ruff is None:
        return
    config.set_section_option("post_write_hooks", "hooks", "ruff_fix ruff_format")
    for name, options in (
        ("ruff_fix", "check --fix --quiet REVISION_SCRIPT_FILENAME"),
        ("ruff_format", "format --quiet REVISION_SCRIPT_FILENAME"),
    ):
        config.set_section_option("post_write_hooks", f"{name}.type", "exec")
        config.set_section_option("post_write_hooks", f"{name}.executable", ruff)
        config.set_section_option("post_write_hooks", f"{name}.options", options)
        config.set_section_option("post_write_hooks", f"{name}.cwd", str(PROJECT_ROOT))


def script_directory(app: Flask) -> ScriptDirectory:
    """Return the revisions Alembic sees for `app` (platform and enabled modules)."""
    return ScriptDirectory.from_config(alembic_config(app))


def ensure_sqlite_directory(url: str) -> None:
    """Create the folder of an SQLite database file; SQLite creates the file, not its folder."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).resolve().parent.mkdir(parents=True, exist_ok=True)


def _step_reporter(on_step: StepCallback | None) -> Callable[..., None] | None:
    if on_step is None:
        return None

    def report(*, ctx: Any, step: MigrationInfo, heads: Any, run_args: Any) -> None:
        revision = step.up_revision
        doc = (revision.doc or "").strip().splitlines()[0] if revision is not None else ""
        arrow = "upgrade" if step.is_upgrade else "downgrade"
        on_step(f"{arrow} {step.up_revision_id}: {doc}".rstrip(": "))

    return report


def upgrade(app: Flask, revision: str = "heads", *, on_step: StepCallback | None = None) -> None:
    """Bring the database to the heads of the enabled modules, then grant the app role."""
    with app.app_context():
        config = alembic_config(app)
        config.attributes["on_version_apply"] = _step_reporter(on_step)
        # "heads" means the enabled branches' heads, not every module found.
        targets = enabled_heads(app) if revision == "heads" else [revision]
        for target in targets:
            command.upgrade(config, target)
        grant_app_role(app)


def downgrade(app: Flask, revision: str, *, on_step: StepCallback | None = None) -> None:
    """Take the database down to `revision` (`base`, an id, or `<module>@base`)."""
    with app.app_context():
        config = alembic_config(app)
        config.attributes["on_version_apply"] = _step_reporter(on_step)
        command.downgrade(config, revision)


def owner_engine(app: Flask) -> sa.Engine:
    """Return an engine connected as the owner of the tables (for migrations)."""
    ensure_sqlite_directory(app.config["GRP_DATABASE_OWNER_URL"])
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
    """Return the topmost head revisions of the platform and the enabled modules.

    Topmost: a head that another enabled branch depends on (the platform's) is
    left out, because whether Alembic keeps it in the version table depends on
    the order branches were upgraded in. Compare with `current_heads`.
    """
    return set(enabled_heads(app))


def database_heads(connection: sa.Connection) -> set[str]:
    """Return the revisions recorded in the database's alembic_version table."""
    return set(MigrationContext.configure(connection).get_current_heads())


def current_heads(app: Flask) -> set[str]:
    """Return the topmost revisions the database of `app` is at (connecting as the owner)."""
    engine = owner_engine(app)
    try:
        with engine.connect() as connection:
            recorded = database_heads(connection)
    finally:
        engine.dispose()
    return set(_topmost(script_directory(app), recorded)) if recorded else recorded


def _ancestors(script: ScriptDirectory, revisions: Iterable[str]) -> set[str]:
    """Return `revisions` and everything they build on (dependencies included)."""
    found: set[str] = set()
    for revision in revisions:
        found.update(r.revision for r in script.iterate_revisions(revision, "base"))
    return found


def pending_revisions(app: Flask, target: str = "heads") -> list[Script]:
    """Return the revisions an upgrade to `target` would apply, oldest first."""
    script = script_directory(app)
    applied = _ancestors(script, current_heads(app))
    targets = tuple(enabled_heads(app, script)) if target == "heads" else target
    wanted = [r for r in script.iterate_revisions(targets, "base") if r.revision not in applied]
    return list(reversed(wanted))


def pending_heads() -> list[str]:
    """Heads of the enabled modules the database has not reached (empty: current)."""
    app = current_app._get_current_object()
    with db.engine.connect() as connection:
        current = database_heads(connection)
    script = ScriptDirectory.from_config(alembic_config(app))
    pending = []
    for head in enabled_heads(app, script):
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


def describe(script: Script) -> str:
    """Return `id (branch) summary` for one revision, as the CLI prints it."""
    labels = ", ".join(sorted(script.branch_labels))
    summary = (script.doc or "").strip().splitlines()[0] if script.doc else ""
    return f"{script.revision}{f' ({labels})' if labels else ''}  {summary}".rstrip()


# ----------------------------------------------------------------- models vs migrations


def _module_table_names(package: str) -> set[str]:
    """Return the tables mapped by classes defined in `package` (or its sub-modules)."""
    names: set[str] = set()
    for mapper in Base.registry.mappers:
        module = mapper.class_.__module__
        if module == package or module.startswith(package + "."):
            names.update(t.name for t in mapper.tables)
    return names


def _all_mapped_table_names() -> set[str]:
    return {t.name for mapper in Base.registry.mappers for t in mapper.tables}


def _branch_table_filter(app: Flask, branch: str) -> Callable[..., bool]:
    """Limit autogenerate to the tables of one branch.

    A table belongs to the branch whose package maps it (`grp` for the platform,
    the module's package otherwise); tables no class maps (plain `sa.Table`) are
    offered to every branch. Tables that exist only in the database are never
    dropped by autogenerate: whose they are cannot be told (a disabled module,
    a test fixture), so such a drop is written by hand.
    """
    package = "grp" if branch in PLATFORM_BRANCHES else _enabled_module(app, branch).package
    owned = _module_table_names(package)
    mapped = _all_mapped_table_names()

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ != "table":
            return True
        if reflected and compare_to is None:
            return False
        return name in owned or name not in mapped

    return include


def schema_differences(app: Flask, ignore_tables: Iterable[str] = ()) -> list[Any]:
    """Compare the database with the models; return Alembic's list of differences.

    Empty means the migrations (as applied to this database) create exactly the
    tables, columns, indexes and constraints the models declare. Raises
    MigrationError when the database is not at the heads, since the comparison
    would then report the pending migrations rather than a real drift.
    """
    pending = pending_revisions(app)
    if pending:
        raise MigrationError(
            "the database is not at the heads (pending: "
            + ", ".join(r.revision for r in pending)
            + "); run `grp db upgrade` first"
        )
    ignored = set(ignore_tables)

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", name) not in ignored

    engine = owner_engine(app)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include}
            )
            return compare_metadata(context, db.metadata)
    finally:
        engine.dispose()


def format_difference(difference: Any) -> str:
    """Render one entry of `schema_differences` as a readable line."""
    if isinstance(difference, list):  # column modifications come grouped per column
        return "; ".join(format_difference(d) for d in difference)
    action, *details = difference
    if action.endswith("_table"):
        return f"{action} {details[0].name}"
    if action.endswith("_column"):
        schema, table, column = details[:3]
        return f"{action} {table}.{column.name} ({column.type})"
    if action.startswith("modify_"):
        schema, table, column, _kw, old, new = details
        return f"{action} {table}.{column}: {old!r} -> {new!r}"
    if action.endswith(("_index", "_constraint", "_fk")):
        item = details[0]
        table = getattr(getattr(item, "table", None), "name", "?")
        return f"{action} {item.name} on {table}"
    return f"{action} {details!r}"


# ----------------------------------------------------------------- new revisions


def _enabled_module(app: Flask, name: str) -> Any:
    for manifest in app.extensions["grp"].modules:
        if manifest.name == name:
            return manifest
    raise MigrationError(
        f"module {name!r} is not enabled; add it to GRP_MODULES (enabled: "
        + (", ".join(m.name for m in app.extensions["grp"].modules) or "none")
        + ")"
    )


def _revision_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("__"))


def _next_revision_id(folder: Path, branch: str) -> str:
    numbers = [0]
    for path in _revision_files(folder):
        if match := re.match(r"(\d+)_", path.name):
            numbers.append(int(match.group(1)))
    return f"{max(numbers) + 1:04d}_{branch}"


def _branch_heads(script: ScriptDirectory, branch: str) -> list[str]:
    try:
        return [r.revision for r in script.get_revisions(f"{branch}@head")]
    except Exception:  # noqa: BLE001 - alembic raises several types for an unknown label
        return []


def _first_revision_dependencies(app: Flask, script: ScriptDirectory, branch: str) -> list[str]:
    """Return what a module's first revision depends on: its dependencies' heads.

    A module without dependencies (or whose dependencies have no tables) builds
    on the heads of all the platform's branches: its tables may refer to users,
    jobs or approval requests.
    """
    if branch in PLATFORM_BRANCHES:
        return _branch_heads(script, PLATFORM_BRANCH)  # a workflow part builds on the core
    manifests = {m.name: m for m in app.extensions["grp"].modules}
    heads: list[str] = []
    for dependency in manifests[branch].depends:
        heads.extend(_branch_heads(script, dependency))
    if not heads:
        platform = [h for name in PLATFORM_BRANCHES for h in _branch_heads(script, name)]
        heads = _topmost(script, platform)
    return heads


def create_revision(
    app: Flask, message: str, module: str, *, autogenerate: bool = False
) -> list[Script]:
    """Write a new revision on `module`'s branch; return the scripts written.

    The first revision of a module starts its branch (branch label = module
    name, from `base`, depending on the heads of what the module depends on);
    later ones follow `<module>@head`. With `autogenerate`, the revision holds
    the differences between the database (which must be at the heads) and the
    models of that branch.
    """
    if module not in PLATFORM_BRANCHES:
        _enabled_module(app, module)
    folder = versions_dir() / module
    folder.mkdir(parents=True, exist_ok=True)
    config = alembic_config(app)
    script = ScriptDirectory.from_config(config)
    existing = _branch_heads(script, module)
    options: dict[str, Any] = {
        "rev_id": _next_revision_id(folder, module),
        "version_path": str(folder),
    }
    if existing:
        options["head"] = f"{module}@head"
    else:
        options.update(
            head="base",
            branch_label=module,
            depends_on=_first_revision_dependencies(app, script, module) or None,
        )
    if autogenerate:
        config.attributes["include_object"] = _branch_table_filter(app, module)
        pending = pending_revisions(app)
        if pending:
            raise MigrationError(
                "the database is not at the heads; run `grp db upgrade` before autogenerating"
            )
    with app.app_context():
        result = command.revision(config, message=message, autogenerate=autogenerate, **options)
    scripts = result if isinstance(result, list) else [result]
    return [s for s in scripts if s is not None]


# ----------------------------------------------------------------- helpers for revisions


def enable_tenant_rls(op: Any, table: str) -> None:
    """Put a tenant table under PostgreSQL row-level security (no-op on SQLite)."""
    from grp.tenancy import rls_policy_sql

    if op.get_bind().dialect.name == "postgresql":
        for statement in rls_policy_sql(table):
            op.execute(statement)


def disable_tenant_rls(op: Any, table: str) -> None:
    """Take a tenant table out of row-level security (before dropping it)."""
    from grp.tenancy import drop_rls_policy_sql

    if op.get_bind().dialect.name == "postgresql":
        for statement in drop_rls_policy_sql(table):
            op.execute(statement)
