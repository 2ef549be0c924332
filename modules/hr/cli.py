"""`grp hr ...` commands."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from grp.audit import set_actor
from grp.db import db
from grp.models import Department
from grp.tenancy import department_context

hr_cli = AppGroup(
    "hr", help="HR module: default grades, bands, leave settings; year-end leave carry-forward."
)


@hr_cli.command("defaults")
@click.option(
    "--department",
    "codes",
    multiple=True,
    metavar="CODE",
    help="Department code (repeatable); default: every department.",
)
def load_defaults(codes: tuple[str, ...]) -> None:
    """Create the default grades, pay bands, allowance types and leave settings departments lack.

    Leave settings: DOMAIN.md's leave types, the 2026 public holidays, the
    Monday-Friday working week and the approval policy "manager, then HR";
    the policy "an HR officer approves" for employees' change requests.

    What a department already has (edited bands included) is kept.
    """
    from modules.hr.services.change_requests import ensure_change_request_policy
    from modules.hr.services.leave import ensure_leave_defaults
    from modules.hr.services.organisation import ensure_hr_defaults

    session = db.session
    set_actor(session, None, "cli:hr-defaults")
    query = sa.select(Department).order_by(Department.code)
    if codes:
        query = query.where(Department.code.in_([c.upper() for c in codes]))
    departments = list(session.scalars(query))
    missing = {c.upper() for c in codes} - {d.code for d in departments}
    if missing:
        raise click.ClickException(f"No department {', '.join(sorted(missing))}.")
    for department in departments:
        with department_context(session, department.id):
            created = ensure_hr_defaults(session)
            created = ensure_leave_defaults(session) or created
            created = ensure_change_request_policy(session) or created
            session.commit()
        click.echo(f"{department.code}: {'defaults created' if created else 'already complete'}")


@hr_cli.command("carry-forward")
@click.option(
    "--year",
    type=click.IntRange(2001, 2100),
    required=True,
    help="The new year the balances are carried into (2026: balances of 2025 into 2026).",
)
@click.option(
    "--department",
    "codes",
    multiple=True,
    metavar="CODE",
    help="Department code (repeatable); default: every department.",
)
def carry_forward(year: int, codes: tuple[str, ...]) -> None:
    """Carry leave balances at the end of YEAR-1 into YEAR, capped per leave type.

    Safe to run again: what was carried for an employee, type and year is not
    carried twice (the scheduled job does this on 1 January).
    """
    from modules.hr.services.leave import carry_forward_department

    session = db.session
    set_actor(session, None, "cli:hr-carry-forward")
    query = sa.select(Department).order_by(Department.code)
    if codes:
        query = query.where(Department.code.in_([c.upper() for c in codes]))
    departments = list(session.scalars(query))
    missing = {c.upper() for c in codes} - {d.code for d in departments}
    if missing:
        raise click.ClickException(f"No department {', '.join(sorted(missing))}.")
    for department in departments:
        with department_context(session, department.id):
            added = carry_forward_department(session, year)
            session.commit()
        click.echo(f"{department.code}: {added} ledger entries added")
