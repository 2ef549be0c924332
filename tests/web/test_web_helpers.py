"""The page views' action and form helpers: what they commit, flash and answer."""

from __future__ import annotations

from typing import Any

import pytest
from flask import get_flashed_messages
from flask_wtf import FlaskForm
from wtforms import StringField

from grp.db import db
from grp.errors import ValidationError
from grp.web.helpers import error_messages, run_action, save_form


class Refused(Exception):
    pass


class Other(Exception):
    pass


class NameForm(FlaskForm):
    name_en = StringField()


@pytest.fixture
def dept(app: Any, create_department: Any) -> Any:
    return create_department("HELPERS", name_en="Before")


@pytest.fixture
def post(app: Any) -> Any:
    with app.test_request_context("/", method="POST"):
        yield


def stored_name(dept: Any) -> str:
    """The name in the database (a change left pending in the session is thrown away)."""
    db.session.rollback()
    return dept.name_en


def rename(dept: Any, name: str = "After", raising: Exception | None = None) -> Any:
    def call() -> str:
        dept.name_en = name
        db.session.flush()
        if raising is not None:
            raise raising
        return name

    return call


def test_run_action_commits_flashes_and_redirects(dept: Any, post: None) -> None:
    response = run_action(
        rename(dept),
        refused={Refused: "no"},
        success=lambda result: f"Renamed to {result}.",
        redirect_to="/done",
    )
    assert (response.status_code, response.location) == (303, "/done")
    assert get_flashed_messages(with_categories=True) == [("success", "Renamed to After.")]
    assert stored_name(dept) == "After"


def test_run_action_rolls_back_and_flashes_the_refusal(dept: Any, post: None) -> None:
    response = run_action(
        rename(dept, raising=Refused()),
        refused={Other: "other", (KeyError, Refused): "refused", Refused: "never reached"},
        success="saved",
        redirect_to=lambda: "/back",
    )
    assert (response.status_code, response.location) == (303, "/back")
    assert get_flashed_messages(with_categories=True) == [("error", "refused")]
    assert stored_name(dept) == "Before"


def test_run_action_refusal_with_a_category_or_from_the_exception(dept: Any, post: None) -> None:
    run_action(
        rename(dept, raising=Refused()),
        refused={Refused: ("busy", "info")},
        success="saved",
        redirect_to="/",
    )
    run_action(
        rename(dept, raising=Refused("locked month")),
        refused={Refused: str},
        success="saved",
        redirect_to="/",
    )
    run_action(
        rename(dept, raising=ValidationError({"a": ["one", "two"], "b": ["three"]})),
        refused={ValidationError: error_messages},
        success="saved",
        redirect_to="/",
    )
    assert get_flashed_messages(with_categories=True) == [
        ("info", "busy"),
        ("error", "locked month"),
        ("error", "one"),
        ("error", "two"),
        ("error", "three"),
    ]
    assert stored_name(dept) == "Before"


def test_run_action_callables_see_the_state_after_rollback_or_commit(dept: Any, post: None) -> None:
    seen: list[str] = []
    run_action(
        rename(dept, raising=Refused()),
        refused={Refused: lambda _exc: seen.append(dept.name_en) or "refused"},
        success="saved",
        redirect_to=lambda: seen.append(dept.name_en) or "/",
    )
    run_action(rename(dept), refused={}, success="saved", redirect_to=lambda: f"/{dept.name_en}")
    assert seen == ["Before", "Before"]
    assert get_flashed_messages() == ["refused", "saved"]


def test_run_action_lets_other_exceptions_through_untouched(dept: Any, post: None) -> None:
    with pytest.raises(Other):
        run_action(
            rename(dept, raising=Other()), refused={Refused: "no"}, success="ok", redirect_to="/"
        )
    assert dept.name_en == "After"  # neither committed nor rolled back
    assert get_flashed_messages() == []
    assert stored_name(dept) == "Before"


def test_save_form_commits_flashes_and_redirects(dept: Any, post: None) -> None:
    form = NameForm(formdata=None)
    response = save_form(
        form,
        rename(dept),
        success="Saved.",
        redirect_to=lambda result: f"/departments/{result}",
    )
    assert response is not None
    assert (response.status_code, response.location) == (303, "/departments/After")
    assert get_flashed_messages(with_categories=True) == [("success", "Saved.")]
    assert form.errors == {}
    assert stored_name(dept) == "After"


def test_save_form_rolls_back_and_shows_the_errors_on_the_form(dept: Any, post: None) -> None:
    form = NameForm(formdata=None)
    errors = {"name_en": ["Too long."], "elsewhere": ["Not a field."]}
    response = save_form(
        form, rename(dept, raising=ValidationError(errors)), success="Saved.", redirect_to="/"
    )
    assert response is None
    assert form.name_en.errors == ["Too long."]
    assert form.form_errors == ["Not a field."]
    assert get_flashed_messages() == []
    assert stored_name(dept) == "Before"


def test_save_form_with_its_own_error_display_and_exception_type(dept: Any, post: None) -> None:
    class NarrowError(ValidationError):
        pass

    shown: list[dict[str, Any]] = []
    form = NameForm(formdata=None)
    response = save_form(
        form,
        rename(dept, raising=NarrowError({"name_en": ["Taken."]})),
        success="Saved.",
        redirect_to="/",
        refused=NarrowError,
        show_errors=lambda _form, errors: shown.append(errors),
    )
    assert response is None
    assert shown == [{"name_en": ["Taken."]}]
    assert not form.name_en.errors
    with pytest.raises(ValidationError):
        save_form(
            form,
            rename(dept, raising=ValidationError({"x": ["y"]})),
            success="Saved.",
            redirect_to="/",
            refused=NarrowError,
        )
    assert stored_name(dept) == "Before"
