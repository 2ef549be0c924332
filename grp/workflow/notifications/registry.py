"""Bilingual message templates per event, rendered in a Jinja sandbox.

Templates are Jinja strings written by developers but filled with data that
users typed (names, comments, document titles); the sandbox keeps a template
from reaching into Python objects it is given, and subjects are folded to one
line so a value cannot add an email header. Texts are plain: the e-mail's HTML
part is made by escaping the text (`html_body`), never by trusting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

LANGUAGES = ("en", "ar")
MAX_SUBJECT = 500
EXTENSION_KEY = "grp.notifications"

# Plain text: autoescape off (an SMS must not show "&amp;"); a missing optional
# value renders empty rather than failing the business transaction that notifies.
_text_env = SandboxedEnvironment(autoescape=False, undefined=Undefined)


class UnknownNotificationEvent(LookupError):
    """`notify` was called with an event no template is registered for."""


class NotificationTemplateError(ValueError):
    """A template does not compile or cannot be rendered with the given context."""


@dataclass(frozen=True)
class NotificationTemplate:
    """The compiled subject and body of one event in both languages."""

    event: str
    label_en: str
    label_ar: str
    sources: Mapping[str, tuple[str, str]]  # language -> (subject, body) as registered

    def render(self, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """Return (subject, body) in `language` (English for any other language)."""
        subject_source, body_source = self.sources.get(language) or self.sources["en"]
        try:
            subject = _text_env.from_string(subject_source).render(context)
            body = _text_env.from_string(body_source).render(context)
        except TemplateError as exc:
            raise NotificationTemplateError(
                f"cannot render the {language} template of {self.event!r}: {exc}"
            ) from exc
        return " ".join(subject.split())[:MAX_SUBJECT], body.strip()


@dataclass
class NotificationsState:
    """What the notification service knows about this app: the templates by event."""

    templates: dict[str, NotificationTemplate]


def state(app: Flask) -> NotificationsState:
    """Return the app's notification state, created on first use."""
    found = app.extensions.get(EXTENSION_KEY)
    if found is None:
        found = app.extensions[EXTENSION_KEY] = NotificationsState(templates={})
    return found


def register_notification_template(
    app: Flask,
    event: str,
    subject_en: str,
    subject_ar: str,
    body_en: str,
    body_ar: str,
    *,
    label_en: str | None = None,
    label_ar: str | None = None,
) -> NotificationTemplate:
    """Register (or replace) the English and Arabic texts of `event`.

    A module replaces a platform default by registering the same event in its
    `setup(app)`. The labels name the event on the preferences page.
    """
    if not event or len(event) > 100:
        raise ValueError("an event name is 1 to 100 characters")
    sources = {"en": (subject_en, body_en), "ar": (subject_ar, body_ar)}
    for language, (subject, body) in sources.items():
        for source in (subject, body):
            try:
                _text_env.parse(source)  # fail at start-up, not when the event happens
            except TemplateError as exc:
                raise NotificationTemplateError(
                    f"the {language} template of {event!r} does not compile: {exc}"
                ) from exc
    template = NotificationTemplate(
        event=event, label_en=label_en or event, label_ar=label_ar or event, sources=sources
    )
    state(app).templates[event] = template
    return template


def template_for(app: Flask, event: str) -> NotificationTemplate:
    """Return the template of `event`, or raise UnknownNotificationEvent."""
    template = state(app).templates.get(event)
    if template is None:
        known = ", ".join(sorted(state(app).templates)) or "none"
        raise UnknownNotificationEvent(
            f"no notification template for event {event!r}; register one with "
            f"register_notification_template(app, {event!r}, ...) (registered: {known})"
        )
    return template


def html_body(text: str, language: str) -> str:
    """Return the HTML part of an e-mail: the escaped text, right-to-left in Arabic."""
    direction = "rtl" if language == "ar" else "ltr"
    paragraphs = "".join(
        f"<p>{escape(block).replace(chr(10), '<br>')}</p>" for block in text.split("\n\n")
    )
    return (
        f'<!doctype html><html lang="{escape(language)}" dir="{direction}">'
        f'<head><meta charset="utf-8"></head><body>{paragraphs}</body></html>'
    )


# --------------------------------------------------------------------------- defaults

_DECIDED = "{% set ok = approved if approved is defined else decision == 'approved' %}"
# The job's name (`job`, else `kind` and `job_id`) and outcome (`succeeded`, else `state`).
_JOB = (
    "{% set name = job or ((kind or 'Background job') ~ (' #' ~ job_id if job_id else '')) %}"
    "{% set st = ('succeeded' if succeeded else 'failed') if succeeded is defined else state %}"
    "{% if st == 'succeeded' %}{% set _en, _ar = 'has finished', 'اكتملت المهمة' %}"
    "{% elif st == 'cancelled' %}{% set _en, _ar = 'was cancelled', 'أُلغيت المهمة' %}"
    "{% else %}{% set _en, _ar = 'has failed', 'تعذر إكمال المهمة' %}{% endif %}"
)

#: The platform's texts. Context keys are documented in the package docstring;
#: modules may replace any of these by registering the event again.
DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "approval.waiting": {
        "label_en": "A request waits for my approval",
        "label_ar": "طلب بانتظار موافقتي",
        "subject_en": "Waiting for your approval: {{ summary }}",
        "subject_ar": "بانتظار موافقتك: {{ summary }}",
        "body_en": "{{ requester or 'A colleague' }} asks for your approval of {{ summary }}.\n\n"
        "Open GRP to approve or reject it.",
        "body_ar": "يطلب {{ requester or 'أحد الزملاء' }} موافقتك على {{ summary }}.\n\n"
        "افتح النظام للموافقة عليه أو رفضه.",
    },
    "approval.decided": {
        "label_en": "My request was approved or rejected",
        "label_ar": "تمت الموافقة على طلبي أو رفضه",
        "subject_en": _DECIDED + "{{ 'Approved' if ok else 'Rejected' }}: {{ summary }}",
        "subject_ar": _DECIDED + "{{ 'تمت الموافقة' if ok else 'تم الرفض' }}: {{ summary }}",
        "body_en": _DECIDED + "{{ summary }} was {{ 'approved' if ok else 'rejected' }}"
        "{% if approver %} by {{ approver }}{% endif %}."
        "{% if comment %}\n\nComment: {{ comment }}{% endif %}",
        "body_ar": _DECIDED + "{{ 'تمت الموافقة على' if ok else 'تم رفض' }} {{ summary }}"
        "{% if approver %} من قبل {{ approver }}{% endif %}."
        "{% if comment %}\n\nالتعليق: {{ comment }}{% endif %}",
    },
    "job.finished": {
        "label_en": "A background job I started has finished",
        "label_ar": "انتهت مهمة في الخلفية بدأتُها",
        "subject_en": _JOB + "{{ name }} {{ _en }}",
        "subject_ar": _JOB + "{{ _ar }}: {{ name }}",
        "body_en": _JOB + "{{ name }} {{ _en }}.{% if total %} {{ done or 0 }} of {{ total }} done."
        "{% endif %}{% if error_count %} {{ error_count }} with errors.{% endif %}"
        "{% if failure_reason %}\n\n{{ failure_reason }}{% endif %}"
        "{% if detail %}\n\n{{ detail }}{% endif %}",
        "body_ar": _JOB
        + "{{ _ar }}: {{ name }}.{% if total %} أُنجز {{ done or 0 }} من {{ total }}."
        "{% endif %}{% if error_count %} منها {{ error_count }} بأخطاء.{% endif %}"
        "{% if failure_reason %}\n\n{{ failure_reason }}{% endif %}"
        "{% if detail %}\n\n{{ detail }}{% endif %}",
    },
    # Placeholders for business modules, which may register their own texts.
    "leave.decided": {
        "label_en": "My leave request was decided",
        "label_ar": "تم البت في طلب إجازتي",
        "subject_en": _DECIDED + "Your leave request was {{ 'approved' if ok else 'rejected' }}",
        "subject_ar": _DECIDED + "{{ 'تمت الموافقة على' if ok else 'تم رفض' }} طلب إجازتك",
        "body_en": _DECIDED + "Your {{ leave_type or 'leave' }} request"
        "{% if start %} from {{ start }}{% endif %}{% if end %} to {{ end }}{% endif %}"
        " was {{ 'approved' if ok else 'rejected' }}.",
        "body_ar": _DECIDED + "{{ 'تمت الموافقة على' if ok else 'تم رفض' }} طلب "
        "{{ leave_type or 'الإجازة' }}"
        "{% if start %} من {{ start }}{% endif %}{% if end %} إلى {{ end }}{% endif %}.",
    },
    "payslip.ready": {
        "label_en": "My payslip is ready",
        "label_ar": "قسيمة راتبي جاهزة",
        "subject_en": "Your payslip{% if period %} for {{ period }}{% endif %} is ready",
        "subject_ar": "قسيمة راتبك{% if period %} عن {{ period }}{% endif %} جاهزة",
        "body_en": "Your payslip{% if period %} for {{ period }}{% endif %} is ready. "
        "Sign in to GRP to read it.",
        "body_ar": "قسيمة راتبك{% if period %} عن {{ period }}{% endif %} جاهزة. "
        "سجّل الدخول إلى النظام للاطلاع عليها.",
    },
    "document.expiring": {
        "label_en": "A document of mine is about to expire",
        "label_ar": "وثيقة تخصني على وشك الانتهاء",
        "subject_en": "{{ document or 'A document' }} expires{% if expires_on %} on "
        "{{ expires_on }}{% endif %}",
        "subject_ar": "تنتهي صلاحية {{ document or 'وثيقة' }}{% if expires_on %} في "
        "{{ expires_on }}{% endif %}",
        "body_en": "{{ document or 'A document' }} expires{% if expires_on %} on "
        "{{ expires_on }}{% endif %}. Please renew it in time.",
        "body_ar": "تنتهي صلاحية {{ document or 'وثيقة' }}{% if expires_on %} في "
        "{{ expires_on }}{% endif %}. يرجى تجديدها في الوقت المناسب.",
    },
}


def register_default_templates(app: Flask) -> None:
    """Register the platform's texts for the events listed in DEFAULT_TEMPLATES."""
    for event, texts in DEFAULT_TEMPLATES.items():
        register_notification_template(app, event, **texts)
