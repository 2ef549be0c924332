"""`grp payroll ...` commands."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from grp.audit import set_actor
from grp.db import db
from grp.models import Department
from grp.tenancy import department_context

payroll_cli = AppGroup("payroll", help="Payroll module: default components and rules.")


@payroll_cli.command("defaults")
@click.option(
    "--department",
    "codes",
    multiple=True,
    metavar="CODE",
    help="Department code (repeatable); default: every department.",
)
def load_defaults(codes: tuple[str, ...]) -> None:
    """Create the default salary components and rules (DOMAIN.md) that departments lack."""
    from modules.payroll.services import seed_payroll_defaults

    session = db.session
    set_actor(session, None, "cli:payroll-defaults")
    query = sa.select(Department).order_by(Department.code)
    if codes:
        query = query.where(Department.code.in_([c.upper() for c in codes]))
    departments = list(session.scalars(query))
    missing = {c.upper() for c in codes} - {d.code for d in departments}
    if missing:
        raise click.ClickException(f"No department {', '.join(sorted(missing))}.")
    for department in departments:
        with department_context(session, department.id):
            created = seed_payroll_defaults(session)
            session.commit()
        click.echo(f"{department.code}: {'defaults created' if created else 'already complete'}")
