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
from datetime import UTC, datetime

from flask import g, has_request_context, request

_SCRUBBERS = [
    (re.compile(r"grp_[A-Za-z0-9_\-]{8,}"), "grp_[REDACTED]"),
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1[REDACTED]"),
    (
        re.compile(
            r"(?i)(password|passwd|secret|token|authorization)(\"?\s*[:=]\s*\"?)[^\s,\"&}]+"
        ),
        r"\1\2[REDACTED]",
    ),
    # Amounts with decimals (salaries, totals): 12,345.67 or 12345.67 or AED 1000
    (re.compile(r"(?i)\bAED\s*[\d,]+(\.\d+)?"), "AED [REDACTED]"),
    (re.compile(r"\b\d{1,3}(,\d{3})+(\.\d{2})?\b|\b\d+\.\d{2}\b"), "[AMOUNT]"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    SAFE_EXTRAS = ("event", "method", "path", "status", "duration_ms", "job", "module")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            user = g.get("_login_user")
            entry["user"] = getattr(user, "username", None)
            department = g.get("department")
            entry["department"] = getattr(department, "code", None)
        for key in self.SAFE_EXTRAS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
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


def log_request(response_status: int, started: float, now: float) -> None:
    logging.getLogger("grp.request").info(
        "%s %s %s",
        request.method,
        request.path,
        response_status,
        extra={
            "event": "request",
            "method": request.method,
            "path": request.path,
            "status": response_status,
            "duration_ms": round((now - started) * 1000, 1),
        },
    )
