"""English and Arabic: the locale of each request, and right-to-left layout."""

from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_login import current_user

from grp.extensions import babel

RTL_LANGUAGES = {"ar"}
LANGUAGE_SESSION_KEY = "language"


def select_locale() -> str:
    languages = current_app.config["GRP_LANGUAGES"]
    chosen = session.get(LANGUAGE_SESSION_KEY)
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    return request.accept_languages.best_match(languages) or "en"


def init_i18n(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
