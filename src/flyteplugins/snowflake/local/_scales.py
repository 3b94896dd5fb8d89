"""Declared TIMESTAMP and TIME types of table columns that DuckDB does not keep, and the SQL that cuts values to them.

Snowflake keeps as many fractional digits as a TIMESTAMP_NTZ/LTZ/TZ or TIME column declares (0-9, 9 by default)
and cuts a longer value, toward the earlier time (not rounding): `'...59.000000001'` in a TIMESTAMP_NTZ(0) column is
`...59`, and a time before 1970 goes to the earlier second too. DuckDB keeps microseconds for every declared
scale, and has one type for TIMESTAMP_LTZ and TIMESTAMP_TZ. A column declared with a scale, or as TIMESTAMP_LTZ, is
recorded here when its table is created or altered (`_fakesnow` reads the DDL): after each write to a table with
columns of 0-5 digits, `truncation_sql` cuts what the write left, in the write's transaction (6 digits need
nothing; see docs/local-snowflake.md for 7-9), and a query's result reports a plain column's declared type.

This module only keeps names and writes SQL text: `_fakesnow` parses statements and runs the SQL.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable

#: A table's database, schema and name, as the catalog spells them (unquoted names in upper case).
TableKey = tuple[str, str, str]

#: DuckDB keeps microseconds: a column of this many fractional digits or more needs no cutting.
KEPT_DIGITS = 6


@dataclasses.dataclass(frozen=True)
class ScaledColumn:
    """A TIMESTAMP or TIME column (or expression) whose values Snowflake keeps with `scale` fractional digits."""

    name: str  # as the catalog spells it ("" for an expression)
    scale: int
    time_of_day: bool = False  # TIME rather than TIMESTAMP_*
    local: bool = False  # TIMESTAMP_LTZ (DuckDB's TIMESTAMPTZ stands for both it and TIMESTAMP_TZ)

    @property
    def cut(self) -> bool:
        """Whether DuckDB keeps more digits than the scale."""
        return self.scale < KEPT_DIGITS


class ScaleRegistry:
    """The declared scales and TIMESTAMP_LTZ types of every table's columns, kept in step with CREATE / ALTER /
    DROP. Only columns that are not a default TIMESTAMP_NTZ/TZ or TIME (scale 9) have an entry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[TableKey, dict[str, ScaledColumn]] = {}

    def columns(self, key: TableKey) -> tuple[ScaledColumn, ...]:
        """The table's recorded columns (none for most tables: one dict look-up)."""
        if not self._tables:
            return ()
        with self._lock:
            return tuple(self._tables.get(key, {}).values())

    def column(self, key: TableKey, name: str) -> ScaledColumn | None:
        if not self._tables:
            return None
        with self._lock:
            return self._tables.get(key, {}).get(name)

    def cut_columns(self, key: TableKey) -> tuple[ScaledColumn, ...]:
        """The table's columns to cut after a write."""
        return tuple(column for column in self.columns(key) if column.cut)

    def define(self, key: TableKey, columns: Iterable[ScaledColumn]) -> None:
        """A table (re)created with these columns of declared scale (none: the table has no entry)."""
        kept = {column.name: column for column in columns}
        with self._lock:
            if kept:
                self._tables[key] = kept
            else:
                self._tables.pop(key, None)

    def copy(self, source: TableKey, target: TableKey) -> None:
        """A table made from another one's definition (CLONE, LIKE)."""
        self.define(target, self.columns(source))

    def forget(self, key: TableKey) -> None:
        with self._lock:
            self._tables.pop(key, None)

    def rename(self, old: TableKey, new: TableKey) -> None:
        with self._lock:
            columns = self._tables.pop(old, None)
            self._tables.pop(new, None)
            if columns:
                self._tables[new] = columns

    def forget_within(self, database: str, schema: str | None = None) -> None:
        """A database, or one schema of it, dropped with its tables."""
        with self._lock:
            for key in [k for k in self._tables if k[0] == database and schema in (None, k[1])]:
                del self._tables[key]

    def set_column(self, key: TableKey, name: str, column: ScaledColumn | None) -> None:
        """A column added, retyped (`column`, None when its scale needs no cutting) or dropped (None)."""
        with self._lock:
            columns = dict(self._tables.get(key, {}))
            columns.pop(name, None)
            if column is not None:
                columns[name] = column
            if columns:
                self._tables[key] = columns
            else:
                self._tables.pop(key, None)

    def rename_column(self, key: TableKey, old: str, new: str) -> None:
        with self._lock:
            columns = self._tables.get(key)
            if columns is None or old not in columns:
                return
            moved = dataclasses.replace(columns.pop(old), name=new)
            columns[new] = moved


def quoted(name: str) -> str:
    """A DuckDB identifier for a name as the catalog spells it."""
    return '"' + name.replace('"', '""') + '"'


def cut_sql(value_sql: str, scale: int, time_of_day: bool = False) -> str:
    """DuckDB SQL for `value_sql` (a TIMESTAMP, TIMESTAMPTZ or TIME) cut to `scale` fractional digits, toward the
    earlier time. `value_sql` appears once, so a bind placeholder in it stays one."""
    step = f"to_microseconds({10 ** (KEPT_DIGITS - scale)})"
    if time_of_day:
        return f"CAST(time_bucket({step}, DATE '2000-01-01' + {value_sql}) AS TIME)"
    return f"time_bucket({step}, {value_sql})"


def truncation_sql(table_sql: str, columns: Iterable[ScaledColumn]) -> str:
    """An UPDATE that cuts every value of the columns to its declared scale (rows already cut are left alone)."""
    cuts = [(quoted(c.name), cut_sql(quoted(c.name), c.scale, c.time_of_day)) for c in columns]
    assignments = ", ".join(f"{name} = {cut}" for name, cut in cuts)
    changed = " OR ".join(f"{name} <> {cut}" for name, cut in cuts)
    return f"UPDATE {table_sql} SET {assignments} WHERE {changed}"
