"""Alembic environment shared by the platform and every module (one branch each)."""

from __future__ import annotations

import grp_boot  # noqa: F401  (the GRP package as `grp`)

from alembic import context

from grp.db import db
from grp.migrate import owner_engine

config = context.config
app = config.attributes.get("grp_app")
if app is None:  # invoked by the plain `alembic` command
    from grp.app import create_app

    app = create_app()

target_metadata = db.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=app.config["GRP_DATABASE_OWNER_URL"],
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = owner_engine(app)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite alters tables by copying them; batch mode does that for us.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
