"""Timing and fault knobs of the local Snowflake: one validated object, set from the CLI or the admin API."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Any

# Statuses a query may show before it starts running, as Snowflake reports them while a warehouse
# queues, resumes or repairs. NO_DATA is what Snowflake answers right after a submit.
FIRST_STATUSES = frozenset(
    {"QUEUED", "RESUMING_WAREHOUSE", "QUEUED_REPARING_WAREHOUSE", "BLOCKED", "NO_DATA", "RESTARTED"}
)
FAULT_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclasses.dataclass
class Knobs:
    """Behaviour the emulator adds on top of running SQL. Every field has a neutral default.

    Attributes:
        min_query_ms: a query stays RUNNING at least this long (cancel still ends it at once).
        first_status: a status from FIRST_STATUSES a query shows before RUNNING, or None.
        first_status_ms: how long the first status lasts.
        latency_ms: added before answering every wire-protocol request (not the admin API).
        fail_http_status: the HTTP status of injected failures (429, 500, 502, 503, 504).
        fail_http_count: how many of the next wire-protocol requests fail with fail_http_status.
        fail_http_path: only requests whose path starts with this prefix are failed ("" = all).
        drop_count: how many of the next wire-protocol requests have their connection dropped unanswered.
        reject_logins: every login fails with 390100 (incorrect username or password).
        strict_users: logins are checked as Snowflake checks them: only users registered at start-up or with
            add_user log in, with their credentials. False accepts any user and password (quick experiments).
        result_wait_ms: how long a synchronous request waits before answering "in progress" (333333), as
            Snowflake does after about 45 s; the driver then polls the result URL.
        result_ttl_s: a finished query's result is dropped this long after it ended (its history stays).
        max_results: at most this many results are kept; the oldest go first.
        max_result_bytes: at most this many bytes of results are kept; the oldest go first. A query whose result
            alone is larger fails with error 100998, naming this knob.
        max_history: at most this many query records are kept.
        max_history_bytes: at most this many bytes of query texts and tags are kept in the history.
        result_first_chunk_bytes: a query result larger than this (Arrow bytes) is sent as Snowflake sends large
            results: the first part (about this size) inline, the rest as chunks the driver downloads over HTTP,
            each twice the size of the one before, up to `result_chunk_bytes`.
        result_chunk_bytes: the largest result chunk, in Arrow bytes.
        result_chunk_rows: at most this many rows per chunk (and inline).
        monitor_roles: roles whose sessions see every user's queries (status checks, the QUERY_HISTORY
            functions) and may cancel them, as ACCOUNTADMIN does in Snowflake, or a role with MONITOR and OPERATE
            on the warehouses. Other sessions see and cancel their own user's queries only; results are only ever
            their own user's, whatever the role.
        attribution_delay_s: a finished query appears in SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY this
            long after it ended (Snowflake fills the view up to hours later; 0 here, so tests set it).
        max_request_bytes: a request body larger than this, as sent or once gzip-inflated, is refused (error
            390400) without inflating the rest; far above what a driver sends (a 10,000-row array insert of ten
            columns is a few MB).
    """

    min_query_ms: int = 0
    first_status: str | None = None
    first_status_ms: int = 0
    latency_ms: int = 0
    fail_http_status: int = 503
    fail_http_count: int = 0
    fail_http_path: str = ""
    drop_count: int = 0
    reject_logins: bool = False
    strict_users: bool = True
    result_wait_ms: int = 45_000
    result_ttl_s: float = 3600.0
    max_results: int = 1000
    max_result_bytes: int = 1024 * 1024 * 1024
    max_history: int = 10_000
    max_history_bytes: int = 64 * 1024 * 1024
    result_first_chunk_bytes: int = 128 * 1024
    result_chunk_bytes: int = 4 * 1024 * 1024
    result_chunk_rows: int = 1_000_000
    max_request_bytes: int = 128 * 1024 * 1024
    monitor_roles: tuple[str, ...] = ("ACCOUNTADMIN",)
    attribution_delay_s: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError when a value is out of range (role names come out upper case)."""
        for name in ("min_query_ms", "first_status_ms", "latency_ms", "fail_http_count", "drop_count"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in (
            "result_wait_ms",
            "max_results",
            "max_result_bytes",
            "max_history",
            "max_history_bytes",
            "result_ttl_s",
            "result_first_chunk_bytes",
            "result_chunk_bytes",
            "result_chunk_rows",
            "max_request_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if isinstance(self.monitor_roles, str) or not all(isinstance(r, str) and r for r in self.monitor_roles):
            raise ValueError(f"monitor_roles must be a list of role names, got {self.monitor_roles!r}")
        self.monitor_roles = tuple(role.upper() for role in self.monitor_roles)
        if self.first_status is not None and self.first_status not in FIRST_STATUSES:
            raise ValueError(f"first_status must be one of {sorted(FIRST_STATUSES)}, got {self.first_status!r}")
        if self.fail_http_status not in FAULT_HTTP_STATUSES:
            raise ValueError(f"fail_http_status must be one of {sorted(FAULT_HTTP_STATUSES)}")

    def updated(self, changes: Mapping[str, Any]) -> Knobs:
        """A copy with `changes` applied and validated; unknown names raise ValueError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        return dataclasses.replace(self, **dict(changes))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_first_status(text: str) -> tuple[str, int]:
    """Parse the CLI form `STATUS:MS`, e.g. `RESUMING_WAREHOUSE:300`."""
    status, sep, ms = text.partition(":")
    status = status.strip().upper()
    if not sep or not ms.strip().isdigit():
        raise ValueError(f"expected STATUS:MS, e.g. RESUMING_WAREHOUSE:300, got {text!r}")
    if status not in FIRST_STATUSES:
        raise ValueError(f"status must be one of {sorted(FIRST_STATUSES)}, got {status!r}")
    return status, int(ms)


def check_loopback(host: str) -> None:
    """Refuse anything but a loopback address: the emulator accepts any credentials and has an admin API."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the local Snowflake binds loopback addresses only (e.g. 127.0.0.1), not {host!r}")
