"""A department-owned table that exists only in test databases.

The platform owns no department data itself (the business modules do), yet its
tenancy and row-level security must be proved on a real tenant table. This
model lives on its own declarative base, so it never enters the application's
metadata, migrations or invariant walks.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from grp.db import NAMING_CONVENTION, TenantMixin


class ProbeBase(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# Stand-in so the probe's foreign key resolves; never created from this metadata.
sa.Table("departments", ProbeBase.metadata, sa.Column("id", sa.Integer, primary_key=True))


class TenancyProbe(TenantMixin, ProbeBase):
    __tablename__ = "tenancy_probe"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(100))


def create_probe_table(connection: sa.Connection, app_role: str | None = None) -> None:
    from grp.tenancy import rls_policy_sql

    ProbeBase.metadata.create_all(connection, tables=[TenancyProbe.__table__])
    if connection.dialect.name == "postgresql":
        for statement in rls_policy_sql("tenancy_probe"):
            connection.exec_driver_sql(statement)
        if app_role:
            connection.exec_driver_sql(
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON tenancy_probe TO "{app_role}"'
            )
            connection.exec_driver_sql(
                f'GRANT USAGE, SELECT ON SEQUENCE tenancy_probe_id_seq TO "{app_role}"'
            )
