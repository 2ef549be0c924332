"""Transports that deliver outbox rows: SMTP e-mail, an HTTP SMS gateway, and the log.

Every transport sends the row's idempotency key (SMS: `Idempotency-Key` header;
e-mail: a `Message-ID` made from it), so that the copy a retry sends after a
crash can be recognised and dropped by the provider. Error messages name the
failure (status code, exception class) and never the message text, because
they are kept in `last_error`, shown to administrators and logged.

`GRP_NOTIFICATION_CHANNELS` chooses a transport per channel, e.g.
`email=smtp,sms=http` (production default) or `email=log,sms=log` (default
elsewhere: one log line per message, without subject or body).
"""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import Any, Protocol

from grp.workflow.notifications.models import EMAIL, SMS, OutboxMessage
from grp.workflow.notifications.registry import html_body

log = logging.getLogger("grp.notifications")

#: The transports each channel can use.
TRANSPORTS_OF = {EMAIL: ("log", "smtp"), SMS: ("log", "http")}


class DeliveryError(Exception):
    """A transport could not deliver; `permanent` means retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


class Transport(Protocol):
    """Delivers one outbox row; returns the provider's message id (or None)."""

    def send(self, message: OutboxMessage) -> str | None: ...


def mask_address(address: str) -> str:
    """Return enough of an address to tell messages apart in a log, not to contact anyone."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{address[:5]}***{address[-2:]}" if len(address) > 7 else "***"


class LogTransport:
    """Write one structured log line per message instead of sending it (development).

    The line names the row, channel, event, masked address and idempotency key,
    never the subject or body: those may carry salary figures.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def send(self, message: OutboxMessage) -> str | None:
        log.info(
            "notification %s to %s by %s (log channel, not sent): event %s, key %s",
            message.id,
            mask_address(message.address),
            self.channel,
            message.event,
            message.idempotency_key,
            extra={"event": "notification.logged"},
        )
        return f"log-{message.idempotency_key}"


class SmtpTransport:
    """Send e-mail through an SMTP server, text and escaped-HTML parts, Message-ID from the key."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        user: str | None = None,
        password: str | None = None,
        tls: str = "starttls",
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.tls, self.timeout = user, password, tls, timeout

    def message_id(self, key: str) -> str:
        """Return the Message-ID for an idempotency key: the same on every retry."""
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "grp.invalid"
        return f"<{key}@{domain}>"

    def build(self, message: OutboxMessage) -> EmailMessage:
        """Return the e-mail for an outbox row."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = formataddr(("", message.address))
        email["Subject"] = message.subject
        email["Message-ID"] = self.message_id(message.idempotency_key)
        # Asks vacation responders and mailing lists not to answer automatic mail.
        email["Auto-Submitted"] = "auto-generated"
        # No raw 8-bit body: not every relay offers 8BITMIME, and Arabic text is 8-bit.
        encoding = "quoted-printable" if message.body.isascii() else "base64"
        email.set_content(message.body, cte=encoding)
        email.add_alternative(
            html_body(message.body, message.language), subtype="html", cte=encoding
        )
        # After the body: set_content drops Content-* headers set before it.
        email["Content-Language"] = message.language
        return email

    def send(self, message: OutboxMessage) -> str | None:
        if not self.host:
            raise DeliveryError("GRP_SMTP_HOST is not set")
        email = self.build(message)
        try:
            if self.tls == "ssl":
                context = ssl.create_default_context()
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with server:
                if self.tls == "starttls":
                    server.starttls(context=ssl.create_default_context())
                if self.user:
                    server.login(self.user, self.password or "")
                server.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryError(
                f"SMTP server refused the recipient ({', '.join(map(str, codes))})",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx on the message itself is final; on the sender or login it is our
            # configuration, which an administrator fixes before the retries run out.
            permanent = exc.smtp_code >= 500 and isinstance(exc, smtplib.SMTPDataError)
            raise DeliveryError(
                f"SMTP error {exc.smtp_code} ({type(exc).__name__})", permanent=permanent
            ) from None
        except OSError as exc:  # refused, timed out, TLS failure
            raise DeliveryError(f"SMTP server unreachable ({type(exc).__name__})") from None
        except smtplib.SMTPException as exc:  # e.g. no STARTTLS offered
            raise DeliveryError(f"SMTP delivery failed ({type(exc).__name__})") from None
        return email["Message-ID"]


class HttpSmsTransport:
    """Send SMS through an HTTP gateway: a JSON POST with an `Idempotency-Key` header.

    The request body is `{"to": "+9715XXXXXXXX", "text": "...", "reference": key}`;
    credentials are a bearer token or a user and password (HTTP Basic). A 2xx
    answer is delivery (its JSON `id` or `message_id` is kept); 408, 425, 429 and
    5xx are retried; any other 4xx is final.
    """

    RETRYABLE = frozenset({408, 425, 429})

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url, self.user, self.password, self.token, self.timeout = (
            url,
            user,
            password,
            token,
            timeout,
        )

    def request_for(self, message: OutboxMessage) -> urllib.request.Request:
        """Return the HTTP request that sends `message`."""
        payload = {
            "to": message.address,
            "text": message.body,
            "reference": message.idempotency_key,
        }
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": message.idempotency_key,
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.user:
            pair = f"{self.user}:{self.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        # S310: send() accepts only http(s) URLs, checked before this is called.
        return urllib.request.Request(  # noqa: S310
            self.url, data=data, headers=headers, method="POST"
        )

    def send(self, message: OutboxMessage) -> str | None:
        if not self.url:
            raise DeliveryError("GRP_SMS_GATEWAY_URL is not set")
        if not self.url.startswith(("https://", "http://")):
            raise DeliveryError("GRP_SMS_GATEWAY_URL must be an http(s) URL")
        try:
            with urllib.request.urlopen(  # noqa: S310 - the scheme is checked above
                self.request_for(message), timeout=self.timeout
            ) as response:
                raw = response.read(65536)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            retry = status >= 500 or status in self.RETRYABLE
            raise DeliveryError(f"SMS gateway answered {status}", permanent=not retry) from None
        except OSError as exc:  # URLError, timeouts, refused connections
            raise DeliveryError(f"SMS gateway unreachable ({type(exc).__name__})") from None
        return _provider_id(raw)


def _provider_id(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw or b"null")
    except ValueError:
        return None
    if isinstance(answer, dict):
        for key in ("id", "message_id", "messageId"):
            if answer.get(key) is not None:
                return str(answer[key])[:200]
    return None


# --------------------------------------------------------------------------- configuration


def parse_channel_setting(value: str | Mapping[str, str]) -> dict[str, str]:
    """Read `GRP_NOTIFICATION_CHANNELS` ("email=smtp,sms=http" or a dict) into a dict."""
    if isinstance(value, Mapping):
        pairs = dict(value)
    else:
        pairs = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            channel, sep, transport = item.partition("=")
            if not sep:
                raise ValueError(f"GRP_NOTIFICATION_CHANNELS: {item!r} is not channel=transport")
            pairs[channel.strip()] = transport.strip()
    for channel, transport in pairs.items():
        if transport not in TRANSPORTS_OF.get(channel, ()):
            choices = "; ".join(f"{c}={'/'.join(t)}" for c, t in TRANSPORTS_OF.items())
            raise ValueError(
                f"GRP_NOTIFICATION_CHANNELS: {channel}={transport} is not possible ({choices})"
            )
    return pairs


def build_transports(config: Mapping[str, Any]) -> dict[str, Transport]:
    """Return the transport for each external channel, as the configuration says."""
    transports: dict[str, Transport] = {}
    for channel, name in parse_channel_setting(config["GRP_NOTIFICATION_CHANNELS"]).items():
        if name == "log":
            transports[channel] = LogTransport(channel)
        elif name == "smtp":
            transports[channel] = SmtpTransport(
                config["GRP_SMTP_HOST"],
                int(config["GRP_SMTP_PORT"]),
                config["GRP_SMTP_FROM"],
                user=config["GRP_SMTP_USER"] or None,
                password=config["GRP_SMTP_PASSWORD"] or None,
                tls=config["GRP_SMTP_TLS"],
                timeout=float(config["GRP_SMTP_TIMEOUT"]),
            )
        else:
            transports[channel] = HttpSmsTransport(
                config["GRP_SMS_GATEWAY_URL"],
                user=config["GRP_SMS_GATEWAY_USER"] or None,
                password=config["GRP_SMS_GATEWAY_PASSWORD"] or None,
                token=config["GRP_SMS_GATEWAY_TOKEN"] or None,
                timeout=float(config["GRP_SMS_GATEWAY_TIMEOUT"]),
            )
    return transports
