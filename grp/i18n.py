"""English and Arabic: the locale of each request, and right-to-left layout.

The message catalogs live in `grp/translations/<language>/LC_MESSAGES/`. After
changing a user-facing string, refresh them with:

    .venv/bin/pybabel extract -F babel.cfg -k _l --no-location --sort-output -w 100 \
        --project GRP --version 0.1.0 --copyright-holder "the GRP project" \
        -o grp/translations/messages.pot .
    .venv/bin/pybabel update -i grp/translations/messages.pot -d grp/translations \
        -w 100 --no-fuzzy-matching --ignore-obsolete
    (translate the new, empty entries in ar/LC_MESSAGES/messages.po)
    .venv/bin/pybabel compile -d grp/translations

tests/web/test_i18n.py fails while the compiled `.mo` lags behind its `.po`,
or while a string in the code has no Arabic translation.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user

from grp.extensions import babel

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
RTL_LANGUAGES = {"ar"}
LANGUAGE_SESSION_KEY = "language"


def select_locale() -> str:
    """Choose the request's language: the session's choice, the user's, then the browser's."""
    languages = current_app.config["GRP_LANGUAGES"]
    chosen = session.get(LANGUAGE_SESSION_KEY)
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    return request.accept_languages.best_match(languages) or "en"


def current_language() -> str:
    """Return the language code of the current request ("en" or "ar")."""
    locale = get_locale()
    return locale.language if locale is not None else "en"


def text_direction(language: str) -> str:
    """Return the HTML `dir` value for `language`."""
    return "rtl" if language in RTL_LANGUAGES else "ltr"


def remember_language(language: str) -> bool:
    """Use `language` for the rest of this browser session; False if it is not offered."""
    if language not in current_app.config["GRP_LANGUAGES"]:
        return False
    session[LANGUAGE_SESSION_KEY] = language
    return True


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel to `app` with GRP's catalogs and locale selector."""
    # An absolute path: Flask-Babel resolves relative ones against app.root_path,
    # which depends on how the `grp` package happened to be imported.
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale)
