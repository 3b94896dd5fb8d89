"""The connector's use of pooled sessions, with a fake driver: status checks share one session, SQL does not,
expired and flaky sessions, a slow query-history look-up that must not hold GetTask, and how a cancelled query
reads whichever of Snowflake's two answers (ABORTED, or FAILED_WITH_ERROR with error 604) comes back."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake import _client, _observe
from flyteplugins.snowflake import connector as connector_module
from flyteplugins.snowflake._client import QueryState
from flyteplugins.snowflake._pool import Pool
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.connector import SnowflakeConnector, _keeps_session
from flyteplugins.snowflake.errors import SnowflakeTransientError
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

SECRETS = {"snowflake_password": "pw"}


class FakeSession:
    def __init__(self) -> None:
        self.closed = False
        self.expired = False

    def close(self) -> None:
        self.closed = True

    def is_closed(self) -> bool:
        return self.closed


class FakeDriver:
    """Stands in for `_client.login` and `_client.poll`; counts logins and concurrent polls per session."""

    def __init__(self, status: str = "RUNNING", poll_seconds: float = 0.02) -> None:
        self.status = status
        self.errno: int | None = None
        self.message: str | None = None
        self.cancelled: list[str] = []
        self.poll_seconds = poll_seconds
        self.logins = 0
        self.sessions: list[FakeSession] = []
        self.in_flight: dict[int, int] = {}
        self.peak = 0
        self.fail_next: list[BaseException] = []
        self._lock = threading.Lock()

    def login(self, kwargs: Any) -> FakeSession:
        with self._lock:
            self.logins += 1
            session = FakeSession()
            self.sessions.append(session)
            return session

    def poll(self, conn: FakeSession, query_id: str, timeout: float = 5) -> QueryState:
        with self._lock:
            if conn.expired:
                raise SnowflakeTransientError("Session no longer exists", errno=390112)
            if self.fail_next:
                raise self.fail_next.pop(0)
            self.in_flight[id(conn)] = self.in_flight.get(id(conn), 0) + 1
            self.peak = max(self.peak, self.in_flight[id(conn)])
        time.sleep(self.poll_seconds)
        with self._lock:
            self.in_flight[id(conn)] -= 1
        return QueryState(self.status, errno=self.errno, message=self.message)

    def cancel(self, conn: FakeSession, query_id: str) -> None:
        self.cancelled.append(query_id)


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> FakeDriver:
    fake = FakeDriver()
    monkeypatch.setattr(_client, "login", fake.login)
    monkeypatch.setattr(_client, "poll", fake.poll)
    monkeypatch.setattr(_client, "cancel", fake.cancel)
    return fake


@pytest.fixture
async def connector():
    c = SnowflakeConnector(pool=Pool(max_per_key=8, keeps_session=_keeps_session))
    yield c
    await c.pool.close()


def _meta() -> SnowflakeJobMetadata:
    config = SnowflakeConfig("myorg-acct", "DB", "", "WH", "ME")
    return SnowflakeJobMetadata(
        account=config.account,
        user=config.user,
        database=config.database,
        schema=config.schema,
        warehouse=config.warehouse,
        query_id=str(uuid.uuid4()),
        has_output=False,
        config=config.to_custom(),
        submitted_at=time.time(),
    )


async def test_status_checks_of_many_queries_share_one_session(
    connector: SnowflakeConnector, driver: FakeDriver
) -> None:
    metas = [_meta() for _ in range(40)]
    resources = await asyncio.gather(*(connector.get(m, **SECRETS) for m in metas))
    assert all(r.phase == TaskExecution.RUNNING for r in resources)
    assert driver.logins == 1
    assert driver.peak > 1  # concurrent requests on the one session
    assert connector.pool.size() == 1


async def test_an_expired_shared_session_is_replaced_with_one_login(
    connector: SnowflakeConnector, driver: FakeDriver
) -> None:
    metas = [_meta() for _ in range(20)]
    await asyncio.gather(*(connector.get(m, **SECRETS) for m in metas))
    driver.sessions[0].expired = True  # Snowflake forgot it
    resources = await asyncio.gather(*(connector.get(m, **SECRETS) for m in metas))
    assert all(r.phase == TaskExecution.RUNNING for r in resources)
    assert driver.logins == 2  # the checks that failed together waited for one fresh login
    assert connector.pool.size() == 1
    await asyncio.sleep(0.05)
    assert driver.sessions[0].closed


async def test_a_network_fault_on_a_shared_session_keeps_it(connector: SnowflakeConnector, driver: FakeDriver) -> None:
    meta = _meta()
    await connector.get(meta, **SECRETS)
    driver.fail_next = [SnowflakeTransientError("503 Service Unavailable", errno=250003)]
    resource = await connector.get(meta, **SECRETS)
    assert resource.phase == TaskExecution.RUNNING and "checking again" in resource.message
    assert "could not be reached" in resource.message and "503" in resource.custom_info["unreachable"]
    assert (await connector.get(meta, **SECRETS)).phase == TaskExecution.RUNNING
    assert driver.logins == 1 and connector.pool.stats.discarded == 0


async def test_a_slow_history_look_up_does_not_hold_get(
    connector: SnowflakeConnector, driver: FakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver.status = "SUCCESS"
    release = threading.Event()

    def slow_history(conn: Any, metas: Sequence[SnowflakeJobMetadata], *, user: str | None) -> dict[str, Any]:
        release.wait(5)  # the history SQL queued behind a busy warehouse
        return {}

    monkeypatch.setattr(_observe, "read_histories", slow_history)
    monkeypatch.setattr(_observe, "FIGURES_WAIT_S", 0.1)
    started = time.monotonic()
    resource = await connector.get(_meta(), finish_wait=1.0, **SECRETS)
    assert time.monotonic() - started < 2
    assert resource.phase == TaskExecution.SUCCEEDED
    assert resource.custom_info["query_history_unavailable"] == _observe.FIGURES_LATE
    assert connector._figures.running() == 1  # the look-up still holds its place...
    release.set()
    for _ in range(100):
        if connector._figures.running() == 0:
            break
        await asyncio.sleep(0.02)
    assert connector._figures.running() == 0  # ...until it ends, on its own


async def test_a_check_whose_figures_must_wait_for_a_look_up_answers_at_once(
    connector: SnowflakeConnector, driver: FakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver.status = "SUCCESS"
    release = threading.Event()
    asked: list[list[str]] = []

    def slow_history(conn: Any, metas: Sequence[SnowflakeJobMetadata], *, user: str | None) -> dict[str, Any]:
        asked.append([m.query_id for m in metas])
        release.wait(5)
        return {}

    monkeypatch.setattr(_observe, "read_histories", slow_history)
    first, second = _meta(), _meta()
    answer = await connector.get(first, finish_wait=0.05, **SECRETS)  # its look-up runs, and holds on
    assert answer.phase == TaskExecution.RUNNING and answer.message.endswith("saving its result")
    started = time.monotonic()
    answer = await connector.get(second, finish_wait=2.0, **SECRETS)
    assert time.monotonic() - started < 1.0, "the check waited for figures queued behind another look-up"
    assert answer.phase == TaskExecution.RUNNING and answer.message.endswith("saving its result")
    release.set()
    for _ in range(100):
        answer = await connector.get(second, finish_wait=0.05, **SECRETS)
        if answer.phase != TaskExecution.RUNNING:
            break
        await asyncio.sleep(0.05)
    assert answer.phase == TaskExecution.SUCCEEDED, answer.message
    assert [first.query_id] in asked and [second.query_id] in asked  # its own look-up, after the first one


#: Snowflake's two ways of reporting a cancelled query: (status, errno, message).
CANCELLED_ANSWERS = [("FAILED_WITH_ERROR", 604, "SQL execution canceled"), ("ABORTED", None, None)]


@pytest.mark.parametrize(("status", "errno", "message"), CANCELLED_ANSWERS)
async def test_a_query_this_connector_cancelled_reads_aborted(
    connector: SnowflakeConnector, driver: FakeDriver, status: str, errno: int | None, message: str | None
) -> None:
    meta = _meta()
    await connector.delete(meta, **SECRETS)
    assert driver.cancelled == [meta.query_id]
    driver.status, driver.errno, driver.message = status, errno, message
    answer = await connector.get(meta, **SECRETS)
    assert answer.phase == TaskExecution.ABORTED, answer.message
    assert f"Query {meta.query_id} was cancelled as the task's abort asked" in answer.message


@pytest.mark.parametrize(("status", "errno", "message"), CANCELLED_ANSWERS)
async def test_a_cancel_this_connector_did_not_ask_for_fails_the_task_saying_so(
    connector: SnowflakeConnector, driver: FakeDriver, status: str, errno: int | None, message: str | None
) -> None:
    driver.status, driver.errno, driver.message = status, errno, message
    meta = _meta()
    answer = await connector.get(meta, **SECRETS)
    assert answer.phase == TaskExecution.FAILED, answer.message
    assert f"Query {meta.query_id} was cancelled in Snowflake, and not by this task" in answer.message
    assert "SYSTEM$CANCEL_QUERY" in answer.message
    assert driver.cancelled == []


async def test_a_query_that_did_not_succeed_is_answered_without_waiting_for_its_figures(
    connector: SnowflakeConnector, driver: FakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver.status, driver.errno, driver.message = "FAILED_WITH_ERROR", 2003, "Object 'T' does not exist"
    release = threading.Event()

    def slow_history(conn: Any, metas: Sequence[SnowflakeJobMetadata], *, user: str | None) -> dict[str, Any]:
        release.wait(5)
        return {}

    monkeypatch.setattr(_observe, "read_histories", slow_history)
    try:
        answer = await connector.get(_meta(), finish_wait=0.05, **SECRETS)
    finally:
        release.set()
    assert answer.phase == TaskExecution.FAILED and "Snowflake error 2003" in answer.message
    assert "saving its result" not in answer.message
    assert answer.custom_info["query_history_unavailable"] == connector_module.FIGURES_NOT_WAITED
