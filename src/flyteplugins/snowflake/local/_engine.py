"""Queries of the local Snowflake: their life cycle (status, cancel, timing knobs), their results and history.

Every query runs in a worker thread. A synchronous request runs on its session's DuckDB cursor (one at a time,
so a session keeps its transaction and temporary tables); an asynchronous one runs on a cursor of its own, so
concurrent queries never share rows and a status poll never waits for a running query. An asynchronous statement
that creates a temporary table or names one of the session's (DuckDB keeps them per connection) runs on the
session's cursor instead, one at a time with the session's other statements; a cancel ends it at once while it
waits for them.

Life cycle: NO_DATA (submitted; QUEUED while it waits for a query thread, as for a busy warehouse) -> [first
status knob, e.g. RESUMING_WAREHOUSE] -> RUNNING (at least
`min_query_ms`) -> SUCCESS | FAILED_WITH_ERROR. A cancelled query ends FAILED_WITH_ERROR with error 604 "SQL
execution canceled", as Snowflake reports one cancelled with SYSTEM$CANCEL_QUERY or the driver's abort request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from .._credits import credits_per_hour as _credits_per_hour
from . import _fakesnow as fs
from . import _multi_insert as multi_insert
from ._access import AccessError, Directory
from ._bind_stages import BindStages, StageError, parse_ref
from ._knobs import Knobs
from ._objects import Objects
from ._parameters import ParameterError, ParameterStatement
from ._procedures import Procedures, creates_procedure
from ._sessions import Session

RUNNING_STATES = frozenset(
    {"NO_DATA", "QUEUED", "RESUMING_WAREHOUSE", "QUEUED_REPARING_WAREHOUSE", "BLOCKED", "RESTARTED", "RUNNING"}
)
TERMINAL_STATES = frozenset({"SUCCESS", "FAILED_WITH_ERROR", "ABORTED"})
#: A query still waiting for a query thread this long after its submit reports QUEUED (before: NO_DATA, what
#: Snowflake says right after a submit).
QUEUED_AFTER_S = 0.5
#: A cancelled query's error; its status reads FAILED_WITH_ERROR, as Snowflake's does (not ABORTED).
CANCELED = (604, "57014", "SQL execution canceled")
#: A result larger than `max_result_bytes` fails its query (our code: Snowflake keeps results of any size).
RESULT_TOO_LARGE = (100998, "53200")
TIMEOUT_DEFAULT_S = 172800
# QUERY_HISTORY reports the time spent in each waiting status in its own column.
_WAIT_COLUMNS = {
    "QUEUED": "QUEUED_OVERLOAD_TIME",
    "RESUMING_WAREHOUSE": "QUEUED_PROVISIONING_TIME",
    "QUEUED_REPARING_WAREHOUSE": "QUEUED_REPAIR_TIME",
    "BLOCKED": "TRANSACTION_BLOCKED_TIME",
}
DEFAULT_HISTORY_LIMIT = 100
_SHOW_STAGES = re.compile(r"\s*show\s+stages\b", re.IGNORECASE)
MAX_HISTORY_LIMIT = 10_000


class QueryError(Exception):
    """A Snowflake error for one query: errno, sqlstate and message, as the driver reports them."""

    def __init__(self, errno: int, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.errno = errno
        self.sqlstate = sqlstate
        self.message = message

    @classmethod
    def from_snowflake(cls, exc: fs.SnowflakeError) -> QueryError:
        # raw_msg: the driver's error class prefixes `msg` with the code, which the driver adds on its side
        return cls(int(exc.errno or 603), exc.sqlstate or "XX000", exc.raw_msg or exc.msg or str(exc))

    @property
    def code(self) -> str:
        return f"{self.errno:06d}"


@dataclasses.dataclass
class QueryRecord:
    """One query: what was asked, what happened, and (until evicted) its result."""

    query_id: str
    session: Session
    sql: str
    request_id: str
    tag: str
    asynchronous: bool
    params: tuple[Any, ...] | dict[str, Any] | None = None
    batch: list[tuple[Any, ...]] | None = None
    #: the request's `bindStage` (`@SYSTEMBIND/<path>`): its rows are read from there instead of `batch`
    bind_stage: str | None = None
    describe_only: bool = False
    #: the request's own parameters (they win over the session's for this statement)
    statement_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    statement_count: int = 1
    #: STATEMENT_TIMEOUT_IN_SECONDS of the statement (or its session); `timed_out` once it struck
    timeout_s: int = TIMEOUT_DEFAULT_S
    timed_out: bool = False
    parent_id: str | None = None
    #: the warehouse's size and type when the query was submitted (history's WAREHOUSE_SIZE / WAREHOUSE_TYPE)
    warehouse_size: str | None = None
    warehouse_type: str | None = None
    status: str = "NO_DATA"
    submitted: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    executed: float | None = None
    ended: float | None = None
    waited_status: str | None = None
    waited_ms: int = 0
    rows_produced: int = 0
    #: a DML statement's `stats` (rows inserted, updated, deleted), for its history row
    dml: dict[str, int] = dataclasses.field(default_factory=dict)
    bytes_scanned: int = 0
    error: QueryError | None = None
    result: fs.StatementResult | None = None
    result_dropped: bool = False
    #: what the record keeps in the history (its text and tag), counted against `max_history_bytes`
    text_bytes: int = 0
    #: the result's chunk URLs carry this token as their `X-Amz-Signature`, hex as AWS's (the driver masks it in logs)
    chunk_signature: str = dataclasses.field(default_factory=lambda: secrets.token_hex(32))
    #: and their download must send this one as the SSE-C key (the result's `qrmk`)
    chunk_key: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(24))
    cancel_event: threading.Event = dataclasses.field(default_factory=threading.Event)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    conn: Any = None
    #: a worker thread has taken the query (before that, it waits for one as for a warehouse), or a cancel has
    #: ended it while it waited
    picked: bool = False
    executing: bool = False
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = dataclasses.field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATES

    def history_row(self) -> dict[str, Any]:
        now = time.time()
        end = self.ended
        started = self.started or end or now
        running_until = end or now
        error = self.error
        return {
            "QUERY_ID": self.query_id,
            "QUERY_TEXT": self.sql,
            "DATABASE_NAME": self.session.database,
            "SCHEMA_NAME": self.session.schema,
            "QUERY_TYPE": _query_type(self.sql),
            "SESSION_ID": self.session.session_id,
            "USER_NAME": self.session.user,
            "ROLE_NAME": self.session.role,
            "WAREHOUSE_NAME": self.session.warehouse,
            "WAREHOUSE_SIZE": self.warehouse_size,
            "WAREHOUSE_TYPE": self.warehouse_type,
            "QUERY_TAG": self.tag,
            "EXECUTION_STATUS": _history_status(self.status),
            "ERROR_CODE": error.code if error else None,
            "ERROR_MESSAGE": error.message if error else None,
            "START_TIME": _ts(self.submitted),
            "END_TIME": _ts(end) if end else None,
            "TOTAL_ELAPSED_TIME": int(((end or now) - self.submitted) * 1000),
            "BYTES_SCANNED": self.bytes_scanned,
            "ROWS_PRODUCED": self.rows_produced,
            "ROWS_INSERTED": self.dml.get("numRowsInserted", 0),
            "ROWS_UPDATED": self.dml.get("numRowsUpdated", 0),
            "ROWS_DELETED": self.dml.get("numRowsDeleted", 0),
            "COMPILATION_TIME": int(((self.executed or started) - started) * 1000) if self.executed else 0,
            "EXECUTION_TIME": int((running_until - (self.executed or started)) * 1000) if self.started else 0,
            "QUEUED_PROVISIONING_TIME": self._waited("QUEUED_PROVISIONING_TIME"),
            "QUEUED_REPAIR_TIME": self._waited("QUEUED_REPAIR_TIME"),
            "QUEUED_OVERLOAD_TIME": self._waited("QUEUED_OVERLOAD_TIME"),
            "TRANSACTION_BLOCKED_TIME": self._waited("TRANSACTION_BLOCKED_TIME"),
            "IS_CLIENT_GENERATED_STATEMENT": False,
        }

    def attribution_row(self) -> dict[str, Any]:
        """This query's row of QUERY_ATTRIBUTION_HISTORY: its execution time at its warehouse's rate (alone on
        its warehouse, as the emulator runs it; Snowflake splits a warehouse's credits among concurrent queries)."""
        execution_ms = self.history_row()["EXECUTION_TIME"]
        rate = _credits_per_hour(self.warehouse_size, self.warehouse_type)
        root = self.parent_id or self.query_id
        return {
            "QUERY_ID": self.query_id,
            "PARENT_QUERY_ID": self.parent_id,
            "ROOT_QUERY_ID": root,
            "WAREHOUSE_NAME": self.session.warehouse,
            "QUERY_TAG": self.tag,
            "USER_NAME": self.session.user,
            "START_TIME": _ts(self.submitted),
            "END_TIME": _ts(self.ended) if self.ended else None,
            "CREDITS_ATTRIBUTED_COMPUTE": execution_ms / 3_600_000 * (rate or 0.0),
            "CREDITS_USED_QUERY_ACCELERATION": 0.0,
        }

    def _waited(self, column: str) -> int:
        return self.waited_ms if self.waited_status and _WAIT_COLUMNS.get(self.waited_status) == column else 0

    def monitoring(self) -> dict[str, Any]:
        """The entry of `/monitoring/queries/<id>` the driver reads (`status`, `errorCode`, `errorMessage`)."""
        status = self.status
        if status == "NO_DATA" and not self.picked and time.time() - self.submitted > QUEUED_AFTER_S:
            # waiting for a query thread, as a query waits for a busy warehouse: Snowflake reports it QUEUED
            status = "QUEUED"
        entry: dict[str, Any] = {
            "id": self.query_id,
            "status": status,
            "state": status,
            "sqlText": self.sql,
            "startTime": int(self.submitted * 1000),
            "endTime": int(self.ended * 1000) if self.ended else 0,
            "totalDuration": int(((self.ended or time.time()) - self.submitted) * 1000),
            "sessionId": self.session.session_id,
            "warehouseName": self.session.warehouse,
            "queryTag": self.tag,
            "stats": {"producedRows": self.rows_produced, "scanBytes": self.bytes_scanned},
        }
        if self.error:
            entry["errorCode"] = self.error.code
            entry["errorMessage"] = self.error.message
        return entry


def _ts(epoch: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)


def _history_status(status: str) -> str:
    return "RUNNING" if status in ("NO_DATA", "RESTARTED") else status


def _query_type(sql: str) -> str:
    words = sql.lstrip("( \n\t").split(None, 2)
    head = words[0].upper() if words else ""
    if head in ("CREATE", "DROP", "ALTER") and len(words) > 1:
        return f"{head}_{words[1].upper()}"
    return head or "UNKNOWN"


class ResultStore:
    """Finished results, bounded by count, bytes and age (the knobs). History records are bounded separately.

    Bytes are counted once per table: a RESULT_SCAN's result is the scanned query's table, kept twice, held once.
    A result's bytes are its data's and its column names' (an unaliased column is named by its expression's text,
    which can be long).
    """

    def __init__(self) -> None:
        self._results: collections.OrderedDict[str, QueryRecord] = collections.OrderedDict()
        #: id of a result's table (or JSON rowset) -> [that object, how many kept results hold it, its bytes]
        self._held: dict[int, list[Any]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, record: QueryRecord, knobs: Knobs) -> None:
        if record.result is None:
            return
        with self._lock:
            self._results[record.query_id] = record
            self._hold(record.result)
            self._evict(knobs)

    def _hold(self, result: fs.StatementResult) -> None:
        payload = _payload(result)
        held = self._held.get(id(payload))
        if held is None:
            nbytes = result.nbytes + _names_bytes(result)
            self._held[id(payload)] = [payload, 1, nbytes]
            self._bytes += nbytes
        else:
            held[1] += 1

    def _release(self, result: fs.StatementResult) -> None:
        held = self._held[id(_payload(result))]
        held[1] -= 1
        if held[1] == 0:
            del self._held[id(held[0])]
            self._bytes -= held[2]

    def _evict(self, knobs: Knobs) -> None:
        oldest_allowed = time.time() - knobs.result_ttl_s
        while self._results:
            qid, record = next(iter(self._results.items()))
            too_many = len(self._results) > knobs.max_results or self._bytes > knobs.max_result_bytes
            if not too_many and (record.ended or 0) >= oldest_allowed:
                break
            self._results.pop(qid)
            self._drop(record)

    def _drop(self, record: QueryRecord) -> None:
        if record.result is not None:
            self._release(record.result)
            record.result = None
            record.result_dropped = True

    def discard(self, record: QueryRecord) -> None:
        """Drop the record's result now (its query has left the history, so nothing can ask for it)."""
        with self._lock:
            if self._results.pop(record.query_id, None) is not None:
                self._drop(record)

    def sweep(self, knobs: Knobs) -> None:
        with self._lock:
            self._evict(knobs)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"results": len(self._results), "result_bytes": self._bytes}

    def clear(self) -> None:
        with self._lock:
            for record in self._results.values():
                self._drop(record)
            self._results.clear()


def _payload(result: fs.StatementResult) -> object:
    """What a result's bytes are: its Arrow table, or its JSON rowset (shared by a RESULT_SCAN of it)."""
    return result.arrow if result.arrow is not None else result.json_rowset


def _names_bytes(result: fs.StatementResult) -> int:
    """What a result's column names take: in its row type, and in its Arrow schema."""
    names = sum(sys.getsizeof(column.get("name") or "") for column in result.rowtype)
    return names + (sum(sys.getsizeof(name) for name in result.arrow.schema.names) if result.arrow is not None else 0)


def _check_size(record: QueryRecord, result: fs.StatementResult, knobs: Knobs) -> fs.StatementResult:
    """The result, or the query's error when it is larger than the emulator keeps (it would be evicted at once)."""
    nbytes, limit = result.nbytes, knobs.max_result_bytes
    if nbytes <= limit:
        return result
    raise QueryError(
        *RESULT_TOO_LARGE,
        f"Result of query {record.query_id} is {nbytes} bytes ({nbytes / 2**20:.1f} MiB), more than the local "
        f"Snowflake keeps: max_result_bytes is {limit} ({limit / 2**20:.1f} MiB). Raise it with --max-result-bytes "
        "N or LocalSnowflake.configure(max_result_bytes=N).",
    )


class Engine:
    """Runs queries, answers their status, cancels them, and keeps their history and results."""

    def __init__(
        self,
        database: fs.Database,
        knobs: Callable[[], Knobs],
        max_workers: int = 64,
        objects: Objects | None = None,
    ) -> None:
        self._db = database
        self._objects = objects or Objects(Directory())
        self._stages = BindStages()
        self._procedures = Procedures()
        self._knobs = knobs
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="local-snowflake-query")
        # Statements about other queries (cancel, result scan, history) are metadata operations: they never wait
        # for a query thread, which queries held by `min_query_ms` may all be using.
        self._metadata_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="local-snowflake-metadata")
        self._records: collections.OrderedDict[str, QueryRecord] = collections.OrderedDict()
        self._history_bytes = 0
        self._by_request: dict[tuple[int, str], str] = {}
        self._lock = threading.Lock()
        self.results = ResultStore()
        self._closed = False

    # -- submit / wait -------------------------------------------------------------------------------------------

    def submit(
        self,
        session: Session,
        sql: str,
        *,
        request_id: str = "",
        asynchronous: bool = False,
        bindings: dict[str, dict[str, Any]] | None = None,
        bind_stage: str | None = None,
        statement_params: dict[str, Any] | None = None,
        describe_only: bool = False,
    ) -> QueryRecord:
        """Register and start a query; a retried request (same request id in the session) gets the first one."""
        with self._lock:
            existing = self._by_request.get((session.session_id, request_id)) if request_id else None
            if existing and existing in self._records:
                return self._records[existing]
        statement_params = statement_params or {}
        params, batch = fs.bindings_to_params(bindings)
        setting = session.parameters.get
        count = statement_params.get("MULTI_STATEMENT_COUNT", setting("MULTI_STATEMENT_COUNT"))
        timeout = statement_params.get("STATEMENT_TIMEOUT_IN_SECONDS", setting("STATEMENT_TIMEOUT_IN_SECONDS"))
        record = self._new_record(
            session,
            sql,
            request_id=request_id,
            asynchronous=asynchronous,
            tag=str(statement_params.get("QUERY_TAG") or setting("QUERY_TAG") or ""),
        )
        record.params, record.batch, record.describe_only = params, batch, describe_only
        record.bind_stage = bind_stage
        record.statement_params = dict(statement_params)
        record.statement_count = int(count) if str(count).lstrip("-").isdigit() else 1
        record.timeout_s = int(timeout) if str(timeout).isdigit() else TIMEOUT_DEFAULT_S
        session.previous_query_id, session.last_query_id = session.last_query_id, record.query_id
        if fs.may_be_about_queries(sql):
            self._metadata_pool.submit(self._route, record)  # parsing it is a few ms: not on the event loop
        else:
            self._pool.submit(self._run, record, fs.Classified("sql"))
        return record

    def _route(self, record: QueryRecord) -> None:
        """Run a statement about queries here, on a metadata thread; hand anything else to the query threads."""
        classified = fs.classify(record.sql)
        if classified.kind == "sql":
            self._pool.submit(self._run, record, classified)
        else:
            self._run(record, classified)

    def _new_record(
        self, session: Session, sql: str, *, request_id: str, asynchronous: bool, tag: str, parent: str | None = None
    ) -> QueryRecord:
        record = QueryRecord(
            query_id=str(uuid.uuid4()),
            session=session,
            sql=sql,
            request_id=request_id,
            tag=tag,
            asynchronous=asynchronous,
            parent_id=parent,
            text_bytes=sys.getsizeof(sql) + sys.getsizeof(tag),
        )
        warehouse = self._objects.directory.warehouse(session.warehouse)
        if warehouse is not None:
            record.warehouse_size, record.warehouse_type = warehouse.size, warehouse.type
        with self._lock:
            self._records[record.query_id] = record
            self._history_bytes += record.text_bytes
            if request_id:
                self._by_request[(session.session_id, request_id)] = record.query_id
            self._trim_history()
        return record

    def _trim_history(self) -> None:
        """The oldest finished records out while there are more than `max_history` or `max_history_bytes`."""
        knobs = self._knobs()

        def over() -> bool:
            return len(self._records) > knobs.max_history or self._history_bytes > knobs.max_history_bytes

        if not over():
            return
        for qid in list(self._records):
            if not over():
                break
            record = self._records[qid]
            if record.done:
                del self._records[qid]
                self._history_bytes -= record.text_bytes
                self.results.discard(record)
                self._by_request.pop((record.session.session_id, record.request_id), None)

    async def wait(self, record: QueryRecord, timeout_s: float) -> bool:
        """Wait (without a thread) until the query ends; False when `timeout_s` passed first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with record.lock:
            if record.done:
                return True
            record.waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    def get(self, query_id: str) -> QueryRecord | None:
        with self._lock:
            return self._records.get(query_id)

    # -- who sees what (Snowflake's rules) -------------------------------------------------------------------------

    def visible(self, record: QueryRecord, session: Session) -> bool:
        """Whether `session` sees this query in status checks and the history, and may cancel it: its own user's
        queries, or every query for a role in `monitor_roles` (as ACCOUNTADMIN, or a role with MONITOR and
        OPERATE on the warehouses)."""
        return record.session.user == session.user or self._sees_all(session)

    def _sees_all(self, session: Session) -> bool:
        return (session.role or "").upper() in self._knobs().monitor_roles

    def result_for(self, query_id: str, session: Session) -> QueryRecord | None:
        """The query whose result `session` may read: only its own user's, whatever the role (Snowflake: "even a
        user with the ACCOUNTADMIN role cannot access the results of another user's query")."""
        record = self.get(query_id)
        return record if record is not None and record.session.user == session.user else None

    def by_request(self, session: Session, request_id: str) -> QueryRecord | None:
        with self._lock:
            qid = self._by_request.get((session.session_id, request_id))
            return self._records.get(qid) if qid else None

    def records(self) -> list[QueryRecord]:
        with self._lock:
            return list(self._records.values())

    def history_bytes(self) -> int:
        """What the kept records' texts and tags take (bounded by `max_history_bytes`)."""
        with self._lock:
            return self._history_bytes

    def result_of(self, record: QueryRecord) -> fs.StatementResult:
        """The result of a finished query, or the Snowflake error for a failed or expired one."""
        if record.error is not None:
            raise record.error
        if record.result is None:
            if record.result_dropped:
                raise QueryError(612, "P0000", f"Result for query '{record.query_id}' has expired.")
            raise QueryError(709, "02000", f"Statement {record.query_id} not found")
        return record.result

    # -- cancel --------------------------------------------------------------------------------------------------

    def cancel(self, query_id: str, by: Session | None = None) -> bool:
        """End a running query as cancelled (error 604). False when it is unknown, already finished (not an error)
        or, when `by` is given, not `visible` to that session."""
        record = self.get(query_id)
        if record is None or (by is not None and not self.visible(record, by)):
            return False
        with record.lock:
            if record.done:
                return False
            record.cancel_event.set()
            if record.executing and record.conn is not None:
                # stops DuckDB at its next check; the worker then records the cancel
                fs.interrupt(record.conn)
            waiting, record.picked = not record.picked, True
        if waiting:  # still waiting for a thread: it ends now (the thread that takes it later does nothing)
            self._finish(record, "FAILED_WITH_ERROR", error=_canceled_error())
        return True

    def shutdown(self) -> None:
        self._closed = True
        for record in self.records():
            if not record.done:
                self.cancel(record.query_id)
        self._metadata_pool.shutdown(wait=True, cancel_futures=True)  # first: it hands statements to the other
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._stages.close()

    def end_session(self, session: Session) -> None:
        """What ends with a session: its bind stages (their files, and the stages' listing when no other session
        has one of the same name). Call with the session's lock held, before its connection closes."""
        for database, schema, name in self._stages.end_session(session.session_id):
            fs.forget_stage(session.conn, database, schema, name)

    # -- the worker ----------------------------------------------------------------------------------------------

    def _run(self, record: QueryRecord, classified: fs.Classified) -> None:
        with record.lock:
            if record.picked:  # cancelled while it waited for this thread
                return
            record.picked = True
        knobs = self._knobs()
        if classified.kind != "sql":
            # statements about other queries (cancel, result scan, history) are metadata operations in
            # Snowflake: they do not queue behind a warehouse nor take the simulated query time
            knobs = knobs.updated({"first_status": None, "min_query_ms": 0})
        try:
            if knobs.first_status and knobs.first_status_ms > 0:
                self._set_status(record, knobs.first_status)
                record.waited_status = knobs.first_status
                waited_from = time.time()
                record.cancel_event.wait(knobs.first_status_ms / 1000)
                record.waited_ms = int((time.time() - waited_from) * 1000)
            if record.cancel_event.is_set():
                raise QueryError(*_canceled())
            record.started = time.time()
            self._set_status(record, "RUNNING")
            with self._timeout(record):
                result = _check_size(record, self._execute(record, classified), knobs)
                record.cancel_event.wait(max(0.0, record.started + knobs.min_query_ms / 1000 - time.time()))
            if record.cancel_event.is_set():
                raise QueryError(*_canceled())
            self._finish(record, "SUCCESS", result=result)
        except (QueryError, fs.SnowflakeError) as raised:
            exc = raised if isinstance(raised, QueryError) else QueryError.from_snowflake(raised)
            if record.timed_out:
                self._finish(record, "FAILED_WITH_ERROR", error=_timeout_error(record.timeout_s))
                return
            cancelled = record.cancel_event.is_set() or exc.errno == CANCELED[0]
            self._finish(record, "FAILED_WITH_ERROR", error=_canceled_error() if cancelled else exc)
        except Exception as exc:  # a bug or an unsupported feature: still a Snowflake error, never a bare 500
            error = QueryError(603, "XX000", f"SQL execution internal error: {type(exc).__name__}: {exc}")
            self._finish(record, "FAILED_WITH_ERROR", error=error)

    @contextlib.contextmanager
    def _timeout(self, record: QueryRecord) -> Iterator[None]:
        """STATEMENT_TIMEOUT_IN_SECONDS: the statement is cancelled when it runs longer (a timer only if set)."""
        if record.timeout_s <= 0 or record.timeout_s >= TIMEOUT_DEFAULT_S:
            yield
            return
        timer = threading.Timer(record.timeout_s, self._time_out, (record,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _time_out(self, record: QueryRecord) -> None:
        record.timed_out = True
        self.cancel(record.query_id)

    def _set_status(self, record: QueryRecord, status: str) -> None:
        with record.lock:
            if not record.done:
                record.status = status

    def _finish(
        self,
        record: QueryRecord,
        status: str,
        result: fs.StatementResult | None = None,
        error: QueryError | None = None,
    ) -> None:
        with record.lock:
            record.result, record.error = result, error
            if result is not None:
                record.rows_produced = result.rows_produced
                record.dml = result.stats or {}
                record.bytes_scanned = result.nbytes
            record.ended = time.time()
            record.status = status
            # the record stays in history: drop what only the run needed (binds can be large batches)
            record.params, record.batch, record.conn = None, None, None
            waiters, record.waiters = record.waiters, []
        self.results.add(record, self._knobs())
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    def _execute(self, record: QueryRecord, classified: fs.Classified) -> fs.StatementResult:
        session = record.session
        if classified.kind == "cancel":
            return self._answer_cancel(classified.arg, session)
        if classified.kind == "result_scan":
            return self._answer_result_scan(classified.arg, session)
        if classified.kind == "history":
            return self._answer_history(classified, session, record.params)
        if classified.kind == "attribution":
            return self._answer_attribution(classified, session, record.params)
        if classified.kind == "parameters" and classified.statement is not None:
            return _answer_parameters(session, classified.statement)
        if session.closed:
            raise QueryError(390111, "08003", "Session no longer exists.  New login required to access the service.")
        if record.asynchronous and not _needs_session(record.sql, session.temporary_tables):
            conn = self._db.fork(session.conn, session.parameters.time_zone)
            try:
                return self._statements(record, conn)
            finally:
                fs.close(conn)
        # synchronous, or asynchronous and about a temporary table of the session, which only the session's
        # connection sees: one at a time with the session's other statements
        while not session.lock.acquire(timeout=0.05):
            if record.cancel_event.is_set():
                raise QueryError(*_canceled())
        try:
            return self._statements(record, session.conn)
        finally:
            session.lock.release()

    def _statements(self, record: QueryRecord, conn: Any) -> fs.StatementResult:
        if record.bind_stage is not None:
            record.batch = self._staged_rows(record)
        # a procedure's body has semicolons of its own
        split = ";" in record.sql and not creates_procedure(record.sql)
        parts = fs.split_statements(record.sql, _tuple(record.params)) if split else []
        if len(parts) <= 1 and record.statement_count in (0, 1):
            result = self._one(record, conn, record.sql, record.params)
            record.session.database, record.session.schema = fs.session_names(conn)
            return result
        if not record.session.takes_multi_statements:
            raise QueryError(
                8,
                "0A000",
                "Multiple SQL statements in a single API call are not supported; use one API call per statement "
                "instead.",
            )
        if record.statement_count not in (0, len(parts)):
            raise QueryError(
                8,
                "0A000",
                f"Actual statement count {len(parts)} did not match the desired statement count "
                f"{record.statement_count}.",
            )
        child_ids: list[str] = []
        for sql, params in parts:
            child = self._new_record(
                record.session,
                sql,
                request_id="",
                asynchronous=record.asynchronous,
                tag=record.tag,
                parent=record.query_id,
            )
            child_ids.append(child.query_id)
            child.statement_params = record.statement_params
            child.picked = True  # run here, by its parent's thread: a cancel stops it as a running query
            child.started = time.time()
            child.status = "RUNNING"
            try:
                result = _check_size(child, self._child(child, conn, sql, params), self._knobs())
            except QueryError as exc:
                self._finish(child, "FAILED_WITH_ERROR", error=exc)
                raise
            self._finish(child, "SUCCESS", result=result)
        record.session.database, record.session.schema = fs.session_names(conn)
        parent = _message_result("multiple statement execution", "Multiple statements executed successfully.")
        return dataclasses.replace(parent, result_ids=tuple(child_ids))

    def _staged_rows(self, record: QueryRecord) -> list[tuple[Any, ...]]:
        """The rows of an INSERT whose binds the driver uploaded to its bind stage (`bindStage`)."""
        session = record.session
        try:
            ref = parse_ref(record.bind_stage or "", session.database, session.schema)
            if ref is None:
                raise StageError(
                    2,
                    "0A000",
                    f"The local Snowflake reads bound rows only from the driver's bind stages (SYSTEMBIND, "
                    f"SNOWPARK_TEMP_STAGE_BIND), not from {record.bind_stage}.",
                )
            return list(self._stages.rows(session.session_id, ref, self._knobs().max_request_bytes))
        except StageError as exc:
            raise QueryError(exc.errno, exc.sqlstate, exc.message) from None

    def _stage_command(self, record: QueryRecord, conn: Any, sql: str, params: Any) -> fs.StatementResult | None:
        """A PUT into one of the session's bind stages, answered here; None for any other statement (a CREATE
        TEMPORARY STAGE of a bind stage runs on, and `_stage_created` registers it)."""
        command = fs.stage_command(sql, params)
        if command is None or command.kind != "put":
            return None
        session = record.session
        database, schema = fs.session_names(conn)
        try:
            ref = parse_ref(command.location, database, schema)
            if ref is None:
                return None  # not a bind stage: PUT is refused as not emulated
            answer = self._stages.put(session.session_id, ref, command.source, self._knobs().max_request_bytes)
        except StageError as exc:
            raise QueryError(exc.errno, exc.sqlstate, exc.message) from None
        return fs.transfer_result(answer)

    def _stage_created(self, record: QueryRecord, conn: Any, sql: str) -> None:
        command = fs.stage_command(sql, None)
        if command is None or command.kind != "create":
            return
        database, schema = fs.session_names(conn)
        ref = parse_ref(command.location, database, schema)
        if ref is not None:
            self._stages.create(record.session.session_id, ref)

    def _stage_listing(self, session: Session, sql: str, result: fs.StatementResult) -> fs.StatementResult:
        """`SHOW STAGES` without other sessions' temporary bind stages (a temporary stage is its session's)."""
        table = result.arrow
        if not _SHOW_STAGES.match(sql) or table is None or table.num_rows == 0:
            return result
        names = {name.lower(): name for name in table.column_names}
        if not {"name", "database_name", "schema_name", "type"} <= names.keys():
            return result
        columns = [table.column(names[c]).to_pylist() for c in ("database_name", "schema_name", "name", "type")]
        keep = [
            kind != "INTERNAL TEMPORARY" or not self._stages.hidden(session.session_id, (db, schema, name))
            for db, schema, name, kind in zip(*columns, strict=True)
        ]
        if all(keep):
            return result
        kept = table.filter(pa.array(keep))
        return dataclasses.replace(result, arrow=kept, total=kept.num_rows, rows_produced=kept.num_rows)

    def _child(self, record: QueryRecord, conn: Any, sql: str, params: Any) -> fs.StatementResult:
        """One statement of a multi-statement request: about session parameters, or run as any other."""
        classified = fs.classify(sql)
        if classified.kind == "parameters" and classified.statement is not None:
            return _answer_parameters(record.session, classified.statement)
        return self._one(record, conn, sql, params)

    def _one(self, record: QueryRecord, conn: Any, sql: str, params: Any) -> fs.StatementResult:
        session = record.session
        autocommit = bool(session.parameters.get("AUTOCOMMIT")) if conn is session.conn else None
        indent = int(session.parameters.get("JSON_INDENT"))
        fs.apply_session(conn, session.parameters.time_zone, autocommit, indent)
        with record.lock:
            if record.cancel_event.is_set():
                raise QueryError(*_canceled())
            record.conn, record.executing = conn, True
        parent = self.get(record.parent_id) if record.parent_id else None
        if parent is not None:
            with parent.lock:
                parent.conn, parent.executing = conn, True
        record.executed = time.time()
        try:
            session = record.session
            context = fs.SessionContext(session.user, session.role, session.warehouse, session.account)
            sql = fs.with_context(sql, conn, context)
            timed = fs.timed(sql) if not record.describe_only else None
            if timed is not None:
                _hold(timed.seconds, record, parent)
                sql = timed.sql
            sql, answered = self._objects.answer(record.session, conn, sql, params)
            if answered is None:
                answered = self._stage_command(record, conn, sql, params)
            if answered is not None:
                return answered
            if (called := self._procedures.answer(record.session, conn, sql, params)) is not None:
                return called
            if multi_insert.matches(sql) and not record.describe_only:
                return multi_insert.run(conn, sql, params)
            result = fs.execute(conn, sql, params, record.batch, record.describe_only)
            if conn is session.conn and _DDL.match(sql):  # it may have made or dropped a temporary table
                session.temporary_tables = fs.temporary_tables(conn)
            self._stage_created(record, conn, sql)
            return self._objects.filter_listing(record.session, sql, self._stage_listing(record.session, sql, result))
        except AccessError as exc:
            raise QueryError(exc.errno, exc.sqlstate, exc.message) from None
        except fs.SnowflakeError as exc:
            raise QueryError.from_snowflake(exc) from None
        finally:
            for r in (record, parent):
                if r is not None:
                    with r.lock:
                        r.executing = False

    # -- statements answered here --------------------------------------------------------------------------------

    def _answer_cancel(self, query_id: str, session: Session) -> fs.StatementResult:
        try:
            uuid.UUID(query_id)
        except ValueError:
            raise QueryError(
                2140, "22023", f"SQL compilation error:\nInvalid argument [{query_id}] for SYSTEM$CANCEL_QUERY."
            ) from None
        cancelled = self.cancel(query_id, by=session)
        answer = (
            f"query [{query_id}] terminated." if cancelled else "Identified SQL statement is not currently executing."
        )
        return _message_result(f"SYSTEM$CANCEL_QUERY('{query_id}')", answer)

    def _answer_result_scan(self, query_id: str, session: Session) -> fs.StatementResult:
        query_id = query_id or (session.previous_query_id or "")
        try:
            uuid.UUID(query_id)
        except ValueError:
            raise QueryError(
                2140, "22023", f"SQL compilation error:\nInvalid argument [{query_id}] for RESULT_SCAN."
            ) from None
        record = self.result_for(query_id, session)
        if record is None or not record.done:
            raise QueryError(709, "02000", f"Statement {query_id} not found")
        # a scan reads the rows only: a multi-statement parent's child ids come with /queries/<id>/result
        return dataclasses.replace(self.result_of(record), result_ids=())

    def _answer_history(self, classified: fs.Classified, session: Session, params: Any) -> fs.StatementResult:
        options = classified.options
        limit = min(int(options.get("RESULT_LIMIT", DEFAULT_HISTORY_LIMIT)), MAX_HISTORY_LIMIT)
        records: Iterable[QueryRecord] = self.records()
        if not self._sees_all(session):  # a user sees their own queries only
            records = [r for r in records if r.session.user == session.user]
        if classified.arg == "QUERY_HISTORY_BY_SESSION":
            wanted = int(options.get("SESSION_ID", session.session_id))
            records = [r for r in records if r.session.session_id == wanted]
        elif classified.arg == "QUERY_HISTORY_BY_USER":
            user = options.get("USER_NAME", session.user).upper()
            records = [r for r in records if r.session.user.upper() == user]
        elif classified.arg == "QUERY_HISTORY_BY_WAREHOUSE":
            warehouse = options.get("WAREHOUSE_NAME", session.warehouse or "").upper()
            records = [r for r in records if (r.session.warehouse or "").upper() == warehouse]
        latest = sorted(records, key=lambda r: r.submitted, reverse=True)[:limit]
        wanted_ids = fs.history_filter(classified, params)
        if wanted_ids is not None:
            # The statement's WHERE keeps these queries' rows only: the other rows need not be built (DuckDB
            # still applies the whole condition below).
            latest = [r for r in latest if r.query_id in wanted_ids]
        rows = [r.history_row() for r in latest]
        table = pa.Table.from_pylist(rows, schema=HISTORY_SCHEMA)
        columns = _picked_columns(classified.projection) if wanted_ids is not None else None
        if columns is not None:
            # The rows are already those of the WHERE, and the SELECT only picks columns: no SQL to run (DuckDB
            # would add ~6 ms per look-up; `test_query_history.py` checks both ways give the same answer).
            out = table.select([source for source, _ in columns]).rename_columns([name for _, name in columns])
        else:
            out = fs.run_on_table(classified.duckdb_sql, "QUERY_HISTORY", table, params)
        return fs.result_from_arrow(out)

    def _answer_attribution(self, classified: fs.Classified, session: Session, params: Any) -> fs.StatementResult:
        """SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY: the credits of each finished query that ran on a
        warehouse, `attribution_delay_s` after it ended; for a role that sees every query (ACCOUNT_USAGE needs
        one), else Snowflake's "does not exist or not authorized"."""
        if not self._sees_all(session):
            raise QueryError(
                2003,
                "42S02",
                "SQL compilation error:\nObject 'SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY' does not exist "
                "or not authorized.",
            )
        ready = time.time() - self._knobs().attribution_delay_s
        rows = [
            r.attribution_row()
            for r in self.records()
            if r.done and r.ended is not None and r.ended <= ready and r.warehouse_size is not None
        ]
        table = pa.Table.from_pylist(rows, schema=ATTRIBUTION_SCHEMA)
        return fs.result_from_arrow(fs.run_on_table(classified.duckdb_sql, fs.ATTRIBUTION_VIEW, table, params))


def _answer_parameters(session: Session, statement: ParameterStatement) -> fs.StatementResult:
    """ALTER SESSION SET/UNSET (the session's values; its connection follows at its next statement) or SHOW
    PARAMETERS."""
    parameters = session.parameters
    try:
        if statement.action == "invalid":
            raise statement.syntax_error()
        if statement.action == "show":
            rows = parameters.show_rows(statement.like)
            return fs.result_from_arrow(pa.Table.from_pylist(rows, schema=PARAMETERS_SCHEMA))
        for name, value in statement.items:
            if statement.action == "unset" or value is None:
                parameters.unset(name)
            else:
                parameters.set(name, value, spelled=value)
    except ParameterError as exc:
        raise QueryError(exc.errno, exc.sqlstate, exc.message) from None
    return _message_result("status", "Statement executed successfully.")


def _picked_columns(projection: tuple[tuple[str, str], ...] | None) -> list[tuple[str, str]] | None:
    """The history columns a projection picks, `*` spelled out; None when one is not a column of the history
    (as written: a quoted name in another case is left to DuckDB, which resolves names its own way)."""
    if projection is None:
        return None
    columns: list[tuple[str, str]] = []
    for source, name in projection:
        if source == "*":
            columns.extend((column, column) for column in HISTORY_SCHEMA.names)
        elif source in HISTORY_SCHEMA.names:
            columns.append((source, name))
        else:
            return None
    return columns


def _hold(seconds: float, record: QueryRecord, parent: QueryRecord | None) -> None:
    """Keep a statement running `seconds` (SYSTEM$WAIT, a generator's TIMELIMIT) unless it or its multi-statement
    parent is cancelled meanwhile."""
    deadline = time.monotonic() + seconds
    events = [r.cancel_event for r in (record, parent) if r is not None]
    while not any(event.is_set() for event in events):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        record.cancel_event.wait(min(left, 0.05) if parent is not None else left)
    raise QueryError(*_canceled())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_DDL = re.compile(r"\s*(CREATE|DROP|ALTER)\b", re.IGNORECASE)


_CREATES_TEMPORARY = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:LOCAL\s+|GLOBAL\s+)?(?:TEMP|TEMPORARY)\b", re.I)


# statements that list the session's temporary tables (`_temporary_catalog`), which only its connection sees
_READS_CATALOG = re.compile(r"\bINFORMATION_SCHEMA\b|^\s*(?:SHOW|DESC|DESCRIBE)\s", re.I)


def _needs_session(sql: str, temporary_tables: frozenset[str]) -> bool:
    """Whether a statement must run on its session's connection: it creates a temporary table (which must outlive
    the statement), names one or lists the catalog while the session has one (only that connection sees them)."""
    if _CREATES_TEMPORARY.search(sql) is not None:
        return True
    return bool(temporary_tables) and (_READS_CATALOG.search(sql) is not None or _names_any(sql, temporary_tables))


def _names_any(sql: str, names: frozenset[str]) -> bool:
    """Whether `sql` mentions one of `names` as a word (a mention in a string literal counts too: then the
    statement only runs where it need not)."""
    upper = sql.upper()
    return any(re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", upper) for name in names if name in upper)


def _canceled() -> tuple[int, str, str]:
    return CANCELED


def _canceled_error() -> QueryError:
    return QueryError(*CANCELED)


def _timeout_error(seconds: int) -> QueryError:
    message = f"Statement reached its statement or warehouse timeout of {seconds} second(s) and was canceled."
    return QueryError(630, "57014", message)


def _tuple(params: Any) -> tuple[Any, ...] | None:
    return tuple(params) if isinstance(params, (tuple, list)) else None


def _message_result(column: str, message: str) -> fs.StatementResult:
    return fs.result_from_arrow(pa.table({column: pa.array([message], pa.string())}))


PARAMETERS_SCHEMA = pa.schema(
    [(name, pa.string()) for name in ("key", "value", "default", "level", "description", "type")]
)
_TS = pa.timestamp("us", tz="UTC")
ATTRIBUTION_SCHEMA = pa.schema(
    [
        ("QUERY_ID", pa.string()),
        ("PARENT_QUERY_ID", pa.string()),
        ("ROOT_QUERY_ID", pa.string()),
        ("WAREHOUSE_NAME", pa.string()),
        ("QUERY_TAG", pa.string()),
        ("USER_NAME", pa.string()),
        ("START_TIME", pa.timestamp("us", tz="UTC")),
        ("END_TIME", pa.timestamp("us", tz="UTC")),
        ("CREDITS_ATTRIBUTED_COMPUTE", pa.float64()),
        ("CREDITS_USED_QUERY_ACCELERATION", pa.float64()),
    ]
)
HISTORY_SCHEMA = pa.schema(
    [
        ("QUERY_ID", pa.string()),
        ("QUERY_TEXT", pa.string()),
        ("DATABASE_NAME", pa.string()),
        ("SCHEMA_NAME", pa.string()),
        ("QUERY_TYPE", pa.string()),
        ("SESSION_ID", pa.int64()),
        ("USER_NAME", pa.string()),
        ("ROLE_NAME", pa.string()),
        ("WAREHOUSE_NAME", pa.string()),
        ("WAREHOUSE_SIZE", pa.string()),
        ("WAREHOUSE_TYPE", pa.string()),
        ("QUERY_TAG", pa.string()),
        ("EXECUTION_STATUS", pa.string()),
        ("ERROR_CODE", pa.string()),
        ("ERROR_MESSAGE", pa.string()),
        ("START_TIME", _TS),
        ("END_TIME", _TS),
        ("TOTAL_ELAPSED_TIME", pa.int64()),
        ("BYTES_SCANNED", pa.int64()),
        ("ROWS_PRODUCED", pa.int64()),
        ("ROWS_INSERTED", pa.int64()),
        ("ROWS_UPDATED", pa.int64()),
        ("ROWS_DELETED", pa.int64()),
        ("COMPILATION_TIME", pa.int64()),
        ("EXECUTION_TIME", pa.int64()),
        ("QUEUED_PROVISIONING_TIME", pa.int64()),
        ("QUEUED_REPAIR_TIME", pa.int64()),
        ("QUEUED_OVERLOAD_TIME", pa.int64()),
        ("TRANSACTION_BLOCKED_TIME", pa.int64()),
        ("IS_CLIENT_GENERATED_STATEMENT", pa.bool_()),
    ]
)
