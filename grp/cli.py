"""Command line: `grp ...` (or `flask --app wsgi grp ...`)."""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup


def register_commands(app: Flask) -> None:
    pass


def main() -> None:
    from grp.app import create_app

    FlaskGroup(create_app=lambda: create_app(), add_default_commands=True)()
