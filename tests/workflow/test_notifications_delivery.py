"""Delivery: exactly once per channel, crash recovery with idempotency keys, retries, SMTP, logs.

The SMS gateway and the mail server are real servers on 127.0.0.1, started in
a thread by the fixtures below; the sender talks to them over sockets.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socketserver
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from grp.db import utcnow
from grp.logging import JsonFormatter
from grp.workflow.notifications import notify, send_pending, services
from grp.workflow.notifications.models import (
    DEAD,
    EMAIL,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SMS,
    OutboxMessage,
)

BODY_MARKER = "Net salary AED 12,345.67 for BODY-MARKER-7731"


# --------------------------------------------------------------------------- fake SMS gateway


class FakeGateway:
    """An SMS gateway that drops a request whose Idempotency-Key it has already delivered."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.delivered: dict[str, dict[str, Any]] = {}
        self.statuses: list[int] = []  # answered in turn before delivering; empty: 200
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length))
                key = self.headers.get("Idempotency-Key")
                with gateway.lock:
                    gateway.requests.append(
                        {"key": key, "auth": self.headers.get("Authorization"), **payload}
                    )
                    status = gateway.statuses.pop(0) if gateway.statuses else 200
                    if status == 200 and key not in gateway.delivered:
                        gateway.delivered[key] = {"id": f"gw-{len(gateway.delivered) + 1}"}
                        gateway.delivered[key].update(payload)
                    answer = {"id": gateway.delivered[key]["id"]} if status == 200 else {}
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"


@pytest.fixture
def gateway(app) -> Iterator[FakeGateway]:
    fake = FakeGateway()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    app.config.update(
        GRP_NOTIFICATION_CHANNELS="email=log,sms=http",
        GRP_SMS_GATEWAY_URL=fake.url,
        GRP_SMS_GATEWAY_TOKEN="gateway-token",
        GRP_SMS_GATEWAY_TIMEOUT=5,
    )
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


# --------------------------------------------------------------------------- fake SMTP server


class FakeSmtpServer(socketserver.ThreadingTCPServer):
    """Just enough SMTP (RFC 5321) to receive mail: EHLO, MAIL, RCPT, DATA, RSET, QUIT."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.refuse_recipients = False
        super().__init__(("127.0.0.1", 0), _SmtpHandler)


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: FakeSmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 fake.test ESMTP")
        sender, recipients = None, []
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake.test")
                self.reply("250 8BITMIME")
            elif verb == "HELO" or verb == "NOOP":
                self.reply("250 OK")
            elif verb == "MAIL":
                sender, recipients = command[10:], []
                self.reply("250 OK")
            elif verb == "RCPT":
                if self.server.refuse_recipients:
                    self.reply("550 5.1.1 No such mailbox")
                else:
                    recipients.append(command[8:])
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = bytearray()
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append({"from": sender, "to": recipients, "raw": bytes(data)})
                self.reply("250 OK queued")
            elif verb == "RSET":
                sender, recipients = None, []
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


@pytest.fixture
def smtp_server(app) -> Iterator[FakeSmtpServer]:
    server = FakeSmtpServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    app.config.update(
        GRP_SMTP_HOST="127.0.0.1",
        GRP_SMTP_PORT=server.server_address[1],
        GRP_SMTP_TLS="none",
        GRP_SMTP_FROM="GRP <no-reply@grp.test>",
        GRP_SMTP_TIMEOUT=5,
    )
    channels = dict(part.split("=") for part in app.config["GRP_NOTIFICATION_CHANNELS"].split(","))
    channels["email"] = "smtp"
    app.config["GRP_NOTIFICATION_CHANNELS"] = ",".join(f"{k}={v}" for k, v in channels.items())
    yield server
    server.shutdown()
    server.server_close()


def parsed(message: dict[str, Any]) -> email.message.EmailMessage:
    return email.message_from_bytes(message["raw"], policy=email.policy.default)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def recipient(create_user, db_session):
    """A user reachable by e-mail and/or SMS for approval.waiting."""

    def _recipient(*, email: str | None = None, mobile: str | None = None, language: str = "en"):
        user = create_user(language=language)
        user.email = email
        if mobile:
            services.update_preferences(
                db_session, user, mobile=mobile, choices={"approval.waiting": {"sms": True}}
            )
        db_session.commit()
        return user

    return _recipient


def queue(db_session, user, **context: Any) -> None:
    notify(
        db_session,
        recipient=user,
        event="approval.waiting",
        context={"summary": "Leave request LV-12", "requester": "Fatima", **context},
    )
    db_session.commit()


def outbox(db_session) -> list[OutboxMessage]:
    db_session.expire_all()
    return db_session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


class SimulatedCrash(BaseException):
    """The process dies (a kill, a power cut): nothing after it runs, no handler catches it."""


def crash(*args: Any, **kwargs: Any) -> bool:
    """Stand-in for `services._mark_sent`: the process dies before recording delivery."""
    raise SimulatedCrash


# --------------------------------------------------------------------------- exactly once


def test_rolled_back_event_sends_nothing(recipient, db_session, gateway, smtp_server):
    user = recipient(email="a@example.ae", mobile="+971501234567")
    notify(db_session, recipient=user, event="approval.waiting", context={"summary": "x"})
    db_session.rollback()
    report = send_pending(db_session)
    assert report.claimed == 0
    assert gateway.requests == [] and smtp_server.messages == []


def test_committed_event_is_sent_exactly_once_per_channel(
    recipient, db_session, gateway, smtp_server
):
    user = recipient(email="a@example.ae", mobile="+971501234567")
    queue(db_session, user)
    report = send_pending(db_session)
    assert (report.claimed, report.sent) == (2, 2)
    again = send_pending(db_session, now=utcnow() + timedelta(days=1))
    assert again.claimed == 0
    assert len(gateway.requests) == 1 and len(smtp_server.messages) == 1
    assert gateway.requests[0]["to"] == "+971501234567"
    assert gateway.requests[0]["auth"] == "Bearer gateway-token"
    assert smtp_server.messages[0]["to"] == ["<a@example.ae>"]
    messages = outbox(db_session)
    assert {m.state for m in messages} == {SENT}
    assert all(m.attempts == 1 and m.sent_at is not None for m in messages)
    sms = next(m for m in messages if m.channel == SMS)
    assert sms.provider_message_id == "gw-1"


def test_a_crash_after_the_gateway_accepted_resends_with_the_same_key(
    app, recipient, db_session, gateway, monkeypatch
):
    user = recipient(mobile="+971501234567")
    queue(db_session, user)
    (message,) = outbox(db_session)
    key = message.idempotency_key

    # The gateway accepts the message, then the sender dies before recording it.
    monkeypatch.setattr(services, "_mark_sent", crash)
    started = utcnow()
    with pytest.raises(SimulatedCrash):
        send_pending(db_session, now=started)
    db_session.rollback()
    monkeypatch.undo()
    assert len(gateway.delivered) == 1
    (message,) = outbox(db_session)
    assert message.state == SENDING  # the claim was committed before the gateway was called

    # Before the sending timeout the row belongs to the (presumed) running sender.
    assert send_pending(db_session, now=started + timedelta(seconds=30)).claimed == 0
    timeout = timedelta(seconds=app.config["GRP_NOTIFICATION_SENDING_TIMEOUT_SECONDS"])
    report = send_pending(db_session, now=started + timeout + timedelta(seconds=1))
    assert report.sent == 1

    assert [r["key"] for r in gateway.requests] == [key, key]
    assert list(gateway.delivered) == [key]  # the gateway dropped the second copy
    (message,) = outbox(db_session)
    assert (message.state, message.attempts, message.idempotency_key) == (SENT, 2, key)
    assert message.provider_message_id == "gw-1"


def test_concurrent_claims_take_different_rows(recipient, db_session, gateway):
    user = recipient(mobile="+971501234567")
    for _ in range(3):
        queue(db_session, user)
    now = utcnow()
    settings = services.SenderSettings()
    first, _ = services._claim(db_session, now, 2, settings)
    db_session.commit()
    second, _ = services._claim(db_session, now, 10, settings)
    db_session.commit()
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)


@pytest.mark.postgres
def test_a_second_sender_skips_rows_the_first_holds(recipient, db_session, gateway):
    from sqlalchemy.orm import Session

    from grp.db import db

    user = recipient(mobile="+971501234567")
    for _ in range(3):
        queue(db_session, user)
    now = utcnow()
    settings = services.SenderSettings()
    first, _ = services._claim(db_session, now, 2, settings)  # not committed: rows stay locked
    with Session(db.engine) as other:
        second, _ = services._claim(other, now, 10, settings)
        other.commit()
    db_session.commit()
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)


# --------------------------------------------------------------------------- retries


def test_gateway_errors_are_retried_with_growing_delays_then_dead(
    app, recipient, db_session, gateway
):
    app.config.update(
        GRP_NOTIFICATION_MAX_ATTEMPTS=3,
        GRP_NOTIFICATION_RETRY_BASE_SECONDS=60,
        GRP_NOTIFICATION_RETRY_MAX_SECONDS=3600,
    )
    gateway.statuses = [500, 503, 502]
    user = recipient(mobile="+971501234567")
    queue(db_session, user)

    now = utcnow()
    delays, run_times = [], []
    for attempt in (1, 2):
        started = time.monotonic()
        report = send_pending(db_session, now=now)
        run_times.append(timedelta(seconds=time.monotonic() - started))
        assert report.retrying == 1, attempt
        (message,) = outbox(db_session)
        assert (message.state, message.attempts) == (PENDING, attempt)
        assert message.last_error.startswith("SMS gateway answered 5")
        delays.append(message.next_attempt_at - now)
        # Not before its time.
        early = message.next_attempt_at - timedelta(seconds=1)
        assert send_pending(db_session, now=early).claimed == 0
        now = message.next_attempt_at
    # The sender's clock advances from `now` with real time, so each delay is
    # the backoff plus at most the time that run took (a loaded machine is slow).
    assert timedelta(seconds=60) <= delays[0] <= timedelta(seconds=60) + run_times[0]
    assert timedelta(seconds=120) <= delays[1] <= timedelta(seconds=120) + run_times[1]

    report = send_pending(db_session, now=now)
    assert report.dead == 1
    (message,) = outbox(db_session)
    assert (message.state, message.attempts) == (DEAD, 3)
    assert message.last_error == "SMS gateway answered 502"
    assert send_pending(db_session, now=now + timedelta(days=1)).claimed == 0
    assert len({r["key"] for r in gateway.requests}) == 1 and len(gateway.requests) == 3
    assert gateway.delivered == {}


def test_a_permanent_refusal_fails_at_once(recipient, db_session, gateway):
    gateway.statuses = [400]
    queue(db_session, recipient(mobile="+971501234567"))
    report = send_pending(db_session)
    assert report.failed == 1
    (message,) = outbox(db_session)
    assert (message.state, message.attempts) == (FAILED, 1)
    assert message.last_error == "SMS gateway answered 400"
    assert send_pending(db_session, now=utcnow() + timedelta(days=1)).claimed == 0
    assert len(gateway.requests) == 1


def test_rate_limiting_is_retried_not_failed(recipient, db_session, gateway):
    gateway.statuses = [429]
    queue(db_session, recipient(mobile="+971501234567"))
    assert send_pending(db_session).retrying == 1


def test_unreachable_gateway_is_retried(app, recipient, db_session, gateway):
    app.config["GRP_SMS_GATEWAY_URL"] = "http://127.0.0.1:9/sms"  # discard port: refused
    queue(db_session, recipient(mobile="+971501234567"))
    assert send_pending(db_session).retrying == 1
    (message,) = outbox(db_session)
    assert message.last_error.startswith("SMS gateway unreachable")


def test_backoff_doubles_and_is_capped():
    settings = services.SenderSettings(
        retry_base=timedelta(minutes=1), retry_max=timedelta(minutes=30)
    )
    minutes = [settings.backoff(n).total_seconds() / 60 for n in range(1, 8)]
    assert minutes == [1, 2, 4, 8, 16, 30, 30]


def test_stale_sending_rows_without_attempts_left_are_dead(app, recipient, db_session, gateway):
    app.config["GRP_NOTIFICATION_MAX_ATTEMPTS"] = 1
    queue(db_session, recipient(mobile="+971501234567"))
    started = utcnow()
    services._claim(db_session, started, 10, services.SenderSettings.from_config(app.config))
    db_session.commit()
    later = started + timedelta(hours=1)
    assert send_pending(db_session, now=later).dead == 1
    (message,) = outbox(db_session)
    assert message.state == DEAD and "outcome is unknown" in message.last_error
    assert gateway.requests == []


def test_retry_now_requeues_with_the_same_key(recipient, db_session, gateway):
    gateway.statuses = [400]
    queue(db_session, recipient(mobile="+971501234567"))
    send_pending(db_session)
    (message,) = outbox(db_session)
    key = message.idempotency_key
    services.retry_outbox_message(db_session, message)
    db_session.commit()
    assert send_pending(db_session).sent == 1
    (message,) = outbox(db_session)
    assert (message.state, message.idempotency_key, message.attempts) == (SENT, key, 1)
    with pytest.raises(services.OutboxStateError):
        services.retry_outbox_message(db_session, message)


# --------------------------------------------------------------------------- SMTP


def test_email_reaches_an_smtp_server_with_a_message_id_from_the_key(
    recipient, db_session, smtp_server
):
    user = recipient(email="fatima@example.ae", language="ar")
    queue(db_session, user, requester="<script>alert(1)</script>")
    assert send_pending(db_session).sent == 1
    (message,) = outbox(db_session)
    (received,) = smtp_server.messages
    mail = parsed(received)
    assert mail["Message-ID"] == f"<{message.idempotency_key}@grp.test>"
    assert message.provider_message_id == mail["Message-ID"]
    assert mail["To"] == "fatima@example.ae"
    assert mail["Subject"] == "بانتظار موافقتك: Leave request LV-12"
    assert mail["Content-Language"] == "ar"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert text.strip() == message.body
    assert "يطلب <script>" in text  # plain text is not escaped...
    assert "&lt;script&gt;" in html and "<script>" not in html  # ...the HTML part is
    assert 'dir="rtl"' in html


def test_a_refused_recipient_fails_without_retries(recipient, db_session, smtp_server):
    smtp_server.refuse_recipients = True
    queue(db_session, recipient(email="gone@example.ae"))
    assert send_pending(db_session).failed == 1
    (message,) = outbox(db_session)
    assert message.state == FAILED and "550" in message.last_error


def test_unreachable_smtp_server_is_retried(app, recipient, db_session, smtp_server):
    app.config["GRP_SMTP_PORT"] = 9
    queue(db_session, recipient(email="a@example.ae"))
    assert send_pending(db_session).retrying == 1


def test_smtp_retry_carries_the_same_message_id(recipient, db_session, smtp_server, monkeypatch):
    queue(db_session, recipient(email="a@example.ae"))
    monkeypatch.setattr(services, "_mark_sent", crash)
    with pytest.raises(SimulatedCrash):
        send_pending(db_session)
    db_session.rollback()
    monkeypatch.undo()
    send_pending(db_session, now=utcnow() + timedelta(hours=1))
    ids = [parsed(m)["Message-ID"] for m in smtp_server.messages]
    assert len(ids) == 2 and ids[0] == ids[1]  # receivers can drop the duplicate


# --------------------------------------------------------------------------- logs


def _log_lines(caplog) -> str:
    formatter = JsonFormatter()
    return "\n".join([formatter.format(r) for r in caplog.records] + [caplog.text])


def test_sending_logs_never_contain_the_message(app, recipient, db_session, gateway, caplog):
    gateway.statuses = [500]
    user = recipient(email="a@example.ae", mobile="+971501234567")
    queue(db_session, user, summary=BODY_MARKER)
    with caplog.at_level(logging.DEBUG):
        send_pending(db_session)  # e-mail to the log channel, SMS fails once
        send_pending(db_session, now=utcnow() + timedelta(hours=1))  # SMS sent
    lines = _log_lines(caplog)
    assert "BODY-MARKER" not in lines and "12,345" not in lines
    assert "notification.logged" in lines and "notification.retry" in lines
    assert "notification.sent" in lines
    assert "a@example.ae" not in lines  # the log channel masks the address
    assert all("BODY-MARKER" not in (m.last_error or "") for m in outbox(db_session))


def test_transport_bugs_are_recorded_without_their_text(recipient, db_session, caplog):
    class Leaky:
        def send(self, message: OutboxMessage) -> str:
            raise RuntimeError(f"cannot encode {message.body}")

    queue(db_session, recipient(email="a@example.ae"), summary=BODY_MARKER)
    with caplog.at_level(logging.DEBUG):
        report = send_pending(db_session, transports={EMAIL: Leaky()})
    assert report.retrying == 1
    (message,) = outbox(db_session)
    assert message.last_error == "unexpected error in the email transport (RuntimeError)"
    assert "BODY-MARKER" not in _log_lines(caplog)


def test_log_transport_is_the_development_default(app, recipient, db_session, caplog):
    assert app.config["GRP_NOTIFICATION_CHANNELS"] == "email=log,sms=log"
    queue(db_session, recipient(email="a@example.ae", mobile="+971501234567"))
    with caplog.at_level(logging.INFO, logger="grp.notifications"):
        assert send_pending(db_session).sent == 2
    logged = [r for r in caplog.records if getattr(r, "event", None) == "notification.logged"]
    assert len(logged) == 2
    assert {m.provider_message_id[:4] for m in outbox(db_session)} == {"log-"}


def test_missing_transport_settings_keep_messages_queued(app, recipient, db_session):
    app.config.update(GRP_NOTIFICATION_CHANNELS="email=smtp", GRP_SMTP_HOST="")
    queue(db_session, recipient(email="a@example.ae", mobile="+971501234567"))
    report = send_pending(db_session)
    assert report.retrying == 2  # nothing is lost while an administrator fixes the settings
    errors = {m.channel: m.last_error for m in outbox(db_session)}
    assert errors == {EMAIL: "GRP_SMTP_HOST is not set", SMS: "no transport configured for sms"}


# --------------------------------------------------------------------------- CLI


def test_cli_sends_once(app, recipient, db_session):
    queue(db_session, recipient(email="a@example.ae"))
    result = app.test_cli_runner().invoke(args=["notifications", "send"])
    assert result.exit_code == 0, result.output
    assert "sent 1, retrying 0, failed 0, dead 0" in result.output
    assert outbox(db_session)[0].state == SENT


def test_cli_loop_sends_until_stopped(app, recipient, db_session, monkeypatch):
    from grp.workflow.notifications import cli

    queue(db_session, recipient(email="a@example.ae"))
    passes = []

    def one_pass_then_stop(session, **kwargs):
        if passes:
            raise KeyboardInterrupt  # Ctrl+C during the second pass
        passes.append(kwargs)
        return services.send_pending(session, **kwargs)

    monkeypatch.setattr(cli, "send_pending", one_pass_then_stop)
    result = app.test_cli_runner().invoke(
        args=["notifications", "send", "--loop", "--interval", "0.1", "--batch", "5"]
    )
    assert result.exit_code == 0, result.output
    assert passes == [{"batch": 5}]
    assert "sent 1, retrying 0, failed 0, dead 0" in result.output
    assert result.output.strip().endswith("Stopped.")


# --------------------------------------------------------------------------- scheduler


def test_the_sender_is_a_scheduled_job(app):
    from grp.workflow.jobs.registry import state_of

    spec = state_of(app).scheduled["platform.notifications.sender"]
    assert spec.func == "grp.workflow.notifications.services:send_pending_job"
    assert spec.trigger == "interval"
    assert spec.trigger_args == {"seconds": app.config["GRP_NOTIFICATION_SEND_INTERVAL_SECONDS"]}


def test_the_scheduled_sender_drains_full_batches(recipient, db_session, monkeypatch):
    monkeypatch.setattr(services, "DEFAULT_BATCH", 2)
    user = recipient(email="a@example.ae")
    for _ in range(5):
        queue(db_session, user)
    report = services.send_pending_job()
    assert (report.claimed, report.sent) == (5, 5)
    assert {m.state for m in outbox(db_session)} == {SENT}
