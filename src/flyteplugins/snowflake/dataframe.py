"""Query results as dataframes: `snowflake://` references, Parquet materialization, readers and writers.

A Snowflake task's `results` output reaches the next task in one of two forms (`SnowflakeConfig.results`):

* **materialized** (default): the connector streams the result as Arrow batches into Parquet below the task's
  output prefix (`materialize`). Downstream tasks read plain Parquet with flyte's own readers: no Snowflake
  credentials, no 24 h result-cache expiry, and Flyte's cache can reuse it.
* **reference**: a `snowflake://{user}/{account}/{warehouse}/{database}/{schema}/{query_id}?...` URI
  (`result_reference`); the reader logs in from the downstream task and streams the result from Snowflake.
  The query string carries the non-secret connection settings and the *names* of the secrets, never a value:
  `?role=ANALYST&snowflake_private_key=SNOWFLAKE_PRIVATE_KEY`. The reader takes each secret from the
  environment variable so named (Flyte mounts secrets as environment variables).

A task that returns a dataframe wrapped with a table URI writes it into Snowflake (`table_uri`), in one
transaction: `DataFrame.wrap_df(df, uri=table_uri(config, "EVENTS", mode="overwrite", secrets=...))`.

`register_handlers()` registers the readers and writers for pandas, pyarrow and polars. Importing this module
imports none of them: a library is registered when it has been imported, or as soon as it is.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode

from .errors import MissingSecretError, SnowflakeConfigError, SnowflakeError, SnowflakeInputError, translate

if TYPE_CHECKING:
    import pyarrow as pa
    from flyte.io import DataFrame
    from flyteidl2.core import literals_pb2, types_pb2

    from .config import SnowflakeConfig
    from .metadata import SnowflakeJobMetadata

__all__ = [
    "MATERIALIZE",
    "REFERENCE",
    "SnowflakeLocation",
    "materialize",
    "register_handlers",
    "result_reference",
    "table_uri",
]

logger = logging.getLogger("flyte.snowflake")

T = TypeVar("T")

SCHEME = "snowflake"
#: `SnowflakeConfig.results` values: write the result to Parquet, or hand over a `snowflake://` reference.
MATERIALIZE = "materialize"
#: Result chunks the driver downloads ahead while materializing (its default, 4, costs ~70 MB more at 4 MiB chunks).
MATERIALIZE_PREFETCH_THREADS = 2
REFERENCE = "reference"

#: Settings a reader needs to log in as the task did, and how each travels in the URI query string.
_STR_SETTINGS = ("role", "host", "protocol", "authenticator")
_JSON_SETTINGS = ("port", "login_timeout", "network_timeout", "session_parameters", "connection_kwargs")
#: Secrets the public plugin's reader read from fixed variables; used for its old, parameterless URIs only.
_LEGACY_SECRET_ENV = {
    "snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY",
    "snowflake_private_key_passphrase": "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
}
_SECRET_PREFIX = "snowflake_"
_WRITE_MODES = ("append", "overwrite")
_QUERY_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: Parquet part size: a part is closed (and uploaded) once this much Arrow data went into it.
PART_BYTES = 128 * 1024 * 1024
#: Rows per `executemany` request when writing a dataframe into a table.
WRITE_CHUNK_ROWS = 10_000
RESULTS_DIR = "snowflake-results"
MARKER = "_SUCCESS"


# --- snowflake:// URIs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnowflakeLocation:
    """A parsed `snowflake://` URI: a query result (`name` is a query id) or a table (`name` is its name).

    Example:
        >>> loc = SnowflakeLocation.parse("snowflake://ME/acct/WH/DB/PUBLIC/01b2c3d4-0000-0000-0000-000000000001")
        >>> loc.is_query, loc.database
        (True, 'DB')
    """

    user: str
    account: str
    warehouse: str
    database: str
    schema: str
    name: str
    #: Non-secret connection settings (role, host, port, ...), typed as in `SnowflakeConfig`.
    settings: dict[str, Any] = field(default_factory=dict)
    #: Secret keyword (`snowflake_private_key`, ...) -> environment variable that holds it in the reading task.
    secrets: dict[str, str] = field(default_factory=dict)
    #: Writers only: "append" or "overwrite".
    mode: str = "append"

    @property
    def is_query(self) -> bool:
        """True when `name` is a query id (a result to read), False when it names a table."""
        return bool(_QUERY_ID.match(self.name))

    @classmethod
    def parse(cls, uri: str) -> SnowflakeLocation:
        """Parse our URIs and the public plugin's (which have no query string)."""
        prefix = f"{SCHEME}://"
        if not uri.startswith(prefix):
            raise SnowflakeConfigError(f"not a {prefix} URI: {uri!r}")
        path, _, query = uri[len(prefix) :].partition("?")
        parts = [unquote(p) for p in path.split("/")]
        if len(parts) != 6 or not all(parts[:2]) or not parts[5]:
            raise SnowflakeConfigError(
                f"a {prefix} URI reads {prefix}<user>/<account>/<warehouse>/<database>/<schema>/<query id or table>"
                f", got {uri!r}"
            )
        settings: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        mode = "append"
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "mode":
                mode = _check_mode(value)
            elif key.startswith(_SECRET_PREFIX):
                secrets[key] = value
            elif key in _JSON_SETTINGS:
                settings[key] = json.loads(value)
            else:
                settings[key] = value
        user, account, warehouse, database, schema, name = parts
        return cls(user, account, warehouse, database, schema, name, settings, secrets, mode)

    def uri(self) -> str:
        """The URI; parsing it gives this location back."""
        path = "/".join(
            quote(p, safe="@.-_")
            for p in (self.user, self.account, self.warehouse, self.database, self.schema, self.name)
        )
        params: list[tuple[str, str]] = []
        for key, value in self.settings.items():
            if value is not None:
                params.append((key, json.dumps(value, sort_keys=True) if key in _JSON_SETTINGS else str(value)))
        params.extend(sorted(self.secrets.items()))
        if self.mode != "append":
            params.append(("mode", self.mode))
        query = urlencode(params)
        return f"{SCHEME}://{path}" + (f"?{query}" if query else "")

    def config(self) -> SnowflakeConfig:
        """The connection settings as a `SnowflakeConfig` (validated like the task's own)."""
        from .config import SnowflakeConfig

        known = {k: v for k, v in self.settings.items() if k in (*_STR_SETTINGS, *_JSON_SETTINGS)}
        return SnowflakeConfig.from_custom(
            {
                "account": self.account,
                "user": self.user,
                "warehouse": self.warehouse,
                "database": self.database,
                "schema": self.schema,
                **known,
            }
        )

    def secret_values(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """Each secret's value, from the environment variable the URI names for it.

        Raises:
            MissingSecretError: a variable is not set; the message names it and how to provide it.
        """
        env = os.environ if environ is None else environ
        if not self.secrets:
            # The public plugin's URIs name no secret: its reader always looked at these two variables.
            return {k: env[v] for k, v in _LEGACY_SECRET_ENV.items() if v in env}
        values: dict[str, str] = {}
        for keyword, variable in self.secrets.items():
            value = env.get(variable)
            if value is None:
                raise MissingSecretError(
                    f"reading {SCHEME}://.../{self.name} needs the secret {keyword} from the environment variable "
                    f"{variable}, which is not set in this task: request the same secret as the Snowflake task, "
                    f'e.g. flyte.TaskEnvironment(..., secrets=[flyte.Secret(key="<its key>", as_env_var="{variable}")])'
                    f" (locally: export {variable}=...), or set SnowflakeConfig(results='materialize') so that "
                    "readers need no Snowflake credentials"
                )
            values[keyword] = value
        return values


def _check_mode(mode: str) -> str:
    if mode not in _WRITE_MODES:
        raise SnowflakeConfigError(f"write mode must be one of {', '.join(_WRITE_MODES)}, got {mode!r}")
    return mode


def _settings_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The connection settings of a `SnowflakeConfig.to_custom()` dict that a reader needs (no secrets)."""
    return {k: config[k] for k in (*_STR_SETTINGS, *_JSON_SETTINGS) if config.get(k) is not None}


def result_reference(meta: SnowflakeJobMetadata, query_id: str) -> DataFrame:
    """A `flyte.io.DataFrame` pointing at a finished query's result in Snowflake (the "reference" mode).

    The URI keeps the public plugin's path, so its readers' URIs and ours read alike, and adds the settings
    and secret names a downstream reader needs to log in as the task did.
    """
    from flyte.io import DataFrame

    location = SnowflakeLocation(
        user=meta.user,
        account=meta.account,
        warehouse=meta.warehouse,
        database=meta.database,
        schema=meta.schema,
        name=query_id,
        settings=_settings_of(meta.config or {"connection_kwargs": meta.connection_kwargs}),
        secrets=dict(meta.secrets),
    )
    return DataFrame.from_existing_remote(location.uri())


def table_uri(
    config: SnowflakeConfig,
    table: str,
    *,
    mode: str = "append",
    secrets: Mapping[str, str] | None = None,
) -> str:
    """The `snowflake://` URI of a table, for writing a dataframe into it (or reading it whole).

    Args:
        config: Where and as whom to connect.
        table: Table name, used as written (quoted): `"EVENTS"` and `"events"` are different tables.
        mode: "append" adds rows; "overwrite" replaces the table's rows. Either creates a missing table.
        secrets: Secret keyword -> environment variable holding it in the writing task, e.g.
            `{"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"}`.

    Example:
        ```python
        @env.task
        def publish(df: pd.DataFrame) -> flyte.io.DataFrame:
            uri = table_uri(config, "DAILY_TOTALS", mode="overwrite",
                            secrets={"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"})
            return flyte.io.DataFrame.wrap_df(df, uri=uri)
        ```
    """
    if not table or "/" in table:
        raise SnowflakeConfigError(f"table must be a non-empty name without '/', got {table!r}")
    bad = [k for k in (secrets or {}) if not k.startswith(_SECRET_PREFIX)]
    if bad:
        raise SnowflakeConfigError(f"secret keywords start with {_SECRET_PREFIX!r} (snowflake_private_key...): {bad}")
    return SnowflakeLocation(
        user=config.user,
        account=config.account,
        warehouse=config.warehouse,
        database=config.database,
        schema=config.schema,
        name=table,
        settings=_settings_of(config.to_custom()),
        secrets=dict(secrets or {}),
        mode=_check_mode(mode),
    ).uri()


def _login(location: SnowflakeLocation) -> Any:
    """A driver connection for a downstream reader or writer, with the settings and secrets the URI names."""
    from . import _client
    from ._auth import Credentials

    config = location.config()
    credentials = Credentials.from_kwargs(location.secret_values())
    return _client.login({**config.driver_kwargs(), **credentials.driver_kwargs(config.authenticator)})


# --- Arrow batches with one schema ---------------------------------------------------------------------------


def _stable_type(t: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    # The driver picks nanoseconds or microseconds per batch, from the values in it (microseconds when a value
    # lies outside 1677-2262). One unit for the whole result keeps batches writable to one Parquet file and
    # years 1-9999 readable in pandas; digits below the microsecond are dropped.
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_time64(t) and t.unit == "ns":
        return pa.time64("us")
    return t


def _stable_schema(schema: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([f.with_type(_stable_type(f.type)) for f in schema], metadata=schema.metadata)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with `schema`'s types (timestamps truncated to microseconds; anything lossy else raises)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.schema.equals(schema):
        return batch
    columns = []
    for column, target in zip(batch.columns, schema, strict=True):
        if column.type.equals(target.type):
            columns.append(column)
        else:
            options = pc.CastOptions(target.type, allow_time_truncate=True)
            columns.append(pc.cast(column, options=options))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class _Batches:
    """A query result's batches, all with one schema (the first batch's, made stable)."""

    def __init__(self, cursor: Any, query_id: str) -> None:
        self._cursor = cursor
        self._query_id = query_id
        self.schema: pa.Schema | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        from . import _client

        for batch in _client.arrow_batches(self._cursor):
            if self.schema is None:
                self.schema = _stable_schema(batch.schema)
            yield _conform(batch, self.schema)
        if self.schema is None:
            self.schema = self._empty_schema()

    def _empty_schema(self) -> pa.Schema:
        # An empty result yields no batch. The driver's own empty table types NUMBER(p,s) as int64 and dates as
        # date64, unlike its batches: build the schema the batches would have had from the column metadata.
        import pyarrow as pa

        return pa.schema([(column.name, _arrow_type(column)) for column in self._cursor.description or ()])


def _arrow_type(column: Any) -> pa.DataType:
    """The Arrow type the driver's batches give a result column, from its metadata (`cursor.description`)."""
    import pyarrow as pa

    name = _WIRE_TYPES[column.type_code] if 0 <= column.type_code < len(_WIRE_TYPES) else "TEXT"
    if name == "FIXED":
        return pa.decimal128(column.precision or 38, column.scale) if column.scale else pa.int64()
    simple: dict[str, pa.DataType] = {
        "REAL": pa.float64(),
        "DATE": pa.date32(),
        "TIMESTAMP_NTZ": pa.timestamp("us"),
        "TIMESTAMP_LTZ": pa.timestamp("us", tz="UTC"),
        "TIMESTAMP_TZ": pa.timestamp("us", tz="UTC"),
        "TIME": pa.time64("us"),
        "BINARY": pa.binary(),
        "BOOLEAN": pa.bool_(),
    }
    return simple.get(name, pa.string())  # TEXT, and VARIANT/OBJECT/ARRAY as JSON text


#: Snowflake's column type ids, as `cursor.description[i].type_code` numbers them.
_WIRE_TYPES = (
    "FIXED", "REAL", "TEXT", "DATE", "TIMESTAMP_NTZ", "VARIANT", "TIMESTAMP_LTZ", "TIMESTAMP_TZ",
    "TIMESTAMP_NTZ", "OBJECT", "ARRAY", "BINARY", "TIME", "BOOLEAN",
)  # fmt: skip


def _read_table(conn: Any, query_id: str, columns: Sequence[str] = ()) -> pa.Table:
    """A finished query's whole result as one Arrow table, streamed batch by batch."""
    import pyarrow as pa

    from . import _client

    cursor = _client.open_result(conn, query_id)
    try:
        batches = _Batches(cursor, query_id)
        collected = list(batches)
    finally:
        cursor.close()
    assert batches.schema is not None
    table = pa.Table.from_batches(collected, schema=batches.schema)
    return table.select(list(columns)) if columns else table


# --- materialization -------------------------------------------------------------------------------------


class Runner(Protocol):
    """Runs a blocking `fn(connection)` on a logged-in session, on a worker thread (the connector's pool)."""

    def __call__(self, fn: Callable[[Any], T], /) -> Awaitable[T]: ...


@dataclass
class _Manifest:
    """What `_SUCCESS` records: the query, its row count and the Parquet parts, in order."""

    query_id: str
    rows: int = 0
    parts: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"query_id": self.query_id, "rows": self.rows, "parts": self.parts})


class _PartWriter:
    """Writes batches into numbered Parquet parts of about `part_bytes`; hands each finished part to `done`.

    Memory holds one batch and the Parquet writer's current row group, whatever the number of rows.
    """

    def __init__(self, directory: str, done: Callable[[str, str], None], part_bytes: int = PART_BYTES) -> None:
        self._directory = directory
        self._done = done
        self._part_bytes = part_bytes
        self._writer: Any = None
        self._path = ""
        self._bytes = 0
        self.parts: list[str] = []
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self._open(batch.schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows
        self._bytes += batch.nbytes
        if self._bytes >= self._part_bytes:
            self._close_part()

    def close(self, schema: pa.Schema) -> None:
        """Finish the last part; a result without rows still gets one (empty) part with its schema."""
        if self._writer is None and not self.parts:
            self._open(schema)
        if self._writer is not None:
            self._close_part()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _open(self, schema: pa.Schema) -> None:
        import pyarrow.parquet as pq

        name = f"part-{len(self.parts):05d}.parquet"
        self._path = os.path.join(self._directory, name)
        self._writer = pq.ParquetWriter(self._path, schema)
        self.parts.append(name)
        self._bytes = 0

    def _close_part(self) -> None:
        self._writer.close()
        self._writer = None
        self._done(self._path, self.parts[-1])


async def materialize(
    meta: SnowflakeJobMetadata,
    query_id: str,
    run: Runner,
    *,
    part_bytes: int = PART_BYTES,
    figures: dict[str, Any] | None = None,
) -> DataFrame:
    """Stream a finished query's result into Parquet below `meta.output_prefix`; returns it as a DataFrame.

    `figures`, when given, receives `rows`: the number of rows written (the result's row count).

    `run(fn)` runs the blocking `fn(connection)` on a logged-in session on a worker thread (the connector's
    pool). Batches go to Parquet parts of about `part_bytes` as they arrive; with a remote prefix each part is
    uploaded through `flyte.storage` and deleted locally before the next one grows, so memory and local disk
    stay bounded. A `_SUCCESS` file listing the parts is written last: calling this again for the same query
    (the backend polls after success; any replica may answer) finds it and does not read the result twice.

    Returns:
        A `flyte.io.DataFrame` with the directory's URI and format "parquet", which flyte's own Parquet
        readers (pandas, pyarrow) and ours (polars) open.
    """
    import flyte.storage as storage
    from flyte.io import DataFrame

    destination = _destination(meta, query_id)
    marker = storage.join(destination, MARKER)
    if await storage.exists(marker):
        logger.info("Snowflake result %s is already materialized at %s", query_id, destination)
        return DataFrame.from_existing_remote(destination, format="parquet")
    loop = asyncio.get_running_loop()
    remote = storage.is_remote(destination)

    def publish(local_path: str, name: str) -> None:
        if remote:
            # Runs on the worker thread: the upload itself runs on the event loop, and this thread waits for it
            # so that at most one finished part is on local disk at a time.
            future = asyncio.run_coroutine_threadsafe(storage.put(local_path, storage.join(destination, name)), loop)
            future.result()
            os.remove(local_path)

    def write(conn: Any) -> _Manifest:
        if threading.get_ident() == loop_thread:
            raise RuntimeError("materialize: run(fn) must run fn on a worker thread, not on the event loop")
        with tempfile.TemporaryDirectory(prefix="snowflake-results-") as scratch:
            directory = scratch if remote else destination
            os.makedirs(directory, exist_ok=True)
            return _write_result(conn, query_id, _PartWriter(directory, publish, part_bytes))

    loop_thread = threading.get_ident()
    manifest = await run(write)
    await _write_marker(marker, manifest, remote)
    if figures is not None:
        figures["rows"] = manifest.rows
    if figures is not None:
        figures["rows"] = manifest.rows
    logger.info(
        "Snowflake result %s: %d rows in %d Parquet part(s) at %s",
        query_id,
        manifest.rows,
        len(manifest.parts),
        destination,
    )
    return DataFrame.from_existing_remote(destination, format="parquet")


def _destination(meta: SnowflakeJobMetadata, query_id: str) -> str:
    import flyte.storage as storage

    prefix = meta.output_prefix
    if not prefix:
        from flyte._context import internal_ctx

        ctx = internal_ctx()
        if not ctx.has_raw_data:
            # A scratch directory would be lost with this process: the next task could never read it.
            raise SnowflakeConfigError(
                f"cannot materialize the result of query {query_id}: the task has no output prefix; "
                "use SnowflakeConfig(results='reference') or run it where Flyte gives one"
            )
        prefix = str(ctx.raw_data.path)
    return storage.join(prefix.rstrip("/"), RESULTS_DIR, query_id)


def _write_result(conn: Any, query_id: str, writer: _PartWriter) -> _Manifest:
    from . import _client

    # Each result chunk in flight costs about three times its size while it downloads and decodes: two
    # threads keep a materialization's memory bounded whatever the row count (docs/dataframes.md).
    with _client.prefetch_threads(conn, MATERIALIZE_PREFETCH_THREADS):
        cursor = _client.open_result(conn, query_id)
        try:
            batches = _Batches(cursor, query_id)
            for batch in batches:
                writer.write(batch)
            assert batches.schema is not None
            writer.close(batches.schema)
        except BaseException:
            writer.abort()
            raise
        finally:
            cursor.close()
    return _Manifest(query_id, writer.rows, writer.parts)


async def _write_marker(marker: str, manifest: _Manifest, remote: bool) -> None:
    import flyte.storage as storage

    if not remote:
        await asyncio.to_thread(_write_text, marker, manifest.to_json())
        return
    with tempfile.TemporaryDirectory(prefix="snowflake-results-") as scratch:
        local = os.path.join(scratch, MARKER)
        await asyncio.to_thread(_write_text, local, manifest.to_json())
        await storage.put(local, marker)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


# --- dataframe libraries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Library:
    """How one dataframe library converts from and to Arrow."""

    module: str
    type_name: str
    from_arrow: Callable[[pa.Table], Any]
    to_arrow: Callable[[Any], pa.Table]

    def python_type(self) -> type[Any]:
        # Only called once the library is imported (see register_handlers).
        return getattr(sys.modules[self.module], self.type_name)  # type: ignore[no-any-return]


def _arrow_from_arrow(table: pa.Table) -> Any:
    return table


def _arrow_to_arrow(value: Any) -> pa.Table:
    import pyarrow as pa

    return value if isinstance(value, pa.Table) else pa.Table.from_batches([value])


def _pandas_from_arrow(table: pa.Table) -> Any:
    # self_destruct frees each Arrow column as soon as it is converted: peak memory ~1x the data, not 2x.
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _pandas_to_arrow(value: Any) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_pandas(value, preserve_index=False)


def _polars_from_arrow(table: pa.Table) -> Any:
    import polars as pl

    return pl.from_arrow(table, rechunk=False)


def _polars_to_arrow(value: Any) -> pa.Table:
    return value.to_arrow()  # type: ignore[no-any-return]


_LIBRARIES = (
    _Library("pyarrow", "Table", _arrow_from_arrow, _arrow_to_arrow),
    _Library("pandas", "DataFrame", _pandas_from_arrow, _pandas_to_arrow),
    _Library("polars", "DataFrame", _polars_from_arrow, _polars_to_arrow),
)


def _requested_columns(metadata: literals_pb2.StructuredDatasetMetadata | None) -> list[str]:
    if metadata is None or not metadata.HasField("structured_dataset_type"):
        return []
    return [c.name for c in metadata.structured_dataset_type.columns]


def _read_location(location: SnowflakeLocation, columns: Sequence[str]) -> pa.Table:
    conn = _login(location)
    try:
        if location.is_query:
            return _read_table(conn, location.name, columns)
        return _read_table(conn, _select_table(conn, location, columns))
    finally:
        conn.close()


def _select_table(conn: Any, location: SnowflakeLocation, columns: Sequence[str]) -> str:
    from . import _client

    projection = ", ".join(_quote(c) for c in columns) if columns else "*"
    sql = f"SELECT {projection} FROM {_table_name(location)}"
    query_id: str = _client.submit(conn, sql, None, statement_params={})
    return query_id


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _table_name(location: SnowflakeLocation) -> str:
    return ".".join(_quote(p) for p in (location.database, location.schema, location.name))


def _parquet_table(uri: str, columns: Sequence[str]) -> pa.Table:
    """A materialized result (a directory of Parquet parts, local or in an object store) as an Arrow table."""
    import flyte.storage as storage
    import pyarrow.parquet as pq
    from flyte.storage._storage import strip_file_header
    from fsspec.core import strip_protocol

    if storage.is_remote(uri):
        filesystem = storage.get_underlying_filesystem(path=uri)
        return pq.read_table(strip_protocol(uri), filesystem=filesystem, columns=list(columns) or None)
    return pq.read_table(strip_file_header(uri), columns=list(columns) or None)


def _handlers(library: _Library) -> list[Any]:
    """A `snowflake://` reader and writer for `library`, and a Parquet reader when flyte has none (polars)."""
    from flyte.io.extend import DataFrameDecoder, DataFrameEncoder
    from flyteidl2.core import literals_pb2

    python_type = library.python_type()

    class SnowflakeDecoder(DataFrameDecoder[Any]):
        def __init__(self) -> None:
            super().__init__(python_type, SCHEME, "")

        async def decode(
            self,
            flyte_value: literals_pb2.StructuredDataset,
            current_task_metadata: literals_pb2.StructuredDatasetMetadata,
        ) -> Any:
            location = SnowflakeLocation.parse(flyte_value.uri)
            columns = _requested_columns(current_task_metadata)
            table = await asyncio.to_thread(_read_location, location, columns)
            return library.from_arrow(table)

    class SnowflakeEncoder(DataFrameEncoder[Any]):
        def __init__(self) -> None:
            super().__init__(python_type, SCHEME, "")

        async def encode(
            self,
            dataframe: DataFrame,
            structured_dataset_type: types_pb2.StructuredDatasetType,
        ) -> literals_pb2.StructuredDataset:
            if not dataframe.uri:
                raise SnowflakeConfigError("writing to Snowflake needs a table URI: see table_uri()")
            location = SnowflakeLocation.parse(dataframe.uri)
            if location.is_query:
                raise SnowflakeConfigError(f"{dataframe.uri} names a query result, which cannot be written to")
            await asyncio.to_thread(write_table, location, library.to_arrow(dataframe.val))
            return literals_pb2.StructuredDataset(
                uri=dataframe.uri,
                metadata=literals_pb2.StructuredDatasetMetadata(structured_dataset_type=structured_dataset_type),
            )

    class ParquetDecoder(DataFrameDecoder[Any]):
        def __init__(self) -> None:
            super().__init__(python_type, None, "parquet")

        async def decode(
            self,
            flyte_value: literals_pb2.StructuredDataset,
            current_task_metadata: literals_pb2.StructuredDatasetMetadata,
        ) -> Any:
            columns = _requested_columns(current_task_metadata)
            table = await asyncio.to_thread(_parquet_table, flyte_value.uri, columns)
            return library.from_arrow(table)

    class ParquetEncoder(DataFrameEncoder[Any]):
        def __init__(self) -> None:
            super().__init__(python_type, None, "parquet")

        async def encode(
            self,
            dataframe: DataFrame,
            structured_dataset_type: types_pb2.StructuredDatasetType,
        ) -> literals_pb2.StructuredDataset:
            uri = dataframe.uri or _random_output_dir()
            await asyncio.to_thread(_write_parquet, uri, library.to_arrow(dataframe.val))
            structured_dataset_type.format = "parquet"
            return literals_pb2.StructuredDataset(
                uri=uri,
                metadata=literals_pb2.StructuredDatasetMetadata(structured_dataset_type=structured_dataset_type),
            )

    handlers: list[Any] = [SnowflakeDecoder(), SnowflakeEncoder()]
    if library.module == "polars":
        # flyte itself reads and writes Parquet for pandas and pyarrow only (polars needs flyteplugins-polars):
        # without these a task taking or returning a polars frame fails. Skipped when another plugin has them.
        handlers += [ParquetDecoder(), ParquetEncoder()]
    return handlers


def _random_output_dir() -> str:
    from flyte._context import internal_ctx

    return str(internal_ctx().raw_data.get_random_remote_path())


def _write_parquet(uri: str, table: pa.Table) -> None:
    """A dataframe as flyte's own Parquet writers lay it out: one file, `00000`, in the directory `uri`."""
    import flyte.storage as storage
    import pyarrow.parquet as pq
    from fsspec.core import strip_protocol

    path = storage.join(uri, "00000")
    if not storage.is_remote(uri):
        os.makedirs(strip_protocol(uri), exist_ok=True)
    pq.write_table(table, strip_protocol(path), filesystem=storage.get_underlying_filesystem(path=path))


# --- writing into a table ------------------------------------------------------------------------------------


def _snowflake_type(t: pa.DataType) -> str:
    """The column type a new table gets for an Arrow type."""
    import pyarrow as pa

    checks: list[tuple[Callable[[pa.DataType], bool], Callable[[pa.DataType], str]]] = [
        (pa.types.is_boolean, lambda _: "BOOLEAN"),
        (pa.types.is_integer, lambda _: "NUMBER(38,0)"),
        (pa.types.is_floating, lambda _: "FLOAT"),
        (pa.types.is_decimal, lambda d: f"NUMBER({min(d.precision, 38)},{d.scale})"),
        (lambda d: pa.types.is_string(d) or pa.types.is_large_string(d), lambda _: "VARCHAR"),
        (lambda d: pa.types.is_binary(d) or pa.types.is_large_binary(d), lambda _: "BINARY"),
        (pa.types.is_date, lambda _: "DATE"),
        (pa.types.is_time, lambda _: "TIME"),
        (pa.types.is_timestamp, lambda d: "TIMESTAMP_TZ" if d.tz else "TIMESTAMP_NTZ"),
        (pa.types.is_dictionary, lambda d: _snowflake_type(d.value_type)),
    ]
    for matches, name in checks:
        if matches(t):
            return name(t)
    if pa.types.is_null(t):
        return "VARCHAR"
    raise SnowflakeInputError(
        f"no Snowflake column type for Arrow type {t}: convert the column first (nested values, e.g. to a JSON "
        "string, which a VARIANT column can PARSE_JSON)"
    )


def _python_rows(batch: pa.RecordBatch) -> Iterator[tuple[Any, ...]]:
    columns = [_bind_values(column) for column in batch.columns]
    return zip(*columns, strict=True)


def _bind_values(column: pa.Array) -> list[Any]:
    import pyarrow as pa

    values: list[Any] = column.to_pylist()
    t = column.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        # ISO-8601 text, which Snowflake converts to the column's type on insert: every year from 1 to 9999 and
        # the UTC offset survive. (The driver array-binds temporal values as epoch numbers, which the local
        # Snowflake cannot read.)
        return [
            None if v is None else v.isoformat(sep=" ") if pa.types.is_timestamp(t) else v.isoformat() for v in values
        ]
    return values


def write_table(location: SnowflakeLocation, table: pa.Table, chunk_rows: int = WRITE_CHUNK_ROWS) -> int:
    """Write `table` into the table `location` names, in one transaction; returns the rows written.

    The table is created when missing (column types mapped from Arrow, names quoted as given). "overwrite"
    deletes the old rows in the same transaction. Rows go in chunks of `chunk_rows` through array binding
    (one `executemany` request per chunk). On any failure the transaction is rolled back, and a table this
    call created is dropped, so the table is left as it was.
    """
    conn = _login(location)
    try:
        return _write(conn, location, table, chunk_rows)
    finally:
        conn.close()


def _write(conn: Any, location: SnowflakeLocation, table: pa.Table, chunk_rows: int) -> int:
    from . import _client

    name = _table_name(location)
    types = [_snowflake_type(f.type) for f in table.schema]
    created = not _table_exists(conn, location)
    if created:
        # DDL commits any open transaction in Snowflake: create first, then write rows in a transaction.
        columns = ", ".join(f"{_quote(f.name)} {t}" for f, t in zip(table.schema, types, strict=True))
        _client.execute(conn, f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
    insert = (
        f"INSERT INTO {name} ({', '.join(_quote(c) for c in table.column_names)}) "
        f"VALUES ({', '.join(f':{i}' for i in range(1, table.num_columns + 1))})"
    )
    try:
        _client.execute(conn, "BEGIN")
        if location.mode == "overwrite" and not created:
            _client.execute(conn, f"DELETE FROM {name}")
        for batch in table.to_batches(max_chunksize=chunk_rows):
            rows = list(_python_rows(batch))
            if rows:
                _executemany(conn, insert, rows)
        _client.execute(conn, "COMMIT")
    except BaseException:
        _undo(conn, name, created)
        raise
    return int(table.num_rows)


def _executemany(conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    try:
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)
    except SnowflakeError:
        raise
    except Exception as exc:
        raise translate(exc) from exc


def _undo(conn: Any, name: str, created: bool) -> None:
    from . import _client

    for sql in ("ROLLBACK", f"DROP TABLE IF EXISTS {name}" if created else ""):
        if not sql:
            continue
        try:
            _client.execute(conn, sql)
        except SnowflakeError as exc:  # the write's own error is the one to report
            logger.warning("could not undo a failed write to %s (%s): %s", name, sql, exc)


def _table_exists(conn: Any, location: SnowflakeLocation) -> bool:
    from . import _client

    rows = _client.execute(
        conn,
        f"SELECT COUNT(*) FROM {_quote(location.database)}.INFORMATION_SCHEMA.TABLES "
        "WHERE TABLE_SCHEMA = :1 AND TABLE_NAME = :2",
        [location.schema, location.name],
    )
    return bool(rows and rows[0][0])


# --- registration --------------------------------------------------------------------------------------------

_registered: set[str] = set()
_watching: set[str] = set()
_lock = threading.RLock()


def register_handlers() -> frozenset[str]:
    """Register the `snowflake://` readers and writers (and a polars Parquet reader) with flyte. Idempotent.

    Libraries already imported are registered now; installed ones not yet imported are registered the
    moment they are, so this never imports pandas, polars or pyarrow itself.

    Returns:
        The libraries registered so far.
    """
    with _lock:
        for library in _LIBRARIES:
            if library.module in _registered:
                continue
            if _is_loaded(library.module):
                _register(library)
            elif library.module not in _watching:
                _watch(library)
        return frozenset(_registered)


def _register(library: _Library) -> None:
    from flyte.io._dataframe.dataframe import DuplicateHandlerError
    from flyte.io.extend import DataFrameTransformerEngine

    with _lock:
        if library.module in _registered:
            return
        for handler in _handlers(library):
            try:
                DataFrameTransformerEngine.register(handler)
            except DuplicateHandlerError:  # another plugin (e.g. flyteplugins-polars) reads Parquet already
                logger.debug("%s: a handler is already registered", type(handler).__name__)
        _registered.add(library.module)
        if _ImportWatcher._instance is not None:
            _ImportWatcher._instance.libraries.pop(library.module, None)


def _is_loaded(module: str) -> bool:
    found = sys.modules.get(module)
    # flyte keeps pandas and pyarrow as lazy modules until first used; touching one would load it.
    return found is not None and type(found).__name__ != "_LazyModule"


def _watch(library: _Library) -> None:
    """Register `library` right after it is imported, without importing it now."""
    found = sys.modules.get(library.module)
    if found is not None:  # a lazy module (flyte's lazy_module): hook the load it defers
        spec = object.__getattribute__(found, "__dict__").get("__spec__")
        if spec is None or spec.loader is None:
            return
        spec.loader = _NotifyingLoader(spec.loader, library)
    elif importlib.util.find_spec(library.module) is None:
        return
    else:
        _ImportWatcher.install().libraries[library.module] = library
    _watching.add(library.module)


class _NotifyingLoader(importlib.abc.Loader):
    """Wraps a module's loader: runs the module, then registers the library's handlers."""

    def __init__(self, loader: Any, library: _Library) -> None:
        self._loader = loader
        self._library = library

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        module.__spec__.loader = self._loader  # type: ignore[union-attr]
        module.__loader__ = self._loader
        try:
            _register(self._library)
        except Exception as exc:  # never break the user's `import pandas` because of our handlers
            logger.warning("could not register Snowflake dataframe handlers for %s: %s", self._library.module, exc)


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of the libraries it watches so they register on import."""

    _instance: _ImportWatcher | None = None

    def __init__(self) -> None:
        self.libraries: dict[str, _Library] = {}

    @classmethod
    def install(cls) -> _ImportWatcher:
        if cls._instance is None:
            cls._instance = cls()
            sys.meta_path.insert(0, cls._instance)
        return cls._instance

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        # Not popped here: a probe (importlib.util.find_spec, as polars does for pandas) is not an import; the
        # library stays watched until it is registered.
        library = self.libraries.get(fullname)
        if library is None or library.module in _registered:
            return None
        for finder in _other_finders(self):
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _NotifyingLoader(spec.loader, library)
                return spec  # type: ignore[no-any-return]
        return None


def _other_finders(watcher: object) -> Iterable[Any]:
    return [f for f in sys.meta_path if f is not watcher and hasattr(f, "find_spec")]
