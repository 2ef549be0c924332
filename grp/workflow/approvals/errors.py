"""Errors of the approval engine and the HTTP status the API answers with for each."""

from __future__ import annotations

from typing import Any

from grp.errors import ValidationError


def N_(message: str) -> str:  # noqa: N802 - the conventional name pybabel extracts
    """Mark `message` for translation without translating it now."""
    return message


class Message(str):
    """An English message that keeps its template, so that pages can show it translated.

    It is a plain string to the API and to logs; `translated` turns it into the
    user's language with Flask-Babel.
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Message:
        message = super().__new__(cls, template % params if params else template)
        message.template = template
        message.params = params
        return message


def translated(message: str) -> str:
    """Return `message` in the current request's language when it is a `Message`."""
    from flask_babel import gettext

    if isinstance(message, Message):
        return gettext(message.template, **message.params)
    return str(message)


class ApprovalError(Exception):
    """Something about approvals cannot be done as asked."""

    status = 409


class UnknownDocumentTypeError(ApprovalError):
    """No module registered the document type."""

    status = 422


class RoutingError(ApprovalError):
    """A document cannot be routed to approvers."""


class NoPolicyError(RoutingError):
    """No active policy of the department matches the document."""


class NoApproverError(RoutingError):
    """A step that applies resolves to nobody who may approve."""


class DuplicateRequestError(ApprovalError):
    """The document already waits for approval."""


class RequestNotPendingError(ApprovalError):
    """The request is already approved, rejected or cancelled."""


class ConcurrentDecisionError(ApprovalError):
    """Someone else changed the request at the same moment; read it again and retry."""


class NotAnApproverError(ApprovalError, PermissionError):
    """The actor may not decide this request now."""

    status = 403


class MakerCheckerError(NotAnApproverError):
    """The requester or preparer of a document never approves it, whatever their roles."""


class ApprovalValidationError(ValidationError):
    """Bad input; `errors` maps field names to messages (steps: a dict by step index)."""

    status = 422

    def __init__(self, errors: dict[str, Any]) -> None:
        self.errors = errors
        ValueError.__init__(self, "; ".join(_flatten(errors)))


class CommentRequiredError(ApprovalValidationError):
    """A rejection must say why."""

    def __init__(self) -> None:
        super().__init__({"comment": [Message(N_("Say why you reject the request."))]})


class PolicyConflictError(ApprovalError):
    """The policy changed since the caller read it (another administrator saved it)."""


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [
            line
            for key, value in errors.items()
            for line in _flatten(value, f"{prefix}{key}." if prefix or key != "_schema" else "")
        ]
    if isinstance(errors, list):
        return [
            f"{prefix.rstrip('.')}: {message}" if prefix else str(message) for message in errors
        ]
    return [f"{prefix.rstrip('.')}: {errors}"]
