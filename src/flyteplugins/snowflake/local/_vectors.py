"""Snowflake's VECTOR type on DuckDB's fixed-size arrays: VECTOR(INT, n) is INTEGER[n], VECTOR(FLOAT, n) FLOAT[n].

`rewrite` turns a statement's VECTOR types, casts and vector functions into DuckDB's after fakesnow's own
transforms (which read any list type as an ARRAY, that is a VARIANT): a cast checks the dimension and refuses NULL
elements, and a table's VECTOR column gets a check that refuses them too (`refusal` words its error).
`column_info` reads a result column's DuckDB type back as Snowflake's rowtype (type `vector`, `vectorDimension`
and the element in `fields`), `arrow_column` and `json_text` give its values as the driver reads them, and
`described` names the type in a DESCRIBE. A fixed-size array arises only from these rewrites, so every one is a
VECTOR. DuckDB orders and compares arrays element by element as numbers, where Snowflake compares their bytes (see
docs/local-snowflake.md).
"""

from __future__ import annotations

import re
import struct
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

import snowflake.connector.errors as sf_errors

_DType = exp.DataType.Type

_Element = tuple[str, str, dict[str, Any]]
_INT: _Element = ("INTEGER", "INT", {"type": "fixed", "precision": 38, "scale": 0})
_FLOAT: _Element = ("FLOAT", "FLOAT", {"type": "real", "precision": None, "scale": None})
#: Snowflake's element types as fakesnow leaves them (its INT is BIGINT, FLOAT is DOUBLE) -> (DuckDB's element
#: type, its name in a VECTOR type, the element's rowtype).
_ELEMENTS = {_DType.INT: _INT, _DType.BIGINT: _INT, _DType.DOUBLE: _FLOAT}
_BY_DUCKDB = {duck: (name, info) for duck, name, info in _ELEMENTS.values()}
MAX_DIMENSION = 4096
_DUCKDB_ARRAY = re.compile(r"^(INTEGER|FLOAT)\[(\d+)\]$")
_NULL_ELEMENT = "Column {column} is VECTOR({name}, {dimension}), whose elements are never NULL: a value written has one"
_CHECK_REFUSAL = re.compile(
    r"^Constraint Error: CHECK constraint failed .*\(Error: (Column .* a value written has one)\)"
)

#: Snowflake's vector functions (as sqlglot reads them) -> DuckDB's list function of the same measure. The
#: arguments are read as DOUBLE lists, so INT vectors work too and vectors of different dimensions fail.
_FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.DotProduct: "LIST_INNER_PRODUCT",  # VECTOR_INNER_PRODUCT
    exp.EuclideanDistance: "LIST_DISTANCE",  # VECTOR_L2_DISTANCE
    exp.CosineDistance: "LIST_COSINE_SIMILARITY",  # VECTOR_COSINE_SIMILARITY (sqlglot's name is not Snowflake's)
}


def rewrite(expression: exp.Expr) -> exp.Expr:
    """The statement with VECTOR types, casts and functions in DuckDB's terms (in place)."""
    return expression.transform(_rewrite_node, copy=False)


def _rewrite_node(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.ColumnDef) and _is_vector(node.args.get("kind")) and isinstance(node.parent, exp.Schema):
        return _checked_column(node)
    if isinstance(node, exp.Cast) and _is_vector(node.args.get("to")):
        return _checked_cast(node)
    if _is_vector(node):
        assert isinstance(node, exp.DataType)
        element, dimension = _declared(node)
        return _array_type(element, dimension)
    if type(node) in _FUNCTIONS:
        return _vector_function(_FUNCTIONS[type(node)], node.this, node.expression)
    if isinstance(node, exp.ManhattanDistance):  # VECTOR_L1_DISTANCE
        return _l1_distance(node.this, node.expression)
    return node


def _is_vector(node: Any) -> bool:
    return isinstance(node, exp.DataType) and node.this == _DType.VECTOR


def _declared(vector: exp.DataType) -> tuple[str, int]:
    """The DuckDB element type and the dimension of VECTOR(<type>, <dimension>); a compilation error for any
    other element type or a dimension outside 1-4096."""
    params = list(vector.expressions)
    element = params[0] if params else None
    if not isinstance(element, exp.DataType) or element.this not in _ELEMENTS or len(params) != 2:
        written = element.sql(dialect="snowflake") if isinstance(element, exp.Expr) else ""
        raise _compilation_error(
            f"invalid VECTOR element type '{written}': a VECTOR's elements are INT or FLOAT, as in VECTOR(INT, 3)"
        )
    size = params[1].this if isinstance(params[1], exp.DataTypeParam) else params[1]
    if not (isinstance(size, exp.Literal) and size.is_int and 1 <= int(size.name) <= MAX_DIMENSION):
        raise _compilation_error(
            f"invalid VECTOR dimension '{size.sql(dialect='snowflake')}': a VECTOR's dimension is a whole number"
            f" from 1 to {MAX_DIMENSION}"
        )
    return _ELEMENTS[element.this][0], int(size.name)


def _compilation_error(message: str) -> sf_errors.ProgrammingError:
    return sf_errors.ProgrammingError(msg=f"SQL compilation error:\n{message}", errno=2040, sqlstate="42601")


def _array_type(element: str, dimension: int | None) -> exp.DataType:
    suffix = "[]" if dimension is None else f"[{dimension}]"
    return exp.DataType.build(f"{element}{suffix}", dialect="duckdb")


def _checked_column(column: exp.ColumnDef) -> exp.ColumnDef:
    """A table's VECTOR column refuses a value with NULL elements, which an array written into it without a cast
    may have (DuckDB takes them; Snowflake's vectors have none). Its type is rewritten after this, as a child.
    (DuckDB cannot add a column with a check: a column added by ALTER TABLE has none, and `arrow_column` refuses
    such a value when it is read.)"""
    element, dimension = _declared(column.args["kind"])
    name = _BY_DUCKDB[element][0]
    listed = exp.Cast(this=exp.column(column.this.copy()), to=_array_type(element, None))
    counted = exp.Anonymous(this="LIST_COUNT", expressions=[listed])
    message = _NULL_ELEMENT.format(name=name, dimension=dimension, column=column.name)
    refused = exp.Anonymous(this="ERROR", expressions=[exp.Literal.string(message)])
    check = exp.Case(
        ifs=[exp.If(this=exp.NEQ(this=counted, expression=exp.Literal.number(dimension)), true=refused)],
        default=exp.true(),
    )
    constraints = [
        *column.args.get("constraints", []),
        exp.ColumnConstraint(kind=exp.CheckColumnConstraint(this=check)),
    ]
    column.set("constraints", constraints)
    return column


def _checked_cast(node: exp.Cast) -> exp.Expr:
    """`x::VECTOR(INT, 3)` -> x as a list of the element type, refused unless it has 3 elements and no NULL (a
    TRY_CAST gives NULL instead), then cast to INTEGER[3]. An element that is not a number fails DuckDB's cast."""
    element, dimension = _declared(node.args["to"])
    name = _BY_DUCKDB[element][0]
    trying = isinstance(node, exp.TryCast)
    operand = rewrite(node.this)  # `transform` does not visit a replaced node's children: `x::VECTOR(...)::VECTOR(...)`
    kind = exp.TryCast if trying else exp.Cast
    listed = kind(this=operand, to=_array_type(element, None))
    length = exp.Anonymous(this="LEN", expressions=[listed.copy()])
    counted = exp.Anonymous(this="LIST_COUNT", expressions=[listed.copy()])
    target = f"VECTOR({name}, {dimension})"
    wrong_size = _refusal(
        trying,
        exp.DPipe(
            this=exp.DPipe(this=exp.Literal.string("Cannot cast an array of "), expression=length.copy()),
            expression=exp.Literal.string(f" elements to {target}: the array must have exactly {dimension} elements"),
        ),
    )
    has_null = _refusal(trying, exp.Literal.string(f"Cannot cast an array with NULL elements to {target}"))
    checked = exp.Case(
        ifs=[
            exp.If(this=exp.NEQ(this=length, expression=exp.Literal.number(dimension)), true=wrong_size),
            exp.If(this=exp.NEQ(this=counted, expression=exp.Literal.number(dimension)), true=has_null),
        ],
        default=listed,
    )
    return exp.Cast(this=checked, to=_array_type(element, dimension))


def _refusal(trying: bool, message: exp.Expr) -> exp.Expr:
    """What a failed check gives: NULL for TRY_CAST, else an error with `message` (DuckDB's `error()`)."""
    if trying:
        return exp.Null()
    return exp.Anonymous(this="ERROR", expressions=[message])


def _as_doubles(vector: exp.Expr) -> exp.Expr:
    """A function's argument, its own VECTOR casts rewritten (`transform` does not visit a replaced node's
    children), as a list of DOUBLE."""
    return exp.Cast(this=rewrite(vector), to=exp.DataType.build("DOUBLE[]", dialect="duckdb"))


def _vector_function(name: str, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=[_as_doubles(left), _as_doubles(right)])


def _l1_distance(left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """VECTOR_L1_DISTANCE(a, b): the sum of |a[i] - b[i]| (DuckDB has no such list function)."""
    pair = exp.to_identifier("p")
    difference = exp.Sub(
        this=exp.Bracket(this=exp.column(pair), expressions=[exp.Literal.number(1)], offset=1),
        expression=exp.Bracket(this=exp.column(pair), expressions=[exp.Literal.number(2)], offset=1),
    )
    absolute = exp.Lambda(this=exp.Abs(this=difference), expressions=[pair])
    left, right = _as_doubles(left), _as_doubles(right)
    # LIST_ZIP pads the shorter list with NULLs, which LIST_SUM would skip: vectors of two dimensions are refused
    lengths = [exp.Anonymous(this="LEN", expressions=[side.copy()]) for side in (left, right)]
    message = "VECTOR_L1_DISTANCE: the vectors must have the same dimension"
    zipped = exp.Anonymous(this="LIST_ZIP", expressions=[left, right])
    total = exp.Anonymous(
        this="LIST_SUM", expressions=[exp.Anonymous(this="LIST_TRANSFORM", expressions=[zipped, absolute])]
    )
    refused = exp.Anonymous(this="ERROR", expressions=[exp.Literal.string(message)])
    return exp.Case(ifs=[exp.If(this=exp.NEQ(this=lengths[0], expression=lengths[1]), true=refused)], default=total)


# ---------------------------------------------------------------------------------------------------------------
# Results


def described(table: pa.Table) -> pa.Table:
    """A DESCRIBE's answer with its `type` column naming vectors as Snowflake does (VECTOR(INT, 3), not DuckDB's
    INTEGER[3])."""
    if "type" not in table.column_names:
        return table
    types = table.column("type")
    for duckdb_name, (name, _) in _BY_DUCKDB.items():
        types = pc.replace_substring_regex(types, rf"^{duckdb_name}\[(\d+)\]$", rf"VECTOR({name}, \1)")
    return table.set_column(table.column_names.index("type"), table.schema.field("type"), types)


def refusal(message: str) -> sf_errors.ProgrammingError | None:
    """A VECTOR column's check refusing a NULL element (DuckDB's message names the whole check) in plain words."""
    found = _CHECK_REFUSAL.search(message)
    if found is None:
        return None
    return sf_errors.ProgrammingError(msg=found.group(1), errno=100072, sqlstate="22000")


def arrow_column(column: pa.Array) -> pa.Array:
    """A VECTOR result column as the driver reads it: DuckDB's fixed-size list, as it is. A NULL element (a column
    added by ALTER TABLE has no check against one) is refused: the driver would read it as 0."""
    elements = column.flatten()
    if elements.null_count:
        raise sf_errors.ProgrammingError(
            msg="A VECTOR value has a NULL element; Snowflake's vectors have none: write it with a cast, as"
            " [1, 2, 3]::VECTOR(INT, 3), which refuses one",
            errno=100090,
            sqlstate="22000",
        )
    return column


def column_info(name: str, duckdb_type: str, nullable: bool) -> dict[str, Any] | None:
    """Snowflake's rowtype entry for a result column of DuckDB type INTEGER[n] / FLOAT[n]; None for other types."""
    found = _DUCKDB_ARRAY.match(duckdb_type)
    if found is None:
        return None
    element = _BY_DUCKDB[found.group(1)][1]
    field = {"name": None, "nullable": False, "length": None, "byteLength": None, "collation": None, **element}
    return {
        "name": name,
        "database": "",
        "schema": "",
        "table": "",
        "nullable": nullable,
        "type": "vector",
        "byteLength": None,
        "length": None,
        "scale": None,
        "precision": None,
        "collation": None,
        "vectorDimension": int(found.group(2)),
        "fields": [field],
    }


def json_text(value: list[Any], info: dict[str, Any]) -> str:
    """A vector as Snowflake's JSON result format writes it: a JSON array, floats with the digits a 32-bit float
    needs (`[1.1,2.2]`, not `[1.100000023841858,...]`)."""
    if info["fields"][0]["type"] == "real":
        return "[" + ",".join(_float32_text(v) for v in value) + "]"
    return "[" + ",".join(str(v) for v in value) + "]"


def _float32_text(value: float) -> str:
    """The shortest text that reads back as the same 32-bit float."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return text
    return repr(value)
