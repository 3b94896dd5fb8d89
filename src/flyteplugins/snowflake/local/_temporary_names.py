"""Temporary tables and views named with their schema (`CREATE TEMP VIEW db.schema.v`), as Snowflake allows.

DuckDB keeps a connection's temporary objects in its own `temp` catalog and refuses another qualified name for
one. A session's temporary object named `db.schema.v` is created under its bare name instead (DuckDB finds it
before any table of the current schema, as Snowflake finds a temporary table before a permanent one of the same
name), or as `temp.main.v` in a session without a current schema (fakesnow refuses a bare name there; it serves
views so, not tables), and the session's later statements that name it `db.schema.v` name it so too, until it
is dropped.
"""

from __future__ import annotations

from sqlglot import exp

#: (database, schema, name) as Snowflake resolves them: unquoted upper case, quoted as written
Key = tuple[str, str, str]


def _part(identifier: exp.Expr | None, default: str | None) -> str | None:
    if not isinstance(identifier, exp.Identifier):
        return default
    return identifier.name if identifier.quoted else identifier.name.upper()


def _key(table: exp.Table, database: str | None, schema: str | None) -> Key | None:
    """The object a qualified name stands for; None for a bare name, or one whose parts the session cannot
    complete (no current database or schema)."""
    if table.args.get("db") is None:
        return None
    parts = (_part(table.args.get("catalog"), database), _part(table.args.get("db"), schema), _part(table.this, None))
    if any(part is None for part in parts):
        return None
    return (str(parts[0]), str(parts[1]), str(parts[2]))


def _created_temporary(expr: exp.Expr) -> exp.Table | None:
    """The table a CREATE TEMPORARY TABLE / VIEW creates; None for any other statement."""
    if not isinstance(expr, exp.Create) or str(expr.args.get("kind") or "").upper() not in ("TABLE", "VIEW"):
        return None
    properties = expr.args.get("properties")
    if not isinstance(properties, exp.Properties) or not properties.find(exp.TemporaryProperty):
        return None
    target = expr.this.this if isinstance(expr.this, exp.Schema) else expr.this
    return target if isinstance(target, exp.Table) else None


def _requalify(table: exp.Table, bare: bool) -> None:
    table.set("catalog", None if bare else exp.to_identifier("temp"))
    table.set("db", None if bare else exp.to_identifier("main"))


class TemporaryNames:
    """One session's temporary objects created with a qualified name."""

    def __init__(self) -> None:
        self._keys: set[Key] = set()

    def __bool__(self) -> bool:
        return bool(self._keys)

    def rewrite(self, expr: exp.Expr, database: str | None, schema: str | None) -> exp.Expr | None:
        """The statement with such names as DuckDB knows them (a copy); None when it names none of them."""
        created = _created_temporary(expr)
        creates = created is not None and _key(created, database, schema) is not None
        if not creates and not any(_key(t, database, schema) in self._keys for t in expr.find_all(exp.Table)):
            return None
        rewritten = expr.copy()
        target = _created_temporary(rewritten) if creates else None
        for table in list(rewritten.find_all(exp.Table)):
            if table is target or _key(table, database, schema) in self._keys:
                _requalify(table, bare=database is not None and schema is not None)
        return rewritten

    def record(self, expr: exp.Expr, database: str | None, schema: str | None) -> None:
        """After the statement `expr` (as written) succeeded: a qualified temporary object it created is known from
        now on; one it dropped is forgotten."""
        created = _created_temporary(expr)
        if created is not None and (key := _key(created, database, schema)) is not None:
            self._keys.add(key)
        elif isinstance(expr, exp.Drop) and self._keys:
            for table in expr.find_all(exp.Table):
                self._keys.discard(_key(table, database, schema) or ("", "", ""))
