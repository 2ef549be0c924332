"""Translation for payroll services, usable inside and outside a request.

Services run in requests (the user's language) and in jobs and CLI commands
(no request: English). `_` is named so pybabel extracts its strings.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_babel import gettext


def _(message: str, **params: Any) -> str:
    """Return `message` in the request's language (English outside requests), with `params`."""
    if has_request_context():
        return gettext(message, **params)
    return message % params if params else message
