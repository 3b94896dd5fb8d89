"""`LocalSnowflake`: the emulator in a subprocess, its connection settings, and its knobs at run time.

Standard library only: starting it does not import fakesnow or DuckDB into the caller's process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._admin_token import ADMIN_TOKEN_ENV, auth_header, new_token
from ._login_user import PASSWORD_ENV

if TYPE_CHECKING:
    from ..config import SnowflakeConfig

ADMIN_PREFIX = "/_local"
_KNOB_NAMES = frozenset(
    {
        "min_query_ms",
        "first_status",
        "first_status_ms",
        "latency_ms",
        "fail_http_status",
        "fail_http_count",
        "fail_http_path",
        "drop_count",
        "reject_logins",
        "strict_users",
        "result_wait_ms",
        "result_ttl_s",
        "max_results",
        "max_result_bytes",
        "max_history",
        "max_history_bytes",
        "result_first_chunk_bytes",
        "result_chunk_bytes",
        "result_chunk_rows",
        "max_request_bytes",
        "monitor_roles",
        "attribution_delay_s",
    }
)


class LocalSnowflakeError(RuntimeError):
    """The local Snowflake failed to start, or refused an admin call."""


@dataclasses.dataclass(frozen=True)
class QueryHistoryEntry:
    """One query as the emulator recorded it (the same facts QUERY_HISTORY reports, plus the live status)."""

    query_id: str
    query_text: str
    status: str
    execution_status: str
    start_time: float
    end_time: float | None
    total_elapsed_time_ms: int
    rows_produced: int
    bytes_scanned: int
    error_code: str | None
    error_message: str | None
    query_tag: str
    session_id: int
    user_name: str
    warehouse_name: str | None
    warehouse_size: str | None = None
    warehouse_type: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QueryHistoryEntry:
        return cls(
            query_id=row["QUERY_ID"],
            query_text=row["QUERY_TEXT"],
            status=row["STATUS"],
            execution_status=row["EXECUTION_STATUS"],
            start_time=row["START_TIME"],
            end_time=row["END_TIME"],
            total_elapsed_time_ms=row["TOTAL_ELAPSED_TIME"],
            rows_produced=row["ROWS_PRODUCED"],
            bytes_scanned=row["BYTES_SCANNED"],
            error_code=row["ERROR_CODE"],
            error_message=row["ERROR_MESSAGE"],
            query_tag=row["QUERY_TAG"],
            session_id=row["SESSION_ID"],
            user_name=row["USER_NAME"],
            warehouse_name=row["WAREHOUSE_NAME"],
            warehouse_size=row.get("WAREHOUSE_SIZE"),
            warehouse_type=row.get("WAREHOUSE_TYPE"),
        )


class LocalSnowflake:
    """A local Snowflake in a subprocess on 127.0.0.1, for tests and local runs without an account.

    Example:
        with LocalSnowflake(min_query_ms=200) as sf:
            conn = snowflake.connector.connect(**sf.connect_kwargs(paramstyle="numeric"))
            sf.configure(first_status=("RESUMING_WAREHOUSE", 300))

    Args:
        host: loopback address to bind.
        port: 0 picks a free port.
        min_query_ms, first_status, latency_ms, result_ttl_s, max_results: initial knobs (see `configure`);
            `reset()` returns to these. `first_status` is `(STATUS, ms)` or `"STATUS:MS"`.
        account, user, password, database, schema, warehouse: what `connect_kwargs` returns. The user logs in
            with this password from the start (and stays through `reset()`); other users only once `add_user`
            registered them, as in Snowflake. The database (with its PUBLIC schema), the schema and the
            warehouse exist from the start: a login naming others has no current database, schema or warehouse.
        open_logins: accept any user name and password (unlike Snowflake; for quick experiments only).
        startup_timeout_s: how long to wait for the `READY` line.

    `admin_token` is what the admin calls (`configure`, `reset`, ...) send: a new one each start, given to the
    server in its environment (see docs/local-snowflake.md, "Security").
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        min_query_ms: int = 0,
        first_status: tuple[str, int] | str | None = None,
        latency_ms: int = 0,
        result_ttl_s: float | None = None,
        max_results: int | None = None,
        account: str = "local-test",
        user: str = "FLYTE",
        password: str = "local",
        database: str = "FLYTE",
        schema: str = "PUBLIC",
        warehouse: str = "LOCAL_WH",
        startup_timeout_s: float = 60.0,
        open_logins: bool = False,
    ) -> None:
        self._args = ["--host", host, "--port", str(port), "--min-query-ms", str(min_query_ms)]
        self._args += ["--warehouse", warehouse, "--database", f"{database}.{schema}"]
        if first_status is not None:
            status, ms = first_status.split(":", 1) if isinstance(first_status, str) else first_status
            self._args += ["--first-status", f"{status}:{int(ms)}"]
        if latency_ms:
            self._args += ["--latency-ms", str(latency_ms)]
        if result_ttl_s is not None:
            self._args += ["--result-ttl-s", str(result_ttl_s)]
        if max_results is not None:
            self._args += ["--max-results", str(max_results)]
        self._args += ["--user", user]
        if open_logins:
            self._args.append("--open-logins")
        self.host = host
        self.port = 0
        self.account, self.user, self.password = account, user, password
        self.database, self.schema, self.warehouse = database, schema, warehouse
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self._stderr_lines: list[str] = []
        self.dirty = False
        #: What the admin API (`configure`, `reset`...) sends as `Authorization: Bearer <token>`; a new one each
        #: start, handed to the server in its environment (never on its command line).
        self.admin_token = ""

    # -- life cycle ------------------------------------------------------------------------------------------------

    def start(self) -> LocalSnowflake:
        """Start the subprocess and wait for its `READY host:port` line."""
        if self._process is not None:
            return self
        cmd = [sys.executable, "-m", "flyteplugins.snowflake.local", *self._args, "--exit-with-stdin"]
        self.admin_token = new_token()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", ADMIN_TOKEN_ENV: self.admin_token, PASSWORD_ENV: self.password}
        self._process = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,  # if this process dies, the server sees EOF and stops
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(self._process.stdout, lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self._process.stderr, None), daemon=True).start()
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            try:
                line = lines.get(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
            except queue.Empty:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise LocalSnowflakeError(f"local Snowflake did not start: {self._stderr_tail()}") from None
                continue
            if line.startswith("READY "):
                self.host, _, port = line.split(" ", 1)[1].strip().rpartition(":")
                self.port = int(port)
                return self

    def _pump(self, stream: Any, lines: queue.Queue[str] | None) -> None:
        for line in stream:
            if lines is not None:
                lines.put(line)
            else:
                self._stderr_lines = [*self._stderr_lines[-50:], line]
        stream.close()

    def _stderr_tail(self) -> str:
        return "".join(self._stderr_lines[-20:]).strip() or "(no output)"

    def stop(self) -> None:
        """Stop the subprocess (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        process.wait()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalSnowflake:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- connecting ------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def config(self, **overrides: Any) -> SnowflakeConfig:
        """A `SnowflakeConfig` for Snowflake tasks that run here; `overrides` set its other fields.

        Example:
            with LocalSnowflake() as sf:
                task = Snowflake(name="q", query_template="SELECT 1", plugin_config=sf.config(),
                                 snowflake_password="snowflake-password")
        """
        from ..config import SnowflakeConfig

        if not self.port:
            raise LocalSnowflakeError("the local Snowflake is not started")
        fields: dict[str, Any] = {
            "account": self.account,
            "database": self.database,
            "schema": self.schema,
            "warehouse": self.warehouse,
            "user": self.user,
            # Only the local Snowflake needs these three: a real account's host comes from `account`.
            "host": self.host,
            "port": self.port,
            "protocol": "http",
        }
        return SnowflakeConfig(**{**fields, **overrides})

    def service_env(self, user: str, password: str, role: str = "ACCOUNTADMIN") -> dict[str, str]:
        """The `FLYTE_SNOWFLAKE_SERVICE_*` variables that point the plugin's service login (the cost report's)
        at this emulator as `user`, with `password` and `role`."""
        if not self.port:
            raise LocalSnowflakeError("the local Snowflake is not started")
        values = {
            "ACCOUNT": self.account,
            "USER": user,
            "ROLE": role,
            "WAREHOUSE": self.warehouse,
            "HOST": self.host,
            "PORT": str(self.port),
            "PROTOCOL": "http",
            "PASSWORD": password,
        }
        return {f"FLYTE_SNOWFLAKE_SERVICE_{name}": value for name, value in values.items()}

    def connect_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Everything `snowflake.connector.connect` needs to reach this emulator; `overrides` win.

        `network_timeout` keeps a failing request from being retried for minutes, and
        `platform_detection_timeout_seconds=0` keeps connect from probing cloud metadata (5 s offline).
        """
        if not self.port:
            raise LocalSnowflakeError("the local Snowflake is not started")
        kwargs: dict[str, Any] = {
            "account": self.account,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "schema": self.schema,
            "warehouse": self.warehouse,
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "network_timeout": 30,
            "login_timeout": 10,
            "platform_detection_timeout_seconds": 0.0,  # a float: the driver checks its type
        }
        kwargs.update(overrides)
        return kwargs

    # -- knobs at run time -----------------------------------------------------------------------------------------

    def configure(
        self,
        *,
        first_status: tuple[str, int] | None = None,
        fail_next_http: tuple[int, int] | None = None,
        drop_next: int | None = None,
        **knobs: Any,
    ) -> dict[str, Any]:
        """Change knobs of the running emulator; returns all knobs. `reset()` undoes it.

        Args:
            first_status: `(STATUS, ms)`: queries show STATUS (QUEUED, RESUMING_WAREHOUSE,
                QUEUED_REPARING_WAREHOUSE, BLOCKED, NO_DATA, RESTARTED) for ms before RUNNING.
            fail_next_http: `(http_status, n)`: the next n driver requests fail with 429/5xx.
            drop_next: the next n driver requests have their connection dropped unanswered.
            **knobs: min_query_ms, latency_ms, reject_logins, strict_users, fail_http_path, result_wait_ms,
                result_ttl_s, max_results, max_result_bytes, max_history, max_history_bytes,
                result_first_chunk_bytes, result_chunk_bytes, result_chunk_rows, max_request_bytes,
                monitor_roles (roles that see and cancel every user's queries; default `["ACCOUNTADMIN"]`),
                attribution_delay_s (seconds after its end a query shows in QUERY_ATTRIBUTION_HISTORY; default 0).
        """
        changes = dict(knobs)
        unknown = set(changes) - _KNOB_NAMES
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        if first_status is not None:
            changes["first_status"], changes["first_status_ms"] = first_status[0], int(first_status[1])
        if fail_next_http is not None:
            changes["fail_http_status"], changes["fail_http_count"] = int(fail_next_http[0]), int(fail_next_http[1])
        if drop_next is not None:
            changes["drop_count"] = int(drop_next)
        self.dirty = True
        result: dict[str, Any] = self._admin("POST", "knobs", changes)
        return result

    def knobs(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "knobs")
        return result

    def reset(self) -> None:
        """Knobs back to the start-up values; users added at run time forgotten (the start-up user stays)."""
        self._admin("POST", "reset", {})
        self.dirty = False

    def expire_sessions(self, master: bool = False) -> int:
        """Expire every session token now (the driver renews with its master token); `master=True` also
        expires master tokens, so the driver must log in again. Returns how many sessions."""
        result = self._admin("POST", "expire-sessions", {"master": master})
        return int(result["expired"])

    def add_user(
        self,
        name: str,
        password: str | None = None,
        public_key_pem: str | None = None,
        pat: str | None = None,
        oauth_token: str | None = None,
        *,
        default_role: str | None = None,
        default_warehouse: str | None = None,
        roles: list[str] | None = None,
    ) -> None:
        """Register a user who logs in with these credentials (until `reset()`); unregistered users are refused
        unless the emulator runs with `open_logins` or `configure(strict_users=False)`.

        `default_role` and `default_warehouse` apply when a login names none; `roles` (with the default role and
        PUBLIC) are the roles the user may log in with or `USE ROLE`, any role when None."""
        self.dirty = True
        body = {"name": name, "password": password, "public_key_pem": public_key_pem, "pat": pat}
        context = {"default_role": default_role, "default_warehouse": default_warehouse, "roles": roles}
        self._admin("POST", "users", {**body, "oauth_token": oauth_token, **context})

    def add_role(self, name: str, *, warehouses: list[str] | None = None, databases: list[str] | None = None) -> None:
        """Register a role that may use only these warehouses and databases (all of a kind when None).

        A login may name a system role (SYSADMIN, PUBLIC...), a registered or monitor role or one given to its
        user; any other role does not exist (390189), as in Snowflake. A session whose role may not use its
        warehouse has none (its queries fail with 000606); one whose role may not use its database has none, and
        neither `SHOW DATABASES` nor `USE DATABASE` shows it, as in Snowflake."""
        self.dirty = True
        self._admin("POST", "roles", {"name": name, "warehouses": warehouses, "databases": databases})

    def add_warehouse(self, name: str, size: str = "X-Small", kind: str = "STANDARD") -> None:
        """Create a warehouse, as `CREATE OR REPLACE WAREHOUSE name WAREHOUSE_SIZE = size WAREHOUSE_TYPE = kind`."""
        self.dirty = True
        self._admin("POST", "warehouses", {"name": name, "size": size, "type": kind})

    def query_history(self, query_id: str | None = None) -> list[QueryHistoryEntry]:
        """Every recorded query (or the one with `query_id`), oldest first."""
        path = "queries" + (f"?query_id={query_id}" if query_id else "")
        return [QueryHistoryEntry.from_row(row) for row in self._admin("GET", path)]

    def stats(self) -> dict[str, int]:
        """Live sessions, recorded queries and their texts' bytes (`history_bytes`), kept results and their bytes,
        the server's RSS, its query plans (`plans` kept, `plan_bytes` their estimated size, `plan_hits`: runs
        that reused one), and the telemetry entries drivers sent (`telemetry_logs`: counted, never kept)."""
        result: dict[str, int] = self._admin("GET", "stats")
        return result

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - http on loopback only
            f"{self.url}{ADMIN_PREFIX}/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **auth_header(self.admin_token)},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback http only
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                detail = json.loads(exc.read() or b"{}").get("error", str(exc))
            raise LocalSnowflakeError(f"admin {path}: {detail}") from None
        return payload["result"]
