"""Snowflake's semi-structured (VARIANT) functions and casts that fakesnow leaves out or translates differently, and
VARIANT text as Snowflake writes it.

`rewrite` changes a parsed Snowflake statement (sqlglot) before fakesnow's own transforms see it, `own_flatten` a
statement fakesnow has transformed; the DuckDB functions they call (`TO_JSON`, `JSON_TYPE`, `TYPEOF`, `UNHEX`) are
written as calls fakesnow passes through. A VARIANT
is DuckDB's JSON here, so a VARIANT's type is its JSON type: BOOLEAN, BIGINT/UBIGINT (an integer), DOUBLE (any
other number), VARCHAR, ARRAY, OBJECT, NULL.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pyarrow as pa
from sqlglot import exp

_DType = exp.DataType.Type

#: AS_<type>(variant): the value when the VARIANT holds that JSON type, else NULL (Snowflake's AS_* functions). A
#: number written with a fraction or an exponent is DOUBLE in DuckDB's JSON, whether Snowflake keeps it as a
#: fixed-point number or a float, so AS_DOUBLE answers any number and AS_NUMBER / AS_DECIMAL any number too.
_AS_FUNCTIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "AS_BOOLEAN": (frozenset({"BOOLEAN"}), "BOOLEAN"),
    "AS_DOUBLE": (frozenset({"BIGINT", "UBIGINT", "DOUBLE"}), "DOUBLE"),
    "AS_REAL": (frozenset({"BIGINT", "UBIGINT", "DOUBLE"}), "DOUBLE"),
    "AS_INTEGER": (frozenset({"BIGINT", "UBIGINT"}), "NUMBER(38, 0)"),
    "AS_NUMBER": (frozenset({"BIGINT", "UBIGINT", "DOUBLE"}), "NUMBER"),
    "AS_DECIMAL": (frozenset({"BIGINT", "UBIGINT", "DOUBLE"}), "NUMBER"),
    "AS_NUMERIC": (frozenset({"BIGINT", "UBIGINT", "DOUBLE"}), "NUMBER"),
    "AS_VARCHAR": (frozenset({"VARCHAR"}), None),
    "AS_CHAR": (frozenset({"VARCHAR"}), None),
    "AS_ARRAY": (frozenset({"ARRAY"}), "VARIANT"),
    "AS_OBJECT": (frozenset({"OBJECT"}), "VARIANT"),
}
_NUMBER_TARGETS = frozenset({"AS_NUMBER", "AS_DECIMAL", "AS_NUMERIC"})
_CHAR_TYPES = frozenset({_DType.CHAR, _DType.NCHAR})
_BINARY_TYPES = frozenset({_DType.BINARY, _DType.VARBINARY})
_TEXT_TYPES = frozenset({_DType.VARCHAR, _DType.TEXT, _DType.NVARCHAR})
#: TO_VARCHAR(binary, format): the DuckDB function that writes a BLOB in that format
_BINARY_TEXT_FUNCTIONS = {"HEX": "HEX", "BASE64": "TO_BASE64", "UTF-8": "DECODE", "UTF8": "DECODE"}


#: FLATTEN's rows, as Snowflake's: a JSON null element is a VARIANT null (the text `null`), not SQL NULL. Created in
#: the in-memory database's own catalog, which every session's catalog can call it in.
FLATTEN_MACRO = "memory.main._sf_flatten"
FLATTEN_MACRO_SQL = f"""
CREATE OR REPLACE MACRO {FLATTEN_MACRO}(input) AS TABLE
SELECT hash(doc)::UBIGINT AS SEQ, e.k AS KEY, coalesce(e.k, '[' || e.n || ']') AS PATH,
    CASE WHEN e.k IS NULL THEN e.n END AS INDEX, e.v AS VALUE, doc AS THIS
FROM (
    SELECT doc, unnest(list_transform(range(len(vals)), lambda i: {{'k': keys[i + 1], 'n': i, 'v': vals[i + 1]}})) AS e
    FROM (
        SELECT doc,
            CASE json_type(doc) WHEN 'ARRAY' THEN json_extract(doc, '$[*]') WHEN 'OBJECT' THEN json_extract(doc, '$.*')
                ELSE []::JSON[] END AS vals,
            CASE json_type(doc) WHEN 'OBJECT' THEN json_keys(doc) END AS keys
        FROM (SELECT TO_JSON(input) AS doc)
    )
)
"""


def own_flatten(node: exp.Expr) -> exp.Expr:
    """fakesnow's FLATTEN table function (its `_fs_flatten` macro, which makes a JSON null element SQL NULL) -> ours;
    for a statement fakesnow has transformed."""
    if isinstance(node, exp.Anonymous) and str(node.name).lower() == "_fs_flatten":
        return exp.Anonymous(this=FLATTEN_MACRO, expressions=[e.copy() for e in node.expressions])
    return node


def rewrite(expression: exp.Expr) -> exp.Expr:
    """The statement with the rewrites below applied (in place)."""
    for to_binary in expression.find_all(exp.ToBinary):  # first: a rewrite below copies its operand
        if to_binary.args.get("format") is None:
            to_binary.set("format", exp.Literal.string("HEX"))  # BINARY_INPUT_FORMAT, whose other values are refused
        _even_hex(to_binary)
    return expression.transform(_rewrite_node, copy=False)


def _even_hex(node: exp.ToBinary) -> None:
    """TO_BINARY(text, 'HEX') of an odd number of digits fails (TRY_TO_BINARY: NULL), as in Snowflake; DuckDB's
    UNHEX reads a leading 0. An operand with a bind is left alone (writing it twice would ask for more binds)."""
    text, written = node.this, node.args.get("format")
    if not isinstance(written, exp.Literal) or written.name.upper() != "HEX" or text.find(exp.Placeholder):
        return
    length = exp.Length(this=text.copy())
    odd = exp.EQ(this=exp.Mod(this=length, expression=exp.Literal.number(2)), expression=exp.Literal.number(1))
    message = exp.DPipe(
        this=exp.Literal.string("The following string is not a legal hex-encoded value: '"),
        expression=exp.DPipe(this=text.copy(), expression=exp.Literal.string("'")),
    )
    # DuckDB's TRY refuses ERROR (a volatile function): TRY_TO_BINARY's odd text is NULL to begin with
    failed = exp.null() if node.args.get("safe") else exp.Anonymous(this="ERROR", expressions=[message])
    node.set("this", exp.Case(ifs=[exp.If(this=odd, true=failed)], default=text.copy()))


def _rewrite_node(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous) and str(node.name).upper() in _AS_FUNCTIONS:
        return _as_function(node)
    if isinstance(node, exp.ParseJSON):
        return _parse_json_null(node)
    if isinstance(node, exp.Cast) and isinstance(node.to, exp.DataType):
        if node.to.this in _CHAR_TYPES:
            _char_cast(node)
        if node.to.this in _TEXT_TYPES:
            return _text_cast(node)
        if node.to.this in _BINARY_TYPES:
            return _binary_cast(node)
    if isinstance(node, exp.ToChar) and node.args.get("format") is None:
        return _text_cast(node)  # TO_VARCHAR(v), TO_CHAR(v): as v::VARCHAR
    if isinstance(node, exp.ToChar) and (written := node.args.get("format")) is not None:
        function = _BINARY_TEXT_FUNCTIONS.get(written.name.upper()) if isinstance(written, exp.Literal) else None
        if function is not None:  # TO_VARCHAR(binary, 'HEX' | 'BASE64' | 'UTF-8')
            return exp.Anonymous(this=function, expressions=[node.this])
    return node


def _as_function(node: exp.Anonymous) -> exp.Expr:
    """AS_BOOLEAN(v), AS_DOUBLE(v), AS_INTEGER(v), AS_NUMBER(v [, p [, s]]), AS_VARCHAR(v)...: `v` as the type when
    the VARIANT holds it, else NULL. An argument that is not a VARIANT is one first, as Snowflake casts it."""
    name = str(node.name).upper()
    json_types, target = _AS_FUNCTIONS[name]
    args = list(node.expressions)
    if not args:
        return node  # DuckDB reports the missing argument
    value = exp.Anonymous(this="TO_JSON", expressions=[args[0]])
    matches = exp.In(
        this=exp.Anonymous(this="JSON_TYPE", expressions=[value.copy()]),
        expressions=[exp.Literal.string(t) for t in sorted(json_types)],
    )
    result: exp.Expr
    if target is None:  # a string: its text, unquoted
        result = exp.JSONExtractScalar(this=value, expression=exp.JSONPath(expressions=[exp.JSONPathRoot()]))
    else:
        to = exp.DataType.build(target, dialect="snowflake")
        if name in _NUMBER_TARGETS and len(args) > 1:  # AS_NUMBER(v, precision [, scale])
            to = exp.DataType(this=_DType.DECIMAL, expressions=[exp.DataTypeParam(this=a.copy()) for a in args[1:3]])
        result = exp.Cast(this=value, to=to)
    return exp.Case(ifs=[exp.If(this=matches, true=result)])


def _parse_json_null(node: exp.ParseJSON) -> exp.Expr:
    """PARSE_JSON('NULL'): Snowflake reads null in any case as the JSON null (a VARIANT null, not SQL NULL)."""
    text = node.this
    if isinstance(text, exp.Literal) and text.is_string and text.this.strip().lower() == "null":
        node.set("this", exp.Literal.string("null"))
    return node


def _char_cast(node: exp.Cast) -> exp.Expr:
    """CHAR and NCHAR are VARCHAR in Snowflake (of length 1 when none is given): `v::CHAR` of a VARIANT string is
    its text, unquoted, as `v::VARCHAR` is."""
    params = [p.copy() for p in node.to.expressions] or [exp.DataTypeParam(this=exp.Literal.number(1))]
    node.set("to", exp.DataType(this=_DType.VARCHAR, expressions=params, nested=False))
    return node


def _text_cast(node: exp.Cast | exp.ToChar) -> exp.Expr:
    """A VARIANT cast to text is its string unquoted (or its JSON text when it holds no string), as Snowflake
    casts it; a BINARY is its bytes in upper-case hex (BINARY_OUTPUT_FORMAT HEX, Snowflake's default; DuckDB
    writes `\\xAB`); any other operand is cast as it was. The operand's type decides in DuckDB (`typeof`, folded
    when the statement is planned). fakesnow's own rewrites of a FLATTEN's `VALUE` and of paths are left to it, as are
    literals and operands with a bind."""
    operand = node.this
    if (
        isinstance(operand, (exp.Literal, exp.JSONExtract, exp.JSONExtractScalar))
        or _is_flatten_value(operand)
        or operand.find(exp.Placeholder) is not None
    ):
        return node
    text = _variant_string(exp.Anonymous(this="TO_JSON", expressions=[operand.copy()]))
    kind = exp.Anonymous(this="TYPEOF", expressions=[operand.copy()])
    semi_structured = exp.or_(  # a VARIANT, or an ARRAY or OBJECT that DuckDB holds as a list or struct
        exp.EQ(this=kind, expression=exp.Literal.string("JSON")),
        exp.Like(this=kind.copy(), expression=exp.Literal.string("%[]")),
        exp.Like(this=kind.copy(), expression=exp.Literal.string("STRUCT(%")),
        exp.Like(this=kind.copy(), expression=exp.Literal.string("MAP(%")),
    )
    binary = exp.EQ(this=kind.copy(), expression=exp.Literal.string("BLOB"))
    # HEX is bound before `typeof` is folded: its argument is a BLOB whatever the operand (BLOB's text casts back)
    as_blob = exp.TryCast(this=exp.cast(operand.copy(), "VARCHAR"), to=exp.DataType.build("BLOB", dialect="duckdb"))
    as_hex = exp.Anonymous(this="HEX", expressions=[as_blob])
    return exp.Case(ifs=[exp.If(this=semi_structured, true=text), exp.If(this=binary, true=as_hex)], default=node)


def _binary_cast(node: exp.Cast) -> exp.Expr:
    """Text or a VARIANT string cast to BINARY is read as hex (BINARY_INPUT_FORMAT HEX, Snowflake's default):
    'ab'::BINARY is the byte 0xAB. The operand's type decides, in DuckDB (`typeof` is folded when the statement is
    planned, so one branch is left): VARCHAR is unhexed, JSON (a VARIANT) unhexed from its string, BINARY kept.
    An operand with a bind is left alone (writing it three times would ask for more binds)."""
    operand = node.this
    if isinstance(operand, exp.Literal) and operand.is_string:
        return exp.Anonymous(this="UNHEX", expressions=[operand.copy()])
    if _is_variant(operand):
        return exp.Anonymous(this="UNHEX", expressions=[_variant_string(operand.copy())])
    if operand.find(exp.Placeholder) is not None:
        return node
    as_text = exp.Cast(this=operand.copy(), to=exp.DataType.build("VARCHAR"))
    return exp.Case(
        this=exp.Anonymous(this="TYPEOF", expressions=[operand.copy()]),
        ifs=[
            exp.If(this=exp.Literal.string("VARCHAR"), true=exp.Anonymous(this="UNHEX", expressions=[as_text])),
            exp.If(
                this=exp.Literal.string("JSON"),
                true=exp.Anonymous(
                    this="UNHEX",
                    expressions=[_variant_string(exp.Cast(this=as_text.copy(), to=exp.DataType.build("JSON")))],
                ),
            ),
        ],
        default=node,
    )


def _variant_string(value: exp.Expr) -> exp.Expr:
    """A VARIANT's string, unquoted (DuckDB's `->> '$'`)."""
    return exp.JSONExtractScalar(this=value, expression=exp.JSONPath(expressions=[exp.JSONPathRoot()]))


def _is_variant(node: exp.Expr) -> bool:
    return isinstance(node, (exp.JSONExtract, exp.ParseJSON)) or _is_flatten_value(node)


def _is_flatten_value(node: exp.Expr) -> bool:
    if isinstance(node, exp.Column) and str(node.name).upper() == "VALUE":
        select = node.find_ancestor(exp.Select)
        return select is not None and _flattens(select)
    return False


def _flattens(select: exp.Select) -> bool:
    """Whether the SELECT reads a FLATTEN (whose VALUE column is a VARIANT)."""
    return any(
        (isinstance(fn, exp.Anonymous) and str(fn.name).upper() == "FLATTEN") or isinstance(fn, exp.Explode)
        for fn in select.find_all(exp.Anonymous, exp.Explode)
    )


# ---------------------------------------------------------------------------------------------------------------
# VARIANT text as Snowflake sends it

#: Snowflake's default JSON_INDENT: VARIANT, OBJECT and ARRAY values arrive as JSON indented by this many spaces.
DEFAULT_INDENT = 2


@dataclasses.dataclass(frozen=True)
class _Number:
    """A JSON number as DuckDB wrote it (kept as text: an integer of 38 digits or a decimal stays exact)."""

    text: str


def variant_text(col: pa.Array, indent: int = DEFAULT_INDENT) -> pa.Array:
    """A VARIANT column's JSON texts as Snowflake writes them: containers indented by `indent` spaces (JSON_INDENT;
    0 writes them on one line), and a number DuckDB wrote with an exponent (a float: Snowflake keeps a number with
    an exponent as a DOUBLE) with Snowflake's 16 digits, `1.797693134862316e+308`."""
    return pa.array([None if v is None else _variant(v, indent) for v in col.to_pylist()], pa.string())


def _variant(text: str, indent: int) -> str:
    first = text[:1]
    if first == '"':
        return text  # a string: written as it is
    if first not in ("[", "{"):
        return _number_text(text) if first not in ("t", "f", "n") else text
    value = json.loads(text, parse_float=_Number, parse_int=_Number)
    return _write(value, indent, 0)


def _number_text(text: str) -> str:
    return f"{float(text):.15e}" if "e" in text or "E" in text else text


def _write(value: Any, indent: int, level: int) -> str:
    if isinstance(value, _Number):
        return _number_text(value.text)
    if isinstance(value, (dict, list)):
        return _write_container(value, indent, level)
    return json.dumps(value, ensure_ascii=False)  # a string, true, false, null


def _write_container(value: dict[str, Any] | list[Any], indent: int, level: int) -> str:
    opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
    if not value:
        return opening + closing
    if isinstance(value, dict):
        colon = ": " if indent else ":"
        items = [json.dumps(k, ensure_ascii=False) + colon + _write(v, indent, level + 1) for k, v in value.items()]
    else:
        items = [_write(v, indent, level + 1) for v in value]
    if not indent:
        return opening + ",".join(items) + closing
    inner, outer = " " * (indent * (level + 1)), " " * (indent * level)
    return opening + "\n" + ",\n".join(inner + item for item in items) + "\n" + outer + closing
