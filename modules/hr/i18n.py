"""Translation for HR services, usable inside and outside a request.

Services run in requests (pages, API: the user's language) and in CLI commands
and jobs (no request: English). `_` here is named so pybabel extracts its
strings like Flask-Babel's.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_babel import gettext

from grp.identifiers import IdentifierError


def _(message: str, **params: Any) -> str:
    """Return `message` in the request's language (English outside requests), with `params`."""
    if has_request_context():
        return gettext(message, **params)
    return message % params if params else message


def identifier_message(error: IdentifierError) -> str:
    """Return an identifier error (grp.identifiers) in the request's language."""
    return _(error.message, **error.params)
