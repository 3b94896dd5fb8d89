"""Multi-table inserts (`INSERT [OVERWRITE] ALL | FIRST ... SELECT`), which DuckDB lacks, as one statement.

Each `INTO` clause becomes an `INSERT INTO target ... SELECT <values> FROM (<source>) WHERE <its condition>`: with
`ALL` a clause takes the rows its `WHEN` holds for, with `FIRST` those of the first `WHEN` that holds, and `ELSE`
the rows no `WHEN` holds for. `OVERWRITE` empties every target first. The inserts run as one statement (all of
them or none; inside an open transaction they join it, as any DML does), and the answer counts the rows inserted
into each target, as Snowflake's does.

The source runs once per `INTO` clause here (Snowflake runs it once), so a source whose rows could differ between
runs (random or sequence functions, or reading a target) and binds are refused with an error saying so.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlglot import exp

from . import _fakesnow as fs

_MULTI_INSERT = re.compile(r"^\s*INSERT\s+(OVERWRITE\s+)?(ALL|FIRST)\b", re.IGNORECASE)
#: Functions whose values differ between two runs of the same source.
_VOLATILE = frozenset(
    {"RANDOM", "RANDSTR", "UUID_STRING", "UNIFORM", "NORMAL", "ZIPF", "SEQ1", "SEQ2", "SEQ4", "SEQ8", "GENERATOR"}
)
_SOURCE = "_local_source"


@dataclasses.dataclass(frozen=True)
class _Into:
    """One `INTO` clause and the rows of the source it takes (a condition over the source's columns)."""

    target: exp.Expr  # the table, with its column list when one is given
    values: exp.Values | None
    rows: exp.Expr


def matches(sql: str) -> bool:
    """Whether `sql` is a multi-table insert (a cheap test before parsing)."""
    return _MULTI_INSERT.match(sql) is not None


def run(conn: Any, sql: str, params: object) -> fs.StatementResult:
    """Run a multi-table insert on the session's connection; its answer counts the rows each target got."""
    match = _MULTI_INSERT.match(sql)
    if match is None:
        raise ValueError("not a multi-table insert")
    if params:
        raise _not_emulated("binds in a multi-table INSERT", "write the values into the statement")
    expr = fs.parse_one(sql)
    if not isinstance(expr, exp.MultitableInserts):
        raise _not_emulated("this form of multi-table INSERT", "insert into each table on its own")
    source = expr.args["source"]
    into = _clauses(expr, first=match.group(2).upper() == "FIRST")
    _check_source(source, [clause.target for clause in into])
    tables = [_table_sql(clause.target) for clause in into]
    distinct = list(dict.fromkeys(tables))
    empty = [f"DELETE FROM {table}" for table in distinct] if match.group(1) else []
    counts = fs.execute_as_one(conn, [*empty, *(_insert(clause, source) for clause in into)])
    inserted = dict.fromkeys(distinct, 0)
    for table, count in zip(tables, counts[len(empty) :], strict=True):
        inserted[table] += count
    columns = {f"number of rows inserted into {_table_name(table)}": count for table, count in inserted.items()}
    return fs.dml_result(conn, columns, deleted=sum(counts[: len(empty)]))


def _clauses(expr: exp.MultitableInserts, first: bool) -> list[_Into]:
    """The INTO clauses with the rows each takes. sqlglot keeps a condition only on the first INTO of a WHEN (or
    ELSE); the INTOs after it belong to the same WHEN."""
    conditional = any(c.args.get("expression") is not None or c.args.get("else_") for c in expr.expressions)
    taken: list[exp.Expr] = []  # the WHEN conditions so far, each NULL-safe (a NULL condition does not hold)
    rows: exp.Expr = exp.true()
    into: list[_Into] = []
    for clause in expr.expressions:
        condition, is_else = clause.args.get("expression"), bool(clause.args.get("else_"))
        if is_else:
            rows = exp.not_(exp.or_(*taken)) if taken else exp.true()
        elif condition is not None:
            holds = exp.func("COALESCE", exp.paren(condition.copy()), exp.false())
            rows = exp.and_(holds, exp.not_(exp.or_(*taken))) if first and taken else holds
            taken.append(holds)
        elif conditional and not into:
            raise _not_emulated("an INTO clause before the first WHEN", "start with WHEN ... THEN")
        insert = clause.this
        into.append(_Into(insert.this, insert.args.get("expression"), rows))
    return into


def _check_source(source: exp.Expr, targets: list[exp.Expr]) -> None:
    for call in source.find_all(exp.Func):
        name = call.sql(dialect="snowflake").split("(", 1)[0].upper()  # as written: RANDOM, not sqlglot's RAND
        if name in _VOLATILE or isinstance(call, (exp.Rand, exp.Uuid)):
            raise _not_emulated(f"a multi-table INSERT whose source calls {name}", "materialize the source first")
    names = {_table_name(_table_sql(target)) for target in targets}
    for table in source.find_all(exp.Table):
        if table.name.upper() in names:
            raise _not_emulated(
                f"a multi-table INSERT whose source reads its target {table.name.upper()}",
                "materialize the source first",
            )


def _insert(clause: _Into, source: exp.Expr) -> str:
    derived = exp.Subquery(this=source.copy(), alias=exp.TableAlias(this=exp.to_identifier(_SOURCE)))
    if clause.values is None:
        projection: list[exp.Expr] = [exp.Star()]
    else:
        rows = clause.values.expressions
        row = rows[0] if len(rows) == 1 else None
        if not isinstance(row, exp.Tuple):
            raise _not_emulated("an INTO clause with more than one VALUES row", "give one row per INTO clause")
        projection = [value.copy() for value in row.expressions]
    select = exp.select(*projection).from_(derived).where(clause.rows.copy())
    insert = exp.Insert(this=clause.target.copy(), expression=select)
    return str(insert.sql(dialect="snowflake"))


def _table_sql(target: exp.Expr) -> str:
    table = target.this if isinstance(target, exp.Schema) else target
    return str(table.sql(dialect="snowflake"))


def _table_name(table_sql: str) -> str:
    """The table's own name as Snowflake writes it in the answer (upper case unless quoted)."""
    table = exp.to_table(table_sql, dialect="snowflake")
    identifier = table.this
    return str(identifier.this) if identifier.quoted else str(identifier.this).upper()


def _not_emulated(what: str, instead: str) -> fs.SnowflakeError:
    return fs.ProgrammingError(
        msg=f"Unsupported feature: {what} is not emulated by the local Snowflake (docs/local-snowflake.md); {instead}",
        errno=2,
        sqlstate="0A000",
    )
