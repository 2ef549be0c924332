"""The HR module: organisation, grades and bands, employees, contracts, documents.

`setup(app)` registers the pages (/hr/...), the API (/api/v1/hr/..., /api/v1/me),
the `grp hr` commands and the module's settings; importing the package does
nothing else. Other modules use `modules.hr.services`, never the tables.

Settings (environment variable, default):

* `HR_DOCUMENT_DIR` (`GRP_HR_DOCUMENT_DIR`, `<instance>/hr_documents`): uploaded documents.
* `HR_DOCUMENT_MAX_BYTES` (`GRP_HR_DOCUMENT_MAX_BYTES`, 5 MiB): largest document.
* `HR_IMPORT_MAX_ROWS` (`GRP_HR_IMPORT_MAX_ROWS`, 50,000): largest import file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask


def setup(app: Flask) -> None:
    """Register the HR pages, API, commands and settings on `app`."""
    import modules.hr.models  # noqa: F401 - map the tables before the app uses them
    from grp.extensions import api
    from modules.hr.api import register_api
    from modules.hr.cli import hr_cli
    from modules.hr.views import bp

    instance = Path(app.instance_path)
    app.config.setdefault(
        "HR_DOCUMENT_DIR",
        Path(os.environ.get("GRP_HR_DOCUMENT_DIR") or instance / "hr_documents"),
    )
    app.config.setdefault(
        "HR_DOCUMENT_MAX_BYTES", int(os.environ.get("GRP_HR_DOCUMENT_MAX_BYTES", 5 * 1024 * 1024))
    )
    app.config.setdefault(
        "HR_IMPORT_MAX_ROWS", int(os.environ.get("GRP_HR_IMPORT_MAX_ROWS", 50_000))
    )
    # Pages keep an uploaded import file between the dry run and "import the valid rows".
    app.config.setdefault("HR_IMPORT_DIR", instance / "hr_imports")
    app.register_blueprint(bp)
    register_api(api)
    app.cli.add_command(hr_cli)


def seed_demo(app: Flask, session: Any, *, employees: int) -> None:
    """Fill every department with demo organisation, grades and `employees` employees in total.

    Idempotent: what exists is kept and a second run adds nothing. Links the
    demo logins (`police.employee`, `dm.manager`, ...) to employee records.
    """
    from modules.hr.demo import seed

    seed(session, employees=employees)
