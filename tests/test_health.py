"""Probes: /healthz while the process lives, /readyz only with a migrated database."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from grp import migrate
from grp.app import create_app
from grp.db import db


@pytest.fixture
def app_on(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on a given database URL; their engines are disposed afterwards."""
    apps: list[Flask] = []

    def make(url: str, owner_url: str | None = None) -> Flask:
        built = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": url,
                "GRP_DATABASE_OWNER_URL": owner_url or url,
                "SECRET_KEY": "test",
                "INSTANCE_PATH": str(tmp_path / "instance"),
            }
        )
        apps.append(built)
        return built

    yield make
    for built in apps:
        with built.app_context():
            db.session.remove()
            db.engine.dispose()


def test_healthz_answers_without_signing_in(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ok_on_the_migrated_database(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_until_the_migrations_ran(
    app_on: Callable[..., Flask], tmp_path: Path
) -> None:
    app = app_on(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    client = app.test_client()
    heads = sorted(migrate.script_heads(app))

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "reason": "migrations pending",
        "pending": heads,
    }
    assert client.get("/healthz").status_code == 200  # alive, just not ready

    migrate.upgrade(app)
    assert client.get("/readyz").status_code == 200

    migrate.downgrade(app, "base")
    assert client.get("/readyz").status_code == 503


def test_readyz_is_503_when_the_database_cannot_be_reached(
    app_on: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A database file inside a regular file can never be opened.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app = app_on(f"sqlite:///{blocker / 'grp.sqlite3'}")
    with caplog.at_level(logging.WARNING, logger="grp.health"):
        response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "reason": "OperationalError"}
    assert any("not ready" in r.getMessage() for r in caplog.records)
    assert str(blocker) not in response.get_data(as_text=True)


@pytest.mark.postgres
def test_readyz_on_a_fresh_postgres_database(
    app_on: Callable[..., Flask], grp_database: Any
) -> None:
    from grp.testing.plugin import APP_ROLE

    server = sa.engine.make_url(os.environ["GRP_TEST_DATABASE_URL"])
    name = f"grp_readyz_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        owner_url = server.set(database=name).render_as_string(hide_password=False)
        app_url = server.set(database=name, username=APP_ROLE, password=None).render_as_string(
            hide_password=False
        )
        app = app_on(app_url, owner_url)
        client = app.test_client()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["reason"] == "migrations pending"
        migrate.upgrade(app)  # also grants the app role read access to alembic_version
        assert client.get("/readyz").status_code == 200
        with app.app_context():
            db.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
