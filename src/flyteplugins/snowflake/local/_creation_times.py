"""When each permanent table was created, for `SHOW TABLES`' created_on (DuckDB keeps no creation time; fakesnow
answers 1970-01-01 for every table).

One registry for the whole database (every session's CREATE TABLE), kept in memory: a table created before the
server started, or renamed since, keeps fakesnow's 1970-01-01.
"""

from __future__ import annotations

import datetime as dt
import threading

import sqlglot
from sqlglot import exp

from ._temporary_names import Key, _part

#: the registry's rows joined to SHOW TABLES' rows of permanent tables (kind TABLE)
_DATED = (
    "SELECT s.* REPLACE (coalesce(c.created_on, s.created_on) AS created_on) FROM {view} AS s "
    "LEFT JOIN (VALUES {values}) AS c(database_name, schema_name, name, created_on) "
    "ON s.kind = 'TABLE' AND s.database_name = c.database_name AND s.schema_name = c.schema_name AND s.name = c.name"
)


class CreationTimes:
    """The creation time of each permanent table created since the server started, by (database, schema, name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[Key, dt.datetime] = {}

    def record(self, expr: exp.Expr, database: str | None, schema: str | None) -> None:
        """After the statement `expr` (as written) succeeded: a permanent table it created is dated now, one it
        dropped forgotten. `CREATE TABLE IF NOT EXISTS` of a table that exists keeps its time."""
        kind = str(expr.args.get("kind") or "").upper()
        if kind != "TABLE" or not isinstance(expr, (exp.Create, exp.Drop)):
            return
        properties = expr.args.get("properties")
        if isinstance(properties, exp.Properties) and properties.find(exp.TemporaryProperty):
            return
        target = expr.this.this if isinstance(expr.this, exp.Schema) else expr.this
        key = _key(target, database, schema) if isinstance(target, exp.Table) else None
        if key is None:
            return
        with self._lock:
            if isinstance(expr, exp.Drop):
                self._times.pop(key, None)
            elif expr.args.get("replace") or not (expr.args.get("exists") and key in self._times):
                self._times[key] = dt.datetime.now(dt.timezone.utc)

    def dated(self, transformed: exp.Expr, view: str) -> exp.Expr:
        """A statement fakesnow has transformed, with the creation times in the rows it reads of SHOW TABLES' view
        (`view`, DuckDB SQL)."""
        with self._lock:
            times = list(self._times.items())
        if not times:
            return transformed
        values = ", ".join(
            f"({_text(db)}, {_text(schema)}, {_text(name)}, {_text(at.isoformat())}::TIMESTAMPTZ)"
            for (db, schema, name), at in times
        )
        for table in list(transformed.find_all(exp.Table)):
            unaliased = table.copy()
            unaliased.set("alias", None)
            if unaliased.sql(dialect="duckdb").lower() == view:
                query = sqlglot.parse_one(_DATED.format(view=view, values=values), read="duckdb")
                alias = exp.TableAlias(this=exp.to_identifier(table.alias or table.name))
                table.replace(exp.Subquery(this=query, alias=alias))
        return transformed


def _key(table: exp.Table, database: str | None, schema: str | None) -> Key | None:
    parts = (_part(table.args.get("catalog"), database), _part(table.args.get("db"), schema), _part(table.this, None))
    if parts[0] is None or parts[1] is None or parts[2] is None:
        return None
    return (parts[0], parts[1], parts[2])


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
