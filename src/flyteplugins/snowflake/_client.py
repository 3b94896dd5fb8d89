"""The one module that talks to the Snowflake driver: login, submit, status, cancel, results.

Every function here blocks (the driver is synchronous); callers run them on the pool's threads. Driver
errors leave this module translated by `errors.translate`, so nothing above it sees a driver class.
This is also the seam for a second transport (Snowflake's SQL API v2): the connector only needs
`login`, `submit`, `poll`, `cancel` and `open_result`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import SnowflakeError, translate

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection
    from snowflake.connector.cursor import SnowflakeCursor

T = TypeVar("T")

#: Driver settings the plugin always wants (see docs/architecture.md).
BASE_CONNECT_KWARGS: Mapping[str, Any] = {
    # Server-side binding: values never enter the SQL text or the query history.
    "paramstyle": "numeric",
    # Without internet, platform detection probes cloud metadata endpoints and stalls ~5 s now and then.
    "platform_detection_timeout_seconds": 0,
    # The service owns the session's life; never open a browser or keep a heartbeat thread per session.
    "client_session_keep_alive": False,
}


def _translated(fn: Callable[..., T], *args: Any, query_id: str | None = None, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except SnowflakeError:
        raise
    except Exception as exc:
        raise translate(exc, query_id=query_id) from exc


def preload() -> None:
    """Import the driver (and pandas, when installed, which the driver and flyte both import lazily)."""
    import importlib.util

    import snowflake.connector  # noqa: F401

    if importlib.util.find_spec("pandas") is not None:
        import pandas  # noqa: F401


def login(driver_kwargs: Mapping[str, Any]) -> SnowflakeConnection:
    """Open a session (a login round trip) with our base settings under the caller's."""
    import snowflake.connector

    return _translated(snowflake.connector.connect, **{**BASE_CONNECT_KWARGS, **driver_kwargs})


@dataclass(frozen=True)
class QueryState:
    """A poll's answer: the driver's status name, plus Snowflake's error when the query failed."""

    status: str
    errno: int | None = None
    sqlstate: str | None = None
    message: str | None = None


def submit(
    conn: SnowflakeConnection,
    sql: str,
    params: Sequence[Any] | None,
    *,
    statement_params: Mapping[str, str],
    statement_count: int = 1,
    batch_rows: Sequence[Sequence[Any]] | None = None,
) -> str:
    """Submit without waiting; returns the query id.

    `batch_rows` runs the statement once per row through array binding (one request, `executemany`).
    `statement_count` > 1 sends a multi-statement request (Snowflake checks the count).
    """

    def _submit() -> str:
        with conn.cursor() as cur:
            options: dict[str, Any] = {"_statement_params": dict(statement_params), "_exec_async": True}
            if statement_count != 1:
                options["num_statements"] = statement_count
            if batch_rows is not None:
                cur.executemany(sql, list(batch_rows), **options)
            else:
                cur.execute(sql, list(params) if params else None, **options)
            if not cur.sfqid:
                raise RuntimeError("Snowflake accepted the statement but returned no query id")
            return str(cur.sfqid)

    return _translated(_submit)


#: Seconds one status check may spend retrying 429/5xx and dropped connections inside the driver. A poll is
#: cheap to repeat, so it gives up early and lets the caller report "still running, checking again".
POLL_TIMEOUT_S = 5


def poll(conn: SnowflakeConnection, query_id: str, timeout: float = POLL_TIMEOUT_S) -> QueryState:
    """Ask Snowflake for the query's status; a failed query comes back with its code and message.

    One round trip to the monitoring endpoint the driver's `get_query_status` uses, with our own retry
    window (the driver's would be the whole `network_timeout`) and the error read from the same answer.
    """
    from urllib.parse import quote

    def _poll() -> QueryState:
        uuid.UUID(query_id)  # a malformed id is the caller's bug, not a network problem
        answer = conn.rest.request(  # type: ignore[union-attr]
            "/monitoring/queries/" + quote(query_id), method="get", client="rest", timeout=int(timeout)
        )
        data = answer.get("data") or {}
        queries = data.get("queries")
        if queries is None:
            return QueryState("FAILED_WITH_ERROR", message=answer.get("message") or "no status in Snowflake's answer")
        if not queries:
            return QueryState("NO_DATA")
        query = queries[0]
        status = str(query.get("status", "NO_DATA"))
        if "errorCode" not in query and "errorMessage" not in query:
            return QueryState(status)
        errno = _int_or_none(query.get("errorCode"))
        return QueryState(status, errno=errno, sqlstate=data.get("sqlState"), message=query.get("errorMessage"))

    return _translated(_poll, query_id=query_id)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def cancel(conn: SnowflakeConnection, query_id: str) -> None:
    """Ask Snowflake to cancel a query. For a finished query Snowflake answers with a text, not an error."""
    # The id goes into the SQL text, as SYSTEM$CANCEL_QUERY takes no bind: parsing it as a UUID first means
    # nothing but a query id can ever reach the statement.
    literal = str(uuid.UUID(query_id))

    def _cancel() -> None:
        with conn.cursor() as cur:
            cur.execute(f"SELECT SYSTEM$CANCEL_QUERY('{literal}')")
            cur.fetchall()

    _translated(_cancel, query_id=query_id)


def child_query_ids(conn: SnowflakeConnection, query_id: str) -> list[str]:
    """The query ids of a finished multi-statement request's statements, in order."""

    def _children() -> list[str]:
        # The parent's result answer lists its statements' ids, as the driver reads them in
        # get_results_from_sfqid; asking for it directly skips fetching every statement's rows.
        answer = conn.rest.request(url=f"/queries/{uuid.UUID(query_id)}/result", method="get")  # type: ignore[union-attr]
        ids = (answer.get("data") or {}).get("resultIds")
        return [i.strip() for i in str(ids).split(",") if i.strip()] if ids else [query_id]

    return _translated(_children, query_id=query_id)


def open_result(conn: SnowflakeConnection, query_id: str) -> SnowflakeCursor:
    """A cursor attached to a finished query's result (kept by Snowflake ~24 h, same user and role)."""

    def _open() -> SnowflakeCursor:
        cur = conn.cursor()
        cur.get_results_from_sfqid(query_id)
        return cur

    return _translated(_open, query_id=query_id)


@contextlib.contextmanager
def prefetch_threads(conn: SnowflakeConnection, threads: int) -> Iterator[None]:
    """Download at most `threads` result chunks ahead on this (exclusively held) session, for the block."""
    before = conn.client_prefetch_threads
    conn.client_prefetch_threads = threads
    try:
        yield
    finally:
        conn.client_prefetch_threads = before


def arrow_batches(cursor: SnowflakeCursor) -> Iterator[Any]:
    """Stream a result as pyarrow RecordBatches without holding it all in memory."""
    try:
        for table in cursor.fetch_arrow_batches():
            yield from table.to_batches()
    except SnowflakeError:
        raise
    except Exception as exc:
        raise translate(exc, query_id=cursor.sfqid) from exc


def execute(conn: SnowflakeConnection, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run a short statement synchronously and return its rows (query history look-ups, DDL)."""

    def _execute() -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(sql, list(params) if params else None)
            return [tuple(row) for row in cur.fetchall()]

    return _translated(_execute)


def is_closed(conn: SnowflakeConnection) -> bool:
    return bool(conn.is_closed())
