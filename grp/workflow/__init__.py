"""Workflow services every business module uses, built once in the platform.

* `grp.workflow.approvals`: approval policies as data, routing, decisions, inbox.
* `grp.workflow.jobs`: background jobs with progress, and the scheduler.
* `grp.workflow.notifications`: the outbox, email and SMS channels, in-app list.

Each part has an `init_app(app)` that registers its permissions, pages, API and
CLI commands; `init_workflow` calls them before business modules are loaded, so
modules can register document types, job handlers and scheduled jobs in their
`setup(app)`.
"""

from __future__ import annotations

from flask import Flask


def init_workflow(app: Flask) -> None:
    from grp.workflow import approvals, jobs, notifications

    # Jobs first: notifications registers its periodic sender with the scheduler.
    jobs.init_app(app)
    notifications.init_app(app)
    approvals.init_app(app)
