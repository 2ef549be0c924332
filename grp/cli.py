"""Command line: `grp ...` (or `flask --app wsgi ...`).

`register_commands` adds the commands to `app.cli`, so they run with the app's
configuration, its enabled modules and an application context. Commands
commit; the services they call only flush.
"""

from __future__ import annotations

import functools
import gc
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from grp import migrate
from grp.audit import set_actor
from grp.auth import services
from grp.auth.permissions import SYSTEM_ADMIN
from grp.config import ConfigurationError
from grp.db import db
from grp.models import Department, User
from grp.module_loader import ModuleError, import_module_package

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DEMO_EMPLOYEES = 200


def _friendly_errors(command: F) -> F:
    """Turn the errors a user can fix into one-line messages instead of tracebacks."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (migrate.MigrationError, CommandError, RevisionError, ModuleError) as exc:
            raise click.ClickException(str(exc)) from exc
        except sa.exc.OperationalError as exc:
            db.session.rollback()
            raise click.ClickException(
                f"cannot use the database: {exc.orig}. Check GRP_DATABASE_URL and run "
                "`grp db upgrade`."
            ) from exc

    return wrapper  # type: ignore[return-value]


def _cli_actor() -> None:
    """Record who ran the command in the audit log: the operating-system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a bare container
        user = "unknown"
    set_actor(db.session, None, f"cli:{user}")


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


# --------------------------------------------------------------------------- db

db_cli = AppGroup(
    "db",
    help="Migrate the database: one Alembic branch for the platform and one per module.",
)


@db_cli.command("upgrade")
@click.argument("revision", default="heads")
@_friendly_errors
def db_upgrade(revision: str) -> None:
    """Upgrade the database to the heads of the enabled modules (or to REVISION).

    When the application connects as another PostgreSQL role than the owner
    (GRP_DATABASE_URL vs GRP_DATABASE_OWNER_URL), that role is then granted
    data access.
    """
    app = current_app._get_current_object()
    pending = migrate.pending_revisions(app, revision)
    if pending:
        with click.progressbar(
            length=len(pending),
            label=f"Applying {len(pending)} migration(s)",
            item_show_func=lambda step: step,
        ) as bar:
            migrate.upgrade(app, revision, on_step=lambda step: bar.update(1, step))
    else:
        migrate.upgrade(app, revision)  # nothing to apply; still renews the app role's grants
    heads = migrate.current_heads(app)
    click.echo(
        f"Database is at {', '.join(sorted(heads)) or 'base'}"
        + (f" ({len(pending)} applied)." if pending else " (already up to date).")
    )


@db_cli.command("downgrade")
@click.argument("revision")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_friendly_errors
def db_downgrade(revision: str, yes: bool) -> None:
    """Downgrade the database to REVISION (an id, `base`, `<module>@base`, `<module>@-1`).

    Downgrading drops tables and their data; you are asked to confirm.
    """
    app = current_app._get_current_object()
    if not yes:
        database = sa.engine.make_url(app.config["GRP_DATABASE_OWNER_URL"])
        click.confirm(
            f"Downgrade {database.render_as_string(hide_password=True)} to {revision}? "
            "Tables dropped lose their data",
            abort=True,
        )
    migrate.downgrade(app, revision, on_step=click.echo)
    heads = migrate.current_heads(app)
    click.echo(f"Database is at {', '.join(sorted(heads)) or 'base'}.")


@db_cli.command("current")
@_friendly_errors
def db_current() -> None:
    """Show the revisions the database is at, and how many are pending."""
    app = current_app._get_current_object()
    script = migrate.script_directory(app)
    heads = migrate.current_heads(app)
    if not heads:
        click.echo("No migrations applied (empty database); run `grp db upgrade`.")
    script_heads = set(script.get_heads())
    for revision in sorted(heads):
        mark = " (head)" if revision in script_heads else ""
        click.echo(migrate.describe(script.get_revision(revision)) + mark)
    pending = migrate.pending_revisions(app)
    if pending:
        click.echo(f"{len(pending)} migration(s) pending; run `grp db upgrade`.")


@db_cli.command("heads")
@_friendly_errors
def db_heads() -> None:
    """Show the latest revision of the platform and of each enabled module."""
    script = migrate.script_directory(current_app._get_current_object())
    for revision in sorted(script.get_heads()):
        click.echo(migrate.describe(script.get_revision(revision)))


@db_cli.command("check")
@click.option(
    "--ignore-table",
    multiple=True,
    metavar="NAME",
    help="A table in the database that neither models nor migrations own (repeatable).",
)
@_friendly_errors
def db_check(ignore_table: tuple[str, ...]) -> None:
    """Compare the models with the migrated database; exit 1 when they disagree.

    A difference means a model changed without a migration (or the reverse):
    write one with `grp db revision --autogenerate`.
    """
    differences = migrate.schema_differences(current_app._get_current_object(), ignore_table)
    if differences:
        click.echo(f"Models and migrations disagree ({len(differences)} difference(s)):", err=True)
        for difference in differences:
            click.echo(f"  {migrate.format_difference(difference)}", err=True)
        raise SystemExit(1)
    click.echo("Models and migrations agree.")


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@click.option(
    "--module",
    required=True,
    metavar="NAME",
    help="`platform` or an enabled module; the revision goes on its branch.",
)
@click.option(
    "--autogenerate",
    is_flag=True,
    help="Fill the revision with the differences between the models and the database.",
)
@_friendly_errors
def db_revision(message: str, module: str, autogenerate: bool) -> None:
    """Create a revision in migrations/versions/<module>/ on that module's branch.

    The first revision of a module starts its branch from `base` and depends on
    the heads of the modules it depends on (or on the platform). Review an
    autogenerated revision before committing it: tenant tables need
    `grp.migrate.enable_tenant_rls(op, table)` for PostgreSQL row-level security.
    """
    app = current_app._get_current_object()
    for script in migrate.create_revision(app, message, module, autogenerate=autogenerate):
        path = os.path.relpath(script.path, migrate.PROJECT_ROOT)
        click.echo(f"Created {path}: {migrate.describe(script)}")


# --------------------------------------------------------------------------- users


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt(
        "Password", hide_input=True, confirmation_prompt="Repeat the password", err=True
    )


@click.command("create-admin")
@click.argument("username")
@click.option("--name", help="The person's name (default: the username).")
@click.option(
    "--department",
    "department_code",
    metavar="CODE",
    help="Department the role is held in (default: the first department by code).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@with_appcontext
@_friendly_errors
def create_admin(
    username: str, name: str | None, department_code: str | None, password_stdin: bool
) -> None:
    """Create a system administrator USERNAME (asks for the password twice)."""
    session = db.session
    departments = list(session.scalars(sa.select(Department).order_by(Department.code)))
    if not departments:
        raise click.ClickException(
            "No departments exist yet. Create them first: `grp load-organisation` loads the "
            "25 departments (`grp seed-demo` loads them with the demo logins)."
        )
    if department_code is None:
        department = departments[0]
    else:
        department = next((d for d in departments if d.code == department_code.upper()), None)
        if department is None:
            raise click.ClickException(
                f"No department {department_code!r}. Known: "
                + ", ".join(d.code for d in departments)
            )
    taken = session.scalar(
        sa.select(User.id).where(sa.func.lower(User.username) == username.strip().lower())
    )
    if taken is not None:
        raise click.ClickException(f"The username {username!r} is taken.")
    password = _read_password(password_stdin)
    if len(password) < services.MIN_PASSWORD_LENGTH:
        raise click.ClickException(
            f"The password is too short: use at least {services.MIN_PASSWORD_LENGTH} characters."
        )
    _cli_actor()
    try:
        services.create_user(
            session,
            username=username,
            password=password,
            name=name or username,
            roles=[(department.code, SYSTEM_ADMIN)],
        )
    except services.UserValidationError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    session.commit()
    click.echo(f"Created system administrator {username!r} (role held in {department.code}).")


# --------------------------------------------------------------------------- demo data


def _demo_hooks(app: Flask) -> list[tuple[str, Callable[..., Any]]]:
    """Return the `seed_demo` functions of the enabled modules, in load order."""
    hooks = []
    for manifest in app.extensions["grp"].modules:
        hook = getattr(import_module_package(manifest), "seed_demo", None)
        if hook is not None:
            hooks.append((manifest.name, hook))
    return hooks


#: `session.info` key under which `grp seed-demo` gives the modules' demo hooks its
#: other options: {"largest": int | None, "progress": callable(done, total)}.
DEMO_OPTIONS = "grp.demo_options"


@click.command("seed-demo")
@click.option(
    "--employees",
    type=click.IntRange(min=0),
    default=DEFAULT_DEMO_EMPLOYEES,
    show_default=True,
    help="Demo employees in total, spread over the 25 departments.",
)
@click.option(
    "--largest",
    type=click.IntRange(min=0),
    default=None,
    help="Employees of the largest department (POLICE) out of --employees; the others "
    "share the rest (the scale benchmark: --employees 50000 --largest 10000).",
)
@with_appcontext
@_friendly_errors
def seed_demo(employees: int, largest: int | None) -> None:
    """Load the demo organisation (4 sectors, 25 departments) and the demo logins.

    Running it again changes nothing. Enabled modules add their own demo data
    through a `seed_demo(app, session, *, employees)` function in their package;
    `session.info[DEMO_OPTIONS]` carries `largest` and a `progress(done, total)`
    callback that moves the progress bar by employees. Refused in production mode.
    """
    if largest is not None and largest > employees:
        raise click.BadParameter("cannot exceed --employees", param_hint="--largest")
    app = current_app._get_current_object()
    if app.config["GRP_PRODUCTION"]:
        raise click.ClickException(
            "Refusing to load demo data in production mode (GRP_PRODUCTION is set): "
            "the demo logins share a published password."
        )
    if migrate.pending_revisions(app):
        raise click.ClickException("The database is not migrated; run `grp db upgrade` first.")
    from grp.demo import demo_logins, load_demo_users, load_organisation

    session = db.session
    _cli_actor()
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("organisation", lambda: load_organisation(session)),
        ("demo logins", lambda: load_demo_users(session)),
    ]
    for name, hook in _demo_hooks(app):
        steps.append((name, functools.partial(hook, app, session, employees=employees)))
    with click.progressbar(
        length=max(employees, 1), label="Loading demo data", item_show_func=lambda s: s
    ) as bar:

        def progress(done: int, total: int) -> None:
            # Absolute figures: a hook knows its total (departments' minimums included).
            bar.length = max(total, 1)
            bar.update(max(done - bar.pos, 0), current_item=current[0])

        current = [""]
        session.info[DEMO_OPTIONS] = {"largest": largest, "progress": progress}
        try:
            for name, step in steps:
                current[0] = name
                bar.update(0, current_item=name)
                step()
        finally:
            session.info.pop(DEMO_OPTIONS, None)
        bar.update(max(bar.length - bar.pos, 0), current_item="done")
    session.commit()
    click.echo("Demo logins:")
    rows = [(x.username, x.password, x.department, x.role) for x in demo_logins()]
    click.echo(_table(rows, ("USERNAME", "PASSWORD", "DEPARTMENT", "ROLE")))


@click.command("load-organisation")
@with_appcontext
@_friendly_errors
def load_organisation_command() -> None:
    """Create the 4 sectors and 25 departments that are missing (also in production).

    Existing departments are left as they are. No logins are created: use
    `grp create-admin` next.
    """
    app = current_app._get_current_object()
    if migrate.pending_revisions(app):
        raise click.ClickException("The database is not migrated; run `grp db upgrade` first.")
    from grp.demo import load_organisation

    _cli_actor()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Department))
    departments = load_organisation(db.session)
    db.session.commit()
    click.echo(
        f"{len(departments)} departments ({len(departments) - before} created): "
        + ", ".join(sorted(departments))
    )


# --------------------------------------------------------------------------- modules


def _platform_version() -> str:
    try:
        return metadata.version("grp")
    except metadata.PackageNotFoundError:
        return "unknown"


@click.command("modules")
@with_appcontext
def list_modules() -> None:
    """List the platform and the enabled business modules in load order."""
    modules = current_app.extensions["grp"].modules
    rows = [("platform", _platform_version(), "-")]
    rows += [(m.name, m.version, ", ".join(m.depends) or "-") for m in modules]
    click.echo(_table(rows, ("MODULE", "VERSION", "DEPENDS ON")))
    if not modules:
        click.echo("no business modules enabled")


# --------------------------------------------------------------------------- serve


def _url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def _warn_if_not_ready(app: Flask) -> None:
    try:
        pending = migrate.pending_revisions(app)
    except Exception as exc:  # noqa: BLE001 - a warning only; /readyz tells the details
        click.secho(f"Warning: cannot check the database ({type(exc).__name__}).", err=True)
        return
    if pending:
        click.secho(
            f"Warning: {len(pending)} migration(s) pending; run `grp db upgrade`.",
            err=True,
            fg="yellow",
        )


#: Database hosts on this machine (no host at all: a Unix socket, or SQLite's file).
_LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


def default_workers(database_url: str) -> int:
    """gunicorn workers for this machine: cores + 1 with the database on it, else 2 x cores + 1.

    A sync worker waits through every round trip to the database. With PostgreSQL on
    another machine, the extra workers of gunicorn's usual 2 x cores + 1 fill those
    waits. With PostgreSQL on this machine they compete with it for the same cores: on
    2 cores with the 50,000-employee benchmark, 3 workers answered 13 to 20% more
    requests than 5 (and 8 fewer still), at a lower p95.
    """
    from sqlalchemy.engine import make_url

    cores = os.cpu_count() or 1
    host = make_url(database_url).host
    local = host in _LOCAL_HOSTS or host.startswith("/")
    return cores + 1 if local else 2 * cores + 1


def _freeze_startup_objects() -> None:
    """Leave what a worker built at start (modules, the app, its mappers and schemas)
    out of the garbage collector's full passes.

    A worker holds about 220,000 objects once the app is built, nearly all of them for
    good, and each full collection walked them all: about 80 ms, on the benchmark's
    search one in the first 2,000 requests of a worker (0.04 ms a request, and one
    request that much slower). Objects made later are collected as before.
    """
    gc.collect()
    gc.freeze()


def _gunicorn_application(options: dict[str, Any], factory: Callable[[], Flask]) -> Any:
    from gunicorn.app.base import BaseApplication

    class GrpGunicorn(BaseApplication):
        """gunicorn serving an app built by `factory` in each worker."""

        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            # Each worker builds its own app, so no database connection is shared
            # across the fork.
            app = factory()
            _freeze_startup_objects()
            return app

    return GrpGunicorn()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--production",
    is_flag=True,
    help="Serve with gunicorn in production mode (GRP_PRODUCTION on; needs GRP_SECRET_KEY).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help=(
        "gunicorn worker processes with --production (default: CPU cores + 1 when the "
        "database is on this machine, else 2 x cores + 1)."
    ),
)
@with_appcontext
def serve(host: str, port: int, production: bool, workers: int | None) -> None:
    """Serve GRP over HTTP: the development server, or gunicorn with --production."""
    app = current_app._get_current_object()
    url = _url(host, port)
    if not production:
        if workers is not None:
            raise click.UsageError("--workers applies to --production only.")
        from werkzeug.serving import run_simple

        _warn_if_not_ready(app)
        # grp.logging writes one line per request; werkzeug's own would repeat it.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        click.echo(f"GRP is running at {url} (development server; Ctrl+C stops it)")
        # Flask's app.run() refuses to run under the flask CLI; the reloader would
        # start a second process with a second scheduler.
        run_simple(host, port, app, use_reloader=False, use_debugger=False, threaded=True)
        return

    from grp.app import create_app

    os.environ["GRP_PRODUCTION"] = "1"  # inherited by the workers' create_app()
    try:
        checked = create_app()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    _warn_if_not_ready(checked)
    with checked.app_context():
        db.engine.dispose()
    workers = workers or default_workers(app.config["SQLALCHEMY_DATABASE_URI"])

    def when_ready(server: Any) -> None:
        click.echo(f"GRP is running at {url} (gunicorn, {workers} workers)")

    options = {
        "bind": f"{f'[{host}]' if ':' in host else host}:{port}",
        "workers": workers,
        "accesslog": None,  # grp.logging writes one JSON line per request instead
        "errorlog": "-",
        "when_ready": when_ready,
        "proc_name": "grp",
    }
    _gunicorn_application(options, create_app).run()


def register_commands(app: Flask) -> None:
    """Add the GRP commands to `app.cli` (and so to `grp` and `flask --app wsgi`)."""
    app.cli.add_command(db_cli)
    for command in (create_admin, load_organisation_command, seed_demo, list_modules, serve):
        app.cli.add_command(command)


def _create_app_or_exit() -> Flask:
    from grp.app import create_app

    try:
        return create_app()
    except (ConfigurationError, ModuleError) as exc:
        click.secho(f"Error: {exc}", err=True, fg="red")
        sys.exit(2)


def main() -> None:
    """Run the `grp` command line."""
    cli = FlaskGroup(
        name="grp",
        create_app=_create_app_or_exit,
        help="GRP, government resource planning: database, demo data, users and the server.",
    )
    cli.main(prog_name="grp")
