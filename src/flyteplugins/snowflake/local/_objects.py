"""Statements the local Snowflake answers from its own warehouses and roles (`_access`), not from DuckDB.

`answer(...)` takes one statement before it reaches DuckDB: warehouse statements and `USE ROLE` are answered
here, `USE DATABASE` of a database the role may not use fails, a statement that needs a warehouse fails with
000606 when the session has none. (The context functions, `CURRENT_WAREHOUSE()` and the others, are answered
from the same session by `_fakesnow.with_context`.)
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from . import _explain
from . import _fakesnow as fs
from ._access import AccessError, Directory, does_not_exist, needs_warehouse, no_warehouse
from ._sessions import Session

_NAME = r"(\"[^\"]+\"|[A-Za-z_][\w$]*)"
_CREATE = re.compile(
    rf"\s*CREATE\s+(OR\s+REPLACE\s+)?WAREHOUSE\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}(.*)$", re.IGNORECASE | re.DOTALL
)
_SIZE = re.compile(r"WAREHOUSE_SIZE\s*=\s*('?[\w-]+'?)", re.IGNORECASE)
_TYPE = re.compile(r"WAREHOUSE_TYPE\s*=\s*('?[\w-]+'?)", re.IGNORECASE)
_DROP = re.compile(rf"\s*DROP\s+WAREHOUSE\s+(IF\s+EXISTS\s+)?{_NAME}\s*;?\s*$", re.IGNORECASE)
_USE_WAREHOUSE = re.compile(rf"\s*USE\s+WAREHOUSE\s+{_NAME}\s*;?\s*$", re.IGNORECASE)
_USE_ROLE = re.compile(rf"\s*USE\s+ROLE\s+{_NAME}\s*;?\s*$", re.IGNORECASE)
_USE_DATABASE = re.compile(rf"\s*USE\s+(?:DATABASE\s+)?(?!SCHEMA\b|WAREHOUSE\b|ROLE\b){_NAME}", re.IGNORECASE)
_SHOW_WAREHOUSES = re.compile(r"\s*SHOW\s+WAREHOUSES(?:\s+LIKE\s+'([^']*)')?\s*;?\s*$", re.IGNORECASE)
_SHOW_DATABASES = re.compile(r"\s*SHOW\s+(?:TERSE\s+)?(DATABASES|SCHEMAS)\b", re.IGNORECASE)
_LIKELY = re.compile(
    r"EXPLAIN|WAREHOUSE|\bUSE\b|SHOW|\bFROM\b|INSERT|UPDATE|DELETE|MERGE|COPY",
    re.IGNORECASE,
)


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith('"') else name.upper()


def _message(text: str) -> fs.StatementResult:
    return fs.result_from_arrow(pa.table({"status": pa.array([text], pa.string())}))


class Objects:
    """Answers the statements about warehouses and roles of one local Snowflake."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def answer(self, session: Session, conn: Any, sql: str, params: Any) -> tuple[str, fs.StatementResult | None]:
        """(the SQL to run; or its answer when it is answered here).

        Raises AccessError for what the session may not do (no warehouse, an object it may not use).
        """
        if not _LIKELY.search(sql):
            return sql, None
        explained = _explain.match(sql)
        if explained is not None:
            return sql, _explain.explain(conn, *explained, params)
        for pattern, handler in self._handlers:
            match = pattern.match(sql)
            if match:
                return sql, handler(self, session, match)
        if session.warehouse is None and needs_warehouse(sql):
            raise no_warehouse()
        use = _USE_DATABASE.match(sql)
        if use and not self.directory.may_use_database(session.role, _unquote(use.group(1))):
            raise does_not_exist()
        return sql, None

    def filter_listing(self, session: Session, sql: str, result: fs.StatementResult) -> fs.StatementResult:
        """`SHOW DATABASES` / `SHOW SCHEMAS` list only what the session's role may use."""
        match = _SHOW_DATABASES.match(sql)
        if match is None or result.arrow is None:
            return result
        column = "name" if match.group(1).upper() == "DATABASES" else "database_name"
        table = result.arrow
        if column not in table.column_names:
            return result
        keep = [self.directory.may_use_database(session.role, name) for name in table.column(column).to_pylist()]
        if all(keep):
            return result
        kept = table.filter(pa.array(keep))
        return fs.StatementResult(
            result.rowtype, result.statement_type_id, kept.num_rows, kept.num_rows, arrow=kept,
            database=result.database, schema=result.schema,
        )  # fmt: skip

    # -- handlers ------------------------------------------------------------------------------------------------

    def _create(self, session: Session, match: re.Match[str]) -> fs.StatementResult:
        _, if_not_exists, name, rest = match.groups()
        size, kind = _SIZE.search(rest or ""), _TYPE.search(rest or "")
        try:
            made = self.directory.add_warehouse(
                _unquote(name),
                size.group(1) if size else "X-Small",
                kind.group(1) if kind else "STANDARD",
                replace=not if_not_exists,
            )
        except ValueError as exc:
            raise AccessError(1008, "22023", f"SQL compilation error:\ninvalid property value: {exc}") from None
        if made and self.directory.usable_warehouse(session.role, _unquote(name)):
            session.warehouse = _unquote(name)  # Snowflake: a new warehouse becomes the session's current one
        if not made:
            return _message(f"{_unquote(name)} already exists, statement succeeded.")
        return _message(f"Warehouse {_unquote(name)} successfully created.")

    def _drop(self, session: Session, match: re.Match[str]) -> fs.StatementResult:
        if_exists, name = match.groups()
        if not self.directory.drop_warehouse(_unquote(name)) and not if_exists:
            raise AccessError(
                2003, "02000", f"SQL compilation error:\nWarehouse '{_unquote(name)}' does not exist or not authorized."
            )
        return _message(f"{_unquote(name)} successfully dropped.")

    def _use_warehouse(self, session: Session, match: re.Match[str]) -> fs.StatementResult:
        name = self.directory.usable_warehouse(session.role, _unquote(match.group(1)))
        if name is None:
            raise does_not_exist()
        session.warehouse = name
        return _message("Statement executed successfully.")

    def _use_role(self, session: Session, match: re.Match[str]) -> fs.StatementResult:
        role = _unquote(match.group(1))
        if not session.may_assume(role):
            raise AccessError(
                3013,
                "42501",
                f"SQL access control error:\nRequested role '{role}' is not assigned to the executing user. "
                "Specify another role to activate.",
            )
        session.role = role
        if self.directory.usable_warehouse(role, session.warehouse) is None:
            session.warehouse = None
        return _message("Statement executed successfully.")

    def _show_warehouses(self, session: Session, match: re.Match[str]) -> fs.StatementResult:
        pattern = match.group(1)
        warehouses = [
            w for w in self.directory.visible_warehouses(session.role) if pattern is None or _like(w.name, pattern)
        ]
        table = pa.table(
            {
                "name": pa.array([w.name for w in warehouses], pa.string()),
                "state": pa.array(["STARTED"] * len(warehouses), pa.string()),
                "type": pa.array([w.type for w in warehouses], pa.string()),
                "size": pa.array([w.size for w in warehouses], pa.string()),
                "min_cluster_count": pa.array([1] * len(warehouses), pa.int64()),
                "max_cluster_count": pa.array([1] * len(warehouses), pa.int64()),
                "is_default": pa.array(["N"] * len(warehouses), pa.string()),
                "is_current": pa.array(["Y" if w.name == session.warehouse else "N" for w in warehouses], pa.string()),
                "auto_suspend": pa.array([600] * len(warehouses), pa.int64()),
                "auto_resume": pa.array(["true"] * len(warehouses), pa.string()),
                "owner": pa.array(["SYSADMIN"] * len(warehouses), pa.string()),
            }
        )
        return fs.result_from_arrow(table)

    _handlers: tuple[tuple[re.Pattern[str], Any], ...] = (
        (_CREATE, _create),
        (_DROP, _drop),
        (_USE_WAREHOUSE, _use_warehouse),
        (_USE_ROLE, _use_role),
        (_SHOW_WAREHOUSES, _show_warehouses),
    )


def _like(name: str, pattern: str) -> bool:
    """Snowflake's `LIKE '<pattern>'` of SHOW: case-insensitive, `%` and `_` wildcards, `\\` escapes."""
    regex = "".join(
        re.escape(token[1:]) if token.startswith("\\") else ".*" if token == "%" else "." if token == "_"
        else re.escape(token)
        for token in re.findall(r"\\.|.", pattern, re.DOTALL)
    )  # fmt: skip
    return re.fullmatch(regex, name, re.IGNORECASE | re.DOTALL) is not None
