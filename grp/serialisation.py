"""Fast marshmallow dumps for hot list responses: the schema's own rules, compiled once.

`Schema.dump` looks up every field's accessor, default and formatter again for every
object; for a page of 50 employees with 29 fields that was about 4 ms of a search's
time. `compile_dump(schema)` walks the schema once and writes a Python function for it
doing exactly what `dump` does (same keys, same values) with the per-field decisions
taken in advance: each field is read and formatted inline (plain strings, integers,
dates and datetimes), nested schemas are compiled too, and any other field calls its
own `_serialize`. A schema with pre/post-dump hooks is not compiled (its `dump` is
used); a field with a custom accessor calls its own `serialize`.

The function is generated source, not a loop over per-field closures: a page of 50
rows of 29 fields made about 7,000 Python calls through closures, which cost more
than reading the rows. Only the schema's own names go into the source, each as a
string literal (`repr`); the fields' objects are passed in by name (`f3`, `c3`).

`FastDumpSchema` is a Schema whose `dump` uses the compiled function; the list schemas
of `grp.api.page_of` are built on it, so every paginated endpoint gets it.
tests/test_serialisation.py holds the equivalence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Dump = Callable[[Any], Any]

_COMPILED = "_grp_compiled_dump"
_COMPILED_ROWS = "_grp_compiled_row_dumps"
#: Row shapes (key tuples) kept per schema by `compile_row_dump`: a statement has one.
_ROW_SHAPES_KEPT = 64
#: What marshmallow's `utils.get_value` catches when indexing before falling back to
#: the attribute.
_INDEX_ERRORS = (KeyError, IndexError, TypeError, AttributeError)


def _text(value: Any) -> str:
    # marshmallow's String: bytes are decoded, anything else is str()-ed.
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _custom_access(schema: Schema, field: fields.Field, attribute: str) -> bool:
    return (
        type(field).get_value is not fields.Field.get_value
        or type(schema).get_attribute is not Schema.get_attribute
        or "." in attribute
    )


def _conversion(
    number: int, name: str, field: fields.Field, names: dict[str, Any]
) -> tuple[str, bool]:
    """The expression turning `v` (read from `obj`) into the serialised value, and whether
    it handles None itself (the field's own `_serialize`); the inline ones are given no None.
    """
    kind = type(field)
    if kind is fields.String:
        names["_text"] = _text
        return "v if v.__class__ is str else _text(v)", False
    if kind is fields.Integer and not field.as_string:
        return "int(v)", False
    if kind in (fields.Date, fields.DateTime):
        # NaiveDateTime/AwareDateTime adjust the timezone first: their own _serialize does.
        format_function = field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)
        if format_function is not None:
            names[f"c{number}"] = format_function
            return f"c{number}(v)", False
    if kind is fields.Nested:
        nested = field.schema
        names[f"c{number}"] = _compiled(nested, many=nested.many or field.many)
        return f"c{number}(v)", False
    if kind is fields.List and type(field.inner) is fields.Nested:
        inner = field.inner.schema
        names[f"c{number}"] = _compiled(inner, many=inner.many or field.inner.many)
        # List serialises a None item as None, not as an empty object.
        return f"[None if item is None else c{number}(item) for item in v]", False
    names[f"c{number}"] = field._serialize
    return f"c{number}(v, {name!r}, obj)", True


def _field_lines(
    schema: Schema,
    number: int,
    name: str,
    field: fields.Field,
    names: dict[str, Any],
    positions: dict[str, int] | None = None,
) -> tuple[list[str], list[str]]:
    """Source lines storing the field's value in `result`: (for indexable objects, others).

    Mirrors `Field.serialize`: read the value (`get_value`), fall back to `dump_default`,
    leave the key out when still missing, else `_serialize` it (None stays None for the
    inline kinds, as their `_serialize` does).
    """
    key = field.data_key if field.data_key is not None else name
    store = f"result[{key!r}] = "
    attribute = field.attribute if field.attribute is not None else name
    if _custom_access(schema, field, attribute):
        names[f"f{number}"] = field
        names["get_attribute"] = schema.get_attribute
        lines = [
            f"v = f{number}.serialize({name!r}, obj, accessor=get_attribute)",
            "if v is not missing:",
            f"    {store}v",
        ]
        return lines, lines
    if not field._CHECK_ATTRIBUTE:  # Function, Method: computed from the whole object
        names[f"f{number}"] = field._serialize
        lines = [f"v = f{number}(None, {name!r}, obj)", "if v is not missing:", f"    {store}v"]
        return lines, lines
    if positions is None:
        by_index = [
            "try:",
            f"    v = obj[{attribute!r}]",
            "except _INDEX_ERRORS:",
            f"    v = getattr(obj, {attribute!r}, missing)",
        ]
    elif attribute in positions:  # a row of values in the order of its keys
        by_index = [f"v = obj[{positions[attribute]}]"]
    else:  # no such key (nor a dict's attribute of the name: `compile_row_dump`)
        by_index = ["v = missing"]
    by_attribute = [f"v = getattr(obj, {attribute!r}, missing)"]
    default = field.dump_default
    rest: list[str] = []
    if default is not missing:
        names[f"d{number}"] = default
        value = f"d{number}()" if callable(default) else f"d{number}"
        rest += ["if v is missing:", f"    v = {value}"]
    convert, handles_none = _conversion(number, name, field, names)
    if handles_none:
        rest += ["if v is not missing:", f"    {store}{convert}"]
    else:
        rest += [
            "if v is None:",
            f"    {store}None",
            "elif v is not missing:",
            f"    {store}{convert}",
        ]
    return by_index + rest, by_attribute + rest


def _generate(
    schema: Schema, positions: dict[str, int] | None = None
) -> Callable[[Any], dict[str, Any]]:
    """The generated `dump_one(obj)` of `schema`; with `positions`, of a row: a sequence
    of values whose keys are at these positions (`compile_row_dump`)."""
    names: dict[str, Any] = {"missing": missing, "_INDEX_ERRORS": _INDEX_ERRORS}
    by_index: list[str] = []
    by_attribute: list[str] = []
    for number, (name, field) in enumerate(schema.dump_fields.items()):
        index_lines, attribute_lines = _field_lines(schema, number, name, field, names, positions)
        by_index += index_lines
        by_attribute += attribute_lines
    if positions is not None:  # a row is always indexed
        by_attribute = by_index
    # marshmallow decides per object whether to index it (`hasattr(obj, "__getitem__")`);
    # so does this, once, and takes the branch written for that case.
    source = "\n".join(
        [
            "def dump_one(obj):",
            "    result = {}",
            "    if hasattr(obj, '__getitem__'):",
            *(f"        {line}" for line in by_index or ["pass"]),
            "    else:",
            *(f"        {line}" for line in by_attribute or ["pass"]),
            "    return result",
        ]
    )
    code = compile(source, f"<grp.serialisation dump of {type(schema).__name__}>", "exec")
    exec(code, names)  # noqa: S102 - source written above from the schema's own field names
    return names["dump_one"]


def _compiled(schema: Schema, *, many: bool) -> Dump:
    cache = schema.__dict__.setdefault(_COMPILED, {})
    if many in cache:
        return cache[many]
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        cache[many] = lambda obj: Schema.dump(schema, obj, many=many)
        return cache[many]
    # Filled in before the fields are compiled: a schema nested in itself finds itself here.
    cache[many] = lambda obj: dump(obj)
    dump_one = _generate(schema)
    if many:

        def dump(obj: Any) -> Any:
            return [dump_one(item) for item in obj] if obj is not None else dump_one(obj)

    else:
        dump = dump_one
    cache[many] = dump
    return dump


def compile_dump(schema: Schema, *, many: bool | None = None) -> Dump:
    """A function equal to `schema.dump(obj, many=many)`, compiled once per schema."""
    return _compiled(schema, many=schema.many if many is None else bool(many))


def compile_row_dump(schema: Schema, keys: tuple[str, ...]) -> Callable[[Any], list[Any]]:
    """A function dumping a list of rows as `schema.dump(rows, many=True)` dumps them as
    dicts (`dict(zip(keys, row))`), without making the dicts.

    A page of a list read from the driver (grp/driver_rows.py) comes as tuples of values
    and their keys; making each a dict only for the dump to read its fields back cost a
    search about as much as the dump itself (bench: 33 rows a search on average). Each
    field is read by its position instead. A schema whose dump needs the object itself
    (hooks, a custom accessor, a field computed from the whole object) gets the dicts.
    """
    cache = schema.__dict__.setdefault(_COMPILED_ROWS, {})
    found = cache.get(keys)
    if found is not None:
        return found
    if (
        schema._hooks[PRE_DUMP]
        or schema._hooks[POST_DUMP]
        or any(
            _custom_access(schema, field, field.attribute or name)
            or not field._CHECK_ATTRIBUTE
            # A key the row lacks is read from the dict's attributes (`items`, `keys`...).
            or ((field.attribute or name) not in keys and hasattr(dict, field.attribute or name))
            for name, field in schema.dump_fields.items()
        )
    ):
        dump_many = _compiled(schema, many=True)

        def dump_rows(rows: Any) -> list[Any]:
            return dump_many([dict(zip(keys, row, strict=True)) for row in rows])

    else:
        dump_one = _generate(schema, {key: index for index, key in enumerate(keys)})

        def dump_rows(rows: Any) -> list[Any]:
            return [dump_one(row) for row in rows]

    if len(cache) < _ROW_SHAPES_KEPT:
        cache[keys] = dump_rows
    return dump_rows


class FastDumpSchema(Schema):
    """A Schema whose `dump` runs the compiled plan of `compile_dump`."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        return compile_dump(self, many=many)(obj)
