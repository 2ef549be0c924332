"""Make `import grp` give the GRP platform package, not the Unix group module.

Entry points (the `grp` console script, wsgi.py, conftest.py) import this first.
See grp/__init__.py for why the two share a name.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType


def ensure_platform_package() -> ModuleType:
    """Return the GRP package, loading it as `grp` if another `grp` is loaded."""
    loaded = sys.modules.get("grp")
    if loaded is not None and getattr(loaded, "GRP_PLATFORM", False):
        return loaded
    package_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grp")
    spec = importlib.util.spec_from_file_location(
        "grp", os.path.join(package_dir, "__init__.py"), submodule_search_locations=[package_dir]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"GRP platform package not found in {package_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["grp"] = module
    spec.loader.exec_module(module)
    return module


ensure_platform_package()


def main() -> None:
    """Console script entry point: `grp ...`."""
    from grp.cli import main as cli_main

    cli_main()
