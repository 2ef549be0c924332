"""JSON answers are written by orjson (grp/json_provider.py) and read as Flask's own would."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from grp.json_provider import GrpJSONProvider


@dataclasses.dataclass
class Point:
    x: int
    label: str


VALUES = {
    "arabic and order": {"name_en": "Aisha", "name_ar": "عائشة", "a": 1, "Z": [None, True]},
    "dates": {"born": date(1990, 5, 1), "at": datetime(2026, 11, 29, 10, 30, tzinfo=UTC)},
    "exact values": {"pay": Decimal("1234.50"), "id": uuid.UUID(int=7), "html": Markup("<b>")},
    "dataclass": [Point(1, "one")],
    "keys that are not strings": {1: "a", None: "b", False: "c", 2.5: "d"},
    "escapes": {"text": 'line\nbreak "quoted" \\ / \u2028 \x01 tab\t'},
    "numbers": [0, -1, 2**63 - 1, -(2**63), 1.5, 0.1, 1e22],
    "beyond 64 bits": {"big": 2**70},
}


def _flask_app(provider: type[DefaultJSONProvider]) -> Flask:
    app = Flask(__name__)
    app.json = provider(app)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    return app


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_a_response_is_byte_for_byte_flasks(value):
    ours, flasks = _flask_app(GrpJSONProvider), _flask_app(DefaultJSONProvider)
    with ours.app_context():
        mine = ours.json.response(value)
    with flasks.app_context():
        expected = flasks.json.response(value)
    assert mine.get_data() == expected.get_data()
    assert mine.mimetype == expected.mimetype == "application/json"


def test_small_floats_differ_only_in_how_the_exponent_is_written():
    ours = _flask_app(GrpJSONProvider)
    with ours.app_context():
        body = ours.json.response([1e-7, 2.5e-10]).get_data()
    assert body == b"[1e-7,2.5e-10]\n"  # the standard library: [1e-07,2.5e-10]
    assert json.loads(body) == [1e-7, 2.5e-10]


@pytest.mark.parametrize(
    ("value", "error"),
    [({"set": {1, 2}}, TypeError), ({"text": "\ud800"}, UnicodeEncodeError)],
    ids=["no encoding for the type", "not unicode"],
)
def test_what_flask_refuses_is_refused_alike(value, error):
    for provider in (GrpJSONProvider, DefaultJSONProvider):
        app = _flask_app(provider)
        with app.app_context(), pytest.raises(error):
            app.json.response(value)


def test_debug_answers_are_still_pretty_printed():
    app = _flask_app(GrpJSONProvider)
    app.debug = True
    with app.app_context():
        body = app.json.response({"a": [1]}).get_data(as_text=True)
    assert body == '{\n  "a": [\n    1\n  ]\n}\n'


def test_the_app_uses_it(app, api_as):
    assert isinstance(app.json, GrpJSONProvider)
    answer = api_as("system_admin", "POLICE").get("/api/v1/auth/me")
    assert answer.status_code == 200
    assert answer.get_data(as_text=True).endswith("}\n")
