"""Platform tables: organisation, users, roles, API tokens, login throttling, audit.

These are global tables (`__tenancy__ = "global"`): they describe who may act in
which department, so they are read before a department is chosen. Everything a
department owns uses `TenantMixin` instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import AuditedMixin, Base, TimestampMixin, UTCDateTime, utcnow


class Sector(TimestampMixin, AuditedMixin, Base):
    """A group of departments (قطاع)."""

    __tablename__ = "sectors"
    __tenancy__ = "global"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name_en: Mapped[str] = mapped_column(sa.String(200))
    name_ar: Mapped[str] = mapped_column(sa.String(200))

    departments: Mapped[list[Department]] = relationship(back_populates="sector")


class Department(TimestampMixin, AuditedMixin, Base):
    """A government department (دائرة): the tenant."""

    __tablename__ = "departments"
    __tenancy__ = "global"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name_en: Mapped[str] = mapped_column(sa.String(200))
    name_ar: Mapped[str] = mapped_column(sa.String(200))
    sector_id: Mapped[int] = mapped_column(sa.ForeignKey("sectors.id"), index=True)
    # WPS salary file fields (DOMAIN.md): 13-digit employer id, 9-digit routing code.
    wps_employer_id: Mapped[str | None] = mapped_column(sa.String(13))
    bank_routing_code: Mapped[str | None] = mapped_column(sa.String(9))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    sector: Mapped[Sector] = relationship(back_populates="departments")

    def name(self, language: str = "en") -> str:
        return self.name_ar if language == "ar" else self.name_en


class Role(Base):
    """A built-in role (DOMAIN.md role codes); permissions come from module manifests."""

    __tablename__ = "roles"
    __tenancy__ = "global"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(50), unique=True)
    name_en: Mapped[str] = mapped_column(sa.String(200))
    name_ar: Mapped[str] = mapped_column(sa.String(200))


class User(TimestampMixin, AuditedMixin, Base):
    __tablename__ = "users"
    __tenancy__ = "global"
    __audit_exclude__ = ("password_hash",)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(150), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    language: Mapped[str] = mapped_column(sa.String(5), default="en", server_default="en")
    primary_department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("departments.id"), index=True
    )

    role_assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    primary_department: Mapped[Department | None] = relationship()

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class RoleAssignment(TimestampMixin, AuditedMixin, Base):
    """A user holds a role in one department."""

    __tablename__ = "role_assignments"
    __tenancy__ = "global"
    __table_args__ = (sa.UniqueConstraint("department_id", "user_id", "role_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Leads the unique key and is indexed by it: "who holds roles in department X".
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int] = mapped_column(sa.ForeignKey("roles.id"), index=True)

    user: Mapped[User] = relationship(back_populates="role_assignments")
    role: Mapped[Role] = relationship(lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")


class ApiToken(TimestampMixin, Base):
    """A bearer token for API clients; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"
    __tenancy__ = "global"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="api")
    # The first characters of the token, shown in lists so a user can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(12))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    def is_valid(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.revoked_at is None and self.expires_at > now


class LoginThrottle(Base):
    """Failed sign-in attempts per username, for locking out password guessing.

    Keyed by the name typed, not the user row, so unknown names are throttled
    alike and the lock does not reveal which accounts exist.
    """

    __tablename__ = "login_throttles"
    __tenancy__ = "global"

    username: Mapped[str] = mapped_column(sa.String(150), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One change, append-only (database triggers refuse UPDATE and DELETE).

    Global table with the department of the change: a role given in POLICE by a
    system administrator working in DM is logged under POLICE, where POLICE's
    administrators read it. Read it only through grp.audit.
    """

    __tablename__ = "audit_log"
    __tenancy__ = "global"
    __table_args__ = (sa.Index("ix_audit_log_department_id_at", "department_id", "at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # No foreign keys: the log outlives the departments and users it mentions.
    department_id: Mapped[int | None] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column(index=True)
    actor_name: Mapped[str | None] = mapped_column(sa.String(150))
    action: Mapped[str] = mapped_column(sa.String(50))  # create, update, delete, or an event name
    entity: Mapped[str] = mapped_column(sa.String(100))
    entity_id: Mapped[str | None] = mapped_column(sa.String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
