"""Permissions and menu entries of the notification pages and API."""

from __future__ import annotations

from grp.auth.permissions import ALL_ROLES, DEPARTMENT_ADMIN

PERMISSIONS: dict[str, tuple[str, ...]] = {
    # Everyone reads their own notifications and chooses how to receive them.
    "platform.notification.read": ALL_ROLES,
    "platform.notification_preference.manage": ALL_ROLES,
    # Administrators watch delivery; department administrators see their department's rows.
    "platform.outbox.read": (DEPARTMENT_ADMIN,),
    "platform.outbox.retry": (DEPARTMENT_ADMIN,),
}

MENU: tuple[dict[str, str], ...] = (
    {
        "label_en": "My notifications",
        "label_ar": "إشعاراتي",
        "endpoint": "notifications.index",
        "permission": "platform.notification.read",
    },
    {
        "label_en": "Notification outbox",
        "label_ar": "صندوق الإشعارات الصادرة",
        "endpoint": "notifications.outbox",
        "permission": "platform.outbox.read",
    },
)
