"""Helpers for the web page tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa


@pytest.fixture
def fresh() -> Callable[[type, Any], Any]:
    """Reload a row from the database: requests change it through their own sessions."""
    from grp.db import db

    def _fresh(model: type, key: Any) -> Any:
        db.session.expire_all()
        return db.session.get(model, key)

    return _fresh


@pytest.fixture
def user_named(app: Any) -> Callable[[str], Any]:
    from grp.db import db
    from grp.models import User

    def _user_named(username: str) -> Any:
        db.session.expire_all()
        return db.session.scalar(sa.select(User).where(User.username == username))

    return _user_named
