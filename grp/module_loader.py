"""Business modules: manifests read without import, dependency order, loading.

A module is a package under `modules/` (or `GRP_MODULES_PACKAGE`) with a
`__manifest__.py` holding one dict literal:

    {
        "name": "payroll",
        "version": "0.1.0",
        "depends": ["hr"],
        "permissions": {"payroll.run.approve": ["payroll_officer"]},
        "menu": [{"label_en": "Payroll", "label_ar": "الرواتب",
                  "endpoint": "payroll.runs", "permission": "payroll.run.read"}],
    }

and a `setup(app)` function in `__init__.py` that registers blueprints,
signals and jobs. Manifests are parsed with `ast.literal_eval`, so reading them
runs no code of the module.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

MANIFEST_FILE = "__manifest__.py"


class ModuleError(RuntimeError):
    """The enabled modules cannot be loaded (missing dependency, cycle, bad manifest)."""


@dataclass(frozen=True)
class ModuleManifest:
    name: str
    version: str
    depends: tuple[str, ...]
    path: Path
    package: str
    permissions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    menu: tuple[dict[str, str], ...] = ()
    description: str = ""

    @property
    def migrations_dir(self) -> Path:
        return self.path / "migrations"


def read_manifest(module_dir: Path, package: str) -> ModuleManifest:
    """Parse `module_dir/__manifest__.py` without importing the module."""
    manifest_path = module_dir / MANIFEST_FILE
    try:
        data = ast.literal_eval(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, SyntaxError) as exc:
        raise ModuleError(f"{manifest_path}: a manifest must be one dict literal ({exc})") from exc
    if not isinstance(data, dict):
        raise ModuleError(f"{manifest_path}: a manifest must be one dict literal")
    name = data.get("name", module_dir.name)
    if name != module_dir.name:
        raise ModuleError(f"{manifest_path}: name {name!r} differs from folder {module_dir.name!r}")
    depends = data.get("depends", [])
    if not isinstance(depends, (list, tuple)) or not all(isinstance(d, str) for d in depends):
        raise ModuleError(f"{manifest_path}: 'depends' must be a list of module names")
    permissions = data.get("permissions", {})
    for permission in permissions:
        parts = permission.split(".")
        if len(parts) != 3 or parts[0] != name:
            raise ModuleError(
                f"{manifest_path}: permission {permission!r} must be named "
                f"'{name}.<entity>.<action>'"
            )
    return ModuleManifest(
        name=name,
        version=str(data.get("version", "0.0.0")),
        depends=tuple(depends),
        path=module_dir,
        package=f"{package}.{module_dir.name}",
        permissions={p: tuple(roles) for p, roles in permissions.items()},
        menu=tuple(data.get("menu", ())),
        description=str(data.get("description", "")),
    )


def discover_modules(package: str) -> dict[str, ModuleManifest]:
    """Every module found under the `package` folder, by name."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return {}
    found: dict[str, ModuleManifest] = {}
    for location in spec.submodule_search_locations:
        for module_dir in sorted(Path(location).iterdir()):
            if (module_dir / MANIFEST_FILE).is_file():
                manifest = read_manifest(module_dir, package)
                found[manifest.name] = manifest
    return found


def parse_enabled(setting: str) -> list[str] | None:
    """`GRP_MODULES` as a list of names; empty or "all" means every module found."""
    names = [n.strip() for n in setting.replace(";", ",").split(",") if n.strip()]
    if not names or names == ["all"]:
        return None
    return names


def resolve_load_order(
    available: dict[str, ModuleManifest], enabled: list[str] | None
) -> list[ModuleManifest]:
    """The enabled modules, dependencies first.

    Raises ModuleError naming the module and its missing dependency, or the
    modules of a cycle.
    """
    names = list(available) if enabled is None else enabled
    for name in names:
        if name not in available:
            raise ModuleError(f"GRP_MODULES names module {name!r}, which does not exist")
    chosen = set(names)
    graph: dict[str, list[str]] = {}
    for name in sorted(chosen):
        for dependency in available[name].depends:
            if dependency not in available:
                raise ModuleError(
                    f"module {name!r} depends on {dependency!r}, which does not exist"
                )
            if dependency not in chosen:
                raise ModuleError(
                    f"module {name!r} depends on {dependency!r}, which is not enabled "
                    "(add it to GRP_MODULES)"
                )
        graph[name] = sorted(available[name].depends)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = exc.args[1]
        raise ModuleError("module dependency cycle: " + " -> ".join(cycle)) from exc
    return [available[name] for name in order]


def import_module_package(manifest: ModuleManifest) -> Any:
    """Import the module's package (its `__init__` must have no side effects)."""
    return importlib.import_module(manifest.package)
