"""What happened to a query, from Snowflake's query history: the log timeline, the metrics and `custom_info` figures.

GetTaskLogs and GetTaskMetrics carry no secrets, so the history is read on a session that is already
logged in as the same account and user (borrowed from the pool), or on one logged in with service-level
credentials from the environment (`ServiceCredentials`), or not at all, with an answer that says why.
Nothing here holds or prints a secret: history rows carry the SQL text, whose inputs are bound on the
server and so show up as `:1`, `:2` placeholders, never as values.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flyteidl2.connector.connector_pb2 import GetTaskLogsResponse, GetTaskLogsResponseBody, GetTaskMetricsResponse
from flyteidl2.core.metrics_pb2 import ExecutionMetricResult
from flyteidl2.logs.dataplane.payload_pb2 import LogLine, LogLineOriginator
from google.protobuf import struct_pb2, timestamp_pb2

from . import _client, _credits
from ._auth import Credentials
from ._links import AccountIdentifier
from .config import SnowflakeConfig
from .errors import SnowflakeConfigError, SnowflakeError
from .metadata import SnowflakeJobMetadata

__all__ = [
    "FIGURES_LATE",
    "FIGURES_WAIT_S",
    "HISTORY_COLUMNS",
    "NOT_IN_HISTORY",
    "SERVICE_ENV",
    "HistoryRecord",
    "Observation",
    "ServiceCredentials",
    "custom_info_figures",
    "history_statement",
    "logs_response",
    "metrics_response",
    "no_session_reason",
    "read_histories",
    "read_history",
    "session_label",
    "timeline",
]

#: Columns read from the QUERY_HISTORY table functions, in this order (Snowflake's names).
HISTORY_COLUMNS = (
    "QUERY_ID",
    "QUERY_TEXT",
    "EXECUTION_STATUS",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "START_TIME",
    "END_TIME",
    "TOTAL_ELAPSED_TIME",
    "COMPILATION_TIME",
    "EXECUTION_TIME",
    "QUEUED_PROVISIONING_TIME",
    "QUEUED_REPAIR_TIME",
    "QUEUED_OVERLOAD_TIME",
    "TRANSACTION_BLOCKED_TIME",
    "ROWS_PRODUCED",
    "ROWS_INSERTED",
    "ROWS_UPDATED",
    "ROWS_DELETED",
    "BYTES_SCANNED",
    "WAREHOUSE_NAME",
    "WAREHOUSE_SIZE",
    "WAREHOUSE_TYPE",
)

# The table functions answer for the last 7 days only and fail outright for a range reaching further back.
_HISTORY_DAYS = 7
# Margin for clocks: `submitted_at` is the connector's clock, END_TIME is Snowflake's.
_CLOCK_SLACK_S = 300
# The most rows the table functions return; they keep the newest, before the WHERE clause filters.
_RESULT_LIMIT = 10_000
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_CANCELLED_CODE = "000604"


def history_statement(
    metas: Sequence[SnowflakeJobMetadata], *, user: str | None, now: float | None = None
) -> tuple[str, list[Any]]:
    """The SQL (numeric binds) that reads these queries' rows from `INFORMATION_SCHEMA.QUERY_HISTORY_BY_USER`.

    Args:
        metas: the queries' metadata (at least one); the oldest `submitted_at` narrows the time range so
            RESULT_LIMIT cannot hide any of them.
        user: the login name whose queries to search; None means the session's own user (CURRENT_USER),
            which needs no privilege beyond being that user. Another user needs MONITOR on the warehouse.

    QUERY_HISTORY_BY_SESSION would only see the session that submitted the query, which is gone by the
    time anybody asks (another call, another replica): it is never used.
    """
    if not metas:
        raise ValueError("history_statement needs at least one query")
    args = []
    if user is not None:
        args.append(f"USER_NAME => {_user_literal(user)}")
    submitted = [meta.submitted_at for meta in metas if meta.submitted_at]
    if len(submitted) == len(metas):  # metadata of the public plugin has no submitted_at
        current = time.time() if now is None else now
        oldest = current - _HISTORY_DAYS * 86400 + 60
        since = int(max(min(submitted) - _CLOCK_SLACK_S, oldest))
        # An integer, written by us from a float we stored: no input of the task reaches the SQL text.
        args.append(f"END_TIME_RANGE_START => TO_TIMESTAMP_LTZ({since})")
    args.append(f"RESULT_LIMIT => {_RESULT_LIMIT}")
    ids = list(dict.fromkeys(meta.query_id for meta in metas))
    binds = ", ".join(f":{n}" for n in range(1, len(ids) + 1))
    sql = (
        f"SELECT {', '.join(HISTORY_COLUMNS)} "
        f"FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY_BY_USER({', '.join(args)})) "
        f"WHERE QUERY_ID IN ({binds})"
    )
    return sql, ids


def _user_literal(user: str) -> str:
    """A login name as QUERY_HISTORY_BY_USER wants it: `'NAME'`, or `'"Mixed Name"'` when case or spaces matter.

    The literal is escaped the way Snowflake reads one: a backslash starts an escape (backslash-quote is a
    quote), so backslashes are doubled, then quotes; otherwise a backslash before a quote in the name would
    end the literal early and the rest of the name would run as SQL, with the service's credentials.
    """
    name = user.strip()
    quoted = name.upper() if _PLAIN_NAME.fullmatch(name) else '"' + name.replace('"', '""') + '"'
    return "'" + quoted.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass(frozen=True)
class HistoryRecord:
    """One row of Snowflake's query history. Times are Unix seconds; durations are milliseconds."""

    query_id: str
    query_text: str
    status: str
    error_code: str | None
    error_message: str | None
    start_time: float
    end_time: float | None
    total_elapsed_ms: int
    compilation_ms: int
    execution_ms: int
    provisioning_ms: int
    repair_ms: int
    overload_ms: int
    blocked_ms: int
    rows_produced: int
    bytes_scanned: int
    warehouse: str | None
    warehouse_size: str | None = None
    warehouse_type: str | None = None
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> HistoryRecord:
        """Build from a row of `history_statement`'s columns, in `HISTORY_COLUMNS` order."""
        values = dict(zip(HISTORY_COLUMNS, row, strict=True))
        return cls(
            query_id=str(values["QUERY_ID"]),
            query_text=str(values["QUERY_TEXT"] or ""),
            status=str(values["EXECUTION_STATUS"] or "UNKNOWN").upper(),
            error_code=_text(values["ERROR_CODE"]),
            error_message=_text(values["ERROR_MESSAGE"]),
            start_time=_epoch(values["START_TIME"]) or 0.0,
            end_time=_epoch(values["END_TIME"]),
            total_elapsed_ms=_int(values["TOTAL_ELAPSED_TIME"]),
            compilation_ms=_int(values["COMPILATION_TIME"]),
            execution_ms=_int(values["EXECUTION_TIME"]),
            provisioning_ms=_int(values["QUEUED_PROVISIONING_TIME"]),
            repair_ms=_int(values["QUEUED_REPAIR_TIME"]),
            overload_ms=_int(values["QUEUED_OVERLOAD_TIME"]),
            blocked_ms=_int(values["TRANSACTION_BLOCKED_TIME"]),
            rows_produced=_int(values["ROWS_PRODUCED"]),
            bytes_scanned=_int(values["BYTES_SCANNED"]),
            warehouse=_text(values["WAREHOUSE_NAME"]),
            warehouse_size=_text(values["WAREHOUSE_SIZE"]),
            warehouse_type=_text(values["WAREHOUSE_TYPE"]),
            rows_inserted=_int(values["ROWS_INSERTED"]),
            rows_updated=_int(values["ROWS_UPDATED"]),
            rows_deleted=_int(values["ROWS_DELETED"]),
        )

    @property
    def queued_ms(self) -> int:
        """Time spent waiting before running: warehouse resuming, repairing, overloaded, or a lock."""
        return self.provisioning_ms + self.repair_ms + self.overload_ms + self.blocked_ms

    @property
    def finished(self) -> bool:
        return self.end_time is not None and self.status in ("SUCCESS", "FAILED_WITH_ERROR", "FAILED_WITH_INCIDENT")

    @property
    def cancelled(self) -> bool:
        # Snowflake's history has no ABORTED status: a cancelled query is FAILED_WITH_ERROR with code 604.
        return self.error_code is not None and self.error_code.lstrip("0") == _CANCELLED_CODE.lstrip("0")

    def figures(self) -> dict[str, float]:
        """The numbers operators ask for, keyed by name with their unit.

        `credits_estimate` (when the warehouse's size is known) is execution time x the warehouse's credits per
        hour: an estimate, see `_credits`.
        """
        figures: dict[str, float] = {
            "elapsed_ms": self.total_elapsed_ms,
            "queued_ms": self.queued_ms,
            "compilation_ms": self.compilation_ms,
            "execution_ms": self.execution_ms,
            "rows_produced": self.rows_produced,
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
            "rows_deleted": self.rows_deleted,
            "bytes_scanned": self.bytes_scanned,
        }
        credits = _credits.estimate(self.execution_ms, self.warehouse_size, self.warehouse_type)
        if credits is not None:
            figures["credits_estimate"] = credits
        return figures


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
        return moment.timestamp()
    return float(value)


@dataclass(frozen=True)
class Observation:
    """The outcome of looking a query up: its history row, or why there is none.

    Attributes:
        record: the history row, when it was read.
        source: which session read it: "pool" (a live session of the task's user), "service" (service
            credentials), or "" (none).
        reason: why `record` is None, in a sentence for the Flyte UI.
    """

    record: HistoryRecord | None
    source: str = ""
    reason: str = ""


# --- the log timeline ------------------------------------------------------------------------------------------


def timeline(
    meta: SnowflakeJobMetadata, record: HistoryRecord | None, *, now: float | None = None
) -> list[tuple[float, str]]:
    """The query's life as (Unix time, sentence) pairs, oldest first.

    Without a history row the timeline holds what the metadata alone knows (submission, or a rejection).
    """
    if meta.error is not None:
        return [(meta.submitted_at or 0.0, f"Snowflake rejected the statement before running it: {_error(meta.error)}")]
    if record is None:
        return [(meta.submitted_at, f"Query {meta.query_id} submitted")] if meta.submitted_at else []
    where = f" on warehouse {record.warehouse}" if record.warehouse else ""
    events = [(record.start_time, f"Query {record.query_id} submitted{where}")]
    clock = record.start_time + record.compilation_ms / 1000
    if record.compilation_ms:
        events.append((clock, f"Compiled in {_duration(record.compilation_ms)}"))
    waits = (
        (record.provisioning_ms, "Waited for the warehouse to resume"),
        (record.repair_ms, "Queued while Snowflake repaired the warehouse"),
        (record.overload_ms, "Queued: the warehouse was busy with other queries"),
        (record.blocked_ms, "Blocked, waiting for a lock held by another transaction"),
    )
    for ms, sentence in waits:
        if ms:
            events.append((clock, f"{sentence} ({_duration(ms)})"))
            clock += ms / 1000
    if record.end_time is not None:
        events.append((max(clock, record.end_time - record.execution_ms / 1000), "Running"))
        events.append((record.end_time, _ending(record)))
    elif record.status == "RUNNING":
        events.append((clock, "Running"))
        current = time.time() if now is None else now
        events.append((current, f"Still running after {_duration(record.total_elapsed_ms)}"))
    else:
        events.append((clock, f"Status {record.status}"))
    return events


def _ending(record: HistoryRecord) -> str:
    took = _duration(record.total_elapsed_ms)
    if record.cancelled:
        return f"Cancelled after {took}"
    if record.status == "SUCCESS":
        rows = _rows_changed(record) or f"{record.rows_produced} rows produced"
        return f"Succeeded in {took}: {rows}, {_bytes(record.bytes_scanned)} scanned"
    code = f"error {record.error_code}" if record.error_code else "an error"
    return f"Failed after {took} with {code}: {record.error_message or 'no message'}"


def _rows_changed(record: HistoryRecord) -> str:
    """`3 rows inserted, 1 updated` for DML, "" for a statement that changed no rows."""
    counts = [(record.rows_inserted, "inserted"), (record.rows_updated, "updated"), (record.rows_deleted, "deleted")]
    parts = [f"{count} {what}" for count, what in counts if count]
    return f"{parts[0].replace(' ', ' rows ', 1)}{''.join(', ' + part for part in parts[1:])}" if parts else ""


def _error(record: Mapping[str, Any]) -> str:
    code = f"error {record['errno']}: " if record.get("errno") is not None else ""
    return f"{code}{record.get('message') or 'no message'}"


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} TiB"


def logs_response(meta: SnowflakeJobMetadata, observation: Observation) -> GetTaskLogsResponse:
    """GetTaskLogs' answer: the timeline, the query text (placeholders, never values), the Snowsight link."""
    record = observation.record
    lines = [_line(at, text) for at, text in timeline(meta, record)]
    last = lines[-1].timestamp.ToSeconds() if lines else int(meta.submitted_at or time.time())
    if record is not None and record.query_text:
        lines.append(_line(last, "Query text (inputs are bound on the server and show as :1, :2...):"))
        lines.extend(_line(last, text) for text in record.query_text.splitlines() or [""])
    if record is None and observation.reason:
        lines.append(_line(time.time(), f"No query history: {observation.reason}"))
    link = snowsight_link(meta)
    if link:
        lines.append(_line(last, f"Snowsight: {link}"))
    return GetTaskLogsResponse(body=GetTaskLogsResponseBody(lines=lines))


def snowsight_link(meta: SnowflakeJobMetadata) -> str | None:
    if not meta.query_id:
        return None
    try:
        return AccountIdentifier.parse(meta.account).snowsight_query_url(meta.query_id)
    except SnowflakeError:
        return None


def _line(at: float, message: str) -> LogLine:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(at * 1e9))
    return LogLine(timestamp=stamp, message=message, originator=LogLineOriginator.SYSTEM)


# --- metrics -------------------------------------------------------------------------------------------------

#: GetTaskMetrics names -> (figure key, scale to the unit in the name).
METRICS = {
    "snowflake_query_elapsed_seconds": ("elapsed_ms", 0.001),
    "snowflake_query_queued_seconds": ("queued_ms", 0.001),
    "snowflake_query_compilation_seconds": ("compilation_ms", 0.001),
    "snowflake_query_execution_seconds": ("execution_ms", 0.001),
    "snowflake_query_rows_produced": ("rows_produced", 1.0),
    "snowflake_query_rows_inserted": ("rows_inserted", 1.0),
    "snowflake_query_rows_updated": ("rows_updated", 1.0),
    "snowflake_query_rows_deleted": ("rows_deleted", 1.0),
    "snowflake_query_bytes_scanned": ("bytes_scanned", 1.0),
    "snowflake_query_credits_estimate": ("credits_estimate", 1.0),
}
UNAVAILABLE_METRIC = "snowflake_query_metrics_unavailable"


def metrics_response(meta: SnowflakeJobMetadata, observation: Observation) -> GetTaskMetricsResponse:
    """GetTaskMetrics' answer: one series per figure, in Prometheus' range-query shape (a one-point matrix).

    Without a history row, a single `snowflake_query_metrics_unavailable` result with an empty matrix and
    the reason, so the caller sees why rather than nothing.
    """
    record = observation.record
    if record is None:
        data = _struct({"resultType": "matrix", "result": [], "reason": observation.reason or "no query history"})
        return GetTaskMetricsResponse(results=[ExecutionMetricResult(metric=UNAVAILABLE_METRIC, data=data)])
    at = record.end_time or time.time()
    labels = {"query_id": record.query_id, "status": record.status, "warehouse": record.warehouse or ""}
    figures = record.figures()
    results = []
    for name, (key, scale) in METRICS.items():
        if key not in figures:  # no credits estimate without the warehouse's size
            continue
        value = figures[key] * scale
        series = {"metric": labels, "values": [[at, _number(value)]]}
        results.append(ExecutionMetricResult(metric=name, data=_struct({"resultType": "matrix", "result": [series]})))
    return GetTaskMetricsResponse(results=results)


def _number(value: float) -> str:
    # Prometheus writes sample values as strings; whole numbers without a fraction.
    return str(int(value)) if float(value).is_integer() else repr(round(value, 6))


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    data = struct_pb2.Struct()
    data.update(value)
    return data


def custom_info_figures(observation: Observation) -> dict[str, Any]:
    """What `get` adds to `Resource.custom_info` when the query has finished."""
    if observation.record is None:
        return {"query_history_unavailable": observation.reason} if observation.reason else {}
    return {"query_history": observation.record.figures()}


# --- who may read the history --------------------------------------------------------------------------------


#: Why a lookup that ran found no row.
NOT_IN_HISTORY = (
    "Snowflake's query history has no row for this query (it keeps 7 days, and shows a user's queries only to "
    "that user or to a role with MONITOR on the warehouse)"
)


def no_session_reason(config: SnowflakeConfig) -> str:
    """Why the history could not be read: no secret in this call, no live session, no service credentials."""
    return (
        f"this call carries no Snowflake credentials, this replica holds no live session of user {config.user} "
        f"in account {config.account}, and no service credentials are configured for that account "
        f"(set {SERVICE_ENV['account']}, {SERVICE_ENV['user']} and one of {SERVICE_ENV['snowflake_private_key']}, "
        f"{SERVICE_ENV['snowflake_pat']}, {SERVICE_ENV['snowflake_oauth_token']} or "
        f"{SERVICE_ENV['snowflake_password']} on the connector service; see docs/deploy.md)"
    )


def session_label(config: SnowflakeConfig) -> str:
    """A non-secret name for the sessions of one Snowflake user at one endpoint: pool label for look-ups.

    Sessions with the same label can read each other's query history (same account, same user), whatever
    their role, database or warehouse.
    """
    try:
        account = AccountIdentifier.parse(config.account).identifier
    except SnowflakeConfigError:
        account = config.account.lower()
    return "|".join([account, config.user.upper(), config.host or "", str(config.port or ""), config.protocol or ""])


#: Environment variables of the connector service that configure service-level credentials.
SERVICE_ENV = {
    "account": "FLYTE_SNOWFLAKE_SERVICE_ACCOUNT",
    "user": "FLYTE_SNOWFLAKE_SERVICE_USER",
    "role": "FLYTE_SNOWFLAKE_SERVICE_ROLE",
    "warehouse": "FLYTE_SNOWFLAKE_SERVICE_WAREHOUSE",
    "host": "FLYTE_SNOWFLAKE_SERVICE_HOST",
    "port": "FLYTE_SNOWFLAKE_SERVICE_PORT",
    "protocol": "FLYTE_SNOWFLAKE_SERVICE_PROTOCOL",
    "snowflake_private_key": "FLYTE_SNOWFLAKE_SERVICE_PRIVATE_KEY",
    "snowflake_private_key_passphrase": "FLYTE_SNOWFLAKE_SERVICE_PRIVATE_KEY_PASSPHRASE",
    "snowflake_password": "FLYTE_SNOWFLAKE_SERVICE_PASSWORD",
    "snowflake_pat": "FLYTE_SNOWFLAKE_SERVICE_PAT",
    "snowflake_oauth_token": "FLYTE_SNOWFLAKE_SERVICE_OAUTH_TOKEN",
}
_SECRET_NAMES = tuple(k for k in SERVICE_ENV if k.startswith("snowflake_"))


@dataclass(frozen=True, repr=False)
class ServiceCredentials:
    """A Snowflake user of the connector service itself, for reading query history when no task secret is at hand.

    Bound to one account and one endpoint: the service's secret is only ever sent to the host configured
    here (or the account's own host), never to a host a task names, so a task cannot point the service's
    login somewhere else. The user needs MONITOR on the tasks' warehouses (or the tasks' own user).
    """

    account: str
    user: str
    credentials: Credentials
    role: str | None = None
    warehouse: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: str | None = None

    def __repr__(self) -> str:
        return f"ServiceCredentials(account={self.account!r}, user={self.user!r}, {self.credentials!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceCredentials | None:
        """Read the `FLYTE_SNOWFLAKE_SERVICE_*` variables; None when account, user or a secret is missing."""
        env = os.environ if environ is None else environ
        values = {key: (env.get(name) or "").strip() or None for key, name in SERVICE_ENV.items()}
        secrets = {key: env.get(SERVICE_ENV[key]) for key in _SECRET_NAMES}
        credentials = Credentials.from_kwargs(secrets)
        if not values["account"] or not values["user"] or credentials.is_empty:
            return None
        port = values["port"]
        return cls(
            account=str(values["account"]),
            user=str(values["user"]),
            credentials=credentials,
            role=values["role"],
            warehouse=values["warehouse"],
            host=values["host"],
            port=int(port) if port else None,
            protocol=values["protocol"],
        )

    def serves(self, config: SnowflakeConfig) -> bool:
        """True when the task's query lives in this service user's account."""
        try:
            return (
                AccountIdentifier.parse(self.account).identifier == AccountIdentifier.parse(config.account).identifier
            )
        except SnowflakeConfigError:
            return False

    def config_for(self, task: SnowflakeConfig) -> SnowflakeConfig:
        """Settings of the service's session for reading a task's history: the task's database, our endpoint."""
        return SnowflakeConfig(
            account=self.account,
            database=task.database,
            schema=task.schema,
            warehouse=self.warehouse or task.warehouse,
            user=self.user,
            role=self.role,
            host=self.host,
            port=self.port,
            protocol=self.protocol,
            login_timeout=task.login_timeout,
            network_timeout=task.network_timeout,
        )


def read_history(conn: Any, meta: SnowflakeJobMetadata, *, user: str | None) -> HistoryRecord | None:
    """Read the query's history row on a logged-in session (blocking; run it on the pool's threads)."""
    return read_histories(conn, [meta], user=user).get(meta.query_id)


def read_histories(conn: Any, metas: Sequence[SnowflakeJobMetadata], *, user: str | None) -> dict[str, HistoryRecord]:
    """Read several queries' history rows with one statement, by query id; a query not in the history is
    missing from the answer (blocking; run it on the pool's threads)."""
    sql, params = history_statement(metas, user=user)
    records = (HistoryRecord.from_row(row) for row in _client.execute(conn, sql, params))
    return {record.query_id: record for record in records}


#: Seconds the GetTask that sees a query finish waits for its history figures. The look-up is SQL, so it can
#: queue behind a busy warehouse; past this the answer goes out without them (the look-up finishes on its own).
FIGURES_WAIT_S = 2.0
#: Why `custom_info` has no figures when the look-up took longer than FIGURES_WAIT_S.
FIGURES_LATE = (
    f"skipped: the query history did not answer within {FIGURES_WAIT_S:g} s; GetTaskMetrics reads the same figures"
)
