"""Invariants that every model and endpoint, present and future, must satisfy.

These walk the registry and the URL map, so a new tenant model that forgets its
scoping or a new view that forgets its permission fails here.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from grp.auth.permissions import PERMISSION_ATTR, PUBLIC_ATTR
from grp.db import Base, TenantMixin
from grp.tenancy import REVIEWED

TENANCY_KINDS = {"department", "global"}


def mapped_classes() -> list[type]:
    return [mapper.class_ for mapper in Base.registry.mappers]


def tenant_classes() -> list[type]:
    return [cls for cls in mapped_classes() if issubclass(cls, TenantMixin)]


def test_every_model_declares_its_tenancy(app):
    undeclared = [
        cls.__name__
        for cls in mapped_classes()
        if getattr(cls, "__tenancy__", None) not in TENANCY_KINDS
    ]
    assert not undeclared, (
        f"declare __tenancy__ = 'department' (TenantMixin) or 'global': {undeclared}"
    )


def test_department_models_use_the_tenant_mixin(app):
    wrong = [
        cls.__name__
        for cls in mapped_classes()
        if cls.__tenancy__ == "department" and not issubclass(cls, TenantMixin)
    ]
    assert not wrong


def test_global_models_are_not_silently_department_owned(app):
    """A global table with a department column must say why it is global (docstring)."""
    suspicious = [
        cls.__name__
        for cls in mapped_classes()
        if cls.__tenancy__ == "global"
        and "department_id" in cls.__table__.c
        and not (cls.__doc__ and "department" in cls.__doc__.lower())
    ]
    assert not suspicious


def _import_every_model() -> None:
    """Build an app once so that the platform's and every enabled module's models are mapped.

    Parametrising happens at collection, before any fixture has created an app;
    without this the walk below would see no models at all and prove nothing.
    """
    import tempfile

    from grp.app import create_app

    create_app(
        {
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SECRET_KEY": "collection",
            "INSTANCE_PATH": tempfile.gettempdir(),
        }
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "tenant_class" in metafunc.fixturenames:
        _import_every_model()
        classes = tenant_classes()
        metafunc.parametrize("tenant_class", classes, ids=[c.__name__ for c in classes])


def test_the_walk_sees_department_owned_models(app):
    assert tenant_classes(), "no department-owned model found: the invariant walk is vacuous"


def test_tenant_tables_are_keyed_by_department(tenant_class):
    cls = tenant_class
    table = cls.__table__
    column = table.c.department_id
    assert not column.nullable
    assert any(fk.column.table.name == "departments" for fk in column.foreign_keys)
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            assert "department_id" in constraint.columns, (
                f"{table.name}: unique key {constraint.name} must include department_id"
            )
    for index in table.indexes:
        columns = [c.name for c in index.columns]
        if len(columns) > 1:
            assert columns[0] == "department_id", (
                f"{table.name}: composite index {index.name} must lead with department_id"
            )
        if index.unique:
            assert "department_id" in columns


def test_the_invariant_walk_sees_tenant_models_when_modules_define_them(app):
    # The platform itself owns no department data; the walk must still run over every
    # model the enabled modules register (this fails if discovery stops finding them).
    names = {cls.__name__ for cls in mapped_classes()}
    assert {"User", "Department", "AuditEntry"} <= names


@pytest.mark.postgres
def test_every_tenant_table_has_forced_row_level_security(app):
    from grp.db import db

    tables = [cls.__table__.name for cls in tenant_classes()] + ["tenancy_probe"]
    with db.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "(SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname) AS policies "
                "FROM pg_class c WHERE c.relname = ANY(:tables)"
            ).execution_options(**{REVIEWED: True}),
            {"tables": tables},
        ).all()
    found = {row.relname: row for row in rows}
    for table in tables:
        row = found.get(table)
        assert row is not None, f"{table} missing"
        assert row.relrowsecurity and row.relforcerowsecurity, (
            f"{table}: RLS not enabled and forced"
        )
        assert row.policies >= 2, f"{table}: department and read policies missing"


def test_every_url_rule_declares_a_permission_or_is_public(app):
    registry = app.extensions["grp"].permissions
    missing, unknown = [], []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        permission = getattr(view, PERMISSION_ATTR, None)
        if permission is None and not getattr(view, PUBLIC_ATTR, False):
            missing.append(f"{rule.rule} -> {rule.endpoint}")
        elif permission is not None and not registry.is_known(permission):
            unknown.append(f"{rule.rule}: {permission}")
    assert not missing, "views without require_permission(...) or @public:\n" + "\n".join(missing)
    assert not unknown, "permissions no manifest declares:\n" + "\n".join(unknown)


def test_every_api_blueprint_is_grps(app):
    """flask-smorest blueprints come from grp.api, which builds argument schemas once."""
    import flask_smorest

    from grp.api import Blueprint

    smorest = [bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)]
    assert len(smorest) >= 10  # the walk sees the platform's and the modules' APIs
    assert [bp.name for bp in smorest if not isinstance(bp, Blueprint)] == []


def test_permissions_follow_the_naming_convention(app):
    registry = app.extensions["grp"].permissions
    for permission in registry.grants:
        module, entity, action = permission.split(".")
        assert module and entity and action, permission


def test_public_views_are_few_and_known(app):
    public = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], PUBLIC_ATTR, False)
    )
    allowed_prefixes = (
        "/static/",
        "/healthz",
        "/readyz",
        "/login",
        "/logout",
        "/language",
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/api/v1/auth/tokens",
    )
    unexpected = [r for r in public if not r.startswith(allowed_prefixes)]
    assert not unexpected, f"new public views need review: {unexpected}"


def test_the_platform_imports_no_business_module():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent / "grp"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+modules(\.|\s)", path.read_text(), re.MULTILINE)
    ]
    assert not offenders
