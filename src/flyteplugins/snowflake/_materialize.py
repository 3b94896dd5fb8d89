"""Parquet materialization: a finished query's result streamed into Parquet parts below the task's outputs.

A `_SUCCESS` file listing the parts is written last, so a result is materialized once however often it is asked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._arrow import Batches
from .errors import SnowflakeConfigError, SnowflakeDriverError

if TYPE_CHECKING:
    import pyarrow as pa
    from flyte.io import DataFrame

    from .metadata import SnowflakeJobMetadata

logger = logging.getLogger("flyte.snowflake")

T = TypeVar("T")

#: Result chunks the driver downloads ahead while materializing (its default, 4, costs ~70 MB more at 4 MiB chunks).
MATERIALIZE_PREFETCH_THREADS = 2
#: Parquet part size: a part is closed (and uploaded) once this much Arrow data went into it. A connector service
#: sets another with the environment variable below (bytes; smaller parts: less local disk, more objects).
PART_BYTES = 128 * 1024 * 1024
PART_BYTES_ENV = "FLYTE_SNOWFLAKE_RESULT_PART_BYTES"
RESULTS_DIR = "snowflake-results"
MARKER = "_SUCCESS"


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
    part_bytes: int | None = None,
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
    part_bytes = part_bytes or _configured_part_bytes()
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
    await asyncio.to_thread(_remove_strays, destination, manifest, remote)
    await _write_marker(marker, manifest, remote)
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


def _configured_part_bytes() -> int:
    from . import _env

    value = _env.non_negative(PART_BYTES_ENV, "a number of bytes (1 or more)")
    return int(value) if value else PART_BYTES


def _destination(meta: SnowflakeJobMetadata, query_id: str) -> str:
    import flyte.storage as storage

    from ._location import is_query_id

    if not is_query_id(query_id):
        # The id names a directory: anything but a UUID ('../x') could write outside the output prefix.
        raise SnowflakeDriverError(
            f"cannot materialize the result of {query_id[:80]!r}: it is not a Snowflake query id (a UUID), and "
            "it would name a directory outside the task's outputs",
            query_id=meta.query_id,
        )

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
            batches = Batches(cursor, query_id)
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


def _remove_strays(destination: str, manifest: _Manifest, remote: bool) -> None:
    """Delete Parquet parts an earlier, unfinished write left beyond this one's: flyte's own Parquet readers read
    every file of the directory, so after `_SUCCESS` it must hold exactly the parts it lists."""
    import flyte.storage as storage
    from fsspec.core import strip_protocol

    filesystem: Any = storage.get_underlying_filesystem(path=destination) if remote else None
    if filesystem is None:
        import fsspec

        filesystem = fsspec.filesystem("file")
    directory = strip_protocol(destination).rstrip("/")
    listed = set(manifest.parts)
    for path in filesystem.find(directory):
        name = str(path).rsplit("/", 1)[-1]
        if name.endswith(".parquet") and name not in listed:
            logger.info("removing %s, left by an unfinished write of the same result", name)
            filesystem.rm(path)


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
