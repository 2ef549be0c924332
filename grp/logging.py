"""Structured logs: one JSON object a line, with request id, user and department.

Only an allow-list of fields is written, and message text is scrubbed of
anything that looks like a password, a token or an amount of money, so that
logs never carry secrets or salary figures.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

import orjson
from flask import g, has_request_context, request

REDACTED = "[REDACTED]"

_SCRUBBERS = [
    # API tokens (grp.auth.services.TOKEN_PREFIX) wherever they appear.
    (re.compile(r"grp_[A-Za-z0-9_\-]{8,}"), "grp_" + REDACTED),
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1" + REDACTED),
    # key=value, key: value, "key": "value" and Python reprs ('key': 'value').
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|authorization|api[_-]?key|cookie)"
            r"([\"']?\s*[:=]\s*[\"']?)[^\s,\"'&}]+"
        ),
        r"\1\2" + REDACTED,
    ),
    # Amounts (salaries, totals): AED 1000, 12,345.67, 12345.67, 1,000.
    (re.compile(r"(?i)\b(AED|Dhs?)\.?\s*\d[\d,]*(\.\d+)?"), r"\1 [AMOUNT]"),
    (re.compile(r"\b\d{1,3}(,\d{3})+(\.\d+)?\b|\b\d+\.\d{2}\b"), "[AMOUNT]"),
]


#: Each scrubber above needs one of these to match at all: text without any of them
#: is returned as it is after one search instead of five (every request's log line).
_WORTH_SCRUBBING = re.compile(
    r"(?i)grp_|bearer|passw|pwd|secret|token|authorization|api[_-]?key|cookie|aed|dh|\d[,.]\d"
)


def scrub(text: str) -> str:
    """Return `text` with tokens, passwords and money amounts replaced by markers."""
    if _WORTH_SCRUBBING.search(text) is None:
        return text
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON with the request's id, user and department."""

    #: Fields a caller may add with `extra=`; anything else is dropped. (`module`
    #: is LogRecord's own attribute, so a business module is `grp_module`.)
    SAFE_EXTRAS = ("event", "method", "path", "status", "duration_ms", "job", "grp_module")

    def format(self, record: logging.LogRecord) -> str:
        extras = {key: getattr(record, key) for key in self.SAFE_EXTRAS if hasattr(record, key)}
        exc = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(
            record.created, record.levelname, record.name, record.getMessage(), extras, exc
        )

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        extras: Mapping[str, object],
        exc: str | None = None,
    ) -> str:
        """The JSON line of a record made of these parts (`log_request` writes its line
        with this, without a LogRecord)."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "logger": logger,
            "msg": scrub(message),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            user = g.get("_login_user")  # set by Flask-Login once the user is known
            entry["user"] = getattr(user, "username", None)
            department = g.get("department")
            entry["department"] = getattr(department, "code", None)
        for key in self.SAFE_EXTRAS:
            if key in extras:
                value = extras[key]
                entry[key] = scrub(value) if isinstance(value, str) else value
        if exc is not None:
            entry["exc"] = scrub(exc)
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # beyond orjson (an integer over 64 bits, a lone surrogate)
            return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    """Send logs to stderr, as JSON lines or plain text (idempotent)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_grp", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._grp = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(
        JsonFormatter()
        if as_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root.setLevel(level.upper())
    # Alembic logs two lines each time a migration context is opened, which
    # /readyz does on every probe; the CLI reports migration progress itself.
    logging.getLogger("alembic.runtime").setLevel(logging.WARNING)


REQUEST_LOGGER = logging.getLogger("grp.request")


def log_request(response_status: int, started: float, now: float) -> None:
    """Write the one log line of a finished request (method, path, status, duration)."""
    if not REQUEST_LOGGER.isEnabledFor(logging.INFO):
        return
    method = request.method
    path = request.path
    extras = {
        "event": "request",
        "method": method,
        "path": path,
        "status": response_status,
        "duration_ms": round((now - started) * 1000, 1),
    }
    handler = _sole_json_handler(REQUEST_LOGGER)
    if handler is not None:
        # The line the handler would write for the record below, written without the
        # record: a LogRecord, the search for its caller's frame and the dispatch to the
        # handlers cost about two thirds of the request log's 0.1 ms (bench: search
        # requests in process).
        formatter = cast(JsonFormatter, handler.formatter)  # checked by _sole_json_handler
        line = formatter.line(
            time.time(), "INFO", REQUEST_LOGGER.name, f"{method} {path} {response_status}", extras
        )
        try:
            handler.acquire()
            try:
                handler.stream.write(line + handler.terminator)
                handler.flush()
            finally:
                handler.release()
        except Exception:  # noqa: BLE001 - as logging does: a log line never fails a request
            handler.handleError(
                REQUEST_LOGGER.makeRecord(
                    REQUEST_LOGGER.name, logging.INFO, __file__, 0, line, (), None
                )
            )
        return
    REQUEST_LOGGER.info("%s %s %s", method, path, response_status, extra=extras)


def _sole_json_handler(logger: logging.Logger) -> logging.StreamHandler | None:
    """The handler that alone writes `logger`'s INFO records, where it is a stream handler
    with exactly GRP's JSON formatter and nothing filters the records on the way (as
    `configure_logging` sets it up); else None, and records go through `logging`."""
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent  # type: ignore[assignment]
    if (
        type(found) is not logging.StreamHandler
        or type(found.formatter) is not JsonFormatter
        or found.filters
        or found.level > logging.INFO
    ):
        return None
    return found
