"""The one module that touches fakesnow (and sqlglot, which comes with it): a fakesnow upgrade is a change here only.

fakesnow 0.12.1 turns Snowflake SQL into DuckDB SQL and runs it; we reuse that and nothing of its HTTP server.
What we take from it and why we wrap it:

* `FakeSnow` / `FakeSnowflakeConnection` / its cursor: the SQL translation. Its cursor stores every result in a
  `results_cache` dict forever (memory grows without bound), so we hand it a cache that keeps nothing and keep
  results ourselves, bounded (see `_engine.ResultStore`).
* its `from_binding` turns a Decimal bind into an HTTP 500 (`int("1.5")`), leaves REAL binds as strings and makes
  TIMESTAMP_NTZ binds time-zone aware: `binding_value` below replaces it.
* its arrow conversion (`fakesnow.arrow.to_sf`) builds timestamp structs without a validity bitmap, so a NULL
  TIMESTAMP reaches the driver as epoch 0 (1970-01-01): `to_snowflake_arrow` below sets the bitmap.
* its type table (`fakesnow.rowtype.duckdb_to_sf_type`) lacks small ints and FLOAT: we widen those first.
* statement splitting, placeholder numbering and the statements we answer ourselves (SYSTEM$CANCEL_QUERY,
  RESULT_SCAN, the QUERY_HISTORY table functions) are recognised with sqlglot here; statements about session
  parameters (ALTER SESSION, SHOW PARAMETERS) by `_parameters`.
* a session's TIMEZONE is its DuckDB connection's TimeZone (DuckDB then casts between TIMESTAMP and
  TIMESTAMPTZ as Snowflake between NTZ and LTZ/TZ), and a TIMESTAMP_TZ value carries that zone's offset.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import decimal
import functools
import itertools
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from fakesnow import info_schema as fs_info_schema
from fakesnow import statement_type
from fakesnow import transforms as fs_transforms
from fakesnow.conn import FakeSnowflakeConnection
from fakesnow.cursor import FakeSnowflakeCursor
from fakesnow.instance import FakeSnow
from fakesnow.rowtype import describe_as_rowtype
from fakesnow.transforms import show as fs_show
from fakesnow.transforms import transforms as fs_transforms_module
from sqlglot import TokenType, exp

import snowflake.connector.errors as sf_errors

from . import _parameters, _scales, _semistructured, _vectors
from . import _temporary_catalog as _temporary_catalog_module
from . import _text_input as text_input
from ._creation_times import CreationTimes
from ._temporary_catalog import TemporaryCatalog
from ._temporary_names import TemporaryNames

SERVER_VERSION: str = fs_transforms.SERVER_VERSION
SnowflakeError = sf_errors.Error
ProgrammingError = sf_errors.ProgrammingError

_EPOCH = dt.datetime(1970, 1, 1)  # naive on purpose: TIMESTAMP_NTZ binds are naive
_EPOCH_DATE = dt.date(1970, 1, 1)
_INT_RE = re.compile(r"^[+-]?\d+$")
# fakesnow knows BIGINT, INTEGER, DOUBLE...; DuckDB also produces these, which Snowflake reports as FIXED / REAL.
_WIDER_TYPES = {
    "TINYINT": "INTEGER",
    "SMALLINT": "INTEGER",
    "UTINYINT": "INTEGER",
    "USMALLINT": "INTEGER",
    "UINTEGER": "BIGINT",
    "FLOAT": "DOUBLE",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP",
    "UUID": "VARCHAR",
}
# sqlglot loads a dialect on first use and registers its class before it has finished building it: a thread that
# asks for the dialect meanwhile gets a half-built one (DuckDB's then writes a bind as `:1`, which DuckDB refuses).
# Queries run in many threads at once, so both dialects are loaded here, once, at import.
sqlglot.Dialect.get_or_raise("snowflake")
sqlglot.Dialect.get_or_raise("duckdb")

#: the schema every database has from its creation, as in Snowflake
PUBLIC_SCHEMA = "PUBLIC"
# statements that may be the driver's stage binding: CREATE TEMPORARY STAGE, PUT
_STAGE_COMMAND = re.compile(r"\s*(?:put|create)\s", re.IGNORECASE)
HISTORY_FUNCTIONS = frozenset(
    {"QUERY_HISTORY", "QUERY_HISTORY_BY_SESSION", "QUERY_HISTORY_BY_USER", "QUERY_HISTORY_BY_WAREHOUSE"}
)


class _NoResultsCache(dict[str, tuple[Any, ...]]):
    """fakesnow's cursor writes every result here; we keep results ourselves, bounded."""

    def __setitem__(self, key: str, value: tuple[Any, ...]) -> None:
        return None


# ---------------------------------------------------------------------------------------------------------------
# Connections


class PythonGate:
    """At most `slots` query threads run Python at once; a DuckDB call gives its thread's slot up while it runs.

    Python runs one thread at a time (the GIL), and a thread waiting for it gets it only after others' turns: 64
    query threads starting at once (sqlglot, fakesnow, Arrow conversion) kept the event loop's thread, which
    answers every HTTP request, waiting 100-300 ms. Behind this gate they wait on a semaphore instead, so the
    event loop competes with `slots` of them. DuckDB releases the GIL, so its calls (the statements themselves,
    however long) do not hold a slot and stay concurrent.
    """

    def __init__(self, slots: int = 1) -> None:
        self._slots = threading.Semaphore(slots)
        self._local = threading.local()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for this thread's Python (reentrant: an inner `held` of the same thread is a no-op)."""
        if getattr(self._local, "held", False):
            yield
            return
        self._slots.acquire()
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            self._slots.release()

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Give this thread's slot (if it holds one) to another thread for a call that releases the GIL."""
        if not getattr(self._local, "held", False):
            yield
            return
        self._local.held = False
        self._slots.release()
        try:
            yield
        finally:
            self._slots.acquire()
            self._local.held = True


class _GatedDuckDB:
    """A DuckDB connection whose calls that run SQL or fetch rows give up the thread's `PythonGate` slot."""

    def __init__(self, duck: duckdb.DuckDBPyConnection, gate: PythonGate) -> None:
        self._duck = duck
        self.gate = gate
        self._calls: list[tuple[Any, Any]] | None = None

    def execute(self, sql: Any, parameters: Any = None, *args: Any, **kwargs: Any) -> Any:
        if self._calls is not None:
            self._calls.append((sql, parameters))
        with self.gate.released():
            return self._duck.execute(sql, parameters, *args, **kwargs)

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[Any, Any]]]:
        """The (sql, parameters) of every `execute` on this connection inside the block."""
        self._calls = []
        try:
            yield self._calls
        finally:
            self._calls = None

    def fetchall(self) -> Any:
        with self.gate.released():
            return self._duck.fetchall()

    def fetchone(self) -> Any:
        with self.gate.released():
            return self._duck.fetchone()

    def to_arrow_table(self) -> Any:
        with self.gate.released():
            return self._duck.to_arrow_table()

    def __getattr__(self, name: str) -> Any:  # interrupt, cursor, close, begin, commit, description...
        return getattr(self._duck, name)


def _gated(duck: duckdb.DuckDBPyConnection, gate: PythonGate) -> duckdb.DuckDBPyConnection:
    return cast(duckdb.DuckDBPyConnection, _GatedDuckDB(duck, gate))


def _python_slot(conn: FakeSnowflakeConnection) -> contextlib.AbstractContextManager[None]:
    """The connection's gate slot, held for a statement's Python (none for a connection we did not make)."""
    duck: Any = conn._duck_conn
    return duck.gate.held() if isinstance(duck, _GatedDuckDB) else contextlib.nullcontext()


class Database:
    """The shared in-memory DuckDB database, with a fakesnow connection per session or per query."""

    def __init__(self, python_slots: int = 1) -> None:
        # As in Snowflake, a login naming a database or schema that does not exist creates nothing (fakesnow's
        # default creates both): the session then has no current database or schema.
        self._fs = FakeSnow(create_database_on_connect=False, create_schema_on_connect=False)
        self._fs.results_cache = _NoResultsCache()
        self._fs.duck_conn.execute(_semistructured.FLATTEN_MACRO_SQL)
        self._fs.duck_conn.execute(_TEMPORARY_VIEWS_SQL)
        self._connect_lock = threading.Lock()
        self.gate = PythonGate(python_slots)
        self.scales = _scales.ScaleRegistry()
        self.creation_times = CreationTimes()

    def connect(self, database: str | None, schema: str | None, autocommit: bool = True) -> FakeSnowflakeConnection:
        """A session's connection (its own DuckDB cursor, so sessions never see each other's rows). Its current
        database and schema are the ones named that exist; a name that does not exist leaves it unset (None)."""
        with self._connect_lock:
            conn = self._fs.connect(database, schema, autocommit=autocommit)
        if not conn.database_set:
            conn.database = None
        if not conn.schema_set:
            conn._schema = None
        conn._duck_conn = _gated(conn._duck_conn, self.gate)
        conn.scales = self.scales  # type: ignore[attr-defined]
        conn.creation_times = self.creation_times  # type: ignore[attr-defined]
        return conn

    def create(self, database: str, schema: str) -> None:
        """Create a database (with its PUBLIC schema) and a schema in it, each unless it exists: what a server
        starts with, for its first logins."""
        conn = self.connect(None, None)
        try:
            cur = conn.cursor()
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
            for name in {PUBLIC_SCHEMA, schema}:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{name}")
        finally:
            conn.close()

    def fork(self, conn: FakeSnowflakeConnection, time_zone: str) -> FakeSnowflakeConnection:
        """A connection for one asynchronous query: the session's database, schema and variables, its own cursor.

        Async queries run concurrently, so they cannot share the session's DuckDB cursor. Temporary tables and an
        open transaction of the session are therefore not visible here: the engine runs a statement that names one
        of the session's temporary tables on the session's connection instead.
        """
        with self.gate.held():
            forked = FakeSnowflakeConnection(
                _gated(self._fs.duck_conn.cursor(), self.gate),
                self._fs.results_cache,
                None,  # no names: fakesnow would look each up in information_schema (~1 ms per query)
                None,
                create_database=False,
                create_schema=False,
            )
            # The session's own names and what fakesnow found of them at its login, set as fakesnow sets them.
            forked.database, forked._schema = conn.database, conn._schema
            forked.database_set, forked.schema_set = conn.database_set, conn.schema_set
            zone = f"SET TimeZone = '{time_zone}'"  # a name `_parameters` checked
            if conn.database_set:
                schema = conn._schema if conn.schema_set else "main"
                try:
                    forked._duck_conn.execute(f"SET schema='{conn.database}.{schema}'; {zone}")
                except duckdb.Error:  # dropped since the login: as fakesnow, leave the names unset
                    forked.database_set = forked.schema_set = False
            if not conn.database_set or not forked.database_set:
                forked._duck_conn.execute(zone)
            forked.time_zone = time_zone  # type: ignore[attr-defined]
        forked.variables = conn.variables
        forked.is_fork = True  # type: ignore[attr-defined]
        forked.scales = self.scales  # type: ignore[attr-defined]
        forked.creation_times = self.creation_times  # type: ignore[attr-defined]
        return forked

    def close(self) -> None:
        self._fs.duck_conn.close()


def apply_session(
    conn: FakeSnowflakeConnection,
    time_zone: str,
    autocommit: bool | None,
    json_indent: int = _semistructured.DEFAULT_INDENT,
) -> None:
    """Bring a connection in line with its session's parameters (a statement may have changed them since)."""
    conn.json_indent = json_indent  # type: ignore[attr-defined]
    if getattr(conn, "time_zone", None) != time_zone:
        conn._duck_conn.execute(f"SET TimeZone = '{time_zone}'")  # a name `_parameters` checked
        conn.time_zone = time_zone  # type: ignore[attr-defined]
    if autocommit is not None and conn._autocommit != autocommit:
        # Snowflake commits the open transaction when AUTOCOMMIT changes, either way (fakesnow only when it
        # was off, so a BEGIN's transaction would stay open across the switch)
        commit_open_transaction(conn)
        conn._autocommit = autocommit


def temporary_tables(conn: FakeSnowflakeConnection) -> frozenset[str]:
    """The names (upper case) of the temporary tables and views of a session's connection (DuckDB keeps them per
    connection, so no other connection sees them)."""
    rows = conn._duck_conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
    ).fetchall()
    return frozenset(str(name).upper() for (name,) in rows)


def interrupt(conn: FakeSnowflakeConnection) -> None:
    """Stop whatever DuckDB runs on this connection (a cancelled query ends at DuckDB's next check)."""
    conn._duck_conn.interrupt()


def close(conn: FakeSnowflakeConnection) -> None:
    conn.close()


def session_names(conn: FakeSnowflakeConnection) -> tuple[str | None, str | None]:
    return conn.database, conn.schema


# ---------------------------------------------------------------------------------------------------------------
# Bindings


def binding_value(sf_type: str, value: Any) -> Any:
    """One bound value as the driver sends it (type name + string) -> the Python value DuckDB binds."""
    if value is None:
        return None
    text = str(value)
    if sf_type == "FIXED":
        return int(text) if _INT_RE.match(text) else decimal.Decimal(text)
    if sf_type == "REAL":
        return float(text)
    if sf_type == "BOOLEAN":
        return text.lower() == "true"
    if sf_type == "BINARY":
        return bytes.fromhex(text)
    if sf_type == "DATE":
        return _EPOCH_DATE + dt.timedelta(milliseconds=int(text))
    if sf_type == "TIME":
        micros = int(text) // 1000
        return (dt.datetime.min + dt.timedelta(microseconds=micros)).time()
    if sf_type == "TIMESTAMP_NTZ":
        return _EPOCH + dt.timedelta(microseconds=int(text) // 1000)
    if sf_type == "TIMESTAMP_LTZ":
        return (_EPOCH + dt.timedelta(microseconds=int(text) // 1000)).replace(tzinfo=dt.timezone.utc)
    if sf_type == "TIMESTAMP_TZ":
        nanos, _, offset = text.partition(" ")
        utc = (_EPOCH + dt.timedelta(microseconds=int(nanos) // 1000)).replace(tzinfo=dt.timezone.utc)
        if not offset:
            return utc
        return utc.astimezone(dt.timezone(dt.timedelta(minutes=int(offset) - 1440)))
    return text


def bindings_to_params(
    bindings: dict[str, dict[str, Any]] | None,
) -> tuple[tuple[Any, ...] | dict[str, Any] | None, list[tuple[Any, ...]] | None]:
    """The request's `bindings` -> (params, None) for one statement or (None, rows) for an array binding."""
    if not bindings:
        return None, None
    if not all(k.isdigit() for k in bindings):
        return {name: binding_value(b["type"], b["value"]) for name, b in bindings.items()}, None
    ordered = [bindings[str(pos)] for pos in range(1, len(bindings) + 1)]
    if any(isinstance(b["value"], list) for b in ordered):
        columns = [[binding_value(b["type"], v) for v in b["value"]] for b in ordered]
        return None, list(zip(*columns, strict=True))
    return tuple(binding_value(b["type"], b["value"]) for b in ordered), None


# ---------------------------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True)
class StatementResult:
    """What one statement produced, ready for the wire: an Arrow table in Snowflake's encoding for queries (sent
    as Arrow IPC streams, in chunks), a JSON rowset for DML."""

    rowtype: list[dict[str, Any]]
    statement_type_id: int
    total: int
    rows_produced: int
    arrow: pa.Table | None = None
    json_rowset: list[list[str | None]] | None = None
    database: str | None = None
    schema: str | None = None
    result_ids: tuple[str, ...] = ()
    #: The response's `stats` (the driver's `cursor.stats`): a DML statement's rows inserted, updated, deleted and
    #: duplicates; None for other statements (none sent: the driver's figures are then all None).
    stats: dict[str, int] | None = None
    #: A PUT's answer for the driver's file transfer (stage location, files...), sent in the response's data.
    transfer: dict[str, Any] | None = None

    @property
    def nbytes(self) -> int:
        if self.json_rowset is not None:
            return sum(len(v or "") for row in self.json_rowset for v in row)
        return self.arrow.nbytes if self.arrow is not None else 0

    def ipc(self, offset: int = 0, rows: int | None = None) -> bytes:
        """Rows `offset`..`offset + rows` (all by default) as one Arrow IPC stream; b"" when there are none."""
        if self.arrow is None:
            return b""
        part = self.arrow.slice(offset, rows)
        if part.num_rows == 0:
            return b""
        sink = pa.BufferOutputStream()
        _write_ipc(sink, part)
        return bytes(sink.getvalue().to_pybytes())

    def ipc_size(self, offset: int, rows: int) -> int:
        """The size `ipc(offset, rows)` will have, counted without building it."""
        if self.arrow is None:
            return 0
        part = self.arrow.slice(offset, rows)
        if part.num_rows == 0:
            return 0
        sink = pa.MockOutputStream()
        _write_ipc(sink, part)
        return int(sink.size())


def _write_ipc(sink: Any, table: pa.Table) -> None:
    # one record batch per stream: the driver turns each stream into one table (fetch_arrow_batches)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(table.num_rows, 1))


def _rowtype(describe_rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    rows = [(name, _WIDER_TYPES.get(str(typ), str(typ)), *rest) for name, typ, *rest in describe_rows]
    # DuckDB knows a table column declared NOT NULL (its DESCRIBE says "NO"); fakesnow calls every column nullable
    nullable = [str(row[2]).upper() != "NO" for row in describe_rows]
    vectors = [_vectors.column_info(str(row[0]), row[1], null) for row, null in zip(rows, nullable, strict=True)]
    try:
        infos = iter(describe_as_rowtype([row for row, vector in zip(rows, vectors, strict=True) if vector is None]))
    except NotImplementedError as exc:
        raise ProgrammingError(
            msg=f"SQL compilation error: unsupported result type {exc}", errno=2040, sqlstate="0A000"
        ) from None
    return [vector or {**next(infos), "nullable": null} for vector, null in zip(vectors, nullable, strict=True)]


def rowtype_for_arrow(schema: pa.Schema) -> list[dict[str, Any]]:
    """A Snowflake rowtype for tables we build ourselves (history, cancel answers)."""
    describe: list[tuple[Any, ...]] = []
    for field in schema:
        t = field.type
        if pa.types.is_timestamp(t):
            name = "TIMESTAMP WITH TIME ZONE" if t.tz else "TIMESTAMP"
        elif pa.types.is_integer(t):
            name = "BIGINT"
        elif pa.types.is_floating(t):
            name = "DOUBLE"
        elif pa.types.is_boolean(t):
            name = "BOOLEAN"
        else:
            name = "VARCHAR"
        describe.append((field.name, name, "YES", None, None, None))
    return _rowtype(describe)


def _timestamp_struct(col: pa.Array, with_tz: bool) -> pa.Array:
    # Snowflake sends timestamps as {epoch seconds, fraction ns[, tz offset + 1440]}. The struct must carry the
    # column's validity, or a NULL arrives as 1970-01-01 (the fakesnow bug this replaces).
    micros = pc.fill_null(col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64()), 0)
    # Integer arithmetic only (float64 loses microseconds past ~2255). Arrow's integer division truncates toward
    # zero; Snowflake wants the floor: a time before 1970 has a negative epoch and a positive fraction.
    # (Intermediates are dropped as soon as they are used: a column of millions of rows makes each one large.)
    truncated = pc.divide(micros, 1_000_000)
    remainder = pc.subtract(micros, pc.multiply(truncated, 1_000_000))
    del micros
    negative = pc.less(remainder, 0)
    epoch = pc.if_else(negative, pc.subtract(truncated, 1), truncated)
    del truncated
    fraction = pc.multiply(pc.if_else(negative, pc.add(remainder, 1_000_000), remainder), 1000).cast(pa.int32())
    del remainder, negative
    arrays = [epoch, fraction]
    fields = [pa.field("epoch", pa.int64(), nullable=False), pa.field("fraction", pa.int32(), nullable=False)]
    if with_tz:
        arrays.append(_offsets(col))
        fields.append(pa.field("timezone", pa.int32(), nullable=False))
    mask = pc.is_null(col) if col.null_count else None
    return pa.StructArray.from_arrays(arrays, fields=fields, mask=mask)


def _scaled_timestamp(col: pa.Array, sf_type: str, scale: int) -> pa.Array:
    """A TIMESTAMP of scale 0-6 as Snowflake sends it: NTZ and LTZ as int64 units of the scale since 1970, TZ as
    {epoch in those units, tz offset + 1440} (field metadata byteLength 8). The driver reads a smaller scale so."""
    units = _in_units(col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64()), scale)
    if sf_type != "timestamp_tz":
        return units
    fields = [pa.field("epoch", pa.int64(), nullable=False), pa.field("timezone", pa.int32(), nullable=False)]
    mask = pc.is_null(col) if col.null_count else None
    return pa.StructArray.from_arrays([pc.fill_null(units, 0), _offsets(col)], fields=fields, mask=mask)


def _in_units(micros: pa.Array, scale: int) -> pa.Array:
    """Microseconds -> units of 10**-scale seconds, toward the earlier time for a scale below 6."""
    if scale >= _scales.KEPT_DIGITS:
        return pc.multiply(micros, 10 ** (scale - _scales.KEPT_DIGITS))
    step = 10 ** (_scales.KEPT_DIGITS - scale)
    truncated = pc.divide(micros, step)  # toward zero: one less for a negative remainder
    negative = pc.less(pc.subtract(micros, pc.multiply(truncated, step)), 0)
    return pc.if_else(negative, pc.subtract(truncated, 1), truncated)


def _offsets(col: pa.Array) -> pa.Array:
    """Each value's UTC offset in its column's time zone (DuckDB's session TimeZone), in minutes + 1440."""
    zone = col.type.tz
    if zone in (None, "UTC", "Etc/UTC", "+00:00"):
        return pa.repeat(pa.scalar(1440, pa.int32()), len(col))
    utc = pc.fill_null(col.cast(pa.timestamp("us", tz=zone)).cast(pa.int64()), 0)
    local = pc.fill_null(pc.local_timestamp(col.cast(pa.timestamp("us", tz=zone))).cast(pa.int64()), 0)
    return pc.add(pc.divide(pc.subtract(local, utc), 60_000_000), 1440).cast(pa.int32())


def _narrowed(col: pa.Array) -> pa.Array:
    """A NUMBER(p, 0) column as Snowflake sends it: int64 when every value fits (the driver makes Python ints and
    pandas int64 of it), else the 128-bit decimal."""
    try:
        return col.cast(pa.int64())  # a safe cast: a value out of range raises
    except pa.ArrowInvalid:
        return col


def _scaled(col: pa.Array) -> pa.Array:
    """A NUMBER(p, s > 0) column as Snowflake sends it: the unscaled values as int64 (1.25 in NUMBER(10,2) is 125,
    the scale in the field's metadata) when every one fits, as they always do up to 18 digits; else the 128-bit
    decimal. Snowflake picks the narrowest integer per chunk; the driver makes Decimal objects of both in rows,
    and float64 of the integers in Arrow and pandas unless `arrow_number_to_decimal=True`."""
    # a decimal128 holds its unscaled value as a 128-bit integer: the same buffers read with scale 0
    unscaled = pa.Array.from_buffers(
        pa.decimal128(38, 0), len(col), col.buffers(), null_count=col.null_count, offset=col.offset
    )
    try:
        return unscaled.cast(pa.int64())  # a safe cast: a value out of range raises
    except pa.ArrowInvalid:
        return col


def _sf_column(col: pa.Array, sf_type: str, json_indent: int, scale: int | None = None) -> pa.Array:
    if sf_type == "vector":
        return _vectors.arrow_column(col)
    t = col.type
    if sf_type in _VARIANT_TYPES and (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return _semistructured.variant_text(col, json_indent)
    if pa.types.is_timestamp(t) and scale is not None and scale <= _scales.KEPT_DIGITS:
        return _scaled_timestamp(col, sf_type, scale)
    if pa.types.is_timestamp(t):
        return _timestamp_struct(col, with_tz=sf_type == "timestamp_tz")
    if pa.types.is_time(t):  # units of the scale since midnight
        return _in_units(col.cast(pa.time64("us")).cast(pa.int64()), 9 if scale is None else scale)
    if pa.types.is_null(t):
        return col.cast(pa.string())
    if pa.types.is_decimal(t) and t.scale == 0:
        return _narrowed(col)
    if pa.types.is_decimal(t):
        return _scaled(col)
    if pa.types.is_unsigned_integer(t) or (pa.types.is_integer(t) and t != pa.int64() and sf_type == "fixed"):
        return col.cast(pa.int64())
    if pa.types.is_floating(t) and t != pa.float64():
        return col.cast(pa.float64())
    if sf_type == "text" and not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return col.cast(pa.string())
    return col


_VARIANT_TYPES = frozenset({"variant", "object", "array"})


def to_snowflake_arrow(
    table: pa.Table, rowtype: list[dict[str, Any]], json_indent: int = _semistructured.DEFAULT_INDENT
) -> pa.Table | None:
    """A DuckDB Arrow table -> the table in the encoding the driver decodes (field metadata from the rowtype), one
    chunk per column so that any slice of it is one record batch; VARIANT text indented by the session's
    JSON_INDENT. None when there are no rows."""
    if table.num_rows == 0:
        return None
    arrays = [
        _sf_column(c.combine_chunks(), r["type"], json_indent, r["scale"])
        for c, r in zip(table.columns, rowtype, strict=True)
    ]
    fields = [
        pa.field(f.name, a.type).with_metadata(
            {
                "logicalType": r["type"].upper(),
                "precision": str(r["precision"] or 38),
                "scale": str(r["scale"] or 0),
                "charLength": str(r["length"] or 0),
                **({"byteLength": "8"} if pa.types.is_struct(a.type) and a.type.num_fields == 2 else {}),
            }
        )
        for f, a, r in zip(table.schema, arrays, rowtype, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def json_rowset(result: StatementResult, offset: int = 0, rows: int | None = None) -> list[list[str | None]]:
    """Rows `offset`..`offset + rows` of the result as Snowflake's JSON result format sends them (every value a
    string, or null), for a session whose QUERY_RESULT_FORMAT / PYTHON_CONNECTOR_QUERY_RESULT_FORMAT is JSON."""
    if result.arrow is None:
        return []
    part = result.arrow.slice(offset, rows)
    columns = [
        _json_values(column.combine_chunks(), info) for column, info in zip(part.columns, result.rowtype, strict=True)
    ]
    return [list(row) for row in zip(*columns, strict=True)]


def _json_values(col: pa.Array, info: dict[str, Any]) -> list[str | None]:
    sf_type = info["type"]
    if sf_type == "vector":
        return [None if v is None else _vectors.json_text(v, info) for v in col.to_pylist()]
    if sf_type.startswith("timestamp"):
        return [None if v is None else _json_timestamp(v, info["scale"] or 0) for v in col.to_pylist()]
    if sf_type == "time":  # units of the scale
        scale = info["scale"] or 0
        return [None if v is None else _json_seconds(v * 10 ** (9 - scale), scale) for v in col.to_pylist()]
    if sf_type == "fixed" and info["scale"] and pa.types.is_integer(col.type):  # scaled integers (`_scaled`)
        scale = -int(info["scale"])
        return [None if v is None else str(decimal.Decimal(v).scaleb(scale)) for v in col.to_pylist()]
    if sf_type == "date":
        col = col.cast(pa.int32())
    elif sf_type == "boolean":
        return [None if v is None else ("1" if v else "0") for v in col.to_pylist()]
    elif sf_type == "binary":
        return [None if v is None else bytes(v).hex().upper() for v in col.to_pylist()]
    return [None if v is None else str(v) for v in col.to_pylist()]


def _json_seconds(nanos: int, scale: int) -> str:
    sign, whole = ("-" if nanos < 0 else ""), abs(nanos)
    seconds, fraction = divmod(whole, 1_000_000_000)
    if scale <= 0:
        return f"{sign}{seconds}"
    return f"{sign}{seconds}.{fraction // 10 ** (9 - scale):0{scale}d}"


def _json_timestamp(value: int | dict[str, int], scale: int) -> str:
    """A value of `_timestamp_struct` (epoch seconds and nanoseconds) or of `_scaled_timestamp` (units)."""
    if isinstance(value, int):
        return _json_seconds(value * 10 ** (9 - scale), scale)
    if "fraction" in value:
        text = _json_seconds(value["epoch"] * 1_000_000_000 + value["fraction"], scale)
    else:
        text = _json_seconds(value["epoch"] * 10 ** (9 - scale), scale)
    return f"{text} {value['timezone']}" if "timezone" in value else text


def result_from_arrow(table: pa.Table, rowtype: list[dict[str, Any]] | None = None) -> StatementResult:
    """A result for a table we built ourselves (answers to SYSTEM$CANCEL_QUERY, history, multi-statement)."""
    rowtype = rowtype or rowtype_for_arrow(table.schema)
    return StatementResult(
        rowtype=rowtype,
        statement_type_id=statement_type.SELECT,
        total=table.num_rows,
        rows_produced=table.num_rows,
        arrow=to_snowflake_arrow(table, rowtype),
    )


# ---------------------------------------------------------------------------------------------------------------
# Running statements


def _translate_duckdb_error(exc: duckdb.Error) -> SnowflakeError:
    message = str(exc).split("\n")[0]
    if isinstance(exc, duckdb.InterruptException):
        return ProgrammingError(msg="SQL execution canceled", errno=604, sqlstate="57014")
    if isinstance(exc, (duckdb.ConversionException, duckdb.OutOfRangeException)):
        return ProgrammingError(msg=message, errno=100038, sqlstate="22018")
    if isinstance(exc, duckdb.ConstraintException):
        if "NOT NULL constraint failed" in message:
            message = "NULL result in a non-nullable column"
        return ProgrammingError(msg=message, errno=100072, sqlstate="22000")
    return ProgrammingError(msg=message, errno=100090, sqlstate="22000")


# DuckDB's words for a missing object, function or column -> Snowflake's error (first line of DuckDB's message).
_MISSING_OBJECT = re.compile(r'Catalog Error: (?:Table|View|Sequence) with name "?([^" !]+)"?')
_MISSING_FUNCTION = re.compile(r"Catalog Error: (Scalar|Table|Aggregate|Macro) Function with name \"?([^\" !]+)\"?")
_DROP = re.compile(r"\s*DROP\s+(TABLE|VIEW|SEQUENCE)\b", re.IGNORECASE)
_MISSING_COLUMN = re.compile(r'Binder Error: Referenced column "([^"]+)" not found')


def snowflake_error(exc: SnowflakeError, sql: str) -> SnowflakeError:
    """fakesnow's error for `sql` in Snowflake's words where fakesnow passes DuckDB's through: a missing object
    (002003), an unknown function or procedure (002140), an unknown column (000904). Others as they are."""
    message = str(exc.raw_msg or "")
    if (refused := _vectors.refusal(message)) is not None:
        return refused
    if (found := _MISSING_OBJECT.match(message)) is not None:
        name = found.group(1).upper()
        dropped = _DROP.match(sql)  # DROP TABLE / VIEW names the kind: "Table 'T' does not exist..."
        kind = dropped.group(1).capitalize() if dropped else "Object"
        message = f"SQL compilation error:\n{kind} '{name}' does not exist or not authorized."
        return ProgrammingError(msg=message, errno=2003, sqlstate="42S02")
    if (found := _MISSING_FUNCTION.match(message)) is not None:
        name = found.group(2).upper()
        called = sql.lstrip().upper().startswith("CALL")
        what = "Unknown user-defined function" if called else "Unknown function"
        return ProgrammingError(msg=f"SQL compilation error:\n{what} {name}.", errno=2140, sqlstate="42601")
    if (found := _MISSING_COLUMN.match(message)) is not None:
        name = found.group(1).upper()
        line, position = _position(sql, found.group(1))
        return ProgrammingError(
            msg=f"SQL compilation error: error line {line} at position {position}\ninvalid identifier '{name}'",
            errno=904,
            sqlstate="42000",
        )
    return exc


def _position(sql: str, word: str) -> tuple[int, int]:
    """Line (from 1) and position in it (from 0) of `word` in `sql`, as Snowflake's messages count; 1, 0 when
    it is not there as written."""
    at = sql.upper().find(word.upper())
    if at < 0:
        return 1, 0
    before = sql[:at]
    return before.count("\n") + 1, at - (before.rfind("\n") + 1)


def _syntax_error(sql: str, error: Exception) -> SnowflakeError:
    """A sqlglot parse or tokenizer error as Snowflake's 001003 `syntax error line L at position P unexpected 'T'.`"""
    if isinstance(error, sqlglot.errors.ParseError) and error.errors:
        first = error.errors[0]
        token = str(first.get("highlight") or "")
        line, column = int(first.get("line") or 1), int(first.get("col") or 0)
        position = max(0, column - len(token))
    else:  # a tokenizer error: an unterminated quote, most often
        at = _unterminated_quote(sql)
        token = sql[at] if at < len(sql) else "<EOF>"
        before = sql[:at]
        line, position = before.count("\n") + 1, at - (before.rfind("\n") + 1)
    return ProgrammingError(
        msg=f"SQL compilation error:\nsyntax error line {line} at position {position} unexpected '{token}'.",
        errno=1003,
        sqlstate="42000",
    )


def _unterminated_quote(sql: str) -> int:
    """Where an unterminated '...' or "..." starts (len(sql) when every quote is closed)."""
    quote, start = "", len(sql)
    for index, char in enumerate(sql):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote, start = char, index
    return start if quote else len(sql)


def parse_one(sql: str) -> exp.Expr:
    """sqlglot's parse of one Snowflake statement; a syntax error is Snowflake's 001003."""
    try:
        return sqlglot.parse_one(sql, read="snowflake")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
        raise _syntax_error(sql, error) from None


def parse(sql: str) -> list[exp.Expr | None]:
    """sqlglot's parse of several Snowflake statements; a syntax error is Snowflake's 001003."""
    try:
        return sqlglot.parse(sql, read="snowflake")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
        raise _syntax_error(sql, error) from None


#: the Snowflake error a DuckDB error stands for (public for statements answered outside `execute`)
translate_duckdb_error = _translate_duckdb_error


def execute(
    conn: FakeSnowflakeConnection,
    sql: str,
    params: tuple[Any, ...] | dict[str, Any] | None = None,
    batch: list[tuple[Any, ...]] | None = None,
    describe_only: bool = False,
) -> StatementResult:
    """Run one statement on a fakesnow connection. Raises snowflake.connector errors (errno, sqlstate, msg)."""
    try:
        with _python_slot(conn), _transaction_clock(conn):
            if batch is None:
                sql, params = inline_format_binds(sql, params)
            return _execute(conn, sql, params, batch, describe_only)
    except SnowflakeError as exc:
        raise snowflake_error(exc, sql) from None
    except duckdb.Error as exc:
        raise snowflake_error(_translate_duckdb_error(exc), sql) from None


def _execute(
    conn: FakeSnowflakeConnection,
    sql: str,
    params: tuple[Any, ...] | dict[str, Any] | None,
    batch: list[tuple[Any, ...]] | None,
    describe_only: bool,
) -> StatementResult:
    names = _temporary_names(conn)
    # a session with qualified temporary names reads the same text differently from others: no shared plans
    key = _plan_key(conn, sql) if batch is None and not describe_only and not names else None
    plan = PLANS.get(key) if key is not None else None
    if plan is not None:
        return _run_plan(conn, plan, params)
    expr = written = parse_one(sql)
    if isinstance(expr, exp.Use) and expr.args.get("kind") is None:
        sql = _use_with_kind(expr)
    context = (conn.database, conn.schema)
    if (rewritten := names.rewrite(expr, *context)) is not None:
        expr, sql = rewritten, rewritten.sql(dialect="snowflake")
    query = isinstance(expr, (exp.Select, exp.SetOperation))
    if _is_ddl(expr):
        commit_open_transaction(conn)
    try:
        result = _execute_parsed(conn, sql, expr, key, params, batch, describe_only)
        names.record(written, *context)
        if (times := _creation_times(conn)) is not None:
            times.record(written, *context)
        _temporary_catalog(conn).record(written, *context)
        return result
    finally:
        if not query:
            CATALOG.changed()  # it may have created, altered or dropped what later queries read


def execute_as_one(conn: FakeSnowflakeConnection, statements: list[str]) -> list[int]:
    """Run DML statements as one statement (all or none, see `_one_statement`); their rows affected, in order."""
    counts: list[int] = []
    try:
        with _python_slot(conn), _transaction_clock(conn), _one_statement(conn):
            cur = conn.cursor()
            for sql in statements:
                cur.execute(sql, server=True)
                counts.append(cur.rowcount or 0)
    except SnowflakeError as exc:
        raise snowflake_error(exc, statements[len(counts)]) from None
    except duckdb.Error as exc:
        raise snowflake_error(_translate_duckdb_error(exc), statements[len(counts)]) from None
    finally:
        CATALOG.changed()
    return counts


def dml_result(conn: FakeSnowflakeConnection, columns: dict[str, int], deleted: int = 0) -> StatementResult:
    """The answer to a DML statement we ran ourselves: one row of counts, Snowflake's `stats` from them."""
    rowtype = _rowtype([(name, "BIGINT", "NO", None, None, None) for name in columns])
    rowset: list[list[str | None]] = [[str(count) for count in columns.values()]]
    inserted = sum(columns.values())
    stats = dml_stats(["number of rows inserted", "number of rows deleted"], [[str(inserted), str(deleted)]])
    db, sc = conn.database, conn.schema
    return StatementResult(
        rowtype, statement_type.MULTI_INSERT, 1, inserted, json_rowset=rowset, database=db, schema=sc, stats=stats
    )


@contextlib.contextmanager
def _transaction_clock(conn: FakeSnowflakeConnection) -> Iterator[None]:
    """Give a transaction that a statement opens (BEGIN, or DML with AUTOCOMMIT off) its id: its start time, as
    Snowflake's `CURRENT_TRANSACTION()` answers it (epoch milliseconds x 10^6, unique per transaction)."""
    started = time.time()
    was_open = conn._in_transaction
    try:
        yield
    finally:
        if not conn._in_transaction:
            conn.transaction_id = None  # type: ignore[attr-defined]
        elif not was_open or getattr(conn, "transaction_id", None) is None:
            conn.transaction_id = _next_transaction_id(started)  # type: ignore[attr-defined]


_last_transaction_ms = 0
_transaction_ids = threading.Lock()


def _next_transaction_id(started: float) -> str:
    global _last_transaction_ms
    with _transaction_ids:
        _last_transaction_ms = max(int(started * 1000), _last_transaction_ms + 1)
        return str(_last_transaction_ms * 1_000_000)


def transaction_id(conn: FakeSnowflakeConnection) -> str | None:
    """The id of the session's open transaction, None without one (`CURRENT_TRANSACTION()`)."""
    return getattr(conn, "transaction_id", None) if conn._in_transaction else None


# fakesnow's views of one database's INFORMATION_SCHEMA.TABLES and of SHOW TABLES made the `temp` catalog's, which a
# connection sees as its own temporary tables; in the global catalog, so that every session's statements read them.
_GLOBAL_VIEWS = "_fs_global._fs_information_schema"
_TEMPORARY_VIEWS = _temporary_catalog_module.Views(
    describe=fs_transforms_module.SQL_DESCRIBE_TABLE.substitute(
        catalog="{database}", schema="{schema}", table="{table}"
    ).replace("FROM _fs_information_schema._fs_columns", "FROM ({columns}) AS _fs_columns"),
    show_temporary=f"{_GLOBAL_VIEWS}._sf_show_temporary_tables",
    tables=f"{_GLOBAL_VIEWS}._sf_temporary_tables",
    columns=f"{_GLOBAL_VIEWS}._fs_columns",
    lengths=f"{_GLOBAL_VIEWS}._fs_columns_ext",
)
_SHOW_TABLES_VIEW = f"{_GLOBAL_VIEWS}._fs_show_tables"
_TEMPORARY_VIEWS_SQL = (
    fs_info_schema.SQL_CREATE_INFORMATION_SCHEMA_TABLES_VIEW.substitute(catalog="temp").replace(
        "temp._fs_information_schema._fs_tables", _TEMPORARY_VIEWS.tables
    )
    + ";"
    + fs_show.SQL_CREATE_VIEW_SHOW_TABLES.replace(_SHOW_TABLES_VIEW, _TEMPORARY_VIEWS.show_temporary).replace(
        "table_type = 'BASE TABLE'", "table_type = 'LOCAL TEMPORARY'"
    )
)


def _creation_times(conn: FakeSnowflakeConnection) -> CreationTimes | None:
    """The database's record of when its permanent tables were created (None on a connection of fakesnow's own)."""
    return getattr(conn, "creation_times", None)


def _temporary_catalog(conn: FakeSnowflakeConnection) -> TemporaryCatalog:
    """The session's temporary tables, as `DESCRIBE TABLE`, `SHOW TABLES` and INFORMATION_SCHEMA list them."""
    tables: TemporaryCatalog | None = getattr(conn, "temporary_catalog", None)
    if tables is None:
        tables = TemporaryCatalog(_TEMPORARY_VIEWS)
        conn.temporary_catalog = tables  # type: ignore[attr-defined]
    return tables


def _temporary_names(conn: FakeSnowflakeConnection) -> TemporaryNames:
    """The session's temporary objects created with a qualified name (see `_temporary_names`)."""
    names: TemporaryNames | None = getattr(conn, "temporary_names", None)
    if names is None:
        names = TemporaryNames()
        conn.temporary_names = names  # type: ignore[attr-defined]
    return names


def _use_with_kind(expr: exp.Use) -> str:
    """`USE db.schema` is USE SCHEMA and `USE db` USE DATABASE, as in Snowflake (fakesnow needs the kind)."""
    target = expr.this
    kind = "SCHEMA" if isinstance(target, exp.Table) and target.args.get("db") else "DATABASE"
    expr.set("kind", exp.Var(this=kind))
    return str(expr.sql(dialect="snowflake"))


def _is_ddl(expr: exp.Expr) -> bool:
    """Whether Snowflake runs this statement as DDL: CREATE (a table, a view, a stage, CTAS...), ALTER (but not
    ALTER SESSION), DROP, UNDROP, COMMENT."""
    if isinstance(expr, exp.Alter):
        return str(expr.args.get("kind") or "").upper() != "SESSION"
    return isinstance(expr, (exp.Create, exp.Drop, exp.Undrop, exp.Comment))


def commit_open_transaction(conn: FakeSnowflakeConnection) -> None:
    """What Snowflake does before DDL: an open transaction (BEGIN, or AUTOCOMMIT off) is committed first, and the
    DDL runs as a transaction of its own. (fakesnow does this only with AUTOCOMMIT off.)"""
    conn._duck_conn.commit()  # DuckDB: a no-op without an open transaction
    conn._in_transaction = False
    conn.transaction_id = None  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class StageCommand:
    """A statement of the driver's stage binding: `create`, a CREATE [OR REPLACE] TEMPORARY STAGE (`location` is
    `@[db.][schema.]name`), or `put`, a PUT of `source` (a client file name) to `location` (`@stage/path`)."""

    kind: str
    location: str
    source: str = ""


def stage_command(sql: str, params: Any) -> StageCommand | None:
    """The statement as a `StageCommand`, or None for any other statement (or one sqlglot cannot read)."""
    if not _STAGE_COMMAND.match(sql):
        return None
    try:
        expr = sqlglot.parse_one(sql, read="snowflake")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return None
    if isinstance(expr, exp.Put) and isinstance(expr.this, exp.Literal):
        target = expr.args.get("target")
        location = target.name if isinstance(target, exp.Var) else ""
        if location == "?":
            location = str(params[0]) if isinstance(params, tuple) and len(params) == 1 else ""
        source = str(expr.this.this)
        return StageCommand("put", location, source.removeprefix("file://"))
    if not isinstance(expr, exp.Create) or str(expr.args.get("kind") or "").upper() != "STAGE":
        return None
    properties = expr.args.get("properties")
    temporary = properties is not None and properties.find(exp.TemporaryProperty) is not None
    table = expr.this
    if not temporary or not isinstance(table, exp.Table) or any(part.args.get("quoted") for part in table.parts):
        return None
    return StageCommand("create", "@" + ".".join(part.name for part in table.parts))


def forget_stage(conn: FakeSnowflakeConnection, database: str | None, schema: str | None, name: str) -> None:
    """Remove a temporary stage from fakesnow's listing of stages (`SHOW STAGES`): its session has ended."""
    conn._duck_conn.execute(
        "DELETE FROM _fs_global._fs_information_schema._fs_stages WHERE database_name = $1 AND schema_name = $2 "
        "AND name = $3 AND type = 'INTERNAL TEMPORARY'",
        [database or "", schema or "", name],
    )


def transfer_result(data: dict[str, Any]) -> StatementResult:
    """The answer to a PUT: what the driver needs to upload its file (`data`), and no rows."""
    return StatementResult([], statement_type.SELECT, 0, 0, json_rowset=[], transfer=data)


def _inserts_one_row(expr: exp.Expr) -> bool:
    """An `INSERT INTO ... VALUES (...)` of one row: each row of an array binding inserts exactly one row."""
    values = expr.expression if isinstance(expr, exp.Insert) else None
    return isinstance(values, exp.Values) and len(values.expressions) == 1


def _insert_rows(conn: FakeSnowflakeConnection, cur: Any, sql: str, batch: list[tuple[Any, ...]]) -> int:
    """An array-bound single-row INSERT: the first row through fakesnow, the others as one `INSERT ... SELECT`
    from an Arrow table of their values, with the SQL fakesnow ran for the first row (fakesnow's translation is
    ~50 ms of Python per row, DuckDB's `executemany` ~3 ms per row). Falls back to fakesnow per row when that SQL
    cannot be told apart or the values do not make Arrow columns."""
    duck: Any = conn._duck_conn
    if not isinstance(duck, _GatedDuckDB):
        return _execute_rows(conn, cur, sql, batch)
    with _one_statement(conn):
        with duck.recording() as calls:
            cur.execute(sql, binding_params=batch[0], server=True)
        bound = [duck_sql for duck_sql, duck_params in calls if duck_params is not None]
        relation = f"_local_batch_{uuid.uuid4().hex}"
        rest = batch[1:]
        insert = _insert_from(bound[0], relation) if len(bound) == 1 and rest else None
        table = _batch_table(rest) if insert is not None else None
        if insert is None or table is None:
            for row in rest:
                cur.execute(sql, binding_params=row, server=True)
            return len(batch)
        duck.register(relation, table)
        try:
            duck.execute(insert)
        finally:
            # in a transaction the failed insert aborted, the registration goes with its ROLLBACK
            with contextlib.suppress(duckdb.TransactionException):
                duck.unregister(relation)
    return len(batch)


def _insert_from(duck_sql: str, relation: str) -> str | None:
    """`INSERT INTO t (...) VALUES ($1, f($2))` -> `INSERT INTO t (...) SELECT relation.c1, f(relation.c2) FROM
    relation`; None for any other statement."""
    insert = sqlglot.parse_one(duck_sql, read="duckdb")
    values = insert.expression if isinstance(insert, exp.Insert) else None
    if not isinstance(values, exp.Values) or len(values.expressions) != 1:
        return None
    positions = itertools.count(1)

    def column(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Placeholder):
            return node
        name = str(node.this) if node.this is not None else ""
        return exp.column(f"c{name if name.isdigit() else next(positions)}", table=relation)

    row = values.expressions[0]
    items = [e.transform(column) for e in (row.expressions if isinstance(row, exp.Tuple) else [row])]
    insert.set("expression", exp.select(*items).from_(relation))
    return insert.sql(dialect="duckdb")


def _batch_table(rows: list[tuple[Any, ...]]) -> pa.Table | None:
    """The rows as Arrow columns c1..cN; None when a column's values have no one Arrow type."""
    try:
        return pa.table({f"c{i + 1}": pa.array([row[i] for row in rows]) for i in range(len(rows[0]))})
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None


def _execute_parsed(
    conn: FakeSnowflakeConnection,
    sql: str,
    expr: exp.Expr,
    key: _PlanKey | None,
    params: tuple[Any, ...] | dict[str, Any] | None,
    batch: list[tuple[Any, ...]] | None,
    describe_only: bool,
) -> StatementResult:
    type_id = statement_type.statement_type_id(expr)
    cur = cursor(conn)
    if describe_only and (described := cur._describe_only(sql)) is not None:
        rowtype = _named(_rowtype(described), output_columns(expr, sql))
        rowtype = with_declared_types(conn, rowtype, declared_types(conn, expr))
        return StatementResult(
            rowtype=rowtype,
            statement_type_id=type_id,
            total=0,
            rows_produced=0,
            json_rowset=None if type_id == statement_type.SELECT else [],
            database=conn.database,
            schema=conn.schema,
        )
    _track_transaction(conn, expr)
    params, batch = _typed_text_binds(conn, expr, params, batch)
    counted = _counts_before(conn, expr, params) if batch is None else None
    scales = _scales_of(conn)
    existed = scales is not None and _created_if_missing(conn, expr)
    written = _scaled_write(conn, scales, expr) if scales is not None else None
    # An INSERT or UPDATE and its cut are one transaction. fakesnow's MERGE, COPY and CTAS also write its own
    # catalog database, which DuckDB refuses in a transaction that wrote another: their cut follows them.
    atomic = written is not None and isinstance(expr, (exp.Insert, exp.Update))
    with _one_statement(conn) if atomic else contextlib.nullcontext():
        batch_rowcount = _run_statement(conn, cur, sql, expr, params, batch)
        if scales is not None and not existed:
            _record_scales(conn, scales, expr)
        if written is not None and scales is not None:
            _cut_to_scales(conn, scales, *written)
    _create_public_schema(conn, expr)
    transformed = cur._last_transformed
    if transformed is not None and transformed.args.get("put_stage_data"):
        raise ProgrammingError(msg="PUT is not supported by the local Snowflake", errno=2, sqlstate="0A000")
    last_sql = str(cur._last_sql)
    describe = _describe_expression(last_sql)
    names = output_columns(expr, sql)
    declared = declared_types(conn, expr)
    rowtype = with_declared_types(conn, _named(_rowtype(_describe(cur, describe)), names), declared)
    # a plan's later runs take their binds as they come: a statement whose text binds are read first is not kept
    kept = key is not None and not _cast_targets(_numbered_placeholders(expr))
    if kept and transformed is not None and _reusable(expr, transformed):
        has_placeholder = bool(transformed.find(exp.Placeholder))
        PLANS.put(key, _Plan(type_id, transformed.copy(), has_placeholder, last_sql, describe, names, declared))
    result = _result(conn, cur, type_id, rowtype, batch, batch_rowcount)
    if isinstance(expr, exp.Describe) and result.arrow is not None:
        result = dataclasses.replace(result, arrow=_vectors.described(result.arrow))
    return _with_counts(result, counted if counted is not None else _counts_after(conn, expr))


def _run_statement(
    conn: FakeSnowflakeConnection,
    cur: Any,
    sql: str,
    expr: exp.Expr,
    params: tuple[Any, ...] | dict[str, Any] | None,
    batch: list[tuple[Any, ...]] | None,
) -> int:
    """Run the statement (once, or once per row of an array binding); returns the rows a batch affected."""
    if batch is None:
        cur.execute(sql, binding_params=params, server=True)
        return 0
    if _inserts_one_row(expr):
        return _insert_rows(conn, cur, sql, batch)
    return _execute_rows(conn, cur, sql, batch)


def _typed_text_binds(
    conn: FakeSnowflakeConnection,
    expr: exp.Expr,
    params: tuple[Any, ...] | dict[str, Any] | None,
    batch: list[tuple[Any, ...]] | None,
) -> tuple[tuple[Any, ...] | dict[str, Any] | None, list[tuple[Any, ...]] | None]:
    """Text binds read as Snowflake reads text (`_text_input`) where DuckDB would read them otherwise: into the
    columns of an `INSERT ... VALUES` (an integer into a DATE or TIMESTAMP column is a time since the epoch, an
    offset after a space is read into a TIMESTAMP_TZ/LTZ column, hex into BINARY), and cast to TIMESTAMP_TZ/LTZ.
    (Staged binds are all text.)"""
    rows = batch if batch is not None else [params] if isinstance(params, tuple) else None
    if not rows or not any(isinstance(v, str) for row in rows for v in row):
        return params, batch
    targets = _bind_targets(conn, expr)
    if not targets:
        return params, batch
    try:
        typed = [_typed_row(row, targets) for row in rows]
    except text_input.TextInputError as exc:
        raise ProgrammingError(msg=str(exc), errno=100038, sqlstate="22018") from None
    return (params, typed) if batch is not None else (typed[0], None)


def _typed_row(row: tuple[Any, ...], targets: dict[int, str]) -> tuple[Any, ...]:
    return tuple(
        text_input.coerce(value, targets[i]) if i in targets and isinstance(value, str) else value
        for i, value in enumerate(row)
    )


_TZ_TYPES = frozenset({exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ})


def _bind_targets(conn: FakeSnowflakeConnection, expr: exp.Expr) -> dict[int, str]:
    """Bind position -> the DuckDB type its text goes into, where Snowflake reads text otherwise than DuckDB
    (`_text_input.TYPES`): a placeholder cast to TIMESTAMP_TZ/LTZ, or one filling a column of an `INSERT ...
    VALUES` row. Placeholders are numbered as `split_statements` numbers them."""
    placeholders = _numbered_placeholders(expr)
    targets = _cast_targets(placeholders)
    if _inserts_one_row(expr):
        targets.update(_insert_targets(conn, expr, {id(p): index for p, index in placeholders}))
    return targets


def _numbered_placeholders(expr: exp.Expr) -> list[tuple[exp.Placeholder, int]]:
    positions = itertools.count()
    return [(p, _placeholder_index(p, positions)) for p in expr.find_all(exp.Placeholder, bfs=False)]


def _cast_targets(placeholders: list[tuple[exp.Placeholder, int]]) -> dict[int, str]:
    """Bind position -> TIMESTAMP WITH TIME ZONE for each placeholder cast to TIMESTAMP_TZ/LTZ."""
    return {
        index: "TIMESTAMP WITH TIME ZONE"
        for p, index in placeholders
        if isinstance(p.parent, exp.Cast) and p.parent.to.this in _TZ_TYPES
    }


def _insert_targets(conn: FakeSnowflakeConnection, expr: exp.Expr, indexes: dict[int, int]) -> dict[int, str]:
    """For an `INSERT INTO t [(columns)] VALUES (...)`: bind position -> DuckDB type of the column a bare
    placeholder fills, for the types of `_text_input.TYPES`."""
    target, values = expr.this, expr.expression
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table) or not isinstance(values, exp.Values):
        return {}
    row = values.expressions[0]
    items = row.expressions if isinstance(row, exp.Tuple) else [row]
    if not any(isinstance(item, exp.Placeholder) for item in items):
        return {}
    types = _column_types(conn, table)
    columns = [c.name.upper() for c in target.expressions] if isinstance(target, exp.Schema) else list(types)
    return {
        indexes[id(item)]: types[column]
        for item, column in zip(items, columns, strict=False)
        if isinstance(item, exp.Placeholder) and types.get(column) in text_input.TYPES
    }


def _placeholder_index(node: exp.Placeholder, positions: Iterator[int]) -> int:
    """The bind a placeholder takes: `:n` the n-th, `?` the next one."""
    name = str(node.this) if node.this is not None else ""
    return int(name) - 1 if name.isdigit() else next(positions)


def _column_types(conn: FakeSnowflakeConnection, table: exp.Table) -> dict[str, str]:
    """A table's columns (upper-case names, in order) and their DuckDB types: the session's temporary table of that
    name when the name is not qualified and there is one, else the table in its database and schema."""
    database = table.catalog or conn.database or ""
    schema = table.db or conn.schema or ""
    rows = conn._duck_conn.execute(
        "SELECT database_name, upper(column_name), data_type FROM duckdb_columns() "
        "WHERE upper(table_name) = upper($1) AND (database_name = 'temp' AND NOT $4 "
        "OR upper(database_name) = upper($2) AND upper(schema_name) = upper($3)) "
        "ORDER BY database_name = 'temp' DESC, column_index",
        [table.name, database, schema, bool(table.db)],
    ).fetchall()
    first = rows[0][0] if rows else None
    return {name: duck_type for db, name, duck_type in rows if db == first}


def _create_public_schema(conn: FakeSnowflakeConnection, expr: exp.Expr) -> None:
    """After CREATE DATABASE: its PUBLIC schema, which Snowflake creates with every database (fakesnow does not)."""
    if not isinstance(expr, exp.Create) or str(expr.args.get("kind") or "").upper() != "DATABASE":
        return
    ident = expr.this.this if isinstance(expr.this, exp.Table) else None
    if not isinstance(ident, exp.Identifier):
        return
    database = ident.name if ident.quoted else ident.name.upper()
    # straight to DuckDB: fakesnow's CREATE SCHEMA would also make it the session's current schema
    conn._duck_conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}".{PUBLIC_SCHEMA}')


def _track_transaction(conn: FakeSnowflakeConnection, expr: exp.Expr) -> None:
    """An explicit BEGIN / COMMIT / ROLLBACK: whether the session is in a transaction, with autocommit too
    (fakesnow keeps count only without autocommit; an array binding needs to know, see `_execute_rows`)."""
    if isinstance(expr, exp.Transaction):
        conn._in_transaction = True
    elif isinstance(expr, (exp.Commit, exp.Rollback)):
        conn._in_transaction = False


def _execute_rows(conn: FakeSnowflakeConnection, cur: Any, sql: str, batch: list[tuple[Any, ...]]) -> int:
    """Run an array binding row by row, as one statement (see `_one_statement`); returns the rows affected by the
    whole batch."""
    count = 0
    with _one_statement(conn):
        for row in batch:
            cur.execute(sql, binding_params=row, server=True)
            count += cur.rowcount or 0
    return count


@contextlib.contextmanager
def _one_statement(conn: FakeSnowflakeConnection) -> Iterator[None]:
    """An array binding is one statement in Snowflake: all of its rows or none of them. Outside a transaction its
    rows run in one of their own; inside an open one (BEGIN, or autocommit off) they join it, as fakesnow's DML
    does."""
    if not conn._autocommit or conn._in_transaction:
        yield
        return
    duck: Any = conn._duck_conn
    duck.begin()
    conn._in_transaction = True  # an inner `_one_statement` joins this one
    try:
        yield
    except BaseException:
        conn._in_transaction = False
        duck.rollback()
        raise
    conn._in_transaction = False
    duck.commit()


# ---------------------------------------------------------------------------------------------------------------
# Declared scales of TIMESTAMP and TIME: Snowflake cuts values to them, DuckDB keeps microseconds (see `_scales`)

_TIMESTAMP_TYPES = frozenset(
    {
        exp.DataType.Type.TIMESTAMP,
        exp.DataType.Type.TIMESTAMPNTZ,
        exp.DataType.Type.TIMESTAMPLTZ,
        exp.DataType.Type.TIMESTAMPTZ,
        exp.DataType.Type.DATETIME,
    }
)


class _Cursor(FakeSnowflakeCursor):
    """fakesnow's cursor, with casts to a TIMESTAMP or TIME of 0-5 fractional digits cut to them, CONVERT_TIMEZONE
    of two arguments made a TIMESTAMP_TZ and the semi-structured functions and casts of `_semistructured`
    rewritten before fakesnow's own transforms, and the VECTOR types and functions of `_vectors` after them."""

    def _transform(self, expression: exp.Expr, params: Any) -> exp.Expr:
        temporary = _temporary_catalog(self._conn)
        if (described := temporary.describe(expression, self._conn.database, self._conn.schema)) is not None:
            return described
        transformed = self._transform_statement(expression, params)
        if (times := _creation_times(self._conn)) is not None:
            transformed = times.dated(transformed, _SHOW_TABLES_VIEW)
        return temporary.listed(transformed, self._conn.database)

    def _transform_statement(self, expression: exp.Expr, params: Any) -> exp.Expr:
        expression = _semistructured.rewrite(_cut_scaled_casts(_convert_timezone_to_tz(expression)))
        _seed_randoms_and_widen_numbers(expression)
        transformed = super()._transform(expression, params)
        # VECTOR after fakesnow's transforms, which take any list type for an ARRAY (a VARIANT: JSON)
        return _vectors.rewrite(transformed.transform(_semistructured.own_flatten, copy=False))


def _seed_randoms_and_widen_numbers(expression: exp.Expr) -> None:
    """`_seeded_random` and `_wide_number_column` in place, found in one walk of the statement."""
    found = [node for node in expression.walk() if isinstance(node, (exp.Rand, exp.ColumnDef))]
    for node in found:
        if isinstance(node, exp.ColumnDef):
            _wide_number_column(node)
        elif (seeded := _seeded_random(node)) is not node:
            node.replace(seeded)


def _wide_number_column(node: exp.Expr) -> exp.Expr:
    """A table column declared NUMBER(38, 0) holds 38 digits, as in Snowflake: DuckDB's DECIMAL(38) (fakesnow makes
    it BIGINT, as it makes INT and NUMBER without digits, which DuckDB's integer functions need). Other NUMBER(p, 0)
    columns are DECIMAL(p, 0) already."""
    if not isinstance(node, exp.ColumnDef) or not isinstance(node.kind, exp.DataType):
        return node
    kind = node.kind
    digits = [param.this for param in kind.expressions if isinstance(param, exp.DataTypeParam)]
    if kind.this == exp.DataType.Type.DECIMAL and [str(d) for d in digits] == ["38", "0"]:
        node.set("kind", exp.DataType(this=exp.DataType.Type.DECIMAL, expressions=[kind.expressions[0].copy()]))
    return node


def _convert_timezone_to_tz(expression: exp.Expr) -> exp.Expr:
    """`CONVERT_TIMEZONE(target, ts)` is the instant `ts` (text read in the session's zone, as TIMESTAMP_TZ) as a
    TIMESTAMP_TZ. sqlglot makes it `ts AT TIME ZONE target`, which DuckDB cannot type for text and which gives a
    TIMESTAMP_NTZ for the others. DuckDB keeps no offset of its own, so the value comes with the session zone's
    offset: the same instant as Snowflake's, which shows the target zone's offset (docs/local-snowflake.md)."""
    for node in reversed(list(expression.find_all(exp.ConvertTimezone))):
        if node.args.get("source_tz") is not None:
            continue
        instant = _filled(_CONVERT_TIMEZONE, __zone=node.args["target_tz"], __value=node.args["timestamp"])
        if node is expression:
            return instant
        node.replace(instant)
    return expression


#: The instant as a TIMESTAMPTZ; NULL for a NULL zone, DuckDB's error for one it does not know (as Snowflake's).
_CONVERT_TIMEZONE = sqlglot.parse_one(
    """CASE WHEN timezone("__zone", TIMESTAMPTZ '2000-01-01 00:00:00+00') IS NULL THEN NULL
    ELSE CAST("__value" AS TIMESTAMPTZ) END""",
    read="duckdb",
)


def _filled(template: exp.Expr, **values: exp.Expr) -> exp.Expr:
    """A copy of a DuckDB template with each of its columns named in `values` replaced by a copy of that value."""

    def fill(node: exp.Expr) -> exp.Expr:
        value = values.get(node.name) if isinstance(node, exp.Column) else None
        return value.copy() if value is not None else node

    return template.copy().transform(fill)


def _seeded_random(node: exp.Expr) -> exp.Expr:
    """RANDOM(seed) in a query's select list -> a 64-bit hash of the seed and the row's number.

    In Snowflake the same seed gives the same sequence of values: RANDOM(100) twice in a row's columns is one
    value twice. fakesnow seeds DuckDB's one generator instead (`setseed`), so each call draws the next value.
    Elsewhere (a WHERE, inside an aggregate or window) a row number cannot be asked for: fakesnow's way stays.
    """
    if not (isinstance(node, exp.Rand) and isinstance(node.this, exp.Literal) and _in_select_list(node)):
        return node
    number = exp.Window(this=exp.RowNumber())
    hashed = exp.Anonymous(this="HASH", expressions=[node.this.copy(), number])
    shifted = exp.Sub(this=exp.cast(hashed, "HUGEINT"), expression=exp.Literal.number(2**63))
    return exp.cast(exp.Paren(this=shifted), "BIGINT")


def _in_select_list(node: exp.Expr) -> bool:
    child, parent = node, node.parent
    while parent is not None and not isinstance(parent, exp.Select):
        if isinstance(parent, (exp.AggFunc, exp.Window)):
            return False
        child, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and child in parent.expressions


def cursor(conn: FakeSnowflakeConnection) -> FakeSnowflakeCursor:
    """A cursor that translates statements as the local Snowflake runs them (also for EXPLAIN's plans)."""
    return _Cursor(conn=conn, duck_conn=conn._duck_conn)


def _declared_scale(dtype: Any) -> _scales.ScaledColumn | None:
    """A TIMESTAMP_* or TIME type declared with a scale, or TIMESTAMP_LTZ (unnamed); None for any other type."""
    if not isinstance(dtype, exp.DataType):
        return None
    if dtype.this not in _TIMESTAMP_TYPES and dtype.this != exp.DataType.Type.TIME:
        return None
    local = dtype.this == exp.DataType.Type.TIMESTAMPLTZ
    param = dtype.expressions[0] if dtype.expressions else None
    value = param.this if isinstance(param, exp.DataTypeParam) else param
    scale = int(value.name) if isinstance(value, exp.Literal) and value.is_int else 9
    if scale >= 9 and not local:
        return None
    return _scales.ScaledColumn("", scale, dtype.this == exp.DataType.Type.TIME, local)


def _cut_scaled_casts(expression: exp.Expr) -> exp.Expr:
    """Every cast of the statement to a TIMESTAMP or TIME of scale 0-5, cut (innermost first, so that an outer
    cast's copy holds the inner one's cut). A look at the casts only: most statements have none to change."""
    for node in reversed(list(expression.find_all(exp.Cast))):
        cut = _cut_scaled_cast(node)
        if cut is node:
            continue
        if node is expression:
            return cut
        node.replace(cut)
    return expression


def _cut_scaled_cast(node: exp.Expr) -> exp.Expr:
    """`CAST(x AS TIMESTAMP_NTZ(3))` (and `::`, TRY_CAST, TIME(s), TIMESTAMP_LTZ/TZ(s)) -> the cast to the type
    without its scale, cut to the scale in DuckDB SQL."""
    to = node.args.get("to") if isinstance(node, exp.Cast) else None
    declared = _declared_scale(to)
    if declared is None or not declared.cut or not isinstance(to, exp.DataType):
        return node
    inner = node.copy()
    inner.set("to", exp.DataType(this=to.this))
    return _filled(_cut_template(declared.scale, declared.time_of_day), __value=inner)


@functools.lru_cache(maxsize=32)
def _cut_template(scale: int, time_of_day: bool) -> exp.Expr:
    return sqlglot.parse_one(_scales.cut_sql('"__value"', scale, time_of_day), read="duckdb")


def _scales_of(conn: FakeSnowflakeConnection) -> _scales.ScaleRegistry | None:
    registry = getattr(conn, "scales", None)
    return registry if isinstance(registry, _scales.ScaleRegistry) else None


def _catalog_name(identifier: Any) -> str | None:
    """A name as the catalog spells it: unquoted names in upper case, as fakesnow makes them."""
    if not isinstance(identifier, exp.Identifier) or not identifier.this:
        return None
    return str(identifier.this) if identifier.quoted else str(identifier.this).upper()


def _table_key(conn: FakeSnowflakeConnection, table: Any) -> _scales.TableKey | None:
    if not isinstance(table, exp.Table):
        return None
    name = _catalog_name(table.this)
    database = _catalog_name(table.args.get("catalog")) or conn.database
    schema = _catalog_name(table.args.get("db")) or conn.schema
    return (database, schema, name) if name and database and schema else None


def _table_sql(table: exp.Table) -> str:
    """The table as the statement names it, for DuckDB (which then resolves it as for the statement)."""
    parts = [table.args.get("catalog"), table.args.get("db"), table.this]
    return ".".join(_scales.quoted(name) for part in parts if (name := _catalog_name(part)))


def _column_scales(schema: exp.Schema) -> list[_scales.ScaledColumn]:
    """The columns of a CREATE TABLE's column list declared with a scale, or as TIMESTAMP_LTZ."""
    columns = []
    for column in schema.expressions:
        if isinstance(column, exp.ColumnDef) and (declared := _declared_scale(column.args.get("kind"))):
            columns.append(dataclasses.replace(declared, name=_catalog_name(column.this) or ""))
    return columns


def _created_if_missing(conn: FakeSnowflakeConnection, expr: exp.Expr) -> bool:
    """Whether this is a `CREATE TABLE IF NOT EXISTS` of a table that exists (it then changes nothing)."""
    if not (isinstance(expr, exp.Create) and expr.args.get("exists")) or not isinstance(expr.this, exp.Schema):
        return False
    key = _table_key(conn, expr.this.this)
    if key is None or not _column_scales(expr.this):
        return False
    found = conn._duck_conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        list(key),
    ).fetchone()
    return bool(found and found[0])


def _record_scales(conn: FakeSnowflakeConnection, scales: _scales.ScaleRegistry, expr: exp.Expr) -> None:
    """Keep the registry in step with a CREATE TABLE, DROP or ALTER TABLE that just ran."""
    kind = str(expr.args.get("kind") or "").upper()
    if isinstance(expr, exp.Create) and kind == "TABLE":
        _record_create(conn, scales, expr)
    elif isinstance(expr, exp.Drop):
        _record_drop(conn, scales, expr, kind)
    elif isinstance(expr, exp.Alter) and kind == "TABLE" and (key := _table_key(conn, expr.this)):
        for action in expr.args.get("actions") or []:
            _record_alter(conn, scales, key, action)


def _record_create(conn: FakeSnowflakeConnection, scales: _scales.ScaleRegistry, expr: exp.Create) -> None:
    target = expr.this
    key = _table_key(conn, target.this if isinstance(target, exp.Schema) else target)
    if key is None:
        return
    clone = expr.args.get("clone")
    like = expr.find(exp.LikeProperty)
    source = _table_key(conn, clone.this if clone is not None else like.this if like is not None else None)
    if source is not None:
        scales.copy(source, key)
    elif isinstance(target, exp.Schema):
        scales.define(key, _column_scales(target))
    else:
        scales.define(key, _query_scales(conn, scales, expr.expression))


def _query_scales(
    conn: FakeSnowflakeConnection, scales: _scales.ScaleRegistry, query: Any
) -> list[_scales.ScaledColumn]:
    """The declared types a CREATE TABLE ... AS SELECT's columns take from its query: those of its plain columns
    (all of them for `SELECT *`) and casts, as `declared_types` finds them for the query's result."""
    declared = declared_types(conn, query) if isinstance(query, exp.Select) else None
    if declared is None:
        return []
    first = declared[0]
    if len(declared) == 1 and isinstance(first, _ColumnRef) and first.name is None:
        return list(scales.columns(first.key))
    columns = []
    for item, found in zip(query.expressions, declared, strict=True):
        if isinstance(found, _ColumnRef) and found.name:
            found = scales.column(found.key, found.name)
        alias = item.args.get("alias") if isinstance(item, exp.Alias) else None
        name = _catalog_name(alias.this if isinstance(alias, exp.TableAlias) else alias) or (
            _catalog_name(item.this) if isinstance(item, exp.Column) else None
        )
        if isinstance(found, _scales.ScaledColumn) and name:
            columns.append(dataclasses.replace(found, name=name))
    return columns


def _record_drop(conn: FakeSnowflakeConnection, scales: _scales.ScaleRegistry, expr: exp.Drop, kind: str) -> None:
    for table in expr.args.get("tables") or [expr.this]:
        if not isinstance(table, exp.Table):
            continue
        if kind == "TABLE" and (key := _table_key(conn, table)):
            scales.forget(key)
        elif kind == "SCHEMA" and (schema := _catalog_name(table.args.get("db"))):
            database = _catalog_name(table.args.get("catalog")) or conn.database
            if database:
                scales.forget_within(database, schema)
        elif kind == "DATABASE" and (database := _catalog_name(table.this)):
            scales.forget_within(database)


def _record_alter(
    conn: FakeSnowflakeConnection, scales: _scales.ScaleRegistry, key: _scales.TableKey, action: exp.Expr
) -> None:
    if isinstance(action, exp.AlterRename) and (new := _table_key(conn, action.this)):
        scales.rename(key, new)
    elif isinstance(action, exp.ColumnDef) and (name := _catalog_name(action.this)):
        declared = _declared_scale(action.args.get("kind"))
        scales.set_column(key, name, dataclasses.replace(declared, name=name) if declared else None)
    elif isinstance(action, exp.AlterColumn) and action.args.get("dtype") and (name := _catalog_name(action.this)):
        declared = _declared_scale(action.args.get("dtype"))
        scales.set_column(key, name, dataclasses.replace(declared, name=name) if declared else None)
    elif isinstance(action, exp.Drop) and str(action.args.get("kind") or "").upper() == "COLUMN":
        for column in action.args.get("tables") or []:
            if isinstance(column, exp.Column) and (name := _catalog_name(column.this)):
                scales.set_column(key, name, None)
    elif isinstance(action, exp.RenameColumn):
        old, new_name = _catalog_name(action.this.this), _catalog_name(action.args["to"].this)
        if old and new_name:
            scales.rename_column(key, old, new_name)


@dataclasses.dataclass(frozen=True)
class _ColumnRef:
    """A query's output column that is a column of the one table it reads: its declared type is looked up at each
    run (the table may be re-created between two runs of a cached plan)."""

    key: _scales.TableKey
    name: str | None  # None: every output column by its own name (`SELECT *`)


_Declared = _scales.ScaledColumn | _ColumnRef | None


def declared_types(conn: FakeSnowflakeConnection, expr: exp.Expr) -> tuple[_Declared, ...] | None:
    """Where each output column of a query gets a TIMESTAMP type DuckDB does not keep (TIMESTAMP_LTZ, a scale): a
    plain column of the one table read, a cast, CURRENT_TIMESTAMP. None when no column has one."""
    if not isinstance(expr, exp.Select):
        return None
    table = _only_table(conn, expr)
    items = [item.this if isinstance(item, exp.Alias) else item for item in expr.expressions]
    if len(items) == 1 and isinstance(items[0], exp.Star):
        return (_ColumnRef(table[0], None),) if table is not None else None
    declared = tuple(_declared_of(item, table) for item in items)
    return declared if any(d is not None for d in declared) else None


def _only_table(conn: FakeSnowflakeConnection, select: exp.Select) -> tuple[_scales.TableKey, str] | None:
    """The key and reference name (alias or name, upper case) of the one table a query reads, without joins."""
    source = select.args.get("from_") or select.args.get("from")
    table = source.this if isinstance(source, exp.From) else None
    if select.args.get("joins") or not isinstance(table, exp.Table):
        return None
    key = _table_key(conn, table)
    return (key, table.alias_or_name.upper()) if key is not None else None


def _declared_of(item: exp.Expr, table: tuple[_scales.TableKey, str] | None) -> _Declared:
    if isinstance(item, exp.Cast):
        return _declared_scale(item.args.get("to"))
    if isinstance(item, exp.CurrentTimestamp):
        return _scales.ScaledColumn("", 9, local=True)
    if isinstance(item, exp.Column) and isinstance(item.this, exp.Identifier) and table is not None:
        if item.table and item.table.upper() != table[1]:
            return None
        name = _catalog_name(item.this)
        return _ColumnRef(table[0], name) if name else None
    return None


def with_declared_types(
    conn: FakeSnowflakeConnection, rowtype: list[dict[str, Any]], declared: tuple[_Declared, ...] | None
) -> list[dict[str, Any]]:
    """The result's columns with the TIMESTAMP_LTZ type of those `declared_types` found so."""
    scales = _scales_of(conn)
    if declared is None or scales is None:
        return rowtype
    first = declared[0]
    found: list[_Declared]
    if len(declared) == 1 and isinstance(first, _ColumnRef) and first.name is None:
        found = [scales.column(first.key, str(column["name"])) for column in rowtype]
    elif len(declared) == len(rowtype):
        found = [scales.column(d.key, d.name) if isinstance(d, _ColumnRef) and d.name else d for d in declared]
    else:
        return rowtype
    return [_declared_type(column, d) for column, d in zip(rowtype, found, strict=True)]


def _declared_type(column: dict[str, Any], declared: _Declared) -> dict[str, Any]:
    """A TIMESTAMP or TIME column's metadata with its declared scale, and TIMESTAMP_LTZ when it was declared so.
    (A scale of 7 or 8 is reported as 9: the values have microseconds, sent as for 9.)"""
    sf_type = str(column["type"])
    if not isinstance(declared, _scales.ScaledColumn) or not sf_type.startswith("time"):
        return column
    local = declared.local and sf_type == "timestamp_tz"
    scale = declared.scale if declared.scale <= _scales.KEPT_DIGITS else 9
    return {**column, "type": "timestamp_ltz" if local else sf_type, "scale": scale}


def _written_table(expr: exp.Expr) -> exp.Table | None:
    """The table an INSERT, UPDATE, MERGE, COPY INTO or CREATE TABLE (...) AS SELECT writes."""
    target = expr.this if isinstance(expr, (exp.Insert, exp.Update, exp.Merge, exp.Copy)) else None
    if isinstance(expr, exp.Create) and expr.expression is not None:
        target = expr.this
    if isinstance(target, exp.Schema):
        target = target.this
    return target if isinstance(target, exp.Table) else None


def _scaled_write(
    conn: FakeSnowflakeConnection, scales: _scales.ScaleRegistry, expr: exp.Expr
) -> tuple[exp.Table, _scales.TableKey] | None:
    """The table this statement writes and its key, when it has (or, for CTAS, declares) columns of scale 0-5."""
    table = _written_table(expr)
    key = _table_key(conn, table) if table is not None else None
    if table is None or key is None:
        return None
    declared = _column_scales(expr.this) if isinstance(expr, exp.Create) and isinstance(expr.this, exp.Schema) else []
    return (table, key) if any(c.cut for c in declared) or scales.cut_columns(key) else None


def _cut_to_scales(
    conn: FakeSnowflakeConnection, scales: _scales.ScaleRegistry, table: exp.Table, key: _scales.TableKey
) -> None:
    """Cut what a write left in the table to its columns' declared scales (in the write's transaction)."""
    columns = scales.cut_columns(key)
    if columns:
        conn._duck_conn.execute(_scales.truncation_sql(_table_sql(table), columns))


def _result(
    conn: FakeSnowflakeConnection,
    cur: Any,
    type_id: int,
    rowtype: list[dict[str, Any]],
    batch: list[tuple[Any, ...]] | None,
    batch_rowcount: int,
) -> StatementResult:
    """What the statement fakesnow's cursor `cur` just ran produced, as a `StatementResult`."""
    table = cur._arrow_table
    db, sc = conn.database, conn.schema
    if table is not None and table.num_columns == len(rowtype):
        table = table.rename_columns([column["name"] for column in rowtype])
    if table is None:
        return StatementResult(rowtype, type_id, 0, 0, database=db, schema=sc)
    if type_id in statement_type.DML_TYPE_IDS:
        # DML answers as JSON: the driver reads the affected-row counts from `rowset`.
        rowset: list[list[str | None]]
        if batch is not None:
            rowset = [[str(batch_rowcount)]]
            total, produced = 1, batch_rowcount
        else:
            rowset = [[None if v is None else str(v) for v in row.values()] for row in table.to_pylist()]
            total, produced = table.num_rows, cur.rowcount or 0
        stats = dml_stats([str(column["name"]) for column in rowtype], rowset)
        return StatementResult(
            rowtype, type_id, total, produced, json_rowset=rowset, database=db, schema=sc, stats=stats
        )
    indent = getattr(conn, "json_indent", _semistructured.DEFAULT_INDENT)
    arrow = to_snowflake_arrow(table, rowtype, indent)
    return StatementResult(rowtype, type_id, table.num_rows, table.num_rows, arrow=arrow, database=db, schema=sc)


@dataclasses.dataclass(frozen=True)
class OutputColumn:
    """What Snowflake says of one output column that DuckDB's DESCRIBE says otherwise: its name (an unaliased
    expression's text), and that it is never NULL with its precision (for the expressions Snowflake types so)."""

    name: str | None = None
    not_null: bool = False
    precision: int | None = None


#: SEQn: never NULL, NUMBER(p, 0) of their width. COUNT and COUNT_IF: NUMBER(18, 0), never NULL.
_NUMBER_FUNCTIONS: dict[type[exp.Expr], int] = {
    exp.Seq1: 3,
    exp.Seq2: 5,
    exp.Seq4: 10,
    exp.Seq8: 19,
    exp.Count: 18,
    exp.CountIf: 18,
}
#: Never NULL when their arguments are not (a literal, or one of these).
_NOT_NULL_FUNCTIONS: tuple[type[exp.Expr], ...] = (
    exp.Rand,
    exp.Randstr,
    exp.Uniform,
    exp.Uuid,
    exp.Neg,
    exp.Paren,
    exp.Add,
    exp.Sub,
    exp.Mul,
)


def _never_null(node: exp.Expr) -> bool:
    if isinstance(node, exp.Literal) or type(node) in _NUMBER_FUNCTIONS:
        return True
    if isinstance(node, _NOT_NULL_FUNCTIONS):
        return all(_never_null(arg) for arg in node.iter_expressions())
    return False


def output_columns(expr: exp.Expr, sql: str | None = None) -> tuple[OutputColumn, ...] | None:
    """What Snowflake says of a query's output columns where DuckDB differs, one per output column: the names
    Snowflake gives unaliased expressions (their text in the statement `sql`, upper case: `COUNT(*)`, `'B'`,
    `1.0::FLOAT`; as sqlglot writes them when the text cannot be matched; None where DuckDB's name is already
    Snowflake's: a column or an alias), and NOT NULL and precision for literals, SEQn, COUNT and the random
    functions. None when the columns cannot be matched to the projections (a `*`), or for anything but a query."""
    texts = projection_texts(sql) if sql is not None else None
    select = expr
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return None
    # a set operation's rows come from all its branches: only names are taken from the first
    facts = select is expr
    columns: list[OutputColumn] = []
    if texts is not None and len(texts) != len(select.expressions):
        texts = None
    for position, item in enumerate(select.expressions):
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
            return None
        plain = isinstance(item, (exp.Alias, exp.Column)) and not isinstance(item.this, exp.Star)
        value = item.this if isinstance(item, exp.Alias) else item
        text = texts[position] if texts is not None else item.sql(dialect="snowflake")
        columns.append(
            OutputColumn(
                name=None if plain else text.upper(),
                not_null=facts and _never_null(value),
                precision=_NUMBER_FUNCTIONS.get(type(value)) if facts else None,
            )
        )
    return tuple(columns) if any(c != OutputColumn() for c in columns) else None


_TOKENS_AFTER_PROJECTIONS = frozenset(
    {
        TokenType.FROM,
        TokenType.WHERE,
        TokenType.GROUP_BY,
        TokenType.HAVING,
        TokenType.QUALIFY,
        TokenType.WINDOW,
        TokenType.ORDER_BY,
        TokenType.LIMIT,
        TokenType.FETCH,
        TokenType.OFFSET,
        TokenType.INTO,
        TokenType.UNION,
        TokenType.INTERSECT,
        TokenType.EXCEPT,
        TokenType.SEMICOLON,
    }
)
_OPENING = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSING = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})


def projection_texts(sql: str) -> list[str] | None:
    """The text of each projection of the statement's outermost SELECT as written (`1.0::float`), or None when the
    statement has none at its top level or does not tokenize."""
    try:
        tokens = sqlglot.Dialect.get_or_raise("snowflake").tokenize(sql)
    except sqlglot.errors.TokenError:
        return None
    depth, start = 0, None
    for index, token in enumerate(tokens):
        depth += (token.token_type in _OPENING) - (token.token_type in _CLOSING)
        if depth == 0 and token.token_type == TokenType.SELECT:
            start = index + 1
            break
    if start is None:
        return None
    while start < len(tokens) and tokens[start].token_type in (TokenType.DISTINCT, TokenType.ALL, TokenType.TOP):
        start += 2 if tokens[start].token_type == TokenType.TOP else 1  # TOP n
    items: list[list[Any]] = [[]]
    for token in tokens[start:]:
        kind = token.token_type
        depth += (kind in _OPENING) - (kind in _CLOSING)
        if depth < 0 or (depth == 0 and kind in _TOKENS_AFTER_PROJECTIONS):
            break
        if depth == 0 and kind == TokenType.COMMA:
            items.append([])
        else:
            items[-1].append(token)
    if any(not item for item in items):
        return None
    return [sql[item[0].start : item[-1].end + 1] for item in items]


def _named(rowtype: list[dict[str, Any]], columns: tuple[OutputColumn, ...] | None) -> list[dict[str, Any]]:
    if columns is None or len(columns) != len(rowtype):
        return rowtype
    return [_as_snowflake(info, column) for info, column in zip(rowtype, columns, strict=True)]


def _as_snowflake(info: dict[str, Any], column: OutputColumn) -> dict[str, Any]:
    info = dict(info)
    if column.name is not None:
        info["name"] = column.name
    if column.not_null:
        info["nullable"] = False
    if column.precision is not None and info.get("type") == "fixed" and info.get("scale") == 0:
        info["precision"] = column.precision
    return info


#: The DML answer's columns (as fakesnow names them, Snowflake's names) -> the `stats` figure each counts.
_DML_COUNTS = {
    "number of rows inserted": "numRowsInserted",
    "number of rows updated": "numRowsUpdated",
    "number of rows deleted": "numRowsDeleted",
}


def dml_stats(columns: list[str], rowset: list[list[str | None]]) -> dict[str, int] | None:
    """A DML answer's counts as Snowflake's `stats`: every figure present, 0 for what the statement did not do;
    None (no `stats` sent) when it changed no row, as Snowflake."""
    stats = dict.fromkeys((*_DML_COUNTS.values(), "numDmlDuplicates"), 0)
    for row in rowset:
        for column, value in zip(columns, row, strict=False):
            # a multi-table insert counts each target: "number of rows inserted into T1", "... into T2"
            figure = _DML_COUNTS.get(re.sub(r" into .*", "", column.lower()))
            if figure is not None and value is not None:
                stats[figure] += int(value)
    return stats if any(stats.values()) else None


# ---------------------------------------------------------------------------------------------------------------
# Row counts Snowflake reports and DuckDB does not: CTAS, TRUNCATE, UPDATE ... FROM


def _counts_before(
    conn: FakeSnowflakeConnection, expr: exp.Expr, params: tuple[Any, ...] | dict[str, Any] | None
) -> dict[str, int] | None:
    """The `stats` figures of a statement that must be counted before it runs: the rows a TRUNCATE deletes, and
    the rows an UPDATE ... FROM changes (each once: Snowflake counts a target row that its join matches several
    times as one row updated plus duplicates; DuckDB counts every match). None for other statements; {} (no
    figures) for a CREATE TABLE IF NOT EXISTS ... AS SELECT of a table that exists, which inserts nothing."""
    created = _created_table(expr)
    if created is not None and expr.args.get("exists") and _table_exists(conn, created):
        return {}
    if isinstance(expr, exp.TruncateTable) and len(expr.expressions) == 1:
        table = expr.expressions[0]
        return {"numRowsDeleted": _count(conn, exp.select(exp.Count(this=exp.Star())).from_(table.copy()))}
    if isinstance(expr, exp.Update) and isinstance(expr.args.get("from_"), exp.From):
        pairs, rows = _update_matches(conn, expr, params)
        return {"numRowsUpdated": rows, "numDmlDuplicates": pairs - rows}
    return None


def _counts_after(conn: FakeSnowflakeConnection, expr: exp.Expr) -> dict[str, int] | None:
    """The rows a CREATE TABLE ... AS SELECT inserted (Snowflake reports them; fakesnow answers with a message)."""
    table = _created_table(expr)
    if table is None:
        return None
    return {"numRowsInserted": _count(conn, exp.select(exp.Count(this=exp.Star())).from_(table.copy()))}


def _created_table(expr: exp.Expr) -> exp.Table | None:
    """The table a CREATE TABLE ... AS SELECT creates; None for any other statement."""
    if not isinstance(expr, exp.Create) or str(expr.args.get("kind") or "").upper() != "TABLE":
        return None
    table = expr.this.this if isinstance(expr.this, exp.Schema) else expr.this
    return table if isinstance(expr.expression, exp.Query) and isinstance(table, exp.Table) else None


def _update_matches(
    conn: FakeSnowflakeConnection, update: exp.Update, params: tuple[Any, ...] | dict[str, Any] | None
) -> tuple[int, int]:
    """(pairs of target row and FROM row the UPDATE's join matches, distinct target rows among them), with the
    statement's binds of its FROM and WHERE."""
    target = update.this
    alias = target.args.get("alias")
    name = alias.this if isinstance(alias, exp.TableAlias) and alias.this is not None else target.this
    rowid = exp.Column(this=exp.to_identifier("rowid"), table=name.copy())
    select = exp.select(exp.Count(this=exp.Star()), exp.Count(this=exp.Distinct(expressions=[rowid])))
    select = select.from_(target.copy())
    select.append("joins", exp.Join(this=update.args["from_"].this.copy()))
    where = update.args.get("where")
    if where is not None:
        select.set("where", where.copy())
    values = _binds_of(update, [update.args["from_"], where], params)
    # each placeholder a positional `?`, bound to the value it stood for in the UPDATE
    query = select.transform(lambda node: exp.Placeholder() if isinstance(node, exp.Placeholder) else node)
    pairs, rows = _first_row(conn, query, values)
    return int(pairs), int(rows)


def _binds_of(
    statement: exp.Expr, parts: list[Any], params: tuple[Any, ...] | dict[str, Any] | None
) -> tuple[Any, ...] | None:
    """The values the placeholders of `parts` (of `statement`) stand for, in their order: a `?` by its position
    in the statement, `:n` by its number, `:name` by its name."""
    position = {id(p): i for i, p in enumerate(statement.find_all(exp.Placeholder, bfs=False))}
    used = [p for part in parts if part is not None for p in part.find_all(exp.Placeholder, bfs=False)]
    if not used or params is None:
        return None
    if isinstance(params, dict):
        return tuple(params[p.name] for p in used)
    return tuple(params[int(p.name) - 1] if p.name.isdigit() else params[position[id(p)]] for p in used)


def _count(conn: FakeSnowflakeConnection, select: exp.Select) -> int:
    return int(_first_row(conn, select)[0])


def _first_row(
    conn: FakeSnowflakeConnection, select: exp.Expr, binds: tuple[Any, ...] | None = None
) -> tuple[Any, ...]:
    """The first row of a query of ours, run through fakesnow (which resolves names as for the statement)."""
    cur = conn.cursor()
    cur.execute(select.sql(dialect="snowflake"), binding_params=binds, server=True)
    return tuple(cur.fetchone() or ())


def _table_exists(conn: FakeSnowflakeConnection, table: exp.Expr) -> bool:
    try:
        _count(conn, exp.select(exp.Count(this=exp.Star())).from_(table.copy()).where(exp.false()))
    except (SnowflakeError, duckdb.CatalogException):
        return False
    return True


def _with_counts(result: StatementResult, counts: dict[str, int] | None) -> StatementResult:
    """The result with `counts` in its `stats` (and an UPDATE's rows updated in its answer, which the driver's
    `rowcount` sums); as it is without counts."""
    if counts is None:
        return result
    stats = {**dict.fromkeys((*_DML_COUNTS.values(), "numDmlDuplicates"), 0), **(result.stats or {}), **counts}
    rowset, produced = result.json_rowset, result.rows_produced
    if rowset and "numRowsUpdated" in counts and result.rowtype[0]["name"].lower() == "number of rows updated":
        rowset, produced = [[str(counts["numRowsUpdated"]), *rowset[0][1:]]], counts["numRowsUpdated"]
    return dataclasses.replace(
        result, stats=stats if any(stats.values()) else None, json_rowset=rowset, rows_produced=produced
    )


def _describe_expression(last_sql: str) -> exp.Expr:
    # what fakesnow's `_describe_last_sql` parses: the result's columns come from DuckDB's DESCRIBE
    if last_sql.startswith("SELECT setseed("):
        # RANDOM(seed): fakesnow runs `SELECT setseed(..); <the query>`, whose result is the query's
        statements = [e for e in sqlglot.parse(last_sql, read="duckdb") if e is not None]
        return exp.Describe(this=statements[-1])
    return sqlglot.parse_one(f"DESCRIBE {last_sql}", read="duckdb")


def _describe(cur: Any, describe: exp.Expr) -> list[tuple[Any, ...]]:
    """fakesnow's `_describe_last_sql`, given its parse: DuckDB's DESCRIBE of the statement `cur` just ran."""
    with cur._conn.cursor() as other:  # another cursor: this one's result is still to be read
        other._execute(describe.copy(), cur._last_params)
        rows: list[tuple[Any, ...]] = other.fetchall()
        return rows


# ---------------------------------------------------------------------------------------------------------------
# Plans: what fakesnow computes from a query's text alone, computed once per text


@dataclasses.dataclass(frozen=True)
class _Plan:
    """A query as fakesnow transformed it, for later runs of the same text. Its expressions are never handed to
    fakesnow (which changes what it is given): each run gets copies, so threads share nothing they change."""

    type_id: int
    transformed: exp.Expr
    has_placeholder: bool
    last_sql: str  # the DuckDB SQL fakesnow ran
    describe: exp.Expr  # its parse of DESCRIBE <last_sql>
    names: tuple[OutputColumn, ...] | None  # `output_columns` of the statement
    declared: tuple[_Declared, ...] | None = None  # `declared_types` of the statement
    #: The result's columns for an asynchronous query, by the binds' types and the catalog's generation (see
    #: `_plan_rowtype`).
    rowtypes: dict[tuple[int, tuple[Any, ...]], list[dict[str, Any]]] = dataclasses.field(
        default_factory=dict, compare=False
    )


_PlanKey = tuple[str, str | None, str | None, bool, bool]


class PlanCache:
    """The last plans, least recently used out first, at most `size` of them and `max_bytes` of them (estimated:
    their texts and each expression tree's nodes and strings); thread-safe.

    Parsing and transforming a statement is ~10 ms of Python (holding the GIL) while its DuckDB run is ~1 ms: a
    connector that submits the same text many times pays it once. A plan is keyed by all a SELECT's transform
    reads besides its text: the connection's database and schema, and whether each is set (fakesnow refuses an
    unqualified table otherwise). Binds are not part of it: a reused plan binds each run's values afresh. A plan
    of more than an eighth of `max_bytes` is not kept: a few long texts would push out every other plan.
    """

    def __init__(self, size: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._plans: collections.OrderedDict[_PlanKey, tuple[_Plan, int]] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: _PlanKey) -> _Plan | None:
        with self._lock:
            kept = self._plans.get(key)
            if kept is None:
                return None
            self._plans.move_to_end(key)
            self.hits += 1
            return kept[0]

    def put(self, key: _PlanKey, plan: _Plan) -> None:
        weight = plan_bytes(key[0], plan)
        if weight > self._max_bytes // 8:
            return
        with self._lock:
            old = self._plans.pop(key, None)
            self._bytes += weight - (old[1] if old else 0)
            self._plans[key] = (plan, weight)
            while len(self._plans) > self._size or self._bytes > self._max_bytes:
                self._bytes -= self._plans.popitem(last=False)[1][1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._plans)

    @property
    def nbytes(self) -> int:
        """The kept plans' estimated size."""
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
            self._bytes = 0
            self.hits = 0


#: What one node of a sqlglot expression takes besides its strings (measured: ~490 bytes on CPython 3.11).
_NODE_BYTES = 500


def plan_bytes(sql: str, plan: _Plan) -> int:
    """About what keeping `plan` for `sql` takes: the texts, and the nodes and strings of its two trees."""
    return (
        sys.getsizeof(sql) + sys.getsizeof(plan.last_sql) + _tree_bytes(plan.transformed) + _tree_bytes(plan.describe)
    )


def _tree_bytes(tree: exp.Expr) -> int:
    total = 0
    for node in tree.walk():
        total += _NODE_BYTES + sum(sys.getsizeof(v) for v in node.args.values() if isinstance(v, str))
    return total


#: One for the process: a plan depends only on its key (fakesnow's transforms of a SELECT read no database state).
PLANS = PlanCache()


# a query of INFORMATION_SCHEMA lists its session's temporary tables (`_temporary_catalog`): planned for that session
_INFORMATION_SCHEMA = re.compile("information_schema", re.IGNORECASE)


def _plan_key(conn: FakeSnowflakeConnection, sql: str) -> _PlanKey | None:
    # A `$` may be a session variable, which fakesnow inlines into the text before parsing: such text is not
    # planned (nor are connections with fakesnow's no-op patterns, which we never set).
    if "$" in sql or conn.nop_regexes or _INFORMATION_SCHEMA.search(sql):
        return None
    return (sql, conn.database, conn.schema, conn.database_set, conn.schema_set)


def _reusable(expr: exp.Expr, transformed: exp.Expr) -> bool:
    """Whether fakesnow's transform of this statement depended on its text and the plan key only.

    Only queries: their transforms change no state (SET, USE, CREATE... change the session or the catalog). Not
    IDENTIFIER(:1) (its table comes from the bind), nor a statement fakesnow marked with an argument of its own
    (RANDOM(seed), RESULT_SCAN, PUT...: its run does more than execute the DuckDB SQL)."""
    if not isinstance(expr, (exp.Select, exp.SetOperation)):
        return False
    if expr.find(exp.DynamicIdentifier) or any(
        isinstance(node, exp.Anonymous) and str(node.this).upper() == "IDENTIFIER" for node in expr.walk()
    ):
        return False
    return set(transformed.args) <= set(type(transformed).arg_types)


def _run_plan(
    conn: FakeSnowflakeConnection, plan: _Plan, params: tuple[Any, ...] | dict[str, Any] | None
) -> StatementResult:
    """fakesnow's cursor `execute` for a statement already parsed and transformed: its `_execute` of a copy."""
    generation = CATALOG.generation  # before the run: a change of the catalog meanwhile makes a new one
    cur = conn.cursor()
    # as fakesnow's `execute` passes server binds: a list (or dict), and none to SQL without placeholders
    values = params if params is None or isinstance(params, (list, dict)) else list(params)
    cur._execute(plan.transformed.copy(), values if plan.has_placeholder else None)
    rowtype = _named(_plan_rowtype(conn, cur, plan, params, generation), plan.names)
    rowtype = with_declared_types(conn, rowtype, plan.declared)
    return _result(conn, cur, plan.type_id, rowtype, None, 0)


def _plan_rowtype(
    conn: FakeSnowflakeConnection,
    cur: Any,
    plan: _Plan,
    params: tuple[Any, ...] | dict[str, Any] | None,
    generation: int,
) -> list[dict[str, Any]]:
    """The result's columns: DuckDB's DESCRIBE of what ran, kept on the plan for asynchronous queries.

    The DESCRIBE is a statement of its own through fakesnow (~2.5 ms of Python); a connector that submits one
    text many times asks it the same question each time. Its answer depends on the text (the plan), the catalog
    (the tables' columns: `CATALOG.generation` moves on with every statement that is not a query) and the binds'
    types, which DuckDB infers from their values (an int's size, a decimal's digits). Only for the connections
    of asynchronous queries, which see no session's temporary tables, so the answer is the same for all of them.
    """
    if cur._last_sql != plan.last_sql:
        return _rowtype(_describe(cur, _describe_expression(str(cur._last_sql))))
    binds = _bind_types(params) if getattr(conn, "is_fork", False) else None
    if binds is None:
        return _rowtype(_describe(cur, plan.describe))
    key = (generation, binds)
    rowtype = plan.rowtypes.get(key)
    if rowtype is None:
        rowtype = _rowtype(_describe(cur, plan.describe))
        if len(plan.rowtypes) >= 64:
            plan.rowtypes.clear()
        plan.rowtypes[key] = rowtype
    return [dict(column) for column in rowtype]


def _bind_types(params: tuple[Any, ...] | dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What of the binds DuckDB's DESCRIBE depends on (None: a bind this does not know; describe each time)."""
    if params is None:
        return ()
    items = params.items() if isinstance(params, dict) else enumerate(params)
    out: list[Any] = []
    for name, value in items:
        kind = type(value)
        if value is None or kind in (bool, float, str, bytes, dt.date, dt.time):
            out.append((name, kind))
        elif kind is int:
            out.append((name, kind, value < 0, value.bit_length()))  # INTEGER, BIGINT, HUGEINT... by size
        elif kind is decimal.Decimal:
            _sign, digits, exponent = value.as_tuple()
            out.append((name, kind, len(digits), exponent))  # DECIMAL(width, scale)
        elif kind is dt.datetime:
            out.append((name, kind, value.tzinfo is None))  # TIMESTAMP or TIMESTAMP WITH TIME ZONE
        else:
            return None
    return tuple(out)


class Catalog:
    """A counter that moves on each time a statement that may change tables or views has run."""

    def __init__(self) -> None:
        self.generation = 0
        self._lock = threading.Lock()

    def changed(self) -> None:
        with self._lock:
            self.generation += 1


#: One for the process, like `PLANS`.
CATALOG = Catalog()


# ---------------------------------------------------------------------------------------------------------------
# Statements we recognise before fakesnow sees them


@dataclasses.dataclass(frozen=True)
class Classified:
    """What a statement is, for the few kinds the emulator answers itself. `kind` is one of:
    "cancel" (arg: query id), "result_scan" (arg: query id or "" for LAST_QUERY_ID()), "history"
    (arg: function name, duckdb_sql: the query over a `query_history` relation, options: named arguments),
    "parameters" (statement: ALTER SESSION or SHOW PARAMETERS), "attribution" (duckdb_sql: the query over a
    `query_attribution_history` relation), or "sql" (anything else, run by fakesnow)."""

    kind: str
    arg: str = ""
    duckdb_sql: str = ""
    options: dict[str, str] = dataclasses.field(default_factory=dict)
    #: "history": the query ids its WHERE allows (`QUERY_ID = ...` or `QUERY_ID IN (...)` at the top of the
    #: condition), each as ("literal", id) or ("bind", position or name); None when it does not name them.
    query_ids: tuple[tuple[str, Any], ...] | None = None
    #: "history": when the statement only picks columns (plain or renamed, or `*`) of the rows `query_ids`
    #: names, with no other condition, ordering or grouping: (column, output name) pairs ("*": all columns).
    projection: tuple[tuple[str, str], ...] | None = None
    #: "parameters": the statement about session parameters
    statement: _parameters.ParameterStatement | None = None


#: The ACCOUNT_USAGE view of the credits Snowflake attributes to each query (answered by the engine).
ATTRIBUTION_VIEW = "QUERY_ATTRIBUTION_HISTORY"
_QUICK = re.compile(
    r"SYSTEM\$CANCEL_QUERY|RESULT_SCAN|QUERY_HISTORY|QUERY_ATTRIBUTION_HISTORY|ALTER\s+SESSION|SHOW\s+PARAMETERS",
    re.IGNORECASE,
)


def may_be_about_queries(sql: str) -> bool:
    """False when the text cannot be one of the statements `classify` recognises (a quick look, no parsing)."""
    return _QUICK.search(sql) is not None


def classify(sql: str) -> Classified:
    if not may_be_about_queries(sql):
        return Classified("sql")
    return _classify_text(sql) if len(sql) < 10_000 else _classify_uncached(sql)


def _classify_uncached(sql: str) -> Classified:
    parameters = _parameters.parse(sql)
    if parameters is not None:
        return Classified("parameters", statement=parameters)
    try:
        expr = sqlglot.parse_one(sql, read="snowflake")
    except sqlglot.errors.ParseError:
        return Classified("sql")  # fakesnow reports the syntax error
    return _classify(expr) or Classified("sql")


#: The same text is classified once (a history look-up's SELECT is ~2 ms of sqlglot): the connector's look-ups
#: bind the query id, and their text differs only in the second their range starts from, so look-ups of the
#: queries submitted within one second share it.
_classify_text = functools.lru_cache(maxsize=256)(_classify_uncached)


def history_filter(classified: Classified, params: Any) -> frozenset[str] | None:
    """The query ids a history statement can return, from its `query_ids` and the run's binds (None: any)."""
    if classified.query_ids is None:
        return None
    wanted = set()
    for how, where in classified.query_ids:
        if how == "literal":
            wanted.add(str(where))
            continue
        try:
            value = params[where] if isinstance(params, dict) else params[int(where) - 1]
        except (TypeError, IndexError, KeyError, ValueError):
            return None
        if not isinstance(value, str):
            return None  # DuckDB compares it its own way: keep every row for the WHERE to decide
        wanted.add(value)
    return frozenset(wanted)


def _required_query_ids(where: exp.Expr | None, placeholders: int, alias: str) -> tuple[tuple[str, Any], ...] | None:
    """`QUERY_ID = 'x'`, `= :1` or `IN ('x', :2, ...)` (also inside a top-level AND): the ids the answer's rows
    can have."""
    condition = where.this if isinstance(where, exp.Where) else None
    conjuncts = list(condition.flatten()) if isinstance(condition, exp.And) else [condition]
    for node in conjuncts:
        if isinstance(node, exp.EQ):
            pairs = [(node.this, [node.expression]), (node.expression, [node.this])]
        elif isinstance(node, exp.In) and not node.args.get("query") and not node.args.get("unnest"):
            pairs = [(node.this, list(node.expressions))]
        else:
            continue
        for column, values in pairs:
            if not (isinstance(column, exp.Column) and column.name.upper() == "QUERY_ID"):
                continue
            if column.table and column.table.upper() != alias.upper():
                continue
            only_here = placeholders == len(values)
            refs = [_id_reference(value, position, only_here) for position, value in enumerate(values)]
            if values and all(ref is not None for ref in refs):
                return tuple(ref for ref in refs if ref is not None)
    return None


_CLAUSES_BESIDES_COLUMNS = ("joins", "group", "having", "order", "limit", "offset", "distinct", "qualify", "with")


def _projection(select: exp.Expr, alias: str) -> tuple[tuple[str, str], ...] | None:
    """The (column, output name) pairs of a history SELECT that only picks columns of the rows its WHERE names by
    query id (the WHERE being that condition alone); None when it does anything else."""
    if not isinstance(select, exp.Select) or any(select.args.get(c) for c in _CLAUSES_BESIDES_COLUMNS):
        return None
    where = select.args.get("where")
    if not isinstance(where, exp.Where) or not isinstance(where.this, (exp.EQ, exp.In)):
        return None
    pairs = []
    for item in select.expressions:
        column, output = (item.this, item.alias) if isinstance(item, exp.Alias) else (item, None)
        if isinstance(column, exp.Star) and output is None:
            pairs.append(("*", "*"))
            continue
        if not isinstance(column, exp.Column) or isinstance(column.this, exp.Star):
            return None
        if column.table and column.table.upper() != alias.upper():
            return None
        pairs.append((column.name, output or column.name))
    return tuple(pairs) or None


def _id_reference(value: exp.Expr, position: int, only_binds_here: bool) -> tuple[str, Any] | None:
    """One value a query id is compared with: a string literal or a bind (None: anything else)."""
    if isinstance(value, exp.Literal) and value.is_string:
        return ("literal", value.this)
    if not isinstance(value, exp.Placeholder):
        return None
    name = str(value.this or "")
    if name.isdigit():
        return ("bind", int(name))
    if name:
        return ("bind", name)
    # `?` binds in order: its position here is its bind's only when every bind of the statement is here
    return ("bind", position + 1) if only_binds_here else None


def _classify(expr: exp.Expr) -> Classified | None:
    if not isinstance(expr, exp.Select):
        return None
    attribution = _attribution(expr)
    if attribution is not None:
        return attribution
    selects = expr.expressions
    if len(selects) == 1 and isinstance(selects[0], exp.Anonymous):
        fn = selects[0]
        if fn.name.upper() == "SYSTEM$CANCEL_QUERY" and fn.expressions:
            return Classified("cancel", str(fn.expressions[0].this))
    for node in expr.find_all(exp.TableFromRows):
        fn = node.this.expression if isinstance(node.this, exp.Dot) else node.this
        if not isinstance(fn, exp.Anonymous):
            continue
        name = fn.name.upper()
        if name == "RESULT_SCAN" and fn.expressions:
            arg = fn.expressions[0]
            qid = str(arg.this) if isinstance(arg, exp.Literal) else ""
            return Classified("result_scan", qid)
        if name in HISTORY_FUNCTIONS:
            options = {
                kw.this.name.upper(): str(kw.expression.this) for kw in fn.expressions if isinstance(kw, exp.Kwarg)
            }
            query_ids = None
            source = expr.args.get("from_") or expr.args.get("from")  # sqlglot 30 names it "from_"
            if source is not None and source.this is node and not expr.args.get("joins"):  # its rows only
                placeholders = sum(1 for _ in expr.find_all(exp.Placeholder))
                query_ids = _required_query_ids(expr.args.get("where"), placeholders, node.alias_or_name)
            node.replace(exp.Table(this=exp.to_identifier("QUERY_HISTORY"), alias=node.args.get("alias")))
            upper = expr.transform(fs_transforms.upper_case_unquoted_identifiers)
            projection = _projection(upper, node.alias_or_name) if query_ids is not None else None
            return Classified("history", name, upper.sql(dialect="duckdb"), options, query_ids, projection)
    return None


def _attribution(expr: exp.Select) -> Classified | None:
    """A query over SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY, as DuckDB SQL over a relation of that name."""
    found = False
    for table in expr.find_all(exp.Table):
        if table.name.upper() == ATTRIBUTION_VIEW and table.db.upper() in ("", "ACCOUNT_USAGE"):
            table.replace(exp.Table(this=exp.to_identifier(ATTRIBUTION_VIEW), alias=table.args.get("alias")))
            found = True
    if not found:
        return None
    upper = expr.transform(fs_transforms.upper_case_unquoted_identifiers)
    return Classified("attribution", ATTRIBUTION_VIEW, upper.sql(dialect="duckdb"))


@functools.cache
def _table_database() -> duckdb.DuckDBPyConnection:
    """One empty in-memory DuckDB database for SQL over Arrow tables we build (query history); each run takes
    its own cursor of it, where the table is registered: runs never see each other's tables. A new database per
    run cost ~35 ms, which a connector reading the figures of many finished queries paid for each one."""
    return duckdb.connect()


def run_on_table(sql: str, name: str, table: pa.Table, params: Any = None) -> pa.Table:
    """Run DuckDB SQL over one Arrow table registered as `name` (query history), on a connection of its own."""
    with _table_database().cursor() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register(name, table)
        try:
            return con.execute(sql, params).to_arrow_table()
        except duckdb.Error as exc:
            raise _translate_duckdb_error(exc) from None


def split_statements(sql: str, params: tuple[Any, ...] | None) -> list[tuple[str, tuple[Any, ...] | None]]:
    """A multi-statement text -> (statement, its own binds). `?` take binds in order; `:N` pick bind N."""
    exprs = [e for e in parse(sql) if e is not None and not isinstance(e, exp.Semicolon)]
    if not params:
        return [(e.sql(dialect="snowflake"), None) for e in exprs]
    out: list[tuple[str, tuple[Any, ...] | None]] = []
    position = 0
    for e in exprs:
        mine: list[Any] = []
        for ph in list(e.find_all(exp.Placeholder, bfs=False)):
            if ph.this and str(ph.this).isdigit():
                mine.append(params[int(ph.this) - 1])
            else:
                mine.append(params[position])
                position += 1
            ph.replace(exp.Placeholder())
        out.append((e.sql(dialect="snowflake"), tuple(mine) or None))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Statements that take their time: SYSTEM$WAIT and GENERATOR(TIMELIMIT => n)

_TIMED = re.compile(r"SYSTEM\$WAIT|TIMELIMIT", re.IGNORECASE)
_WAIT_UNITS = {"SECONDS": 1.0, "MILLISECONDS": 0.001, "MINUTES": 60.0, "HOURS": 3600.0}
#: Rows a `GENERATOR(TIMELIMIT => n)` without ROWCOUNT produces per second of its limit (Snowflake's count depends
#: on the warehouse; the emulator's is fixed, so a test can rely on it).
GENERATOR_ROWS_PER_SECOND = 1000


@dataclasses.dataclass(frozen=True)
class Timed:
    """A statement that waits: `seconds` to hold it RUNNING (cancellable), then `sql` runs without the waits."""

    seconds: float
    sql: str


def timed(sql: str) -> Timed | None:
    """`SELECT SYSTEM$WAIT(2)` and `... TABLE(GENERATOR(TIMELIMIT => 5))` -> how long they take and the SQL that
    runs after the wait (SYSTEM$WAIT's answer as a literal; the generator's rows by ROWCOUNT). None otherwise."""
    if _TIMED.search(sql) is None:
        return None
    try:
        expr = parse_one(sql)
    except SnowflakeError:
        return None  # the run reports the syntax error
    if expr is None:
        return None
    seconds, changed = 0.0, False
    for node in list(expr.find_all(exp.Anonymous)):
        if node.name.upper() == "SYSTEM$WAIT":
            waited, answer = _wait_seconds(node)
            seconds, changed = seconds + waited, True
            literal: exp.Expr = exp.Literal.string(answer)
            if isinstance(node.parent, exp.Select):  # an unaliased column keeps the call's name
                literal = exp.alias_(literal, node.sql(dialect="snowflake"), quoted=True)
            node.replace(literal)
    for generator in list(expr.find_all(exp.Generator)):
        limit = generator.args.get("timelimit")
        if limit is None:
            continue
        limit_s = _constant_number(limit, "TIMELIMIT")
        seconds, changed = max(seconds, limit_s), True
        generator.set("timelimit", None)
        if generator.args.get("rowcount") is None:
            rows = max(1, int(limit_s * GENERATOR_ROWS_PER_SECOND))
            generator.set("rowcount", exp.Literal.number(rows))
    if not changed:
        return None
    return Timed(seconds, expr.sql(dialect="snowflake"))


def _wait_seconds(call: exp.Anonymous) -> tuple[float, str]:
    """SYSTEM$WAIT(amount [, unit]) -> (seconds, Snowflake's answer `waited 2 seconds`)."""
    args = call.expressions
    if not args or len(args) > 2:
        raise ProgrammingError(
            msg="SQL compilation error:\nerror line 1 at position 7\ninvalid argument count for function SYSTEM$WAIT",
            errno=938,
            sqlstate="22023",
        )
    amount = _constant_number(args[0], "SYSTEM$WAIT")
    unit = "SECONDS"
    if len(args) == 2:
        unit = str(args[1].this).upper() if isinstance(args[1], exp.Literal) and args[1].is_string else ""
        if unit not in _WAIT_UNITS:
            raise ProgrammingError(
                msg=f"Invalid time unit for SYSTEM$WAIT: {args[1].sql()}; use one of {', '.join(_WAIT_UNITS)}",
                errno=100069,
                sqlstate="22023",
            )
    shown = int(amount) if amount == int(amount) else amount
    return amount * _WAIT_UNITS[unit], f"waited {shown} {unit.lower()}"


def _constant_number(node: exp.Expr, function: str) -> float:
    value = node.this if isinstance(node, exp.Literal) and not node.is_string else None
    try:
        number = float(str(value)) if value is not None else -1.0
    except ValueError:
        number = -1.0
    if number < 0:
        raise ProgrammingError(
            msg=f"SQL compilation error:\nargument to function {function} needs to be a non-negative constant number,"
            f" found '{node.sql(dialect='snowflake')}'",
            errno=2140 if function == "SYSTEM$WAIT" else 1070,
            sqlstate="42601",
        )
    return number


# ---------------------------------------------------------------------------------------------------------------
# The session's context functions: CURRENT_USER(), CURRENT_ACCOUNT_NAME(), CURRENT_SCHEMA()...

_CONTEXT_RE = re.compile(
    r"CURRENT_(USER|ROLE|WAREHOUSE|ACCOUNT|ACCOUNT_NAME|REGION|ORGANIZATION_NAME|SCHEMA|DATABASE|TRANSACTION)\b",
    re.IGNORECASE,
)
_CONTEXT_NODES: dict[type[exp.Expr], str] = {
    exp.CurrentUser: "user",
    exp.CurrentRole: "role",
    exp.CurrentWarehouse: "warehouse",
    exp.CurrentAccount: "account",
    exp.CurrentAccountName: "account_name",
    exp.CurrentRegion: "region",
    exp.CurrentOrganizationName: "organization_name",
    exp.CurrentSchema: "schema",
    exp.CurrentDatabase: "database",
    exp.CurrentTransaction: "transaction",
}
#: The region the emulator says it runs in (Snowflake's region ids: AWS_US_WEST_2, AZURE_WESTEUROPE...).
REGION = "AWS_US_WEST_2"


@dataclasses.dataclass(frozen=True)
class SessionContext:
    """Who runs a statement, for the context functions (the database and schema come from the connection)."""

    user: str
    role: str | None
    warehouse: str | None
    account: str

    def values(self, conn: FakeSnowflakeConnection) -> dict[str, str | None]:
        # `org-account` names an organization and an account in it; `locator[.region[.cloud]]` an account only
        identifier = self.account.split(".", 1)[0].upper()
        organization, _, name = identifier.rpartition("-")
        return {
            "user": self.user,
            "role": self.role,
            "warehouse": self.warehouse,
            "account": name,
            "account_name": name,
            "region": REGION,
            "organization_name": organization or None,
            "database": conn.database if conn.database_set else None,
            "schema": conn.schema if conn.schema_set else None,
            "transaction": transaction_id(conn),
        }


def with_context(sql: str, conn: FakeSnowflakeConnection, context: SessionContext | None) -> str:
    """`sql` with the session's context functions answered (a literal, or a VARCHAR NULL where the session has
    none: CURRENT_SCHEMA() without a schema); unchanged when it calls none of them, or is not a query or DML."""
    if context is None or _CONTEXT_RE.search(sql) is None:
        return sql
    try:
        expr = parse_one(sql)
    except SnowflakeError:
        return sql  # the run reports the syntax error
    if not isinstance(expr, (exp.Select, exp.SetOperation, exp.Insert, exp.Update, exp.Delete)):
        return sql
    values: dict[str, str | None] | None = None
    for node in list(expr.find_all(*_CONTEXT_NODES)):
        values = values if values is not None else context.values(conn)
        value = values[_CONTEXT_NODES[type(node)]]
        literal: exp.Expr = exp.Literal.string(value) if value is not None else exp.cast(exp.Null(), "VARCHAR")
        if isinstance(node.parent, exp.Select):  # an unaliased column keeps the call's name
            literal = exp.alias_(literal, node.sql(dialect="snowflake"), quoted=True)
        node.replace(literal)
    return sql if values is None else expr.sql(dialect="snowflake")


# ---------------------------------------------------------------------------------------------------------------
# Bound format arguments: TO_CHAR(?, ?), TO_DATE(?, ?), TO_TIMESTAMP(?, ?)...

_FORMAT_FUNCTIONS = re.compile(r"\bTO_(CHAR|VARCHAR|DATE|TIME|TIMESTAMP\w*|NUMBER|DECIMAL|NUMERIC)\s*\(", re.IGNORECASE)


def _temporal_type(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return "TIMESTAMP_NTZ" if value.tzinfo is None else "TIMESTAMP_TZ"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, dt.time):
        return "TIME"
    return None


def inline_format_binds(
    sql: str, params: tuple[Any, ...] | dict[str, Any] | None
) -> tuple[str, tuple[Any, ...] | dict[str, Any] | None]:
    """A bound format argument as the literal it is (`TO_CHAR(?, ?)` with 'YYYY-MM-DD' -> `TO_CHAR(?, 'YYYY-MM-DD')`)
    and the binds without it: fakesnow translates a format only when it is a literal. Unchanged otherwise."""
    if not isinstance(params, tuple) or not params or _FORMAT_FUNCTIONS.search(sql) is None:
        return sql, params
    try:
        expr = parse_one(sql)
    except SnowflakeError:
        return sql, params
    placeholders = list(expr.find_all(exp.Placeholder, bfs=False))
    names = [str(p.this or "") for p in placeholders]
    numbered = bool(names) and all(n.isdigit() for n in names)
    if not numbered and (any(names) or len(placeholders) != len(params)):
        return sql, params
    index = {id(p): (int(n) - 1 if numbered else i) for i, (p, n) in enumerate(zip(placeholders, names, strict=True))}
    inlined = {
        index[id(fmt)]
        for fmt in (node.args.get("format") for node in expr.walk())
        if isinstance(fmt, exp.Placeholder)
        and 0 <= index[id(fmt)] < len(params)
        and isinstance(params[index[id(fmt)]], str)
    }
    if not inlined or any(
        index[id(p)] in inlined and p.parent is not None and p.arg_key != "format" for p in placeholders
    ):
        return sql, params  # a bound format used elsewhere too: leave it to fakesnow
    # the formatted value's type decides how the format reads: a bound date or time is cast to its type
    # (sqlglot knows a literal's type, not a bind's: TO_CHAR(?, fmt) of a date came out as plain text)
    casts: list[tuple[exp.Placeholder, str]] = []
    for node in expr.walk():
        value = node.args.get("this") if isinstance(node.args.get("format"), exp.Literal | exp.Placeholder) else None
        if isinstance(value, exp.Placeholder) and 0 <= index[id(value)] < len(params):
            bound = params[index[id(value)]]
            if isinstance(node, exp.ToChar) and isinstance(bound, int | float | decimal.Decimal):
                raise ProgrammingError(  # fakesnow would ignore the format and answer the plain number
                    msg="TO_CHAR of a number with a format is not emulated by the local Snowflake",
                    errno=2,
                    sqlstate="0A000",
                )
            sf_type = _temporal_type(bound)
            if sf_type is not None:
                casts.append((value, sf_type))
    kept = [i for i in range(len(params)) if i not in inlined]
    renumbered = {old: new for new, old in enumerate(kept, start=1)}
    for placeholder in placeholders:
        position = index[id(placeholder)]
        if position in inlined:
            placeholder.replace(exp.Literal.string(params[position]))
        elif numbered:
            placeholder.set("this", str(renumbered[position]))
    for placeholder, sf_type in casts:
        placeholder.replace(exp.cast(placeholder.copy(), sf_type, dialect="snowflake"))
    return expr.sql(dialect="snowflake"), tuple(params[i] for i in kept)
