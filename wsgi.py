"""WSGI entry point: `gunicorn wsgi:app`."""

import grp_boot  # noqa: F401  (loads the GRP package as `grp`; see grp_boot.py)

from grp.app import create_app

app = create_app()
