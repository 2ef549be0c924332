"""GRP platform: the application factory and the services every business module uses.

The project layout names this package `grp`, which is also the name of a
standard-library module (the Unix group database, used by `shutil`, `tarfile`
and gunicorn). Two things keep both working in one process:

* this package re-exports that module's functions (`getgrgid`, `getgrnam`,
  `getgrall`, `struct_group`), so code expecting the Unix module still works
  when this package is the one imported as `grp`;
* `grp_boot.ensure_platform_package()`, called first by every entry point
  (console script, wsgi.py, conftest.py), puts this package in `sys.modules`
  even when the standard module was imported before it.

Keep this file free of heavy imports: `shutil` may import it while Python starts.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

GRP_PLATFORM = True  # marker: this is the GRP package, not the Unix module


def _load_unix_group_database():  # noqa: ANN202 - returns a module or None
    project_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    search = [p for p in sys.path if os.path.abspath(p or os.curdir) != project_root]
    spec = importlib.machinery.PathFinder.find_spec("grp", search)
    if spec is None or spec.origin is None or spec.loader is None:
        return None
    if not spec.origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_unix = _load_unix_group_database()
if _unix is not None:
    getgrgid = _unix.getgrgid
    getgrnam = _unix.getgrnam
    getgrall = _unix.getgrall
    struct_group = _unix.struct_group
del _unix
