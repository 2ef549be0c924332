"""The declarative base, column types and mixins shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from grp.money import from_fils, to_fils

# One convention for every constraint name, so that migrations generate the same
# names on SQLite and PostgreSQL and can drop or alter them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Money(TypeDecorator):
    """Exact money: integer fils (BIGINT) in the database, `Decimal` in Python.

    `Numeric` is not used because SQLite stores it as a float.
    """

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        return to_fils(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        return from_fils(value)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zones; without this, values would come back naive there
    and aware on PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; GRP stores timezone-aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


class TenantMixin:
    """A department-owned record: scoped to the current department everywhere.

    Queries see only the current department's rows, inserts take the current
    department, and on PostgreSQL row-level security enforces the same rule
    again. See grp/tenancy.py.
    """

    __tenancy__ = "department"

    @declared_attr
    def department_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr receives the class
        return mapped_column(
            sa.ForeignKey("departments.id", ondelete="RESTRICT"),
            nullable=False,
            index=True,
            info={"grp_tenant": True},
        )


class AuditedMixin:
    """Every insert, update and delete of this model is written to the audit log.

    `__audit_exclude__` names attributes never copied into the log (secrets).
    """

    __audited__ = True
    __audit_exclude__: tuple[str, ...] = ()


def tenant_models() -> list[type]:
    """Every mapped class that is department-owned."""
    return [m.class_ for m in Base.registry.mappers if issubclass(m.class_, TenantMixin)]
