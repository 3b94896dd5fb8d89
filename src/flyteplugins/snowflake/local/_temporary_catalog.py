"""A session's temporary tables where Snowflake lists them: `DESCRIBE TABLE`, `SHOW TABLES` (kind TEMPORARY) and
its database's `INFORMATION_SCHEMA.TABLES` (TABLE_TYPE 'TEMPORARY TABLE') and `INFORMATION_SCHEMA.COLUMNS`.

DuckDB keeps a connection's temporary tables in its `temp` catalog, under schema `main`, which fakesnow's catalog
views (one database each) and its DESCRIBE TABLE (the current database) never look in. Each session records the
database, schema and creation time of the temporary tables it creates, and its statements about the catalog read
the `temp` catalog's rows under those names. Only the session's own connection sees its `temp` catalog, so no
other session ever lists them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlglot
from sqlglot import exp

from ._temporary_names import _created_temporary, _part

#: the session's temporary tables joined to their rows of a catalog view: name, database, schema, creation time
_JOINED = "({values}) AS r(name, database_name, schema_name, created_on)"


@dataclasses.dataclass(frozen=True)
class Views:
    """The views the session's temporary tables are read from (names as DuckDB SQL)."""

    describe: str  #: DESCRIBE TABLE's query of table `{table}` of `{database}`.`{schema}` in the view `{columns}`
    show_temporary: str  #: the same of the `temp` catalog's tables
    tables: str  #: INFORMATION_SCHEMA.TABLES' view of the `temp` catalog's tables
    columns: str  #: INFORMATION_SCHEMA.COLUMNS' view of every catalog
    lengths: str  #: the declared lengths of VARCHAR columns, by database, schema, table and column


@dataclasses.dataclass(frozen=True)
class TemporaryTable:
    database: str
    schema: str
    created: dt.datetime


class TemporaryCatalog:
    """One session's temporary tables, by name as DuckDB holds them (unquoted names upper case)."""

    def __init__(self, views: Views) -> None:
        self._tables: dict[str, TemporaryTable] = {}
        self._views = views

    def record(self, expr: exp.Expr, database: str | None, schema: str | None) -> None:
        """After the statement `expr` (as written) succeeded: a temporary table it created is known from now on,
        one it dropped is forgotten."""
        created = _created_temporary(expr)
        if created is not None and str(expr.args.get("kind") or "").upper() == "TABLE":
            self._created(created, database, schema, replaced=bool(expr.args.get("replace")))
        elif isinstance(expr, exp.Drop) and str(expr.args.get("kind") or "").upper() == "TABLE":
            for table in expr.find_all(exp.Table):
                if (name := self._resolve(table, database, schema)) is not None:
                    del self._tables[name]

    def _created(self, table: exp.Table, database: str | None, schema: str | None, replaced: bool) -> None:
        name, db = _part(table.this, None), _part(table.args.get("catalog"), database)
        sch = _part(table.args.get("db"), schema)
        if name is None or db is None or sch is None or (name in self._tables and not replaced):
            return  # CREATE ... IF NOT EXISTS of one the session has keeps its creation time
        self._tables[name] = TemporaryTable(db, sch, dt.datetime.now(dt.timezone.utc))

    def _resolve(self, table: exp.Table, database: str | None, schema: str | None) -> str | None:
        """The name of the session's temporary table `table` names; None when it names another (a bare name is the
        temporary table's first, as in Snowflake)."""
        name = _part(table.this, None)
        known = self._tables.get(name or "")
        if name is None or known is None:
            return None
        if table.args.get("db") is None:
            return name
        db = _part(table.args.get("catalog"), database)
        return name if (db, _part(table.args.get("db"), schema)) == (known.database, known.schema) else None

    def describe(self, expression: exp.Expr, database: str | None, schema: str | None) -> exp.Expr | None:
        """DESCRIBE TABLE of one of the session's temporary tables, as a query of the `temp` catalog's columns;
        None for any other statement."""
        if not self._tables or not isinstance(expression, exp.Describe):
            return None
        if str(expression.args.get("kind") or "").upper() != "TABLE" or not isinstance(expression.this, exp.Table):
            return None
        name = self._resolve(expression.this, database, schema)
        if name is None:
            return None
        table = self._tables[name]
        columns = _columns(self._views, _JOINED.format(values=f"VALUES {_row(name, table)}"))
        text = {"table": name, "database": table.database, "schema": table.schema}
        sql = self._views.describe.format(columns=columns, **{k: v.replace("'", "''") for k, v in text.items()})
        return sqlglot.parse_one(sql, read="duckdb")

    def listed(self, transformed: exp.Expr, database: str | None) -> exp.Expr:
        """A statement fakesnow has transformed, with the session's temporary tables in the catalog views it reads
        (SHOW TABLES' view, each database's INFORMATION_SCHEMA `_FS_TABLES` and `_FS_COLUMNS`)."""
        if not self._tables:
            return transformed
        values = ", ".join(_row(name, table) for name, table in self._tables.items())
        joined = _JOINED.format(values=f"VALUES {values}")
        for table in list(transformed.find_all(exp.Table)):
            sql = _with_temporary(table, database, joined, self._views)
            if sql is not None:
                alias = exp.TableAlias(this=exp.to_identifier(table.alias or table.name))
                table.replace(exp.Subquery(this=sqlglot.parse_one(sql, read="duckdb"), alias=alias))
        return transformed


def _with_temporary(table: exp.Table, database: str | None, joined: str, views: Views) -> str | None:
    """The rows of the catalog view `table` with the session's temporary tables; None for another table."""
    view, schema, catalog = table.name.upper(), table.db.upper(), table.catalog or database
    unaliased = table.copy()
    unaliased.set("alias", None)
    own = unaliased.sql(dialect="duckdb")
    if schema != "_FS_INFORMATION_SCHEMA":
        return None
    if view == "_FS_SHOW_TABLES":
        return (
            f"SELECT * FROM {own} UNION ALL "
            "SELECT s.* REPLACE (r.created_on AS created_on, 'TEMPORARY' AS kind, r.database_name AS database_name, "
            f"r.schema_name AS schema_name) FROM {views.show_temporary} AS s JOIN {joined} ON s.name = r.name"
        )
    if catalog is None or catalog.upper() == "_FS_GLOBAL":
        return None
    if view == "_FS_TABLES":
        return (
            f"SELECT * FROM {own} UNION ALL SELECT t.* REPLACE (r.database_name AS TABLE_CATALOG, "
            "r.schema_name AS TABLE_SCHEMA, 'TEMPORARY TABLE' AS TABLE_TYPE, 'YES' AS IS_TEMPORARY, "
            "r.created_on AS CREATED, r.created_on AS LAST_ALTERED, r.created_on AS LAST_DDL) "
            f"FROM {views.tables} AS t JOIN {joined} ON t.TABLE_NAME = r.name WHERE r.database_name = {_text(catalog)}"
        )
    if view == "_FS_COLUMNS":
        return f"SELECT * FROM {own} UNION ALL {_columns(views, joined)} WHERE r.database_name = {_text(catalog)}"
    return None


def _columns(views: Views, joined: str) -> str:
    """The columns of the session's temporary tables in `joined` (`r`), as INFORMATION_SCHEMA.COLUMNS lists them: in
    their database and schema, VARCHAR lengths as declared (fakesnow keeps them under those names)."""
    return (
        "SELECT c.* REPLACE (r.database_name AS TABLE_CATALOG, r.schema_name AS TABLE_SCHEMA, "
        "coalesce(c.CHARACTER_MAXIMUM_LENGTH, e.ext_character_maximum_length) AS CHARACTER_MAXIMUM_LENGTH, "
        "coalesce(c.CHARACTER_OCTET_LENGTH, e.ext_character_octet_length) AS CHARACTER_OCTET_LENGTH) "
        f"FROM {views.columns} AS c JOIN {joined} ON c.TABLE_CATALOG = 'temp' AND c.TABLE_NAME = r.name "
        f"LEFT JOIN {views.lengths} AS e ON e.ext_table_catalog = r.database_name "
        "AND e.ext_table_schema = r.schema_name AND e.ext_table_name = r.name AND e.ext_column_name = c.COLUMN_NAME"
    )


def _row(name: str, table: TemporaryTable) -> str:
    created = f"{_text(table.created.isoformat())}::TIMESTAMPTZ"
    return f"({_text(name)}, {_text(table.database)}, {_text(table.schema)}, {created})"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
