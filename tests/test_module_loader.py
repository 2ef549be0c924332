"""Module system: manifests read without import, dependency order, clear start-up errors."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from grp.module_loader import (
    ModuleError,
    discover_modules,
    parse_enabled,
    read_manifest,
    resolve_load_order,
)


@pytest.fixture
def module_package(tmp_path, monkeypatch):
    """A throwaway modules package; returns (package name, add_module)."""
    name = f"fake_modules_{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    def add_module(module: str, depends=(), permissions=None, init: str = "", menu=None) -> Path:
        folder = root / module
        folder.mkdir()
        manifest = {
            "name": module,
            "version": "1.0.0",
            "depends": list(depends),
            "permissions": permissions or {},
            "menu": menu or [],
        }
        (folder / "__manifest__.py").write_text(repr(manifest))
        (folder / "__init__.py").write_text(textwrap.dedent(init))
        return folder

    yield name, add_module
    for key in [k for k in sys.modules if k.startswith(name)]:
        del sys.modules[key]


def test_manifest_is_read_without_importing_the_module(module_package):
    package, add = module_package
    add("hr", init="raise RuntimeError('imported!')")
    manifests = discover_modules(package)
    assert manifests["hr"].version == "1.0.0"
    assert f"{package}.hr" not in sys.modules


def test_manifest_must_be_a_literal(module_package, tmp_path):
    package, add = module_package
    folder = add("hr")
    (folder / "__manifest__.py").write_text(
        "{'name': 'hr', 'depends': __import__('os').listdir('/')}"
    )
    with pytest.raises(ModuleError, match="one dict literal"):
        read_manifest(folder, package)


def test_permissions_must_be_named_after_the_module(module_package):
    package, add = module_package
    folder = add("hr", permissions={"payroll.run.approve": ["payroll_officer"]})
    with pytest.raises(ModuleError, match="hr.<entity>.<action>"):
        read_manifest(folder, package)


def test_load_order_puts_dependencies_first(module_package):
    package, add = module_package
    add("finance")
    add("payroll", depends=["hr", "finance"])
    add("hr")
    add("procurement", depends=["finance"])
    order = [m.name for m in resolve_load_order(discover_modules(package), None)]
    assert order.index("hr") < order.index("payroll")
    assert order.index("finance") < order.index("payroll")
    assert order.index("finance") < order.index("procurement")


def test_missing_dependency_names_both_modules(module_package):
    package, add = module_package
    add("payroll", depends=["hr"])
    with pytest.raises(ModuleError, match="'payroll' depends on 'hr', which does not exist"):
        resolve_load_order(discover_modules(package), None)


def test_disabled_dependency_names_both_modules(module_package):
    package, add = module_package
    add("hr")
    add("payroll", depends=["hr"])
    with pytest.raises(ModuleError, match="'payroll' depends on 'hr', which is not enabled"):
        resolve_load_order(discover_modules(package), ["payroll"])


def test_cycle_names_the_modules(module_package):
    package, add = module_package
    add("a", depends=["b"])
    add("b", depends=["c"])
    add("c", depends=["a"])
    with pytest.raises(ModuleError, match="cycle") as error:
        resolve_load_order(discover_modules(package), None)
    assert {"a", "b", "c"} <= set(str(error.value).replace("->", " ").split())


def test_unknown_enabled_module_is_an_error(module_package):
    package, add = module_package
    add("hr")
    with pytest.raises(ModuleError, match="'nope', which does not exist"):
        resolve_load_order(discover_modules(package), ["hr", "nope"])


def test_a_module_nothing_depends_on_can_be_switched_off(module_package):
    package, add = module_package
    add("hr")
    add("payroll", depends=["hr"])
    assert [m.name for m in resolve_load_order(discover_modules(package), ["hr"])] == ["hr"]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("", None),
        ("all", None),
        ("hr, payroll", ["hr", "payroll"]),
        ("hr;finance", ["hr", "finance"]),
    ],
)
def test_grp_modules_setting(setting, expected):
    assert parse_enabled(setting) == expected


def test_app_start_up_stops_on_a_missing_dependency(module_package, grp_database, tmp_path):
    from grp.app import create_app

    package, add = module_package
    add("payroll", depends=["hr"])
    with pytest.raises(ModuleError, match="'payroll' depends on 'hr'"):
        create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                "GRP_MODULES_PACKAGE": package,
                "SECRET_KEY": "x",
                "INSTANCE_PATH": str(tmp_path),
            }
        )


def test_app_loads_modules_in_order_and_registers_their_permissions_and_menu(
    module_package, tmp_path
):
    from grp.app import create_app

    package, add = module_package
    record = tmp_path / "setup-order.txt"
    setup = f"""
        def setup(app):
            with open({str(record)!r}, "a") as handle:
                handle.write(__name__.rsplit(".", 1)[1] + "\\n")
    """
    add(
        "hr",
        permissions={"hr.employee.read": ["hr_officer"]},
        init=setup,
        menu=[
            {
                "label_en": "Employees",
                "label_ar": "الموظفون",
                "endpoint": "health.healthz",
                "permission": "hr.employee.read",
            }
        ],
    )
    add("payroll", depends=["hr"], init=setup)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "GRP_MODULES_PACKAGE": package,
            "SECRET_KEY": "x",
            "INSTANCE_PATH": str(tmp_path),
        }
    )
    assert record.read_text().split() == ["hr", "payroll"]
    assert app.extensions["grp"].permissions.allows({"hr_officer"}, "hr.employee.read")
    assert not app.extensions["grp"].permissions.allows({"employee"}, "hr.employee.read")
    assert {
        "label_en": "Employees",
        "label_ar": "الموظفون",
        "endpoint": "health.healthz",
        "permission": "hr.employee.read",
    } in app.extensions["grp"].menu
