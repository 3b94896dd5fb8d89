"""`EXPLAIN [USING TABULAR|JSON|TEXT] <statement>` of the local Snowflake: compiled, never run.

The statement goes through the same translation as when it runs, then DuckDB plans it (`EXPLAIN (FORMAT json)`),
and the plan is answered in Snowflake's shape: one row per operation (TableScan, Filter, Aggregate, Join,
Insert, ...) with its objects, and a GlobalStats row with partitions and bytes. A missing table or column
fails as the statement would. Partitions are DuckDB's row groups (122,880 rows) and bytes an estimate from
each table's row count and column types; no partition is pruned.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
from fakesnow.conn import FakeSnowflakeConnection
from sqlglot import exp

from . import _fakesnow as fs

_EXPLAIN = re.compile(r"\s*EXPLAIN(?:\s+USING\s+(TABULAR|JSON|TEXT))?\s+(.+)$", re.IGNORECASE | re.DOTALL)
_ROW_GROUP_ROWS = 122_880
_OPERATIONS = {
    "SEQ_SCAN": "TableScan",
    "TABLE_SCAN": "TableScan",
    "INDEX_SCAN": "TableScan",
    "FILTER": "Filter",
    "PROJECTION": "Result",
    "HASH_GROUP_BY": "Aggregate",
    "PERFECT_HASH_GROUP_BY": "Aggregate",
    "UNGROUPED_AGGREGATE": "Aggregate",
    "SIMPLE_AGGREGATE": "Aggregate",
    "HASH_JOIN": "Join",
    "NESTED_LOOP_JOIN": "Join",
    "PIECEWISE_MERGE_JOIN": "Join",
    "BLOCKWISE_NL_JOIN": "Join",
    "CROSS_PRODUCT": "CartesianJoin",
    "ORDER_BY": "Sort",
    "TOP_N": "SortWithLimit",
    "LIMIT": "Limit",
    "STREAMING_LIMIT": "Limit",
    "UNION": "UnionAll",
    "WINDOW": "WindowFunction",
    "STREAMING_WINDOW": "WindowFunction",
    "DUMMY_SCAN": "Generator",
    "COLUMN_DATA_SCAN": "ValuesClause",
    "INSERT": "Insert",
    "BATCH_INSERT": "Insert",
    "UPDATE": "Update",
    "DELETE": "Delete",
    "CREATE_TABLE_AS": "CreateTableAsSelect",
    "BATCH_CREATE_TABLE_AS": "CreateTableAsSelect",
    "HASH_DISTINCT": "Aggregate",
    "EMPTY_RESULT": "Result",
}
#: Bytes a value of each DuckDB type takes, for the bytes estimate (strings: DuckDB's inline string size).
_WIDTHS = {"BOOLEAN": 1, "TINYINT": 1, "SMALLINT": 2, "INTEGER": 4, "DATE": 4, "FLOAT": 4, "VARCHAR": 16}
_DEFAULT_WIDTH = 8
COLUMNS = (
    "step",
    "id",
    "parentOperators",
    "operation",
    "objects",
    "alias",
    "expressions",
    "partitionsTotal",
    "partitionsAssigned",
    "bytesAssigned",
)


@dataclasses.dataclass
class Operation:
    id: int
    parent: int | None
    operation: str
    objects: str | None = None
    expressions: str | None = None
    partitions: int | None = None  # of the table (partitionsTotal)
    bytes: int | None = None  # of the partitions assigned
    assigned: int | None = None  # partitions left to scan after compile-time pruning


def match(sql: str) -> tuple[str, str] | None:
    """(format, statement) of an EXPLAIN, or None for any other statement."""
    found = _EXPLAIN.match(sql)
    return None if found is None else ((found.group(1) or "TABULAR").upper(), found.group(2))


def explain(conn: FakeSnowflakeConnection, fmt: str, statement: str, params: Any) -> fs.StatementResult:
    """The plan of `statement` (run nowhere) as Snowflake answers `EXPLAIN USING <fmt>`."""
    operations = _plan(conn, statement, params)
    if fmt == "JSON":
        return _single("content", json.dumps(_as_json(operations)))
    if fmt == "TEXT":
        return _single("content", _as_text(operations))
    return fs.result_from_arrow(_as_table(operations))


def _plan(conn: FakeSnowflakeConnection, statement: str, params: Any) -> list[Operation]:
    cur = fs.cursor(conn)
    expression = fs.parse_one(statement)
    cur.check_db_and_schema(expression)
    # Snowflake compiles without evaluating binds: plan with every bind NULL, so a value never fails the plan
    bound = [None] * len(params) if isinstance(params, (list, tuple)) else params
    # A statement run as several (MERGE) is planned by its first part: the one that reads the source rows.
    transformed = cur._transform(cur._transform_explode(expression)[0], bound)
    duck_sql = transformed.sql(dialect="duckdb")
    args = bound if transformed.find(exp.Placeholder) else None
    try:
        (row,) = conn._duck_conn.execute(f"EXPLAIN (FORMAT json) {duck_sql}", args).fetchall()
    except duckdb.Error as exc:
        raise fs.snowflake_error(fs.translate_duckdb_error(exc), statement) from None
    target = _target(expression, conn)
    operations: list[Operation] = []
    for root in json.loads(row[1]):
        operations.extend(_walk(conn, root, None, len(operations), target))
    if isinstance(expression, exp.Merge) and operations:
        operations[0].operation, operations[0].objects = "Merge", target
    # DuckDB drops the scan of a table its statistics rule out (with every bind NULL, most filters do); the
    # local Snowflake prunes no partition, so the table is scanned whole
    scanned = {op.objects for op in operations if op.operation == "TableScan"}
    for name in _read_tables(expression, conn, target):
        if name not in scanned:
            _, partitions, size = _table_stats(conn, name)
            operations.append(Operation(len(operations), 0, "TableScan", name, None, partitions, size, partitions))
    return operations


def _read_tables(expression: exp.Expr, conn: FakeSnowflakeConnection, target: str | None) -> list[str]:
    """DATABASE.SCHEMA.TABLE of every table the statement reads (its CTEs and the table it writes left out)."""
    ctes = {cte.alias_or_name.upper() for cte in expression.find_all(exp.CTE)}
    names = []
    for table in expression.find_all(exp.Table):
        if not table.name or table.name.upper() in ctes:
            continue
        name = ".".join(p.upper() for p in (table.catalog or conn.database or "", table.db or conn.schema or "",
                                            table.name))  # fmt: skip
        if name != target and name not in names:
            names.append(name)
    return names


def _walk(
    conn: FakeSnowflakeConnection, node: dict[str, Any], parent: int | None, first: int, target: str | None
) -> Iterator[Operation]:
    name = str(node.get("name", "")).strip()
    info = node.get("extra_info") or {}
    operation = Operation(first, parent, _OPERATIONS.get(name, name.title().replace("_", "")))
    if operation.operation == "TableScan" and isinstance(info.get("Table"), str):
        operation.objects, operation.partitions, operation.bytes = _table_stats(conn, info["Table"])
        operation.assigned = operation.partitions
    elif operation.operation in {"Insert", "Update", "Delete", "CreateTableAsSelect"}:
        operation.objects = target
    operation.expressions = _expressions(info)
    yield operation
    next_id = first + 1
    for child in node.get("children") or []:
        for op in _walk(conn, child, operation.id, next_id, target):
            yield op
            next_id = max(next_id, op.id + 1)


def _expressions(info: dict[str, Any]) -> str | None:
    parts = []
    for key in ("Filters", "Projections", "Aggregates", "Groups", "Conditions", "Order By"):
        value = info.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value:
            parts.append(f"{key.lower()}: {value}")
    return "; ".join(parts) or None


def _table_stats(conn: FakeSnowflakeConnection, qualified: str) -> tuple[str, int, int]:
    """Snowflake's DATABASE.SCHEMA.TABLE name, partitions and estimated bytes of a table DuckDB scans."""
    catalog, _, rest = qualified.partition(".")
    schema, _, table = rest.partition(".")
    rows = conn._duck_conn.execute(
        "SELECT t.estimated_size, list(c.data_type) FROM duckdb_tables() t JOIN duckdb_columns() c "
        "USING (database_name, schema_name, table_name) WHERE upper(t.database_name) = upper(?) "
        "AND upper(t.schema_name) = upper(?) AND upper(t.table_name) = upper(?) GROUP BY t.estimated_size",
        [catalog, schema, table],
    ).fetchall()
    count, types = rows[0] if rows else (0, [])
    width = sum(_WIDTHS.get(str(t).split("(")[0], _DEFAULT_WIDTH) for t in types)
    name = ".".join(part.upper() if part.islower() else part for part in (catalog, schema, table))
    return name, math.ceil(int(count) / _ROW_GROUP_ROWS), int(count) * width


def _target(expression: exp.Expr, conn: FakeSnowflakeConnection) -> str | None:
    """The table a DML or CTAS statement writes, qualified with the session's database and schema."""
    if not isinstance(expression, (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Merge)):
        return None
    table = expression.find(exp.Table)
    if table is None:
        return None
    parts = [table.catalog or conn.database or "", table.db or conn.schema or "", table.name]
    return ".".join(p.upper() for p in parts if p)


def _scans(operations: list[Operation]) -> list[Operation]:
    return [op for op in operations if op.partitions is not None]


def _totals(operations: list[Operation]) -> tuple[int, int, int]:
    """partitionsTotal, partitionsAssigned and bytesAssigned of the whole statement."""
    scans = _scans(operations)
    return (
        sum(op.partitions or 0 for op in scans),
        sum(op.assigned or 0 for op in scans),
        sum(op.bytes or 0 for op in scans),
    )


def _as_table(operations: list[Operation]) -> pa.Table:
    stats: list[tuple[Any, ...]] = [(None, None, None, "GlobalStats", None, None, None, *_totals(operations))]
    rows = stats + [
        (
            1,
            op.id,
            None if op.parent is None else f"[{op.parent}]",
            op.operation,
            op.objects,
            None,
            op.expressions,
            op.partitions,
            op.assigned,
            op.bytes,
        )
        for op in operations
    ]
    types = [pa.int64(), pa.int64(), pa.string(), pa.string(), pa.string(), pa.string(), pa.string()]
    types += [pa.int64(), pa.int64(), pa.int64()]
    columns = {name: pa.array([row[i] for row in rows], types[i]) for i, name in enumerate(COLUMNS)}
    return pa.table(columns)


def _as_json(operations: list[Operation]) -> dict[str, Any]:
    ops = []
    for op in operations:
        entry: dict[str, Any] = {"id": op.id, "operation": op.operation}
        if op.parent is not None:
            entry["parentOperators"] = [op.parent]
        if op.objects:
            entry["objects"] = [op.objects]
        if op.expressions:
            entry["expressions"] = [op.expressions]
        if op.partitions is not None:
            entry["partitionsAssigned"] = op.assigned
            entry["bytesAssigned"] = op.bytes
        ops.append(entry)
    total, assigned, scanned = _totals(operations)
    stats = {"partitionsTotal": total, "partitionsAssigned": assigned, "bytesAssigned": scanned}
    return {"GlobalStats": stats, "Operations": [ops]}


def _as_text(operations: list[Operation]) -> str:
    total, assigned, scanned = _totals(operations)
    lines = ["GlobalStats:", f"    partitionsTotal={total}", f"    partitionsAssigned={assigned}"]
    lines += [f"    bytesAssigned={scanned}", "Operations:"]
    depth: dict[int, int] = {}
    for op in operations:
        depth[op.id] = 1 if op.parent is None else depth[op.parent] + 1
        detail = " ".join(p for p in (op.objects, op.expressions) if p)
        lines.append(f"{'  ' * depth[op.id]}1:{op.id}     ->{op.operation}  {detail}".rstrip())
    return "\n".join(lines)


def _single(column: str, text: str) -> fs.StatementResult:
    return fs.result_from_arrow(pa.table({column: pa.array([text], pa.string())}))
