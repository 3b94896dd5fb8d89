"""The Snowflake task: its interface, how it is serialized for the backend, and its local execution loop.

In a remote run the Flyte backend hands the serialized task to the connector service. In a local run the
task drives the very same `SnowflakeConnector` in-process, with its own loop (`run_query`): adaptive polling
(first check within tens of milliseconds, growing to `max_poll_interval`), no sleep after the final state, the
task's timeout enforced, and the query cancelled in Snowflake when the run is aborted (Ctrl-C, timeout,
cancellation of the asyncio task).

Progress goes to the `flyte.snowflake` logger (a child of flyte's): INFO lines per state change, so a
default run stays quiet and `flyte -vv run --local ...` shows them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flyte._task import TaskTemplate
from flyte.models import NativeInterface, SerializationContext
from flyteidl2.core import tasks_pb2
from flyteidl2.core.execution_pb2 import TaskExecution

from ._auth import SECRET_KEYWORDS
from ._sql import batch_statement, check_template
from .config import SnowflakeConfig
from .errors import MissingSecretError, SnowflakeQueryError, SnowflakeTransientError

if TYPE_CHECKING:
    from flyte.connectors import AsyncConnector, Resource

    from .metadata import SnowflakeJobMetadata

__all__ = ["Snowflake", "SnowflakeTaskFailed", "TimeLimit", "follow", "poll_delay", "read_local_secrets", "run_query"]

# A child of flyte's logger: it follows flyte's handlers and level, so progress is quiet by default.
logger = logging.getLogger("flyte.snowflake")

TASK_TYPE = "snowflake"

#: Phases after which the query will not change. RETRYABLE_FAILED is one of them here, although
#: `flyte.connectors.utils.is_terminal_phase` does not count it (its local loop would poll forever).
_FINAL = frozenset(
    {TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.ABORTED, TaskExecution.RETRYABLE_FAILED}
)
#: Local runs wait this share of a query's running time between status checks (see `poll_delay`).
POLL_FRACTION = 0.05
#: Seconds an interrupted run waits for its Snowflake query to be cancelled before the process exits.
CANCEL_GRACE = 20.0
#: Seconds an interrupted submission may take to land (so that what it started can be cancelled).
SUBMIT_GRACE = 10.0
#: Seconds a local run keeps following a query while Snowflake cannot be reached, before it gives up.
UNREACHABLE_DEADLINE = 120.0


class SnowflakeTaskFailed(SnowflakeQueryError):
    """A Snowflake task ended in failure; the message carries Snowflake's code, message and query id."""


class Snowflake(TaskTemplate):  # type: ignore[misc,type-arg]
    """A task that runs SQL on Snowflake.

    Example:
        ```python
        from flyteplugins.snowflake import Snowflake, SnowflakeConfig

        top_customers = Snowflake(
            name="top_customers",
            query_template="SELECT name, total FROM customers WHERE region = %(region)s ORDER BY total DESC",
            plugin_config=SnowflakeConfig(account="myorg-myaccount", user="FLYTE", database="SALES",
                                          schema="PUBLIC", warehouse="COMPUTE_WH"),
            inputs={"region": str},
            output_dataframe_type=pd.DataFrame,
            snowflake_private_key="snowflake-private-key",
        )
        ```

    Args:
        name: The task's name.
        query_template: The SQL, sent as written. `%(name)s` marks an input; inputs are bound on the server,
            never pasted into the SQL text; `%%` is a `%`, and any other `%` is kept. Several statements
            separated by `;` run as one request. An empty or comment-only template is refused.
        plugin_config: Where and as whom to run (`SnowflakeConfig`).
        inputs: Input names and their Python types.
        output_dataframe_type: Declares one output, `results`, holding the query's result as this dataframe type.
        secret_group: Optional group of the secrets below; the environment variable read in a local run is
            `{secret_group}_{key}`, upper-cased with `-` turned into `_`.
        snowflake_private_key: Secret key of the private key (key-pair authentication, recommended).
        snowflake_private_key_passphrase: Secret key of the private key's passphrase, if it is encrypted.
        snowflake_password: Secret key of a password.
        snowflake_pat: Secret key of a programmatic access token.
        snowflake_oauth_token: Secret key of an OAuth access token.
        batch: List inputs are columns, bound all at once (array binding) into one `INSERT INTO` statement
            that Snowflake runs as one atomic query. Any other template (UPDATE, DELETE, MERGE, INSERT
            OVERWRITE, several statements) is refused here: load a staging table with a batch INSERT, then
            MERGE from it in a following task.
        **kwargs: Passed to flyte's `TaskTemplate`, e.g. `timeout=` (in a local run the query is cancelled
            and `flyte.errors.MaxRuntimeExceededError` raised when it is exceeded) or `retries=`.
    """

    _TASK_TYPE = TASK_TYPE

    def __init__(
        self,
        name: str,
        query_template: str,
        plugin_config: SnowflakeConfig,
        inputs: dict[str, type] | None = None,
        output_dataframe_type: type | None = None,
        secret_group: str | None = None,
        snowflake_private_key: str | None = None,
        snowflake_private_key_passphrase: str | None = None,
        batch: bool = False,
        *,
        snowflake_password: str | None = None,
        snowflake_pat: str | None = None,
        snowflake_oauth_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(plugin_config, SnowflakeConfig):
            raise TypeError(f"plugin_config must be a SnowflakeConfig, got {type(plugin_config).__name__}")
        check_template(query_template)
        if batch:
            batch_statement(query_template)
        outputs = {"results": output_dataframe_type} if output_dataframe_type is not None else {}
        super().__init__(
            name=name,
            interface=NativeInterface({k: (v, None) for k, v in (inputs or {}).items()}, outputs),
            task_type=self._TASK_TYPE,
            image=None,
            **kwargs,
        )
        self.query_template = query_template
        self.plugin_config = plugin_config
        self.output_dataframe_type = output_dataframe_type
        self.batch = batch
        self.secret_group = secret_group
        self.snowflake_private_key = snowflake_private_key
        self.snowflake_private_key_passphrase = snowflake_private_key_passphrase
        self.snowflake_password = snowflake_password
        self.snowflake_pat = snowflake_pat
        self.snowflake_oauth_token = snowflake_oauth_token

    def secret_refs(self) -> dict[str, str]:
        """Keyword -> secret reference (the name of the secret, never its value) for each secret given."""
        refs = {}
        for keyword in SECRET_KEYWORDS:
            key = getattr(self, keyword, None)
            if key is not None:
                refs[keyword] = self._to_env_var(key)
        return refs

    def _to_env_var(self, key: str) -> str:
        name = f"{self.secret_group}_{key}" if self.secret_group else key
        return name.replace("-", "_").upper()

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        custom = self.plugin_config.to_custom()
        if self.batch:
            custom["batch"] = True
        refs = self.secret_refs()
        if refs:
            custom["secrets"] = refs
        return custom

    def sql(self, sctx: SerializationContext) -> tasks_pb2.Sql:
        return tasks_pb2.Sql(statement=self.query_template, dialect=tasks_pb2.Sql.Dialect.ANSI)

    async def execute(self, **kwargs: Any) -> Any:
        """Run the query in-process through the connector, following it until it ends (local runs)."""
        import flyte.errors
        from flyte._context import internal_ctx

        ctx = internal_ctx()
        tctx = ctx.data.task_context
        if tctx is None:
            raise RuntimeError("Snowflake tasks run inside a Flyte run: use flyte.run(...) or call it from a task")
        connector = _connector(self.task_type, self.task_type_version)
        template = _serialize(self, tctx)
        secrets = read_local_secrets(self.secret_refs())
        tracker = ctx.data.tracker

        def on_links(links: list[tuple[str, str]]) -> None:
            if tracker is not None:
                tracker.record_log_links(action_id=tctx.action.name, log_links=links)

        try:
            with _cancelled_at_exit():
                resource = await run_query(
                    connector,
                    template,
                    inputs=kwargs,
                    secrets=secrets,
                    config=self.plugin_config,
                    name=self.name,
                    output_prefix=ctx.raw_data.path,
                    execution=_execution_metadata(tctx),
                    time_limit=TimeLimit.of(self.timeout),
                    on_links=on_links,
                )
        except SnowflakeTaskFailed as exc:
            # Final in Snowflake (bad SQL, permissions, cancelled): as in a remote run, retrying cannot help.
            raise flyte.errors.NonRecoverableError(str(exc), code=type(exc).__name__) from exc
        if resource.outputs is None:
            return None
        return tuple(resource.outputs.values())


# --- the local execution loop --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeLimit:
    """The task's wall-clock bound in a local run: flyte's `max_runtime` or `deadline`, whichever is shorter."""

    seconds: float
    bound: str  # "max_runtime" or "deadline": which of the task's `flyte.Timeout` fields it came from

    @classmethod
    def of(cls, timeout: Any) -> TimeLimit | None:
        """`None` when the task has no timeout (`None`, `0` and `timedelta(0)` mean unlimited, as in flyte)."""
        if timeout is None:
            return None
        from flyte._timeout import timeout_from_request

        bounds = timeout_from_request(timeout)
        limits = [
            cls(seconds, bound)
            for bound in ("max_runtime", "deadline")
            if (seconds := _seconds(getattr(bounds, bound))) > 0
        ]
        return min(limits, key=lambda limit: limit.seconds, default=None)

    def error(self, name: str, query_id: str) -> Exception:
        import flyte.errors

        kind = (
            flyte.errors.MaxRuntimeExceededError if self.bound == "max_runtime" else flyte.errors.DeadlineExceededError
        )
        where = f"; query {query_id} was cancelled in Snowflake" if query_id else ""
        return kind(f"Snowflake task {name} exceeded its timeout ({self.bound} {self.seconds:g}s){where}")


def _seconds(value: timedelta | int | float | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class _OutOfTime(Exception):
    """The task's time limit passed while following the query (internal: becomes flyte's timeout error)."""


class _Unreachable(Exception):
    """Snowflake could not be reached for `UNREACHABLE_DEADLINE` seconds in a row (internal: the run gives up)."""


@dataclass
class _Progress:
    """One log line per state change, the Snowsight link once, and the final line with rows and elapsed time."""

    name: str
    started: float = field(default_factory=time.monotonic)
    query_id: str = ""
    last: tuple[int, str] | None = None
    linked: bool = False

    def submitted(self, meta: SnowflakeJobMetadata) -> None:
        self.query_id = meta.query_id
        if meta.error is None:
            logger.info("%s: submitted Snowflake query %s", self.name, meta.query_id)

    def update(self, resource: Resource) -> list[tuple[str, str]]:
        """Log what changed; returns the log links the first time there are some."""
        links: list[tuple[str, str]] = []
        if not self.linked and resource.log_links:
            self.linked = True
            links = [(link.name, link.uri) for link in resource.log_links]
            for link_name, uri in links:
                logger.info("%s: %s %s", self.name, link_name, uri)
        state = (int(resource.phase), resource.message or "")
        if state != self.last and resource.phase not in _FINAL:
            self.last = state
            logger.info("%s: %s", self.name, state[1] or TaskExecution.Phase.Name(resource.phase))
        return links

    def finished(self, resource: Resource) -> None:
        elapsed = time.monotonic() - self.started
        info = resource.custom_info or {}
        history = info.get("query_history") or {}
        candidates = (info.get("rows"), history.get("rows_produced"), info.get("rows_produced"))
        rows = next((n for n in candidates if isinstance(n, (int, float))), None)
        counted = f", {int(rows)} rows" if rows is not None else ""
        credits = history.get("credits_estimate")
        if isinstance(credits, (int, float)):
            counted += f", ~{credits:.6f} credits (estimate)"
        logger.info("%s: query %s finished in %.2fs%s", self.name, self.query_id, elapsed, counted)

    def failed(self, message: str) -> None:
        logger.info("%s: failed after %.2fs: %s", self.name, time.monotonic() - self.started, message)


async def run_query(
    connector: AsyncConnector[Any],
    template: tasks_pb2.TaskTemplate,
    *,
    inputs: Mapping[str, Any],
    secrets: Mapping[str, str],
    config: SnowflakeConfig,
    name: str,
    output_prefix: str = "",
    execution: Any = None,
    time_limit: TimeLimit | None = None,
    on_links: Any = None,
) -> Resource:
    """Submit the task's query through `connector`, follow it to the end and return the final `Resource`.

    The query is cancelled in Snowflake (`connector.delete`) when this coroutine is interrupted in any way,
    or when `time_limit` passes. Raises `SnowflakeTaskFailed` when the query fails or is cancelled,
    `SnowflakeTransientError` when the connector reports a retryable failure, and flyte's
    `MaxRuntimeExceededError` / `DeadlineExceededError` when out of time.
    """
    progress = _Progress(name)
    deadline = progress.started + time_limit.seconds if time_limit else None
    submit = asyncio.ensure_future(
        connector.create(
            task_template=template,
            output_prefix=output_prefix,
            inputs=dict(inputs),
            task_execution_metadata=execution,
            **secrets,
        )
    )
    try:
        meta = await asyncio.wait_for(asyncio.shield(submit), _remaining(deadline))
    except BaseException as exc:
        # Interrupted (or out of time) while submitting: once the submission lands, cancel what it started.
        landed = await _landed(submit)
        if landed is not None:
            await _cancel(connector, landed, secrets, name)
        if isinstance(exc, asyncio.TimeoutError) and time_limit is not None:
            raise time_limit.error(name, getattr(landed, "query_id", "")) from None
        raise
    progress.submitted(meta)
    try:
        resource = await follow(
            connector, meta, secrets, config, progress=progress, deadline=deadline, on_links=on_links
        )
    except _OutOfTime:
        await _cancel(connector, meta, secrets, name)
        assert time_limit is not None
        raise time_limit.error(name, meta.query_id) from None
    except _Unreachable as exc:
        await _cancel(connector, meta, secrets, name)  # in case Snowflake answers again by now
        raise SnowflakeTaskFailed(
            f"Snowflake task {name} gave up: Snowflake could not be reached for {UNREACHABLE_DEADLINE:g} s while "
            f"following query {meta.query_id} ({exc}). The query may still be running in Snowflake: find it in "
            "Snowsight or QUERY_HISTORY, and cancel it there if needed "
            f"(SELECT SYSTEM$CANCEL_QUERY('{meta.query_id}'))",
            query_id=meta.query_id or None,
        ) from None
    except BaseException:
        # Ctrl-C, a cancelled asyncio task, anything: the query must not keep running in Snowflake.
        await _cancel(connector, meta, secrets, name)
        raise
    return _outcome(resource, meta, name, progress)


async def follow(
    connector: AsyncConnector[Any],
    meta: SnowflakeJobMetadata,
    secrets: Mapping[str, str],
    config: SnowflakeConfig,
    *,
    progress: _Progress | None = None,
    deadline: float | None = None,
    on_links: Any = None,
) -> Resource:
    """Poll until the query reaches a final phase: quickly at first, then less often; never sleep after the end.

    Raises `_OutOfTime` when `deadline` (a `time.monotonic()` value) passes first, and `_Unreachable` when every
    answer for `UNREACHABLE_DEADLINE` seconds said Snowflake could not be reached. Cancelling is the caller's job.
    """
    progress = progress or _Progress("snowflake")
    unreachable_since: float | None = None
    while True:
        # This loop is the only one asking: wait for the result to be saved rather than poll for it.
        # The closing line's figures (rows, credits) come from the query history: read only when it is shown.
        figures = logger.isEnabledFor(logging.INFO)
        resource: Resource = await connector.get(resource_meta=meta, query_history=figures, finish_wait=None, **secrets)
        links = progress.update(resource)
        if links and on_links is not None:
            on_links(links)
        if resource.phase in _FINAL:
            return resource
        unreachable_since = _unreachable_since(resource, unreachable_since)
        remaining = _remaining(deadline)
        if remaining is not None and remaining <= 0:
            raise _OutOfTime
        interval = poll_delay(time.monotonic() - progress.started, config)
        await asyncio.sleep(interval if remaining is None else min(interval, remaining))


def _unreachable_since(resource: Resource, since: float | None) -> float | None:
    """When the answers began saying Snowflake could not be reached (None: it answered); raises `_Unreachable`
    once that has lasted `UNREACHABLE_DEADLINE` seconds."""
    reason = (resource.custom_info or {}).get("unreachable")
    if not reason:
        return None
    now = time.monotonic()
    if since is not None and now - since >= UNREACHABLE_DEADLINE:
        raise _Unreachable(str(reason))
    return now if since is None else since


def poll_delay(elapsed: float, config: SnowflakeConfig) -> float:
    """Seconds to wait before the next status check of a query that has run `elapsed` seconds.

    A fixed share of the time so far (`POLL_FRACTION`), within `[poll_interval, max_poll_interval]`: a short
    query is seen finishing within tens of milliseconds, a long one is not polled more than needed, and
    the end of any query is noticed at most ~5% (or `max_poll_interval`) late.

    Example:
        >>> [poll_delay(t, SnowflakeConfig("a-b", "DB", "", "WH", "ME")) for t in (0.1, 4.0, 600)]
        [0.05, 0.2, 2.0]
    """
    return min(config.max_poll_interval, max(config.poll_interval, elapsed * POLL_FRACTION))


def _outcome(resource: Resource, meta: SnowflakeJobMetadata, name: str, progress: _Progress) -> Resource:
    if resource.phase == TaskExecution.SUCCEEDED:
        progress.finished(resource)
        return resource
    message = resource.message or TaskExecution.Phase.Name(resource.phase)
    progress.failed(message)
    error = (resource.custom_info or {}).get("error") or meta.error or {}
    errno = int(error["errno"]) if error.get("errno") is not None else None
    sqlstate = str(error["sqlstate"]) if error.get("sqlstate") else None
    query_id = meta.query_id or None
    if resource.phase == TaskExecution.RETRYABLE_FAILED:
        text = f"Snowflake task {name} failed (retryable): {message}"
        raise SnowflakeTransientError(text, errno=errno, sqlstate=sqlstate, query_id=query_id)
    verb = "was cancelled" if resource.phase == TaskExecution.ABORTED else "failed"
    raise SnowflakeTaskFailed(
        f"Snowflake task {name} {verb}: {message}", errno=errno, sqlstate=sqlstate, query_id=query_id
    )


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


async def _landed(submit: asyncio.Future[Any]) -> Any:
    """The submission's result once it finishes (bounded), or None if it failed or takes too long.

    Waits even when interrupted again meanwhile: a second interruption is common (flyte's CLI cancels the run's
    task, then the interpreter's exit hook cancels it again), and what the submission started in Snowflake
    must still be cancelled.
    """
    if not await _outlast_interruptions(submit, SUBMIT_GRACE):
        submit.cancel()
        return None
    if submit.cancelled() or submit.exception() is not None:
        return None
    return submit.result()


async def _outlast_interruptions(job: asyncio.Future[Any], grace: float) -> bool:
    """Wait up to `grace` seconds for `job`, through any number of cancellations of the caller; whether it is done.

    The job is shielded: interrupting the caller never interrupts it.
    """
    deadline = time.monotonic() + grace
    while not job.done() and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(asyncio.shield(job), _remaining(deadline))
        except asyncio.CancelledError:
            continue  # interrupted again (Ctrl-C twice, the interpreter's exit): keep waiting for the job
        except Exception:
            break  # the grace passed, or the job failed (the caller reads its exception)
    return job.done()


async def _cancel(connector: AsyncConnector[Any], meta: Any, secrets: Mapping[str, str], name: str) -> None:
    """Cancel the query and wait for Snowflake to acknowledge it, even if we are cancelled again meanwhile."""
    query_id = getattr(meta, "query_id", "")
    if not query_id or getattr(meta, "error", None) is not None:
        return
    logger.warning("%s: cancelling Snowflake query %s", name, query_id)
    job = asyncio.ensure_future(connector.delete(resource_meta=meta, **secrets))
    # A second interruption (Ctrl-C twice, the interpreter's exit) must not stop the cancel reaching Snowflake.
    if not await _outlast_interruptions(job, CANCEL_GRACE):
        job.cancel()
        logger.error("%s: Snowflake did not confirm the cancel of query %s in time", name, query_id)
    elif job.cancelled() or job.exception() is not None:
        # The original interruption matters more than a failed cancel: report it, do not replace it.
        failure = "cancelled" if job.cancelled() else job.exception()
        logger.error("%s: could not cancel Snowflake query %s: %s", name, query_id, failure)
    else:
        logger.warning("%s: Snowflake query %s cancelled", name, query_id)


# --- cancel on Ctrl-C in a synchronous `flyte.run(...)` ----------------------------------------------------------
#
# `flyte.run(...)` waits in the main thread while the task runs on a background event loop. Ctrl-C raises
# KeyboardInterrupt in the main thread only; the task's coroutine never hears of it and the interpreter would
# exit with the query still running. So every running Snowflake task is registered here, and when the
# interpreter shuts down its task is cancelled (which cancels the query) and awaited, for at most
# SUBMIT_GRACE + CANCEL_GRACE seconds. The hook runs before concurrent.futures joins its threads, so the connector's
# thread pool still accepts the cancel.


@dataclass(eq=False)
class _Running:
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[Any]
    done: threading.Event = field(default_factory=threading.Event)


_running: set[_Running] = set()
_running_lock = threading.Lock()
_exit_hook_installed = False


@contextmanager
def _cancelled_at_exit() -> Iterator[None]:
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - execute always runs in a task
        yield
        return
    entry = _Running(asyncio.get_running_loop(), task)
    with _running_lock:
        _install_exit_hook()
        _running.add(entry)
    try:
        yield
    finally:
        with _running_lock:
            _running.discard(entry)
        entry.done.set()


def _install_exit_hook() -> None:
    global _exit_hook_installed
    if _exit_hook_installed:
        return
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(_cancel_running_at_exit)
        else:  # pragma: no cover - every supported Python has it
            import atexit

            atexit.register(_cancel_running_at_exit)
    except RuntimeError:  # the interpreter is already shutting down
        return
    _exit_hook_installed = True


def _cancel_running_at_exit() -> None:
    with _running_lock:
        entries = [e for e in _running if not e.done.is_set()]
    if not entries:
        return
    for entry in entries:
        if entry.loop.is_closed():
            continue
        try:
            entry.loop.call_soon_threadsafe(entry.task.cancel)
        except RuntimeError:  # the loop closed meanwhile
            continue
    # An interrupted submission may first take SUBMIT_GRACE to land, then its cancel CANCEL_GRACE.
    deadline = time.monotonic() + SUBMIT_GRACE + CANCEL_GRACE
    for entry in entries:
        entry.done.wait(max(0.0, deadline - time.monotonic()))


# --- helpers ---------------------------------------------------------------------------------------------------


def read_local_secrets(refs: Mapping[str, str]) -> dict[str, str]:
    """In a local run, each secret reference names an environment variable."""
    values = {}
    for keyword, env_var in refs.items():
        value = os.environ.get(env_var)
        if value is None:
            raise MissingSecretError(
                f"secret {keyword} is read from the environment variable {env_var} in a local run, "
                f"and {env_var} is not set: export it (or change the task's {keyword}= / secret_group=)"
            )
        values[keyword] = value
    return values


def _connector(task_type: str, version: int) -> AsyncConnector[Any]:
    """The registered connector; importing `connector` registers ours (kept out of `import flyteplugins.snowflake`)."""
    from flyte.connectors import ConnectorRegistry

    from . import connector as _registers_connector  # noqa: F401
    from .dataframe import register_handlers

    register_handlers()
    found: AsyncConnector[Any] = ConnectorRegistry.get_connector(task_type, version)
    return found


def _serialize(task: Snowflake, tctx: Any) -> tasks_pb2.TaskTemplate:
    from flyte._initialize import get_init_config
    from flyte._internal.runtime.task_serde import get_proto_task

    sctx = SerializationContext(
        project=tctx.action.project,
        domain=tctx.action.domain,
        org=tctx.action.org,
        code_bundle=tctx.code_bundle,
        version=tctx.version,
        image_cache=tctx.compiled_image_cache,
        root_dir=get_init_config().root_dir,
    )
    template: tasks_pb2.TaskTemplate = get_proto_task(task, sctx, tctx)
    return template


def _execution_metadata(tctx: Any) -> Any:
    """Who runs this query, for the QUERY_TAG, in the shape the backend sends it."""
    from flyteidl2.connector.connector_pb2 import TaskExecutionMetadata
    from flyteidl2.core import identifier_pb2

    action = tctx.action
    run = identifier_pb2.WorkflowExecutionIdentifier(
        project=action.project or "", domain=action.domain or "", name=action.run_name or "", org=action.org or ""
    )
    node = identifier_pb2.NodeExecutionIdentifier(node_id=action.name or "", execution_id=run)
    return TaskExecutionMetadata(
        task_execution_id=identifier_pb2.TaskExecutionIdentifier(
            node_execution_id=node, retry_attempt=int(getattr(tctx, "attempt_number", 0) or 0)
        )
    )
