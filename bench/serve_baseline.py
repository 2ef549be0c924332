"""Serve bench/baseline_app.py with gunicorn as `grp serve --production` serves GRP.

    python -m bench.serve_baseline --port 5602 [--workers N]

Same server settings as grp.cli's serve: sync workers (by default as many as `grp serve`
starts for the app's database, `grp.cli.default_workers`), no access log, errors to
standard error.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (gunicorn imports `grp`; the GRP package re-exports it)

import argparse
import os
from typing import Any

from gunicorn.app.base import BaseApplication


class BaselineServer(BaseApplication):
    """gunicorn serving the baseline app, each worker importing it."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from bench.baseline_app import app

        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5602)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    if args.workers is None:
        from grp.cli import default_workers

        args.workers = default_workers(os.environ["GRP_DATABASE_URL"])
    BaselineServer(
        {
            "bind": f"{args.host}:{args.port}",
            "workers": args.workers,
            "accesslog": None,
            "errorlog": "-",
            "proc_name": "grp-bench-baseline",
        }
    ).run()


if __name__ == "__main__":
    main()
