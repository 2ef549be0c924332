"""Structured logs: one JSON line per record, with request context and no secrets or amounts."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from grp.auth.permissions import public
from grp.logging import JsonFormatter, configure_logging, scrub


class JsonLines:
    """What a JSON log handler wrote, one parsed object per line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def raw(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw.splitlines()]

    def by_logger(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["logger"] == name]


@pytest.fixture
def json_log() -> Iterator[JsonLines]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield JsonLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture
def log_probe(app: Flask) -> str:
    """A public page that logs a payment while handling the request."""

    @public
    def probe() -> str:
        logging.getLogger("grp.test").warning(
            "paid %s to %s", "AED 12,000.00", "iban with password=letmein99"
        )
        return "logged"

    app.add_url_rule("/log-probe", "log_probe", probe)
    return "/log-probe"


@pytest.fixture
def signed_in(
    create_user: Callable[..., Any], api_client: Callable[..., Any]
) -> Callable[[str], Any]:
    """GET a path with a bearer token of an HR officer of POLICE."""
    user = create_user("officer.one", roles=[("POLICE", "hr_officer")])
    client = api_client(user)

    def get(path: str) -> Any:
        return client.get(path, headers={"X-Request-Id": "req-4711"})

    get.token = client.token  # type: ignore[attr-defined]
    return get


def test_request_log_is_one_json_line_with_the_request_context(
    json_log: JsonLines, signed_in: Callable[[str], Any]
) -> None:
    response = signed_in("/healthz")
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "req-4711"
    [line] = json_log.by_logger("grp.request")
    assert line["event"] == "request"
    assert line["request_id"] == "req-4711"
    assert line["user"] == "officer.one"
    assert line["department"] == "POLICE"
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert line["ts"].endswith("+00:00")
    assert signed_in.token not in json_log.raw  # type: ignore[attr-defined]


def test_anonymous_request_logs_no_user_and_a_generated_request_id(
    json_log: JsonLines, client: Any
) -> None:
    assert client.get("/no-such-page").status_code == 404
    [line] = json_log.by_logger("grp.request")
    assert line["user"] is None
    assert line["department"] is None
    assert line["status"] == 404
    assert line["path"] == "/no-such-page"
    assert len(line["request_id"]) == 32


def test_records_inside_a_request_carry_its_context_and_are_scrubbed(
    json_log: JsonLines, signed_in: Callable[[str], Any], log_probe: str
) -> None:
    assert signed_in(log_probe).status_code == 200
    [line] = json_log.by_logger("grp.test")
    assert line["request_id"] == "req-4711"
    assert line["user"] == "officer.one"
    assert line["department"] == "POLICE"
    assert "12,000" not in line["msg"] and "12000" not in line["msg"]
    assert "letmein99" not in line["msg"]
    assert line["msg"].startswith("paid AED [AMOUNT] to iban with password=[REDACTED]")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("login failed password=hunter2hunter2 for bob", "hunter2hunter2"),
        ("login failed password: hunter2hunter2", "hunter2hunter2"),
        ('form {"username": "bob", "password": "hunter2hunter2"}', "hunter2hunter2"),
        ("form {'username': 'bob', 'password': 'hunter2hunter2'}", "hunter2hunter2"),
        ("PASSWD=hunter2hunter2&next=/", "hunter2hunter2"),
        ("Authorization: Bearer opaque-credential-123", "opaque-credential-123"),
        ("header authorization=Basic-dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("client secret=s3cr3t-value", "s3cr3t-value"),
    ],
)
def test_passwords_and_credentials_are_scrubbed(text: str, secret: str) -> None:
    assert secret not in scrub(text)
    assert "[REDACTED]" in scrub(text)


def test_bearer_tokens_are_scrubbed_wherever_they_appear() -> None:
    token = "grp_" + secrets.token_urlsafe(32)
    for text in (
        f"token {token} used",
        f"Authorization: Bearer {token}",
        f"url /api/v1/x?access={token}",
        f"['{token}']",
    ):
        scrubbed = scrub(text)
        assert token not in scrubbed
        assert token[4:12] not in scrubbed


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("basic salary 12345.67 approved", "12345.67"),
        ("net pay 12,345.67", "12,345.67"),
        ("allowance 1,500", "1,500"),
        ("total AED 25000", "25000"),
        ("total aed 1,250,000.50", "1,250,000.50"),
        ("deduction Dhs. 750", "750"),
        (f"value {Decimal('4500.50')!r}", "4500.50"),
    ],
)
def test_money_amounts_are_scrubbed(text: str, amount: str) -> None:
    scrubbed = scrub(text)
    assert amount not in scrubbed
    assert "[AMOUNT]" in scrubbed


def test_ordinary_text_survives_scrubbing() -> None:
    text = "user 42 approved payroll run 7 for 2026-11 in POLICE (grp.request)"
    assert scrub(text) == text


def test_text_the_quick_check_passes_over_needs_no_scrubbing() -> None:
    """`scrub` skips text `_WORTH_SCRUBBING` does not match: the scrubbers agree on it."""
    import random

    from grp.logging import _SCRUBBERS, _WORTH_SCRUBBING

    pieces = [
        *"0123456789,. =:'\"/-_&}aAdDhHsS",
        "grp_",
        "Grp_",
        "bearer ",
        "password",
        "passwd",
        "PWD",
        "secret",
        "token",
        "authorization",
        "api-key",
        "apikey",
        "cookie",
        "AED ",
        "Dhs.",
        "dh",
        "/api/v1/hr/employees/",
        "GET ",
    ]
    chance = random.Random(6)
    skipped = 0
    for _ in range(20000):
        text = "".join(chance.choice(pieces) for _ in range(chance.randint(1, 12)))
        full = text
        for pattern, replacement in _SCRUBBERS:
            full = pattern.sub(replacement, full)
        assert scrub(text) == full, text
        skipped += _WORTH_SCRUBBING.search(text) is None
    assert skipped > 1000  # the check did pass over text, and it was right to


def test_exceptions_and_extras_are_scrubbed_too(json_log: JsonLines) -> None:
    token = "grp_" + secrets.token_urlsafe(32)
    logger = logging.getLogger("grp.test")
    try:
        raise ValueError(f"cannot post 9,999.99 with {token}")
    except ValueError:
        logger.exception("posting failed", extra={"path": f"/pay/{token}", "job": "payroll"})
    [line] = json_log.by_logger("grp.test")
    assert "9,999.99" not in json_log.raw
    assert token not in json_log.raw
    assert "ValueError" in line["exc"]
    assert line["job"] == "payroll"
    assert line["path"] == "/pay/grp_[REDACTED]"


def test_only_allow_listed_extras_are_written(json_log: JsonLines) -> None:
    logging.getLogger("grp.test").info(
        "hello", extra={"salary": Decimal("1.00"), "grp_module": "payroll", "event": "demo"}
    )
    [line] = json_log.by_logger("grp.test")
    assert "salary" not in line
    assert line["grp_module"] == "payroll"
    assert line["event"] == "demo"
    assert "\n" not in json_log.raw.rstrip("\n")


def test_configure_logging_installs_one_handler_and_quiets_alembic() -> None:
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging("WARNING", as_json=False)
        configure_logging("INFO", as_json=True)
        ours = [h for h in root.handlers if getattr(h, "_grp", False)]
        assert len(ours) == 1
        assert isinstance(ours[0].formatter, JsonFormatter)
        assert root.level == logging.INFO
        assert logging.getLogger("alembic.runtime").level == logging.WARNING
    finally:
        root.setLevel(level)


# --------------------------------------------------------------------------- the request line


@pytest.fixture
def sole_json_log() -> Iterator[tuple[JsonLines, logging.StreamHandler]]:
    """The root logger's only handler a JSON stream handler, as `configure_logging` leaves
    it in production: the request line is then written without a LogRecord.

    pytest adds its own capturing handlers to the root logger for each phase of a test
    (they are there again once the test runs): a test calls `sole_handler()` first.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.setLevel(logging.INFO)
    try:
        yield JsonLines(stream), handler
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def sole_handler(handler: logging.Handler) -> None:
    """Make `handler` the root logger's only one (pytest's own put back after the test)."""
    logging.getLogger().handlers[:] = [handler]


def _without_timing(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in ("ts", "duration_ms")}


def test_the_request_line_written_directly_is_the_line_logging_writes(
    sole_json_log: tuple[JsonLines, logging.StreamHandler],
    signed_in: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from grp.logging import REQUEST_LOGGER

    log, handler = sole_json_log
    sole_handler(handler)

    def no_record(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the request line was made through a LogRecord")

    with monkeypatch.context() as patch:
        patch.setattr(REQUEST_LOGGER, "makeRecord", no_record)
        assert signed_in("/healthz").status_code == 200
    direct = log.raw
    # A filter on the handler (one that lets everything through) sends the line the
    # usual way, through a LogRecord and the formatter.
    handler.addFilter(lambda record: True)
    assert signed_in("/healthz").status_code == 200
    [first, second] = log.by_logger("grp.request")
    assert _without_timing(first) == _without_timing(second)
    assert first["user"] == "officer.one" and first["request_id"] == "req-4711"
    assert first["msg"] == "GET /healthz 200"
    assert first["ts"].endswith("+00:00") and len(first["ts"]) == len(second["ts"])
    assert direct.count("\n") == 1 and direct.endswith("\n")


def test_a_filter_on_the_way_still_decides_about_the_request_line(
    sole_json_log: tuple[JsonLines, logging.StreamHandler], signed_in: Callable[[str], Any]
) -> None:
    log, handler = sole_json_log
    sole_handler(handler)

    def drop_requests(record: logging.LogRecord) -> bool:
        return record.name != "grp.request"

    for owner in (logging.getLogger("grp.request"), handler):
        owner.addFilter(drop_requests)
        try:
            assert signed_in("/healthz").status_code == 200
        finally:
            owner.removeFilter(drop_requests)
        assert log.by_logger("grp.request") == []
    # As in `logging`, a parent logger's filter does not see its children's records.
    logging.getLogger("grp").addFilter(drop_requests)
    try:
        assert signed_in("/healthz").status_code == 200
    finally:
        logging.getLogger("grp").removeFilter(drop_requests)
    assert len(log.by_logger("grp.request")) == 1


def test_the_request_line_reaches_every_handler_and_respects_levels(
    sole_json_log: tuple[JsonLines, logging.StreamHandler],
    signed_in: Callable[[str], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    log, handler = sole_json_log
    logging.getLogger().addHandler(handler)  # beside pytest's capturing handlers
    with caplog.at_level(logging.INFO, logger="grp.request"):
        assert signed_in("/healthz").status_code == 200
    # Two handlers (pytest's and ours): both got it, the usual way.
    assert [r.getMessage() for r in caplog.records if r.name == "grp.request"] == [
        "GET /healthz 200"
    ]
    assert len(log.by_logger("grp.request")) == 1
    sole_handler(handler)  # now the line would be written directly, but for the levels
    handler.setLevel(logging.WARNING)
    assert signed_in("/healthz").status_code == 200
    logging.getLogger("grp.request").setLevel(logging.WARNING)
    handler.setLevel(logging.NOTSET)
    try:
        assert signed_in("/healthz").status_code == 200
    finally:
        logging.getLogger("grp.request").setLevel(logging.NOTSET)
    assert len(log.by_logger("grp.request")) == 1


def test_a_failing_log_stream_does_not_fail_the_request(
    sole_json_log: tuple[JsonLines, logging.StreamHandler],
    signed_in: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, handler = sole_json_log
    sole_handler(handler)

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    handler.setStream(Broken())
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as in production
    assert signed_in("/healthz").status_code == 200
