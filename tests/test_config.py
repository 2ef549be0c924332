"""Settings from the environment: secret key, database URLs, production mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from grp.app import create_app
from grp.config import ConfigurationError, load_config
from grp.db import db

SETTINGS = (
    "GRP_SECRET_KEY",
    "GRP_PRODUCTION",
    "GRP_ENV",
    "GRP_DATABASE_URL",
    "GRP_DATABASE_OWNER_URL",
    "GRP_INSTANCE_PATH",
    "GRP_LOG_JSON",
    "GRP_LOGIN_MAX_FAILURES",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from no GRP_ settings, whatever the shell running pytest has."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def test_production_without_a_secret_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRP_PRODUCTION", "1")
    with pytest.raises(ConfigurationError) as refused:
        load_config(tmp_path)
    message = str(refused.value)
    assert "GRP_SECRET_KEY is not set" in message
    assert "secrets.token_urlsafe" in message  # says how to make one
    assert not (tmp_path / "secret_key").exists()  # nothing generated behind the back


def test_production_via_grp_env_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRP_ENV", "production")
    with pytest.raises(ConfigurationError, match="GRP_SECRET_KEY"):
        load_config(tmp_path)


def test_create_app_refuses_production_without_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="GRP_SECRET_KEY"):
        create_app({"GRP_PRODUCTION": True, "INSTANCE_PATH": str(tmp_path)})


def test_production_with_a_secret_key_uses_it_and_secure_cookies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRP_PRODUCTION", "true")
    monkeypatch.setenv("GRP_SECRET_KEY", "from-the-environment")
    config = load_config(tmp_path)
    assert config["GRP_PRODUCTION"] is True
    assert config["SECRET_KEY"] == "from-the-environment"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True


def test_development_generates_a_private_secret_key_once(tmp_path: Path) -> None:
    instance = tmp_path / "instance"  # does not exist yet
    first = load_config(instance)
    key_file = instance / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == first["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= 48
    second = load_config(instance)
    assert second["SECRET_KEY"] == first["SECRET_KEY"]
    assert load_config(tmp_path / "other")["SECRET_KEY"] != first["SECRET_KEY"]


def test_an_existing_key_file_is_reused(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("kept-from-last-time\n")
    assert load_config(tmp_path)["SECRET_KEY"] == "kept-from-last-time"


def test_the_environment_key_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secret_key").write_text("file-key")
    monkeypatch.setenv("GRP_SECRET_KEY", "env-key")
    assert load_config(tmp_path)["SECRET_KEY"] == "env-key"


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    expected = f"sqlite:///{tmp_path / 'grp.sqlite3'}"
    assert config["SQLALCHEMY_DATABASE_URI"] == expected
    assert config["GRP_DATABASE_OWNER_URL"] == expected
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["timeout"] > 0


def test_database_urls_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_url = "postgresql+psycopg://grp_app@db.internal:5432/grp"
    monkeypatch.setenv("GRP_DATABASE_URL", app_url)
    config = load_config(tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == app_url
    assert config["GRP_DATABASE_OWNER_URL"] == app_url  # one role unless told otherwise
    assert "connect_args" not in config["SQLALCHEMY_ENGINE_OPTIONS"]

    owner_url = "postgresql+psycopg://grp_owner@db.internal:5432/grp"
    monkeypatch.setenv("GRP_DATABASE_OWNER_URL", owner_url)
    config = load_config(tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == app_url
    assert config["GRP_DATABASE_OWNER_URL"] == owner_url


def test_create_app_uses_grp_instance_path_and_grp_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRP_INSTANCE_PATH", str(tmp_path / "var"))
    app = create_app()
    assert app.instance_path == str((tmp_path / "var").resolve())
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'var' / 'grp.sqlite3'}"
    assert (tmp_path / "var" / "secret_key").is_file()

    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"
    monkeypatch.setenv("GRP_DATABASE_URL", url)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == url
    with app.app_context():
        assert str(db.engine.url) == url
        db.engine.dispose()


def test_overrides_win_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRP_LOGIN_MAX_FAILURES", "9")
    monkeypatch.setenv("GRP_LOG_JSON", "no")
    config = load_config(tmp_path, {"GRP_LOGIN_MAX_FAILURES": 3, "SECRET_KEY": "given"})
    assert config["GRP_LOGIN_MAX_FAILURES"] == 3
    assert config["SECRET_KEY"] == "given"
    assert config["GRP_LOG_JSON"] is False
    assert not (tmp_path / "secret_key").exists()  # a given key generates no file
    assert os.environ["GRP_LOGIN_MAX_FAILURES"] == "9"
