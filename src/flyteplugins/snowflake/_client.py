"""The one module that talks to the Snowflake driver: login, submit, status, cancel, results.

Every function here blocks (the driver is synchronous); callers run them on the pool's threads. Driver
errors leave this module translated by `errors.translate`, so nothing above it sees a driver class.
This is also the seam for a second transport (Snowflake's SQL API v2): the connector only needs
`login`, `submit`, `poll`, `cancel` and `open_result`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import threading
import time
import urllib.parse
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import SnowflakeDriverError, SnowflakeError, translate

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection
    from snowflake.connector.cursor import SnowflakeCursor

T = TypeVar("T")

#: Snowflake's default CLIENT_STAGE_ARRAY_BINDING_THRESHOLD, for a session whose login did not send one.
DEFAULT_STAGE_BINDING_THRESHOLD = 65_280

#: Driver settings the plugin always wants (see docs/architecture.md).
BASE_CONNECT_KWARGS: Mapping[str, Any] = {
    # Server-side binding: values never enter the SQL text or the query history.
    "paramstyle": "numeric",
    # Without internet, platform detection probes cloud metadata endpoints and stalls ~5 s now and then.
    "platform_detection_timeout_seconds": 0.0,  # a float: the driver checks its type
    # The service owns the session's life; never open a browser or keep a heartbeat thread per session.
    "client_session_keep_alive": False,
    # NUMBER(p,s) with s > 0 as exact decimals in Arrow/pandas: Snowflake sends those of up to 18 digits as scaled
    # integers, which the driver otherwise turns into float64 (rounding money).
    "arrow_number_to_decimal": True,
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

    _share_cancellation_timers()
    if importlib.util.find_spec("pandas") is not None:
        import pandas  # noqa: F401


def login(driver_kwargs: Mapping[str, Any]) -> SnowflakeConnection:
    """Open a session (a login round trip) with our base settings under the caller's."""
    import snowflake.connector

    _share_cancellation_timers()
    conn = _translated(snowflake.connector.connect, **{**BASE_CONNECT_KWARGS, **driver_kwargs})
    _skip_environment_lookups(conn)
    return conn


def _skip_environment_lookups(conn: SnowflakeConnection) -> None:
    """Let the session's HTTP requests skip the environment when there is nothing in it for them.

    The driver sends every request (submits, results, SQL, renewals) through `requests` sessions that trust the
    environment: each request reads every environment variable, twice, looking for proxy settings, and stats a
    netrc file. With 36 variables that was ~0.8 ms of the ~5 ms of CPU a CreateTask costs the service
    (`benchmarks/create_cost.py`); a Kubernetes pod has hundreds of them. When no proxy or CA-bundle variable is
    set and there is no netrc file, reading them finds nothing,
    so the session's `requests` sessions stop looking (`trust_env = False`). Otherwise, or behind a proxy the
    connection names itself, or with a session manager we do not know, nothing changes. The environment is read
    at login: a proxy set later in the process's life applies to sessions logged in after it.
    """
    from snowflake.connector.session_manager import SessionManager

    manager = getattr(getattr(conn, "rest", None), "session_manager", None)
    if type(manager) is not SessionManager or getattr(conn, "proxy_host", None) or _environment_matters():
        return
    make = manager.make_session

    def make_session(*args: Any, **kwargs: Any) -> Any:
        session = make(*args, **kwargs)
        session.trust_env = False
        return session

    manager.make_session = make_session  # type: ignore[method-assign]
    for pool in manager.sessions_map.values():  # the login's own sessions
        for session in [*getattr(pool, "_idle_sessions", ()), *getattr(pool, "_active_sessions", ())]:
            session.trust_env = False


#: Besides `*_proxy` variables, what `requests` takes from the environment.
_REQUESTS_VARIABLES = frozenset({"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC"})


def _environment_matters() -> bool:
    """Whether `requests` would find anything in this environment: a proxy, a CA bundle or a netrc file."""
    if any(name.lower().endswith("_proxy") or name.upper() in _REQUESTS_VARIABLES for name in os.environ):
        return True
    home = os.path.expanduser("~")
    return any(os.path.exists(os.path.join(home, name)) for name in (".netrc", "_netrc"))


class SharedCancellationTimer:
    """The driver's per-statement cancellation timer, kept on one shared thread.

    For every statement, even an asynchronous submit that returns in milliseconds, the driver arms a
    `threading.Timer` of `network_timeout` seconds that cancels the statement if its request has not come back
    by then, and disarms it when the request returns. That is a new thread per statement: ~1.2 ms of CPU and
    two thread hand-offs, 40% of a submit's cost on a busy replica. This timer has the same interface
    (`start`, `cancel`, `executed`) and the same effect, but waits on the one `_Deadlines` thread; only a timer
    that fires gets a thread of its own, for the cancel request.
    """

    def __init__(
        self,
        interval: float,
        function: Callable[..., Any],
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.interval = float(interval)
        self.function: Callable[..., Any] | None = function
        self.args = tuple(args or ())
        self.kwargs = dict(kwargs or {})
        self.executed = False
        self.cancelled = False

    def start(self) -> None:
        _DEADLINES.add(self)

    def cancel(self) -> None:
        self.cancelled = True
        # A disarmed timer waits in the queue until its deadline: let it hold nothing of the statement.
        self.function, self.args, self.kwargs = None, (), {}

    def fire(self) -> None:
        function, args, kwargs = self.function, self.args, self.kwargs
        if self.cancelled or function is None:
            return
        # Marked before the cancel goes out: the statement's own request can come back "canceled" while the
        # cancel request is still in flight, and the driver words its error as a timeout only when it sees
        # `executed` (the driver's own Timer sets it after, and loses that race).
        self.executed = True
        function(*args, **kwargs)


class _Deadlines:
    """One daemon thread that fires `SharedCancellationTimer`s at their deadlines, earliest first."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._queue: list[tuple[float, int, SharedCancellationTimer]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, timer: SharedCancellationTimer) -> None:
        with self._ready:
            heapq.heappush(self._queue, (time.monotonic() + timer.interval, next(self._order), timer))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="snowflake-statement-deadlines", daemon=True)
                self._thread.start()
            elif self._queue[0][2] is timer:
                self._ready.notify()  # earlier than what the thread waits for

    def pending(self) -> int:
        with self._ready:
            return sum(1 for _, _, timer in self._queue if not timer.cancelled)

    def _run(self) -> None:
        while True:
            with self._ready:
                while True:
                    while self._queue and self._queue[0][2].cancelled:
                        heapq.heappop(self._queue)
                    if not self._queue:
                        self._ready.wait()
                        continue
                    deadline, _, timer = self._queue[0]
                    left = deadline - time.monotonic()
                    if left <= 0:
                        heapq.heappop(self._queue)
                        break
                    self._ready.wait(left)
            # The cancel is a request to Snowflake: on its own thread, so later deadlines are not held up.
            threading.Thread(target=timer.fire, name="snowflake-statement-cancel", daemon=True).start()


_DEADLINES = _Deadlines()


def _share_cancellation_timers() -> None:
    """Give the driver's cursors `SharedCancellationTimer` (once; skipped if the driver no longer has the hook)."""
    from snowflake.connector import cursor

    current = getattr(cursor, "_TrackedQueryCancellationTimer", None)
    if current is None or current is SharedCancellationTimer:
        return
    cursor._TrackedQueryCancellationTimer = SharedCancellationTimer  # type: ignore[attr-defined,misc,assignment]


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

    `batch_rows` binds every row at once (array binding, `executemany`): one statement, one query. Only an
    INSERT INTO is array-bound by the driver (any other statement would run once per row, as separate
    queries), so anything else is refused here, before a row is sent.
    `statement_count` > 1 sends a multi-statement request (Snowflake checks the count).
    """

    def _submit() -> str:
        with conn.cursor() as cur:
            options: dict[str, Any] = {"_statement_params": dict(statement_params), "_exec_async": True}
            if statement_count != 1:
                options["num_statements"] = statement_count
            if batch_rows is not None:
                _check_array_bound(cur, sql, statement_count)
                cur.executemany(sql, list(batch_rows), **options)
            else:
                cur.execute(sql, list(params) if params else None, **options)
            if not cur.sfqid:
                raise RuntimeError("Snowflake accepted the statement but returned no query id")
            return str(cur.sfqid)

    return _translated(_submit)


def _check_array_bound(cur: SnowflakeCursor, sql: str, statement_count: int) -> None:
    """Refuse a batch the driver would not send as one array-bound statement (it tests the text it is given)."""
    if statement_count != 1 or not cur.INSERT_SQL_RE.match(sql.strip(" \t\n\r")):
        raise SnowflakeDriverError(
            "the driver would run this batch statement once per row, as separate queries, not as one array-bound "
            f"INSERT INTO (statements: {statement_count}; text starts {sql.strip()[:30]!r})"
        )


#: Seconds one status check may spend retrying 429/5xx and dropped connections inside the driver. A poll is
#: cheap to repeat, so it gives up early and lets the caller report "still running, checking again".
POLL_TIMEOUT_S = 5

#: `FLYTE_SNOWFLAKE_STATUS_CHECKS`: `direct` (the default) sends status checks straight to the monitoring
#: endpoint on the session's token; `driver` sends every one through the driver's request stack.
STATUS_CHECKS_ENV = "FLYTE_SNOWFLAKE_STATUS_CHECKS"

#: Status checks answered by each path; the service exports them as a Prometheus counter.
STATUS_CHECK_PATHS: dict[str, int] = {"direct": 0, "driver": 0}
_paths_lock = threading.Lock()

#: Seconds the direct path waits to connect and for the answer; past that the driver asks again (and retries).
_DIRECT_TIMEOUT_S = 2.0

#: Environment variables that route the driver's requests through a proxy: the direct path stands aside.
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def poll(conn: SnowflakeConnection, query_id: str, timeout: float = POLL_TIMEOUT_S) -> QueryState:
    """Ask Snowflake for the query's status; a failed query comes back with its code and message.

    One GET of the monitoring endpoint the driver's `get_query_status` uses. It goes the direct way when it
    can (`_StatusChannel`); anything but a plain successful answer is asked again through the driver, which
    retries 429/5xx and dropped connections within `timeout` and renews an expired session token.
    """
    uuid.UUID(query_id)  # a malformed id is the caller's bug, not a network problem
    channel = _StatusChannel.of(conn)
    if channel is not None:
        answer = channel.get(conn, query_id, min(timeout, _DIRECT_TIMEOUT_S))
        if answer is not None:
            _count_check("direct")
            return _query_state(answer)

    def _poll() -> QueryState:
        answer = conn.rest.request(  # type: ignore[union-attr]
            "/monitoring/queries/" + urllib.parse.quote(query_id), method="get", client="rest", timeout=int(timeout)
        )
        _count_check("driver")
        if answer.get("success") is False:
            raise _refusal(answer)
        return _query_state(answer)

    return _translated(_poll, query_id=query_id)


def _refusal(answer: Mapping[str, Any]) -> Exception:
    """Snowflake refused the status request itself (a session it no longer has, a missing privilege): its code
    and message as a driver error, so that `errors.translate` decides between a new login and a failure. It says
    nothing about the query."""
    from snowflake.connector.errors import ProgrammingError

    data = answer.get("data") or {}
    return ProgrammingError(
        msg=str(answer.get("message") or "Snowflake refused the status request"),
        errno=_int_or_none(answer.get("code")) or -1,
        sqlstate=data.get("sqlState") if isinstance(data, Mapping) else None,
    )


def _query_state(answer: Mapping[str, Any]) -> QueryState:
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


class _StatusChannel:
    """Status checks of one session, sent on its token without the driver's requests stack.

    A status check is the service's most frequent call (every query, every few seconds), and the driver spends
    most of its CPU on it in `requests`: environment proxy look-ups, request preparation, adapters. This sends
    the same GET, with the same headers and token, through the driver's own vendored urllib3, so TLS
    connections get the driver's certificate revocation checks. It stands aside (None: use the driver) for
    what only the driver handles: a proxy, an external-session PAT, and every answer that is not a plain
    success (an expired token, a 429, a dropped connection...), which the driver then retries or renews.
    """

    # Keyed weakly by the session, and holding nothing of it, so a closed session's channel goes with it.
    _channels: weakref.WeakKeyDictionary[Any, _StatusChannel | None] = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def __init__(self, conn: SnowflakeConnection) -> None:
        from snowflake.connector.network import PYTHON_CONNECTOR_USER_AGENT
        from snowflake.connector.vendored import urllib3

        url = urllib.parse.urlsplit(conn.rest.server_url)  # type: ignore[union-attr]
        pool_kwargs: dict[str, Any] = {"maxsize": 8, "block": False, "retries": False}
        if url.scheme == "https":
            import certifi

            pool_kwargs.update(cert_reqs="CERT_REQUIRED", ca_certs=_ca_bundle() or certifi.where())
        self._pool = urllib3.connection_from_url(f"{url.scheme}://{url.netloc}", **pool_kwargs)
        self._timeout = urllib3.Timeout
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": PYTHON_CONNECTOR_USER_AGENT,
        }
        if getattr(conn, "service_name", None):
            self._headers["X-Snowflake-Service"] = str(conn.service_name)
        self.usable = True

    @classmethod
    def of(cls, conn: SnowflakeConnection) -> _StatusChannel | None:
        """The session's channel, made on first use; None when this Snowflake session's checks go through the driver."""
        try:
            channel = cls._channels[conn]
        except KeyError:
            with cls._lock:
                if conn not in cls._channels:
                    made = cls(conn) if _direct_allowed(conn) else None
                    cls._channels[conn] = made
                    if made is not None:
                        weakref.finalize(conn, made._pool.close)
                channel = cls._channels[conn]
        return channel if channel is not None and channel.usable else None

    def get(self, conn: SnowflakeConnection, query_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Snowflake's answer when it is a plain success, else None (ask the driver)."""
        rest = conn.rest
        token = getattr(rest, "token", None)  # read each time: the driver renews it
        if not token or getattr(rest, "external_session_id", None):
            return None
        headers = {**self._headers, "Authorization": f'Snowflake Token="{token}"'}
        path = f"/monitoring/queries/{query_id}?request_guid={uuid.uuid4()}"
        try:
            response = self._pool.urlopen(
                "GET", path, headers=headers, timeout=self._timeout(connect=timeout, read=timeout), retries=False
            )
        except Exception:  # a dropped or refused connection, a timeout: the driver retries within its window
            return None
        if response.status != 200:
            if response.status in (400, 403, 404, 405, 406):
                # Not a transient refusal: this endpoint does not take our request as sent. Leave this
                # session's checks to the driver from now on.
                self.usable = False
            return None
        try:
            answer = json.loads(response.data)
        except ValueError:
            self.usable = False
            return None
        return answer if isinstance(answer, dict) and answer.get("success") is True else None


def _count_check(path: str) -> None:
    with _paths_lock:
        STATUS_CHECK_PATHS[path] += 1


def _direct_allowed(conn: SnowflakeConnection) -> bool:
    if os.environ.get(STATUS_CHECKS_ENV, "direct").strip().lower() == "driver":
        return False
    if getattr(conn, "proxy_host", None) or any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return False
    rest = getattr(conn, "rest", None)
    return rest is not None and isinstance(getattr(rest, "server_url", None), str)


def _ca_bundle() -> str | None:
    """The CA bundle `requests` would use from the environment (the driver's requests honour it)."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


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

    return [_server_query_id(child, query_id) for child in _translated(_children, query_id=query_id)]


def _server_query_id(text: str, parent: str) -> str:
    """A query id from a server answer, once it has a query id's form: ids become paths and SQL text."""
    from ._location import is_query_id

    if not is_query_id(text):
        raise SnowflakeDriverError(
            f"Snowflake's answer for query {parent} lists a statement id {text[:80]!r} that is not a query id "
            "(Snowflake's are UUIDs); it is not used. The answer is damaged or was tampered with on the way: "
            "check for a proxy rewriting traffic to Snowflake",
            query_id=parent,
        )
    return text


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


def execute_named(conn: SnowflakeConnection, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Run a short statement synchronously and return its rows as dicts by column name (SHOW, DESCRIBE)."""

    def _execute() -> list[dict[str, Any]]:
        with conn.cursor() as cur:
            cur.execute(sql, list(params) if params else None)
            names = [column[0] for column in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return _translated(_execute)


def stage_binding_threshold(conn: SnowflakeConnection) -> int:
    """Bind values (rows x columns) from which the driver sends an `executemany` through a temporary stage; 0 when
    it never does.

    The server sends the session's CLIENT_STAGE_ARRAY_BINDING_THRESHOLD at login and the driver reads it on every
    `executemany`: from there on it runs CREATE TEMPORARY STAGE (DDL, which commits an open transaction) and PUT
    before the statement.
    """
    value = conn._session_parameters.get("CLIENT_STAGE_ARRAY_BINDING_THRESHOLD", DEFAULT_STAGE_BINDING_THRESHOLD)
    return int(value)


def is_closed(conn: SnowflakeConnection) -> bool:
    return bool(conn.is_closed())
