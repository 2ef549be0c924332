"""`grp notifications send [--loop]`: deliver the outbox from the command line."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from grp.db import db
from grp.workflow.notifications.services import SendReport, send_pending

log = logging.getLogger("grp.notifications")

notifications_cli = AppGroup("notifications", help="Deliver and inspect notifications.")


def _summary(report: SendReport) -> str:
    return (
        f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}, "
        f"dead {report.dead}"
    )


@notifications_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep sending until stopped (Ctrl+C or SIGTERM).")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=None,
    help="Seconds to wait when nothing is due [GRP_NOTIFICATION_SEND_INTERVAL_SECONDS].",
)
def send_command(loop: bool, batch: int, interval: float | None) -> None:
    """Send the due e-mail and SMS messages of the outbox once, or continuously with --loop."""
    if not loop:
        click.echo(_summary(send_pending(db.session, batch=batch)))
        return
    pause = interval or float(current_app.config["GRP_NOTIFICATION_SEND_INTERVAL_SECONDS"])
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        # Finish the message in hand rather than leave it 'sending' until the timeout.
        stop.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main_thread else None
    click.echo(f"Sending notifications every {pause:g} s when idle; Ctrl+C or SIGTERM stops.")
    try:
        while not stop.is_set():
            try:
                report = send_pending(db.session, batch=batch)
            except sa.exc.OperationalError as exc:
                db.session.rollback()
                # The class only: the error text quotes SQL parameters.
                log.error(
                    "cannot use the database (%s); trying again",
                    type(exc.orig).__name__,
                    extra={"event": "notification.sender_error"},
                )
                stop.wait(pause)
                continue
            if report.claimed:
                click.echo(_summary(report))
            if report.claimed < batch:
                stop.wait(pause)
    except KeyboardInterrupt:
        pass
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        db.session.remove()
    click.echo("Stopped.")
