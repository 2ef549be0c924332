"""The API benchmark's baseline: a bare Flask app that reads one employee row and answers JSON.

Served by gunicorn exactly like GRP (bench/serve_baseline.py, same worker count), on the
same database with the same driver (psycopg 3 through a SQLAlchemy engine), so the
difference to GRP's endpoints is what GRP adds: authentication, department, permission,
tenancy, the ORM, marshmallow, logging. It connects as the owner (no row-level
security to satisfy: one query per request).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, abort, jsonify

engine = sa.create_engine(os.environ["GRP_DATABASE_OWNER_URL"], pool_size=1, max_overflow=0)
app = Flask(__name__)
ONE_ROW = sa.text("SELECT id, employee_no, name_en, name_ar FROM hr_employees WHERE id = :id")


@app.get("/employee/<int:employee_id>")
def employee(employee_id: int):  # noqa: ANN201 - a Flask view
    """Answer one employee's number and names."""
    with engine.connect() as connection:
        row = connection.execute(ONE_ROW, {"id": employee_id}).one_or_none()
    if row is None:
        abort(404)
    return jsonify(dict(row._mapping))


@app.get("/healthz")
def healthz():  # noqa: ANN201 - a Flask view
    return {"status": "ok"}
