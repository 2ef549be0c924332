"""API conventions: problem+json errors, one pagination shape, permission-declaring blueprints.

Errors (RFC 9457) look like:

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "...", "errors": {"username": ["Missing data for required field."]}}

Lists take `?page=1&per_page=50` and answer
`{"items": [...], "total": 1234, "page": 1, "per_page": 50}`.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import flask_smorest
import sqlalchemy as sa
from flask import Response, current_app, json, request
from flask_smorest import Api
from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from grp.db import db
from grp.driver_rows import reusable_mappings, reusable_rows
from grp.serialisation import FastDumpSchema, compile_dump, compile_row_dump
from grp.tenancy import reusable

PROBLEM_JSON = "application/problem+json"


def _flatten_locations(messages: Any) -> Any:
    """webargs nests errors by location ({"json": {...}}); callers want fields."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    locations = {"json", "query", "form", "headers", "files", "path", "view_args", "cookies"}
    if messages and set(messages) <= locations:
        merged: dict[str, Any] = {}
        for value in messages.values():
            if isinstance(value, dict):
                merged.update(value)
        return merged
    return messages


def problem_response(
    status: int, detail: str | None = None, errors: dict[str, Any] | None = None
) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {"type": "about:blank", "title": phrase, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body["instance"] = request.path
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


class GrpApi(Api):
    """flask-smorest Api whose errors are problem+json (API) or HTML pages (browser)."""

    def handle_http_exception(self, error: HTTPException) -> Any:
        if not request.path.startswith("/api/"):
            return current_app.extensions["grp"].render_html_error(error)
        data = getattr(error, "data", None) or {}
        errors = None
        if "messages" in data:  # webargs validation error
            errors = _flatten_locations(data["messages"])
        elif "errors" in data:
            errors = data["errors"]
        detail = data.get("message") or error.description
        if error.code == 422 and not data.get("message"):
            detail = "The request has invalid fields."
        response = problem_response(error.code or 500, detail, errors)
        if error.code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="GRP"'
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        return response


#: Field classes whose loading from one query-string value `QueryArgumentsParser` may
#: do itself: exactly these (a subclass may load differently), one value each.
_PLAIN_QUERY_FIELDS = (fields.String, fields.Integer)


@dataclass(frozen=True)
class _QueryPlan:
    """How `QueryArgumentsParser` loads one plain query schema."""

    fields: dict[str, fields.Field]  # by name (= query key)
    defaults: dict[str, Any]  # the result when the query names none of the fields
    computed: tuple[str, ...]  # absent fields deserialized anyway (required, callable default)


_PLANS: weakref.WeakKeyDictionary[Schema, _QueryPlan | None] = weakref.WeakKeyDictionary()


def _query_plan(schema: Schema) -> _QueryPlan | None:
    """How `QueryArgumentsParser` loads `schema` itself, or None: only a schema
    marshmallow would load field by field and nothing else: no hooks (pre/post-load,
    validators of the schema or of a field by method), not `many`, no `only`/`exclude`/
    `partial`, and every field a plain String or Integer under its own name (no
    `data_key`, no `attribute`)."""
    if schema in _PLANS:
        return _PLANS[schema]
    loaded = dict(schema.load_fields)
    plain = not (
        any(schema._hooks.values())
        or schema.many
        or schema.only is not None
        or schema.exclude
        or schema.partial
    ) and all(
        type(field) in _PLAIN_QUERY_FIELDS and field.data_key is None and field.attribute is None
        for field in loaded.values()
    )
    plan = None
    if plain:
        defaults, computed = {}, []
        for name, field in loaded.items():
            default = field.load_default
            if field.required or callable(default):
                computed.append(name)
            elif default is not missing:
                defaults[name] = default
        plan = _QueryPlan(loaded, defaults, tuple(computed))
    _PLANS[schema] = plan
    return plan


class QueryArgumentsParser(FlaskParser):
    """webargs' Flask parser, loading plain query schemas (`_query_plan`) itself.

    webargs wraps the query string for the schema and marshmallow loads it field by
    field with its error store and hooks: about 40 µs for the employee list's eleven
    fields, 15 µs for a page's two. For a schema of plain fields the result is each
    named field's own `deserialize` of the query's first value, the `load_default` of
    the others, unknown names left out: what marshmallow computes for it. Any
    `ValidationError` goes the usual way: webargs parses the request again and answers
    the error as always (422 naming the field).
    """

    def parse(
        self,
        argmap: Any,
        req: Any = None,
        *,
        location: str | None = None,
        unknown: Any = webargs_core._UNKNOWN_DEFAULT_PARAM,
        **kwargs: Any,
    ) -> Any:
        if (
            location == "query"
            and isinstance(argmap, Schema)
            and unknown is webargs_core._UNKNOWN_DEFAULT_PARAM
            and self.unknown is webargs_core._UNKNOWN_DEFAULT_PARAM
            and self.DEFAULT_UNKNOWN_BY_LOCATION.get("query") == EXCLUDE
            and not kwargs.get("validate")
        ):
            plan = _query_plan(argmap)
            if plan is not None:
                args = (req if req is not None else request).args
                try:
                    return _load(plan, args)
                except ValidationError:
                    pass  # parsed again below, for webargs' own error
        return super().parse(argmap, req, location=location, unknown=unknown, **kwargs)


def _load(plan: _QueryPlan, args: Any) -> dict[str, Any]:
    loaded = dict(plan.defaults)
    for name in plan.computed:
        if name not in args:  # a named one is deserialized below
            value = plan.fields[name].deserialize(missing, name, args)
            if value is not missing:
                loaded[name] = value
    for name in args:
        field = plan.fields.get(name)
        if field is not None:
            loaded[name] = field.deserialize(args[name], name, args)  # the first value
    return loaded


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, for every GRP API; query and body schemas built once.

    Given a schema class, webargs builds a new instance on every request (40 us for the
    employee list's query schema); an instance is used as it is. Schemas hold no
    per-request state, so one instance serves every request. Query strings are parsed
    by `QueryArgumentsParser`.
    """

    ARGUMENTS_PARSER = QueryArgumentsParser()

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)


def register_docs_assets(app: Any) -> None:
    """Serve Swagger UI's files from the installed package: no CDN, CSP `'self'`."""
    import swagger_ui_bundle
    from flask import Blueprint, send_from_directory

    from grp.auth.permissions import public

    assets = Blueprint("api_docs_assets", __name__)

    @assets.get("/api/v1/docs/static/<path:filename>")
    @public
    def swagger_asset(filename: str) -> Response:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

    app.register_blueprint(assets)


class PaginationQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


_page_schemas: dict[type, type[Schema]] = {}


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The list schema `{items, total, page, per_page}` for `item_schema`."""
    if item_schema not in _page_schemas:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        # The page is dumped by a compiled plan (grp.serialisation): lists are the hot path.
        _page_schemas[item_schema] = FastDumpSchema.from_dict(
            {
                "items": fields.List(fields.Nested(item_schema), required=True),
                "total": fields.Integer(required=True),
                "page": fields.Integer(required=True),
                "per_page": fields.Integer(required=True),
            },
            name=name,
        )
    return _page_schemas[item_schema]


#: Named bound parameters of the page statements `paginate` derives from a reusable query
#: (and of a caller's own `narrow_page`).
PAGE_LIMIT = "grp_page_limit"
PAGE_OFFSET = "grp_page_offset"
#: The count of all the query's rows, carried on each row of a page (`narrow`).
TOTAL_OVER = sa.func.count().over().label("grp_total")
#: Reusable query -> its page statements, built once (see `_page_statements`).
_PAGE_STATEMENTS: weakref.WeakKeyDictionary[sa.Select[Any], _PageStatements] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class _PageStatements:
    """The reusable statements of a page of a reusable query: limit and offset bound."""

    with_total: sa.Select[Any]  # the page and, on each row, the count of all rows
    page: sa.Select[Any]
    total: sa.Select[Any]


def _page_statements(query: sa.Select[Any]) -> _PageStatements:
    """The page statements of a reusable query (`grp.tenancy.reusable`), built once."""
    found = _PAGE_STATEMENTS.get(query)
    if found is None:
        limit = sa.bindparam(PAGE_LIMIT, type_=sa.Integer)
        offset = sa.bindparam(PAGE_OFFSET, type_=sa.Integer)
        found = _PAGE_STATEMENTS[query] = _PageStatements(
            with_total=reusable(query.add_columns(TOTAL_OVER).limit(limit).offset(offset)),
            page=reusable(query.limit(limit).offset(offset)),
            total=reusable(_count_of(query)),
        )
    return found


def _count_of(query: sa.Select[Any]) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(query.order_by(None).subquery())


def paginate(
    query: sa.Select,
    page: int,
    per_page: int,
    *,
    narrow: bool = False,
    rows: bool = False,
    params: Mapping[str, Any] | None = None,
    narrow_page: sa.Select[Any] | None = None,
    dump_items: Schema | None = None,
) -> dict[str, Any]:
    """Run `query` for one page and count all its rows, both in SQL.

    `narrow`: the query's conditions (a search) select few rows that the database sorts
    whole anyway, so the count comes with the page (`count(*) OVER ()`) in one statement
    instead of a second pass over the same rows. Not for a whole department's list,
    whose page is an index range the window count would turn into a full sort.

    `rows`: the query selects columns, not an entity; the items are its rows as
    mappings (dumped by column label) rather than its first column.

    `params`: `query` is reusable (`grp.tenancy.reusable`: built once, its values in
    named bound parameters) and these are the values; its page statements are then
    built once as well, instead of on every request.

    `narrow_page` (with `narrow`, `rows` and `params`): the caller's own statement of a
    page with the count, used instead of the one derived from `query`: the same rows in
    the same order, `PAGE_LIMIT` and `PAGE_OFFSET` bound, `TOTAL_OVER` on each row. A
    search can so sort and count its matches on a few columns and read only the page's
    rows whole (modules/hr/services/employees.py).

    `dump_items` (with `rows`): the items come dumped by this schema, as
    `dump_items.dump(items, many=True)` gives them, for a view that answers the page
    itself (`current_app.json.response`); rows read from the driver are dumped without
    making a mapping of each first (`grp.serialisation.compile_row_dump`).
    """
    offset = (page - 1) * per_page
    session = db.session
    # A page is a list of rows: column mappings (`rows`) or the first column's values,
    # with the count of all rows in the last column where the statement carries it.
    if params is not None:
        reused = _page_statements(query)
        values = {**params, PAGE_LIMIT: per_page, PAGE_OFFSET: offset}

        def page_rows(*, with_total: bool) -> tuple[list[Any], int | None]:
            statement = reused.with_total if with_total else reused.page
            if with_total and narrow_page is not None:
                statement = narrow_page
            if rows and dump_items is not None:
                keys, found = reusable_rows(session, statement, values)
                total = found[0][keys.index(TOTAL_OVER.name)] if with_total and found else None
                return compile_row_dump(dump_items, keys)(found), total
            if rows:
                # From the driver where it can be (grp/driver_rows.py): the same values
                # without SQLAlchemy's per-statement and per-row work.
                items = reusable_mappings(session, statement, values)
                return items, (items[0][TOTAL_OVER.name] if with_total and items else None)
            return split(session.execute(statement, values).all(), with_total=with_total)

        def count() -> int | None:
            return session.scalar(reused.total, params)

    else:

        def page_rows(*, with_total: bool) -> tuple[list[Any], int | None]:
            statement = query.add_columns(TOTAL_OVER) if with_total else query
            found = session.execute(statement.limit(per_page).offset(offset)).all()
            return split(found, with_total=with_total)

        def count() -> int | None:
            return session.scalar(_count_of(query))

    def split(result: Sequence[sa.Row[Any]], *, with_total: bool) -> tuple[list[Any], int | None]:
        items = [row._mapping for row in result] if rows else [row[0] for row in result]
        if rows and dump_items is not None:
            items = compile_dump(dump_items, many=True)(items)
        return items, (result[0][-1] if with_total and result else None)

    if narrow:
        items, total = page_rows(with_total=True)
        if items or page == 1:
            return {"items": items, "total": total or 0, "page": page, "per_page": per_page}
        # Past the last page: the rows are not there to carry the count.
        return {"items": [], "total": count() or 0, "page": page, "per_page": per_page}
    total = count()
    items, _ = page_rows(with_total=False)
    return {"items": items, "total": total or 0, "page": page, "per_page": per_page}
