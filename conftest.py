"""Root conftest: load the GRP package as `grp` (see grp_boot.py), then its pytest plugin."""

import grp_boot  # noqa: F401  (side effect: sys.modules["grp"] is the GRP package)

pytest_plugins = ["grp.testing.plugin"]
