"""SnowflakeConnector: submit, follow, cancel and report on queries for Flyte. Orchestration only.

The same code serves local runs (in-process) and flyte's connector service, where one replica follows
many users' queries: the connector keeps no state but a pool of logged-in sessions, so any replica can
answer any call from the stored `SnowflakeJobMetadata`.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flyte.connectors import AsyncConnector, ConnectorRegistry, Resource
from flyteidl2.connector.connector_pb2 import GetTaskLogsResponse, GetTaskMetricsResponse, TaskExecutionMetadata
from flyteidl2.core import tasks_pb2
from flyteidl2.core.execution_pb2 import TaskExecution, TaskLog
from google.protobuf import json_format

from . import _client, _metrics, _observe
from ._admission import SubmitGate, slow_turn_from_env
from ._auth import Credentials
from ._figures import HistoryBatches, Late
from ._finishing import Finishing, finish_wait_from_env
from ._lineage import Lineage
from ._links import AccountIdentifier
from ._pool import Pool, PoolSettings
from ._sql import (
    build_query_tag,
    check_template,
    compile_batch,
    compile_query,
    has_placeholders,
    marked_text,
    statement_count,
)
from ._status import StatusView, describe
from .config import SnowflakeConfig
from .errors import (
    SnowflakeAuthError,
    SnowflakeConfigError,
    SnowflakeError,
    SnowflakeInputError,
    SnowflakeQueryError,
    SnowflakeTransientError,
)
from .metadata import SnowflakeJobMetadata

logger = logging.getLogger(__name__)

T = TypeVar("T")

TASK_TYPE = "snowflake"
#: The name of the task's Snowsight link in the Flyte UI (the public plugin's name for it).
LOG_LINK_NAME = "Snowflake Dashboard"

#: Snowflake's error number for "SQL execution canceled": a query cancelled with SYSTEM$CANCEL_QUERY or the
#: driver's abort request reports FAILED_WITH_ERROR with it (older accounts answered ABORTED).
_CANCELLED_ERRNO = 604

#: Query ids this process has cancelled (DeleteTask, or an aborted local run), the most recent kept: a cancelled
#: query then reads ABORTED, and one cancelled by anyone else reads as the failure it is for the task.
_CANCELS_KEPT = 10_000

#: Why `custom_info` has no figures for a query that did not succeed: its answer never waits for them.
FIGURES_NOT_WAITED = (
    "skipped: a query that did not succeed is answered without waiting for the query history; "
    "GetTaskMetrics and GetTaskLogs read the same figures"
)

#: Backoff between attempts of one call when Snowflake is briefly unreachable (seconds).
RETRY_DELAYS = (0.1, 0.4, 1.2)

#: Seconds a status check waits for a finished query's result to be saved before answering "still running"
#: (`FLYTE_SNOWFLAKE_FINISH_WAIT`, read when the plugin is imported; see `_finishing`).
FINISH_WAIT_S = finish_wait_from_env()


class SnowflakeConnector(AsyncConnector[SnowflakeJobMetadata]):
    """Runs `snowflake` tasks: `create` submits the query asynchronously, `get` follows it, `delete` cancels it."""

    name = "Snowflake Connector"
    task_type_name = TASK_TYPE
    task_type_version = 0
    metadata_type = SnowflakeJobMetadata

    def __init__(self, pool: Pool[Any] | None = None) -> None:
        self._pool: Pool[Any] | None = pool
        self._finishing: Finishing[Resource] = Finishing()
        self._figures = HistoryBatches(lambda conn, metas: _observe.read_histories(conn, metas, user=None))
        self._gate: SubmitGate | None = None
        self._lineage: Lineage | None = None
        self._lineage_checked = False
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    @property
    def pool(self) -> Pool[Any]:
        """The process's logged-in sessions; made on first use so importing the plugin costs nothing."""
        if self._pool is None:
            # Sizes from FLYTE_SNOWFLAKE_POOL_* (docs/deploy.md); a bad value stops the call with its reason.
            self._pool = Pool.from_settings(PoolSettings.from_env(), keeps_session=_keeps_session)
            _metrics.track_pool(self._pool)
        return self._pool

    @property
    def gate(self) -> SubmitGate:
        """How many submits run at once: the pool's thread count, fewer while the event loop falls behind."""
        if self._gate is None:
            self._gate = SubmitGate(self.pool.max_workers, slow_turn=slow_turn_from_env())
            _metrics.track_gate(self._gate)
        return self._gate

    @property
    def lineage(self) -> Lineage | None:
        """OpenLineage events of this connector's queries, or None when OpenLineage is not configured (checked
        once, at the first query: nothing of OpenLineage is imported otherwise)."""
        if not self._lineage_checked:
            self._lineage = Lineage.from_env()
            self._lineage_checked = True
        return self._lineage

    # The public plugin's signature (inputs second, secrets by keyword), kept so callers written for it work;
    # the framework passes everything by keyword, output_prefix included.
    async def create(  # type: ignore[override]
        self,
        task_template: tasks_pb2.TaskTemplate,
        inputs: dict[str, Any] | None = None,
        snowflake_private_key: str | None = None,
        snowflake_private_key_passphrase: str | None = None,
        **kwargs: Any,
    ) -> SnowflakeJobMetadata:
        """Submit the task's SQL without waiting for it; returns the query's identifiers."""
        output_prefix = str(kwargs.pop("output_prefix", "") or "")
        execution = kwargs.pop("task_execution_metadata", None)
        secrets = _secrets(kwargs, snowflake_private_key, snowflake_private_key_passphrase)
        custom, config, stored_config = _task_settings(task_template)
        sql = task_template.sql.statement
        meta = SnowflakeJobMetadata(
            account=config.account,
            user=config.user,
            database=config.database,
            schema=config.schema,
            warehouse=config.warehouse,
            query_id="",
            has_output=len(task_template.interface.outputs.variables) > 0,
            connection_kwargs=config.connection_kwargs,
            config=dict(stored_config),
            secrets={str(k): str(v) for k, v in (custom.get("secrets") or {}).items()},
            statement_count=_statement_count(sql),
            submitted_at=time.time(),
            output_prefix=output_prefix,
        )
        try:
            submit = _submission(config, sql, inputs or {}, custom, meta.statement_count, task_template, execution)
            async with self.gate:
                meta.query_id = await self._run(config, Credentials.from_kwargs(secrets), submit)
        except SnowflakeTransientError:
            # Nothing was accepted: the backend may safely call create again.
            raise
        except SnowflakeError as exc:
            # A final failure (bad SQL, bad input, bad credentials): recorded so that `get` fails the task
            # with Snowflake's code and message, rather than the service answering INTERNAL.
            meta.error = _error_record(exc)
            meta.query_id = getattr(exc, "query_id", None) or ""
        _metrics.QUERIES_SUBMITTED.labels(outcome="rejected" if meta.error else "accepted").inc()
        logger.info("Snowflake query submitted: %s", meta.query_id or "(rejected)")
        self._lineage_started(meta, config, task_template, execution)
        return meta

    def _lineage_started(
        self,
        meta: SnowflakeJobMetadata,
        config: SnowflakeConfig,
        template: tasks_pb2.TaskTemplate,
        execution: TaskExecutionMetadata | None,
    ) -> None:
        """START (at submit, and only here) of the query's OpenLineage run; a rejected query's FAIL with it."""
        lineage = self.lineage
        if lineage is None:
            return
        sql = template.sql.statement
        statement = marked_text(sql)
        job = lineage.job(
            account=config.account,
            database=config.database,
            schema=config.schema,
            task=template.id.name,
            statement=statement,
            binds=has_placeholders(sql),
            execution=execution,
        )
        lineage.started(meta, job, statement)
        if meta.error is not None:
            lineage.ended(meta, Resource(phase=TaskExecution.FAILED, message=_error_message(meta.error, meta.query_id)))

    async def get(
        self,
        resource_meta: SnowflakeJobMetadata,
        snowflake_private_key: str | None = None,
        snowflake_private_key_passphrase: str | None = None,
        *,
        query_history: bool = True,
        finish_wait: float | None = FINISH_WAIT_S,
        **kwargs: Any,
    ) -> Resource:
        """The query's phase now, its Snowsight link, and on success the `results` output (see `_get`).

        The answer that ends the query also ends its OpenLineage run (COMPLETE, FAIL or ABORT).
        """
        resource = await self._get(
            resource_meta,
            snowflake_private_key,
            snowflake_private_key_passphrase,
            query_history=query_history,
            finish_wait=finish_wait,
            **kwargs,
        )
        if self.lineage is not None and resource_meta.error is None:
            self.lineage.ended(resource_meta, resource)
        return resource

    async def _get(
        self,
        resource_meta: SnowflakeJobMetadata,
        snowflake_private_key: str | None,
        snowflake_private_key_passphrase: str | None,
        *,
        query_history: bool,
        finish_wait: float | None,
        **kwargs: Any,
    ) -> Resource:
        """The query's phase now, its Snowsight link, and on success the `results` output.

        With `query_history` (the default, as the service calls it), a finished query's figures (rows,
        bytes, queued and execution time) are read from Snowflake's query history into `custom_info`; a
        local run skips that extra look-up, which costs more than a short query itself.

        A status check is one short request. What follows a successful query's end (saving its result, reading
        its figures) can take longer, so it runs in the background: the call waits `finish_wait` seconds for it
        and otherwise answers RUNNING ("saving its result"); a later call collects the final answer. `None`
        waits until it is done (local runs, where this process is the only one asking). A query that ended
        without a result (failed, cancelled) is answered at once, with its figures only if they come within
        `finish_wait`.

        While Snowflake cannot be reached the answer is RUNNING, saying so (`custom_info["unreachable"]`); a
        query Snowflake still does not know `UNKNOWN_QUERY_GRACE_S` after its submit is FAILED.

        Raises:
            SnowflakeMetadataError: `resource_meta.query_id` is not a Snowflake query id.
        """
        meta = resource_meta
        if meta.error is not None:
            return Resource(phase=TaskExecution.FAILED, message=_error_message(meta.error, meta.query_id))
        meta.checked_query_id()
        config = _config_of(meta)
        secrets = _secrets(kwargs, snowflake_private_key, snowflake_private_key_passphrase)
        links = _log_links(meta)
        try:
            # No retries of ours on top: the poll retries inside its own short window. A status check is one
            # GET, no SQL: it runs on a shared session, next to other checks and SQL calls.
            poll = functools.partial(_client.poll, query_id=meta.query_id)
            state = await self._run(config, Credentials.from_kwargs(secrets), poll, shared=True)
        except SnowflakeTransientError as exc:
            # The query lives on in Snowflake; failing the task here would lose it (and a retry would run
            # it twice). Report it as still running: the next poll tries again.
            return Resource(
                phase=TaskExecution.RUNNING,
                message=(
                    f"Snowflake could not be reached to check query {meta.query_id} ({exc}); the query is left "
                    "running, checking again"
                ),
                log_links=links,
                custom_info={"query_id": meta.query_id, "unreachable": str(exc)},
            )
        except SnowflakeError as exc:
            return Resource(
                phase=TaskExecution.FAILED,
                message=_error_message(_error_record(exc), meta.query_id),
                log_links=links,
            )
        view = describe(
            state.status,
            warehouse=config.warehouse,
            query_id=meta.query_id,
            since_submit=_since_submit(meta),
            account=meta.account,
            user=meta.user,
        )
        info: dict[str, Any] = {"query_id": meta.query_id, "status": state.status, **_elapsed_info(meta)}
        finished = view.terminal or state.errno is not None
        _metrics.observe_poll(state.status, view.phase, terminal=finished)
        if not finished:
            return Resource(phase=view.phase, message=view.message, log_links=links, custom_info=info)
        if view.phase != TaskExecution.SUCCEEDED:
            # No result to save: the final answer goes out now.
            return await self._unsuccessful(meta, config, secrets, state, view, info, query_history, finish_wait)

        def finish() -> Awaitable[Resource]:
            return self._finish(meta, config, secrets, state, view, dict(info), query_history=query_history)

        if finish_wait is None:
            return await finish()
        if query_history and self._figures.busy(_session_key(config, Credentials.from_kwargs(secrets))):
            # Its figures will wait for the look-up ahead of them (queries finishing together): longer than the
            # wait, which would only hold this call. Start the work and answer now; the next check collects it.
            finish_wait = 0.0
        done, resource = await self._finishing.run(meta.query_id, finish, finish_wait)
        if done and resource is not None:
            return resource
        # Saving the result (and reading the query's figures) goes on in the background; the next check
        # collects it. The query is done in Snowflake; the task is done when its output is saved.
        return Resource(
            phase=TaskExecution.RUNNING,
            message=f"{view.message}; saving its result",
            log_links=links,
            custom_info=info,
        )

    async def _finish(
        self,
        meta: SnowflakeJobMetadata,
        config: SnowflakeConfig,
        secrets: Mapping[str, Any],
        state: _client.QueryState,
        view: StatusView,
        info: dict[str, Any],
        *,
        query_history: bool,
    ) -> Resource:
        """The final answer for a query Snowflake reports succeeded: its figures and its output."""
        links = _log_links(meta)
        if query_history:
            # Once, when the query ends: elapsed/queued/compilation/execution time, rows, bytes (best effort).
            info.update(await self._history_figures(meta, config, Credentials.from_kwargs(secrets)))
        try:
            outputs = await self._outputs(meta, config, secrets, info) if meta.has_output else None
        except SnowflakeTransientError as exc:
            return Resource(
                phase=TaskExecution.RUNNING,
                message=f"query {meta.query_id} finished; reading its result hit a transient error ({exc}), retrying",
                log_links=links,
                custom_info=info,
            )
        except (SnowflakeError, OSError) as exc:
            record = _error_record(exc) if isinstance(exc, SnowflakeError) else {"message": str(exc)}
            return Resource(
                phase=TaskExecution.FAILED,
                message=f"query {meta.query_id} finished but its result could not be saved: {record['message']}",
                log_links=links,
                custom_info=info,
            )
        info.update(_elapsed_info(meta))  # at the end of the work, not when the check began
        message = view.message if "elapsed_s" not in info else f"{view.message} in {info['elapsed_s']:.2f}s"
        return Resource(phase=view.phase, message=message, log_links=links, outputs=outputs, custom_info=info)

    async def _unsuccessful(
        self,
        meta: SnowflakeJobMetadata,
        config: SnowflakeConfig,
        secrets: Mapping[str, Any],
        state: _client.QueryState,
        view: StatusView,
        info: dict[str, Any],
        query_history: bool,
        wait: float | None,
    ) -> Resource:
        """The final answer for a query that ended without a result; its figures only if they come within `wait`."""
        if state.errno is not None or state.message:
            info["error"] = {"errno": state.errno, "sqlstate": state.sqlstate, "message": state.message}
        if query_history and state.status != "NO_DATA":  # an unknown query has no history either
            credentials = Credentials.from_kwargs(secrets)
            wait = _observe.FIGURES_WAIT_S if wait is None else min(wait, _observe.FIGURES_WAIT_S)
            if wait > 0 and not self._figures.busy(_session_key(config, credentials)):
                info.update(await self._history_figures(meta, config, credentials, wait=wait, late=FIGURES_NOT_WAITED))
            else:
                info["query_history_unavailable"] = FIGURES_NOT_WAITED
        phase, message = _ending(meta.query_id, state, view, info, cancelled_here=meta.query_id in self._cancelled)
        return Resource(phase=phase, message=message, log_links=_log_links(meta), custom_info=info)

    async def delete(
        self,
        resource_meta: SnowflakeJobMetadata,
        snowflake_private_key: str | None = None,
        snowflake_private_key_passphrase: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Cancel the query. Idempotent: a finished, failed or unknown query is left as it is.

        Raises:
            SnowflakeMetadataError: `resource_meta.query_id` is not a Snowflake query id.
        """
        meta = resource_meta
        if not meta.query_id or meta.error is not None:
            return
        meta.checked_query_id()
        config = _config_of(meta)
        secrets = _secrets(kwargs, snowflake_private_key, snowflake_private_key_passphrase)
        credentials = Credentials.from_kwargs(secrets)
        # Before the cancel goes out: a check answered meanwhile must already read it as ours.
        self._remember_cancel(meta.query_id)

        def _cancel_if_running(conn: Any) -> bool:
            if describe(_client.poll(conn, meta.query_id).status).terminal:
                return False
            try:
                _client.cancel(conn, meta.query_id)
            except SnowflakeQueryError:
                # Snowflake refuses to cancel an id it does not know (status NO_DATA) or a query that has just
                # ended; only a query that is still running means the cancel really failed.
                status = _client.poll(conn, meta.query_id).status
                if status != "NO_DATA" and not describe(status).terminal:
                    raise
            return True

        cancelled = await self._run(config, credentials, _cancel_if_running, retry=True)
        logger.info("Snowflake query cancelled: %s", meta.query_id)
        if cancelled and self.lineage is not None:
            # A query that had already ended ends its run through the status check that sees it.
            self.lineage.ended(meta, Resource(phase=TaskExecution.ABORTED, message="cancelled"))

    async def get_logs(  # type: ignore[override]
        self, resource_meta: SnowflakeJobMetadata, **kwargs: Any
    ) -> AsyncIterator[GetTaskLogsResponse]:
        """The query's timeline from Snowflake's query history, its SQL (placeholders, no values), its link.

        The call carries no secrets: see `_history` for which session reads the history.
        """
        yield _observe.logs_response(resource_meta, await self._history(resource_meta))

    async def get_metrics(self, resource_meta: SnowflakeJobMetadata, **kwargs: Any) -> GetTaskMetricsResponse:
        """Elapsed, queued, compilation and execution time, rows produced and bytes scanned, from the history."""
        return _observe.metrics_response(resource_meta, await self._history(resource_meta))

    async def _history(self, meta: SnowflakeJobMetadata) -> _observe.Observation:
        """Read the query's history row without the task's secrets.

        First choice: a live pooled session of the same account and user (it sees its own queries). Then
        the service's own credentials (`FLYTE_SNOWFLAKE_SERVICE_*`, see docs/deploy.md). Else nothing, and
        the answer says why.
        """
        if meta.error is not None or not meta.query_id:
            return _observe.Observation(None, reason="the statement never ran in Snowflake, so it has no history")
        config = _config_of(meta)
        try:
            async with self.pool.borrow(_observe.session_label(config), wait=1.0) as lease:
                if lease is not None:
                    _metrics.HISTORY_LOOKUPS.labels(source="pool").inc()
                    try:
                        record = await self.pool.run(_observe.read_history, lease.conn, meta, user=None)
                    except (SnowflakeTransientError, SnowflakeAuthError):
                        lease.discard()
                        raise
                    return _observe.Observation(record, "pool", "" if record else _observe.NOT_IN_HISTORY)
            service = _observe.ServiceCredentials.from_env()
            if service is None or not service.serves(config):
                _metrics.HISTORY_LOOKUPS.labels(source="none").inc()
                return _observe.Observation(None, reason=_observe.no_session_reason(config))
            _metrics.HISTORY_LOOKUPS.labels(source="service").inc()
            record = await self._run(
                service.config_for(config),
                service.credentials,
                lambda conn: _observe.read_history(conn, meta, user=config.user),
                retry=True,
            )
            return _observe.Observation(record, "service", "" if record else _observe.NOT_IN_HISTORY)
        except SnowflakeError as exc:
            return _observe.Observation(None, reason=f"reading Snowflake's query history failed: {exc}")

    def _remember_cancel(self, query_id: str) -> None:
        self._cancelled[query_id] = None
        self._cancelled.move_to_end(query_id)
        if len(self._cancelled) > _CANCELS_KEPT:
            self._cancelled.popitem(last=False)

    async def _history_figures(
        self,
        meta: SnowflakeJobMetadata,
        config: SnowflakeConfig,
        credentials: Credentials,
        *,
        wait: float | None = None,
        late: str | None = None,
    ) -> dict[str, Any]:
        """`custom_info` figures of a finished query, read on the task's own session; never fails the call.

        Queries that finish together share a look-up (`_figures`): one statement reads the rows of every query
        of the same credentials waiting for it. Bounded in time: the look-up is SQL and may queue behind a busy
        warehouse, so after `wait` seconds (`_observe.FIGURES_WAIT_S` by default) the answer goes out without the
        figures, and `late` says why.
        """

        def run(fn: Callable[[Any], T]) -> Awaitable[T]:
            return self._run(config, credentials, fn)

        key = _session_key(config, credentials)
        try:
            record = await self._figures.read(key, meta, run, wait=_observe.FIGURES_WAIT_S if wait is None else wait)
        except Late:
            return _observe.custom_info_figures(_observe.Observation(None, reason=late or _observe.FIGURES_LATE))
        except SnowflakeError as exc:
            return _observe.custom_info_figures(_observe.Observation(None, reason=str(exc)))
        _metrics.HISTORY_LOOKUPS.labels(source="task").inc()
        return _observe.custom_info_figures(
            _observe.Observation(record, "task", "" if record else _observe.NOT_IN_HISTORY)
        )

    async def _outputs(
        self, meta: SnowflakeJobMetadata, config: SnowflakeConfig, secrets: Mapping[str, Any], info: dict[str, Any]
    ) -> dict[str, Any]:
        """The `results` output: Parquet under the task's outputs, or a reference to Snowflake's result cache."""
        from .dataframe import MATERIALIZE, materialize, result_reference

        credentials = Credentials.from_kwargs(secrets)
        query_id = meta.query_id
        if meta.statement_count > 1:
            children = await self._run(config, credentials, lambda c: _client.child_query_ids(c, meta.query_id))
            info["statement_query_ids"] = children
            query_id = children[-1]
        # Metadata written by the public plugin has no output prefix: it keeps the reference it always had.
        if config.results != MATERIALIZE or not meta.output_prefix:
            return {"results": result_reference(meta, query_id)}

        async def run(fn: Callable[[Any], T]) -> T:
            # Idempotent: a retry writes the same parts under the same names.
            return await self._run(config, credentials, fn, retry=True)

        return {"results": await materialize(meta, query_id, run, figures=info)}

    async def _run(
        self,
        config: SnowflakeConfig,
        credentials: Credentials,
        fn: Callable[[Any], T],
        *,
        retry: bool = False,
        shared: bool = False,
    ) -> T:
        """Run `fn(connection)` on a pooled session of these credentials, on the pool's threads.

        `retry` retries transient failures with backoff (idempotent calls: poll, cancel, reads). Whatever the
        call, an expired session is replaced and the call tried once more on a fresh login: Snowflake refused
        the request before running anything, so even a submit is safe to repeat. `shared` runs `fn` on a
        session other calls may be using at the same time: only for requests that run no SQL (status checks).
        """
        target = _target_of(config)
        key = _session_key(config, credentials)
        delays = list(RETRY_DELAYS) if retry else []
        fresh_session_retries = 1

        def login() -> Any:
            return _client.login({**config.driver_kwargs(), **credentials.driver_kwargs(config.authenticator)})

        while True:
            born: float | None = None
            try:
                if shared:
                    lease_of = self.pool.shared(key, login, label=target.label, keeps_session=_keeps_shared_session)
                else:
                    lease_of = self.pool.connection(key, login, label=target.label)
                async with lease_of as lease:
                    born = lease.born
                    return await self.pool.run(fn, lease.conn)
            except SnowflakeTransientError as exc:
                if exc.session_expired and fresh_session_retries:
                    fresh_session_retries -= 1
                    # Its idle siblings were logged in at the same time or before, and have most likely expired
                    # too; sessions logged in since (another call's fresh login) are kept.
                    await self.pool.purge(key, logged_in_before=born)
                    _metrics.RETRIES.labels(reason="session_expired").inc()
                    continue
                if not delays:
                    raise
                delay = delays.pop(0)
                _metrics.RETRIES.labels(reason="transient").inc()
                logger.info("Snowflake unreachable (%s); retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)


def _keeps_session(exc: BaseException) -> bool:
    """Errors about the SQL or its inputs leave the session as healthy as it was: keep it in the pool."""
    return isinstance(exc, (SnowflakeQueryError, SnowflakeInputError, SnowflakeConfigError))


def _keeps_shared_session(exc: BaseException) -> bool:
    """A status check on a shared session also keeps it through a network fault (429, 5xx, a dropped TCP
    connection): the session is fine, and dropping it would make every check in flight log in again."""
    if isinstance(exc, SnowflakeTransientError):
        return not exc.session_expired
    return _keeps_session(exc)


@dataclass(frozen=True)
class _Target:
    """What a config's calls need besides secrets, worked out once per distinct config."""

    identity: str  # SnowflakeConfig.identity(): part of the pool key
    label: str  # _observe.session_label(): which sessions GetTaskLogs/GetTaskMetrics may borrow


#: Distinct task configs a replica remembers (each a few hundred bytes); least recently used go first.
_CACHE_SIZE = 512
_configs: OrderedDict[str, SnowflakeConfig] = OrderedDict()
_targets: OrderedDict[int, tuple[SnowflakeConfig, _Target]] = OrderedDict()


def _since_submit(meta: SnowflakeJobMetadata) -> float:
    """Seconds since the query was submitted (this replica's clock against the submitting one's; never negative);
    `math.inf` for metadata without a submit time."""
    return max(0.0, time.time() - meta.submitted_at) if meta.submitted_at else math.inf


def _ending(
    query_id: str, state: _client.QueryState, view: StatusView, info: Mapping[str, Any], *, cancelled_here: bool
) -> tuple[int, str]:
    """Phase and message of a query that ended without a result.

    A cancelled query (Snowflake answers FAILED_WITH_ERROR with error 604, or ABORTED) is ABORTED when this
    process cancelled it; a cancel nobody here asked for (SYSTEM$CANCEL_QUERY from another session, an
    administrator) leaves the task without its result: FAILED, saying who may have done it.
    """
    if state.status == "ABORTED" or state.errno == _CANCELLED_ERRNO:
        said = "ABORTED"
        if state.errno == _CANCELLED_ERRNO:
            said = f"error 604, {state.message or 'SQL execution canceled'}"
        if cancelled_here:
            return TaskExecution.ABORTED, f"Query {query_id} was cancelled as the task's abort asked ({said})"
        return TaskExecution.FAILED, (
            f"Query {query_id} was cancelled in Snowflake, and not by this task ({said}): someone ran "
            "SYSTEM$CANCEL_QUERY on it or an administrator stopped it. Run the task again to rerun the query"
        )
    if view.phase == TaskExecution.FAILED and "error" in info:
        return TaskExecution.FAILED, _error_message(info["error"], query_id)
    return view.phase, view.message


def _elapsed_info(meta: SnowflakeJobMetadata) -> dict[str, float]:
    """`{"elapsed_s": seconds since the submit}`, or nothing for metadata without a submit time."""
    return {"elapsed_s": round(max(0.0, time.time() - meta.submitted_at), 3)} if meta.submitted_at else {}


def _secrets(kwargs: Mapping[str, Any], private_key: str | None, passphrase: str | None) -> dict[str, Any]:
    """Every secret a call received: the two the seed signature names, and the others among `kwargs`."""
    return {**kwargs, "snowflake_private_key": private_key, "snowflake_private_key_passphrase": passphrase}


_settings: OrderedDict[bytes, tuple[dict[str, Any], SnowflakeConfig, dict[str, Any]]] = OrderedDict()


def _task_settings(template: tasks_pb2.TaskTemplate) -> tuple[dict[str, Any], SnowflakeConfig, dict[str, Any]]:
    """The task's `custom` struct, its validated config and the config as stored in the metadata, worked out
    once per distinct struct (a replica sees the same few tasks submitted many times). Shared: read only."""
    if not template.HasField("custom"):
        return {}, SnowflakeConfig.from_custom({}), {}

    def settings() -> tuple[dict[str, Any], SnowflakeConfig, dict[str, Any]]:
        custom = json_format.MessageToDict(template.custom)
        config = SnowflakeConfig.from_custom(custom)
        return custom, config, config.to_custom()

    return _recent(_settings, template.custom.SerializeToString(deterministic=True), settings)


#: Statements in a task's SQL (a scan of the text), per distinct text.
_statement_count = functools.lru_cache(maxsize=_CACHE_SIZE)(statement_count)


def _config_of(meta: SnowflakeJobMetadata) -> SnowflakeConfig:
    """The query's config, validated once per distinct `meta.config` (every status check of a query
    carries the same one). The cached object is shared: the connector never changes a config."""
    if not meta.config:
        return _legacy_config(meta)
    text = json.dumps(meta.config, sort_keys=True, separators=(",", ":"), default=str)
    return _recent(_configs, text, lambda: SnowflakeConfig.from_custom(meta.config))


K = TypeVar("K")


def _recent(cache: OrderedDict[K, T], key: K, make: Callable[[], T]) -> T:
    """`cache[key]`, made by `make` on a miss; past `_CACHE_SIZE` entries the least recently used goes."""
    value = cache.get(key)
    if value is None:
        value = make()
        cache[key] = value
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return value


def _target_of(config: SnowflakeConfig) -> _Target:
    cached = _targets.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    target = _Target(identity=config.identity(), label=_observe.session_label(config))
    # The config is kept in the entry, so its id cannot be reused by another object while cached.
    _targets[id(config)] = (config, target)
    if len(_targets) > _CACHE_SIZE:
        _targets.popitem(last=False)
    return target


def _session_key(config: SnowflakeConfig, credentials: Credentials) -> str:
    """The pool's key of a task's sessions (history look-ups share statements by it too); never a secret."""
    return credentials.fingerprint(_target_of(config).identity)


def _submission(
    config: SnowflakeConfig,
    sql: str,
    inputs: Mapping[str, Any],
    custom: Mapping[str, Any],
    count: int,
    template: tasks_pb2.TaskTemplate,
    execution: TaskExecutionMetadata | None,
) -> Callable[[Any], str]:
    """Bind the inputs and build the statement parameters; returns the blocking submit for a session.

    A template the task definition would have refused (empty, or a batch that is not one INSERT INTO, from a
    task serialized by other code) is refused here with the same message, before anything reaches Snowflake.
    """
    check_template(sql)
    tag = build_query_tag(config.user_query_tag(), _flyte_context(template, execution))
    params: dict[str, str] = {"QUERY_TAG": tag}
    if config.statement_timeout:
        params["STATEMENT_TIMEOUT_IN_SECONDS"] = str(int(config.statement_timeout))
    if custom.get("batch"):
        # One INSERT INTO, array-bound: one query, atomic, and the one a cancel reaches.
        batch_sql, rows = compile_batch(sql, inputs)
        return lambda conn: _client.submit(conn, batch_sql, None, statement_params=params, batch_rows=rows)
    bound = compile_query(sql, inputs)
    return lambda conn: _client.submit(conn, bound.sql, bound.params, statement_params=params, statement_count=count)


def _flyte_context(template: tasks_pb2.TaskTemplate, execution: TaskExecutionMetadata | None) -> dict[str, str]:
    """Where the query comes from, for Snowflake's QUERY_TAG (so admins can trace cost back to a run)."""
    context = {"task": template.id.name} if template.id.name else {}
    if execution is None or not execution.HasField("task_execution_id"):
        return context
    task_execution = execution.task_execution_id
    node = task_execution.node_execution_id
    run = node.execution_id
    fields = {
        "project": run.project,
        "domain": run.domain,
        "run": run.name,
        "action": node.node_id,
        "attempt": str(task_execution.retry_attempt),
    }
    return {**context, **{k: v for k, v in fields.items() if v}}


def _legacy_config(meta: SnowflakeJobMetadata) -> SnowflakeConfig:
    """Metadata written by the public plugin has no `config`: rebuild it from the flat fields.

    That plugin stored passwords in `connection_kwargs` in plain text; they are dropped here (the secrets
    passed to the call log in), so its queries can still be followed after an upgrade.
    """
    kept = {k: v for k, v in (meta.connection_kwargs or {}).items() if not _looks_secret(k)}
    return SnowflakeConfig(
        account=meta.account,
        database=meta.database,
        schema=meta.schema,
        warehouse=meta.warehouse,
        user=meta.user,
        connection_kwargs=kept or None,
    )


def _looks_secret(key: str) -> bool:
    return any(word in key.lower() for word in ("password", "private_key", "passphrase", "token", "secret", "passcode"))


def _log_links(meta: SnowflakeJobMetadata) -> list[TaskLog]:
    account = _account(meta.account)
    if account is None:
        return []
    try:
        uri = account.snowsight_query_url(meta.query_id)
    except SnowflakeError:
        return []
    return [TaskLog(uri=uri, name=LOG_LINK_NAME, ready=True, link_type=TaskLog.DASHBOARD)]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _account(account: str) -> AccountIdentifier | None:
    try:
        return AccountIdentifier.parse(account)
    except SnowflakeError:
        return None


def _error_record(exc: SnowflakeError) -> dict[str, Any]:
    return {
        "kind": type(exc).__name__,
        "errno": exc.errno,
        "sqlstate": exc.sqlstate,
        # Snowflake's own words; our message would repeat the code and state that are recorded beside it
        "message": exc.sf_message if isinstance(exc, SnowflakeQueryError) else exc.message,
    }


def _error_message(record: Mapping[str, Any], query_id: str) -> str:
    parts = []
    if record.get("errno") is not None:
        parts.append(f"Snowflake error {record['errno']}")
    if record.get("sqlstate"):
        parts.append(f"SQLSTATE {record['sqlstate']}")
    head = " ".join(parts) or str(record.get("kind") or "Snowflake error")
    where = f" (query {query_id})" if query_id else ""
    return f"{head}{where}: {record.get('message') or 'no message'}"


#: `FLYTE_SNOWFLAKE_GC_FREEZE`: `1` (the default) freezes the heap the imports left behind; `0` leaves the
#: garbage collector alone.
GC_FREEZE_ENV = "FLYTE_SNOWFLAKE_GC_FREEZE"


def _freeze_import_heap(environ: Mapping[str, str] | None = None) -> bool:
    """Take what the imports created (flyte, gRPC, protobuf, the driver, pandas) out of the collector's sight.

    In the connector service the first busy seconds after start-up otherwise set off a full collection that walks
    every one of those objects: 100-160 ms during which the event loop, and so every user's call, stands still
    (docs/benchmarks.md, "Connector service"). Frozen objects are never walked again, so later full collections
    take a few milliseconds. Nothing in use changes; what is frozen is kept for the life of the process (it is
    what the imports hold anyway), and `gc.unfreeze()` undoes it. Returns whether it froze.
    """
    text = ((os.environ if environ is None else environ).get(GC_FREEZE_ENV) or "").strip()
    if text == "0":
        return False
    if text not in ("", "1"):
        logger.warning("%s must be 0 or 1, got %r; keeping the default (1)", GC_FREEZE_ENV, text)
    gc.freeze()
    return True


# Import the driver now, on the importing thread: its first import inside a worker thread can race flyte's
# own lazy imports (pandas) on the event loop and leave one of them half-initialised.
_client.preload()
ConnectorRegistry.register(SnowflakeConnector(), override=True)
_freeze_import_heap()
