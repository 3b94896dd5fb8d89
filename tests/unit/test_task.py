"""The Snowflake task's own loop: polling schedule, final phases, time limit, cancel on any interruption.

The connector is replaced by a scripted fake (our own seam) for what the local Snowflake cannot produce on
demand — a retryable failure, an interruption in the middle of a submit; tests/e2e runs the real thing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import threading
import time
from collections.abc import Sequence
from typing import Any

import flyte
import flyte.errors
import pytest
from flyte.connectors import Resource
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake import Snowflake, SnowflakeConfig, SnowflakeJobMetadata
from flyteplugins.snowflake import task as task_module
from flyteplugins.snowflake.errors import MissingSecretError, SnowflakeConfigError, SnowflakeTransientError
from flyteplugins.snowflake.task import (
    SnowflakeTaskFailed,
    TimeLimit,
    follow,
    poll_delay,
    read_local_secrets,
    run_query,
)

CONFIG = SnowflakeConfig("myorg-acct", "DB", "", "WH", "ME", poll_interval=0.01, max_poll_interval=0.05)


def _meta(query_id: str = "01b2-query", error: dict[str, Any] | None = None) -> SnowflakeJobMetadata:
    return SnowflakeJobMetadata(
        account="myorg-acct",
        user="ME",
        database="DB",
        schema="PUBLIC",
        warehouse="WH",
        query_id=query_id,
        has_output=False,
        error=error,
    )


class ScriptedConnector:
    """Answers `get` from a script of phases (the last one repeats); records every call."""

    def __init__(
        self,
        phases: Sequence[int],
        *,
        create_delay: float = 0.0,
        custom_info: dict[str, Any] | None = None,
        meta: SnowflakeJobMetadata | None = None,
    ) -> None:
        self.phases = list(phases)
        self.create_delay = create_delay
        self.custom_info = custom_info
        self.meta = meta or _meta()
        self.calls: list[str] = []
        self.get_times: list[float] = []

    async def create(self, **kwargs: Any) -> SnowflakeJobMetadata:
        self.calls.append("create")
        await asyncio.sleep(self.create_delay)
        self.calls.append("created")
        return self.meta

    async def get(self, resource_meta: SnowflakeJobMetadata, **secrets: Any) -> Resource:
        self.calls.append("get")
        self.get_times.append(time.monotonic())
        phase = self.phases.pop(0) if len(self.phases) > 1 else self.phases[0]
        message = f"phase {TaskExecution.Phase.Name(phase)}"
        return Resource(phase=phase, message=message, custom_info=self.custom_info)

    async def delete(self, resource_meta: SnowflakeJobMetadata, **secrets: Any) -> None:
        self.calls.append("delete")


async def _run(connector: ScriptedConnector, time_limit: TimeLimit | None = None) -> Resource:
    return await run_query(
        connector,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        inputs={},
        secrets={"snowflake_password": "x"},
        config=CONFIG,
        name="t",
        time_limit=time_limit,
    )


RUNNING, SUCCEEDED = TaskExecution.RUNNING, TaskExecution.SUCCEEDED


# --- polling ------------------------------------------------------------------------------------------------


def test_poll_delay_starts_at_poll_interval_and_grows_with_the_query_to_the_cap() -> None:
    config = SnowflakeConfig("a-b", "DB", "", "WH", "ME", poll_interval=0.05, max_poll_interval=2.0)
    assert poll_delay(0.0, config) == 0.05
    assert poll_delay(4.0, config) == pytest.approx(0.2)  # a 4 s query is seen ending at most ~0.2 s late
    assert poll_delay(3600, config) == 2.0


async def test_no_sleep_after_the_final_state() -> None:
    slow = SnowflakeConfig("a-b", "DB", "", "WH", "ME", poll_interval=5.0, max_poll_interval=5.0)
    connector = ScriptedConnector([SUCCEEDED])
    started = time.monotonic()
    resource = await follow(connector, _meta(), {}, slow)  # type: ignore[arg-type]
    assert resource.phase == SUCCEEDED
    assert time.monotonic() - started < 1.0
    assert connector.calls == ["get"]


async def test_first_checks_come_within_tens_of_milliseconds() -> None:
    connector = ScriptedConnector([RUNNING, RUNNING, RUNNING, SUCCEEDED])
    started = time.monotonic()
    await _run(connector)
    assert len(connector.get_times) == 4
    assert connector.get_times[-1] - started < 0.5


@pytest.mark.parametrize(
    "waiting", [TaskExecution.QUEUED, TaskExecution.WAITING_FOR_RESOURCES, TaskExecution.INITIALIZING]
)
async def test_waiting_phases_are_followed_not_failed(waiting: int) -> None:
    connector = ScriptedConnector([waiting, waiting, RUNNING, SUCCEEDED])
    assert (await _run(connector)).phase == SUCCEEDED


# --- final phases -------------------------------------------------------------------------------------------


async def test_retryable_failure_ends_the_loop_and_raises_a_retryable_error() -> None:
    # flyte's is_terminal_phase ignores RETRYABLE_FAILED: a loop built on it would poll forever.
    connector = ScriptedConnector([RUNNING, TaskExecution.RETRYABLE_FAILED])
    with pytest.raises(SnowflakeTransientError, match="retryable"):
        await asyncio.wait_for(_run(connector), 5)
    assert "delete" not in connector.calls


async def test_failure_carries_snowflakes_code_and_query_id() -> None:
    error = {"errno": 2003, "sqlstate": "42S02", "message": "Object 'X' does not exist"}
    connector = ScriptedConnector([TaskExecution.FAILED], custom_info={"error": error})
    with pytest.raises(SnowflakeTaskFailed) as raised:
        await _run(connector)
    assert (raised.value.errno, raised.value.sqlstate, raised.value.query_id) == (2003, "42S02", "01b2-query")
    assert "failed" in str(raised.value)


async def test_rejected_submission_fails_with_the_recorded_error() -> None:
    meta = _meta(query_id="", error={"errno": 1003, "sqlstate": "42000", "message": "syntax error"})
    connector = ScriptedConnector([TaskExecution.FAILED], meta=meta)
    with pytest.raises(SnowflakeTaskFailed) as raised:
        await _run(connector)
    assert raised.value.errno == 1003 and raised.value.query_id is None
    assert "delete" not in connector.calls


async def test_aborted_query_fails_the_task() -> None:
    connector = ScriptedConnector([RUNNING, TaskExecution.ABORTED])
    with pytest.raises(SnowflakeTaskFailed, match="was cancelled"):
        await _run(connector)


UNREACHABLE = {"query_id": "01b2-query", "unreachable": "503 Service Unavailable"}


async def test_a_local_run_gives_up_when_snowflake_stays_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_module, "UNREACHABLE_DEADLINE", 0.3)
    connector = ScriptedConnector([RUNNING], custom_info=UNREACHABLE)
    started = time.monotonic()
    with pytest.raises(SnowflakeTaskFailed) as raised:
        await asyncio.wait_for(_run(connector), 5)
    assert 0.3 <= time.monotonic() - started < 2
    message = str(raised.value)
    assert "could not be reached for 0.3 s" in message and "503 Service Unavailable" in message
    assert "SYSTEM$CANCEL_QUERY('01b2-query')" in message and raised.value.query_id == "01b2-query"
    assert connector.calls[-1] == "delete"  # tried, in case Snowflake answers again


async def test_an_answer_from_snowflake_restarts_the_unreachable_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_module, "UNREACHABLE_DEADLINE", 0.5)

    class Blinking(ScriptedConnector):
        async def get(self, resource_meta: SnowflakeJobMetadata, **secrets: Any) -> Resource:
            answer = await super().get(resource_meta, **secrets)
            started = self.get_times[0]
            if self.get_times[-1] - started > 1.5:
                return Resource(phase=SUCCEEDED, message="done")
            # two answers of "unreachable" (tens of milliseconds), then one from Snowflake; for three deadlines
            self.custom_info = None if len(self.get_times) % 3 == 0 else UNREACHABLE
            return answer

    connector = Blinking([RUNNING])
    assert (await asyncio.wait_for(_run(connector), 10)).phase == SUCCEEDED


# --- cancel on interruption ---------------------------------------------------------------------------------


async def test_cancelling_the_run_cancels_the_query_once() -> None:
    connector = ScriptedConnector([RUNNING])
    run = asyncio.ensure_future(_run(connector))
    while "get" not in connector.calls:
        await asyncio.sleep(0.01)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert connector.calls.count("delete") == 1
    assert connector.calls[-1] == "delete"


async def test_interrupted_submit_is_cancelled_once_it_lands() -> None:
    connector = ScriptedConnector([RUNNING], create_delay=0.2)
    run = asyncio.ensure_future(_run(connector))
    await asyncio.sleep(0.05)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert connector.calls == ["create", "created", "delete"]


async def test_a_second_interruption_while_the_submit_lands_still_cancels_what_it_started() -> None:
    # `flyte run --local`: Ctrl-C cancels the run's task, then the interpreter's exit hook cancels it again.
    connector = ScriptedConnector([RUNNING], create_delay=0.3)
    run = asyncio.ensure_future(_run(connector))
    await asyncio.sleep(0.05)
    run.cancel()
    await asyncio.sleep(0.05)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert connector.calls == ["create", "created", "delete"]


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
async def test_any_exception_while_following_cancels_the_query(interruption: type[BaseException]) -> None:
    class Exploding(ScriptedConnector):
        async def get(self, resource_meta: SnowflakeJobMetadata, **secrets: Any) -> Resource:
            if self.calls.count("get") == 2:
                raise interruption()
            return await super().get(resource_meta, **secrets)

    connector = Exploding([RUNNING])
    with pytest.raises(interruption):
        await _run(connector)
    assert connector.calls[-1] == "delete"


async def test_a_second_cancel_does_not_stop_the_first_from_reaching_snowflake() -> None:
    class SlowDelete(ScriptedConnector):
        async def delete(self, resource_meta: SnowflakeJobMetadata, **secrets: Any) -> None:
            await asyncio.sleep(0.2)
            await super().delete(resource_meta, **secrets)

    connector = SlowDelete([RUNNING])
    run = asyncio.ensure_future(_run(connector))
    while "get" not in connector.calls:
        await asyncio.sleep(0.01)
    run.cancel()
    await asyncio.sleep(0.05)
    run.cancel()  # Ctrl-C twice
    with pytest.raises(asyncio.CancelledError):
        await run
    assert connector.calls[-1] == "delete"


async def test_time_limit_cancels_the_query_and_raises_flytes_timeout() -> None:
    connector = ScriptedConnector([RUNNING])
    started = time.monotonic()
    with pytest.raises(flyte.errors.MaxRuntimeExceededError, match="01b2-query was cancelled"):
        await _run(connector, TimeLimit(0.3, "max_runtime"))
    assert 0.3 <= time.monotonic() - started < 2
    assert connector.calls[-1] == "delete"


async def test_time_limit_during_a_slow_submit() -> None:
    connector = ScriptedConnector([RUNNING], create_delay=0.5)
    with pytest.raises(flyte.errors.DeadlineExceededError):
        await _run(connector, TimeLimit(0.1, "deadline"))
    assert connector.calls == ["create", "created", "delete"]


def test_interpreter_exit_cancels_a_run_on_another_thread() -> None:
    """Ctrl-C in a synchronous flyte.run: the main thread exits while the task runs on flyte's loop thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    connector = ScriptedConnector([RUNNING])

    async def task_body() -> None:
        with task_module._cancelled_at_exit():
            await _run(connector)

    future = asyncio.run_coroutine_threadsafe(task_body(), loop)
    try:
        while "get" not in connector.calls:
            time.sleep(0.01)
        task_module._cancel_running_at_exit()  # what the interpreter runs on its way out
        assert connector.calls[-1] == "delete"  # done by the time the hook returns
        with pytest.raises(concurrent.futures.CancelledError):
            future.result(timeout=5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


# --- time limits --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 0, datetime.timedelta(0), flyte.Timeout()])
def test_no_time_limit(timeout: Any) -> None:
    assert TimeLimit.of(timeout) is None


def test_time_limit_from_flytes_timeout_forms() -> None:
    assert TimeLimit.of(30) == TimeLimit(30.0, "max_runtime")
    assert TimeLimit.of(datetime.timedelta(minutes=2)) == TimeLimit(120.0, "max_runtime")
    both = flyte.Timeout(max_runtime=datetime.timedelta(seconds=90), deadline=datetime.timedelta(seconds=60))
    assert TimeLimit.of(both) == TimeLimit(60.0, "deadline")
    # max_queued_time bounds the wait for a pod; a local run has none
    assert TimeLimit.of(flyte.Timeout(max_queued_time=5)) is None


# --- the task itself ----------------------------------------------------------------------------------------


def test_task_names_its_secrets_never_their_values() -> None:
    task = Snowflake(
        name="t",
        query_template="SELECT 1",
        plugin_config=CONFIG,
        secret_group="team-a",
        snowflake_private_key="sf-key",
        snowflake_password="pw",
    )
    assert task.secret_refs() == {"snowflake_private_key": "TEAM_A_SF_KEY", "snowflake_password": "TEAM_A_PW"}
    custom = task.custom_config(None)  # type: ignore[arg-type]
    assert custom["secrets"] == task.secret_refs()
    assert custom["poll_interval"] == 0.01


def test_sql_is_sent_as_written() -> None:
    sql = "SELECT 'a  b' -- keep\n  , 2 FROM t WHERE x = %(x)s"
    task = Snowflake(name="t", query_template=sql, plugin_config=CONFIG, inputs={"x": int})
    assert task.sql(None).statement == sql  # type: ignore[arg-type]
    assert task.task_type == "snowflake"


@pytest.mark.parametrize(
    ("sql", "batch", "pattern"),
    [
        ("", False, "query_template is empty"),
        ("  -- nothing to run\n/* really */", False, "query_template is only comments"),
        ("SELECT %(x y)s", False, "malformed placeholder"),
        ("UPDATE t SET v = %(v)s WHERE id = %(id)s", True, "starts with UPDATE, not INSERT INTO"),
        ("INSERT INTO t VALUES (%(v)s); SELECT 1", True, "has 2 statements"),
    ],
)
def test_templates_that_cannot_run_as_asked_are_refused_when_defined(sql: str, batch: bool, pattern: str) -> None:
    with pytest.raises(SnowflakeConfigError, match=pattern):
        Snowflake(name="t", query_template=sql, plugin_config=CONFIG, inputs={"v": list[int]}, batch=batch)


def test_plugin_config_must_be_a_snowflake_config() -> None:
    with pytest.raises(TypeError, match="SnowflakeConfig"):
        Snowflake(name="t", query_template="SELECT 1", plugin_config={"account": "x"})  # type: ignore[arg-type]


def test_missing_local_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SF_KEY_NOT_SET", raising=False)
    with pytest.raises(MissingSecretError, match="SF_KEY_NOT_SET is not set"):
        read_local_secrets({"snowflake_private_key": "SF_KEY_NOT_SET"})
    monkeypatch.setenv("SF_KEY_NOT_SET", "pem")
    assert read_local_secrets({"snowflake_private_key": "SF_KEY_NOT_SET"}) == {"snowflake_private_key": "pem"}
