"""Permissions: named `<module>.<entity>.<action>`, granted to roles by manifests.

The platform declares its own here as if it were a module named `platform`.
Every view declares the permission it needs with `require_permission`, or is
marked `public`; an invariant test walks every URL rule to check that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

SYSTEM_ADMIN = "system_admin"


def role_codes_in_force(held_there: Iterable[str], system_admin: bool) -> set[str]:
    """The role codes a user acts with in a department: those held there, and
    system_admin everywhere for a system administrator."""
    codes = set(held_there)
    if system_admin:
        codes.add(SYSTEM_ADMIN)
    return codes


DEPARTMENT_ADMIN = "department_admin"

#: The built-in roles of DOMAIN.md: code -> (English, Arabic).
BUILT_IN_ROLES: dict[str, tuple[str, str]] = {
    "system_admin": ("System administrator", "مدير النظام"),
    "department_admin": ("Department administrator", "مسؤول الدائرة"),
    "hr_officer": ("HR officer", "موظف الموارد البشرية"),
    "payroll_officer": ("Payroll officer", "مسؤول الرواتب"),
    "finance_officer": ("Finance officer", "المسؤول المالي"),
    "procurement_officer": ("Procurement officer", "مسؤول المشتريات"),
    "manager": ("Manager / approver", "المدير المباشر"),
    "employee": ("Employee", "الموظف"),
}

ALL_ROLES = tuple(BUILT_IN_ROLES)

PLATFORM_PERMISSIONS: dict[str, tuple[str, ...]] = {
    # Every signed-in user may see which departments they act in and their own tokens.
    "platform.department.read": ALL_ROLES,
    "platform.token.manage": ALL_ROLES,
    "platform.profile.read": ALL_ROLES,
    "platform.department.manage": (SYSTEM_ADMIN,),
    "platform.user.read": (DEPARTMENT_ADMIN,),
    "platform.user.manage": (DEPARTMENT_ADMIN,),
    "platform.audit.read": (DEPARTMENT_ADMIN,),
}

PERMISSION_ATTR = "__grp_permission__"
PUBLIC_ATTR = "__grp_public__"


@dataclass
class PermissionRegistry:
    """Which roles grant which permission; filled from the platform and manifests."""

    grants: dict[str, set[str]] = field(default_factory=dict)

    def register(self, permissions: dict[str, Iterable[str]]) -> None:
        for permission, roles in permissions.items():
            unknown = set(roles) - set(BUILT_IN_ROLES)
            if unknown:
                raise ValueError(f"permission {permission!r} names unknown roles {sorted(unknown)}")
            self.grants.setdefault(permission, set()).update(roles)

    def is_known(self, permission: str) -> bool:
        return permission in self.grants

    def allows(self, role_codes: Iterable[str], permission: str) -> bool:
        roles = set(role_codes)
        if SYSTEM_ADMIN in roles:
            return True
        return bool(roles & self.grants.get(permission, set()))

    def permissions_of(self, role_codes: Iterable[str]) -> set[str]:
        roles = set(role_codes)
        if SYSTEM_ADMIN in roles:
            return set(self.grants)
        return {p for p, granted in self.grants.items() if roles & granted}


def public(view: F) -> F:
    """Mark a view as needing no permission (login page, health checks)."""
    setattr(view, PUBLIC_ATTR, True)
    return view
