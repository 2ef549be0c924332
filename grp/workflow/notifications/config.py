"""Settings of the notification service: defaults from the environment, checked at start-up.

| setting | default | meaning |
| --- | --- | --- |
| GRP_NOTIFICATION_CHANNELS | `email=log,sms=log` (production: `email=smtp,sms=http`) | transports |
| GRP_SMTP_HOST / GRP_SMTP_PORT | empty / 587 | mail server |
| GRP_SMTP_USER / GRP_SMTP_PASSWORD | empty | SMTP login (none when empty) |
| GRP_SMTP_FROM | `GRP <no-reply@grp.invalid>` | sender; its domain ends the Message-ID |
| GRP_SMTP_TLS | `starttls` | `starttls`, `ssl` (implicit TLS) or `none` |
| GRP_SMTP_TIMEOUT | 10 | seconds |
| GRP_SMS_GATEWAY_URL | empty | the gateway's POST endpoint (http or https) |
| GRP_SMS_GATEWAY_TOKEN | empty | bearer token; else GRP_SMS_GATEWAY_USER / _PASSWORD (Basic) |
| GRP_SMS_GATEWAY_TIMEOUT | 10 | seconds |
| GRP_NOTIFICATION_MAX_ATTEMPTS | 8 | attempts before a message is dead |
| GRP_NOTIFICATION_RETRY_BASE_SECONDS | 60 | first retry delay, doubled each time |
| GRP_NOTIFICATION_RETRY_MAX_SECONDS | 3600 | longest retry delay |
| GRP_NOTIFICATION_SENDING_TIMEOUT_SECONDS | 300 | a 'sending' row older than this is sent again |
| GRP_NOTIFICATION_SEND_INTERVAL_SECONDS | 15 | pause of `grp notifications send --loop` when idle |
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from grp.config import ConfigurationError
from grp.workflow.notifications.channels import parse_channel_setting

log = logging.getLogger("grp.notifications")

SMTP_TLS_MODES = ("starttls", "ssl", "none")
_INTEGERS = {
    "GRP_SMTP_PORT": 587,
    "GRP_NOTIFICATION_MAX_ATTEMPTS": 8,
    "GRP_NOTIFICATION_RETRY_BASE_SECONDS": 60,
    "GRP_NOTIFICATION_RETRY_MAX_SECONDS": 3600,
    "GRP_NOTIFICATION_SENDING_TIMEOUT_SECONDS": 300,
    "GRP_NOTIFICATION_SEND_INTERVAL_SECONDS": 15,
}
_SECONDS = {"GRP_SMTP_TIMEOUT": 10.0, "GRP_SMS_GATEWAY_TIMEOUT": 10.0}
_STRINGS = {
    "GRP_SMTP_HOST": "",
    "GRP_SMTP_USER": "",
    "GRP_SMTP_PASSWORD": "",
    "GRP_SMTP_FROM": "GRP <no-reply@grp.invalid>",
    "GRP_SMTP_TLS": "starttls",
    "GRP_SMS_GATEWAY_URL": "",
    "GRP_SMS_GATEWAY_USER": "",
    "GRP_SMS_GATEWAY_PASSWORD": "",
    "GRP_SMS_GATEWAY_TOKEN": "",
}


def _number(name: str, default: Any, kind: type) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None


def apply_config_defaults(app: Flask) -> None:
    """Fill the notification settings the app was not given from the environment; check them."""
    production = bool(app.config.get("GRP_PRODUCTION"))
    app.config.setdefault(
        "GRP_NOTIFICATION_CHANNELS",
        os.environ.get("GRP_NOTIFICATION_CHANNELS")
        or ("email=smtp,sms=http" if production else "email=log,sms=log"),
    )
    for name, default in _STRINGS.items():
        app.config.setdefault(name, os.environ.get(name, default))
    for name, default in _INTEGERS.items():
        app.config.setdefault(name, _number(name, default, int))
    for name, default in _SECONDS.items():
        app.config.setdefault(name, _number(name, default, float))
    check_config(app.config)
    _warn_about_missing_transport_settings(app)


def _warn_about_missing_transport_settings(app: Flask) -> None:
    """Say at start-up what the sender would otherwise only say in each row's last_error."""
    needs = {"smtp": "GRP_SMTP_HOST", "http": "GRP_SMS_GATEWAY_URL"}
    for channel, transport in parse_channel_setting(
        app.config["GRP_NOTIFICATION_CHANNELS"]
    ).items():
        setting = needs.get(transport)
        if setting and not app.config[setting]:
            log.warning(
                "%s notifications use %s but %s is not set: they stay queued until it is",
                channel,
                transport,
                setting,
                extra={"event": "notification.config"},
            )


def check_config(config: Any) -> None:
    """Refuse settings that would lose or duplicate messages; raise ConfigurationError."""
    try:
        parse_channel_setting(config["GRP_NOTIFICATION_CHANNELS"])
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if config["GRP_SMTP_TLS"] not in SMTP_TLS_MODES:
        raise ConfigurationError(f"GRP_SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}")
    if int(config["GRP_NOTIFICATION_MAX_ATTEMPTS"]) < 1:
        raise ConfigurationError("GRP_NOTIFICATION_MAX_ATTEMPTS must be at least 1")
    # A row still being sent must not look abandoned: the timeout has to outlast
    # the slowest transport call, or a second sender would send it again meanwhile.
    slowest = max(float(config["GRP_SMTP_TIMEOUT"]), float(config["GRP_SMS_GATEWAY_TIMEOUT"]))
    if int(config["GRP_NOTIFICATION_SENDING_TIMEOUT_SECONDS"]) <= 2 * slowest:
        raise ConfigurationError(
            "GRP_NOTIFICATION_SENDING_TIMEOUT_SECONDS must be more than twice the SMTP and "
            "SMS gateway timeouts"
        )
