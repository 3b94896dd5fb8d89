"""Shared helpers for the local Snowflake's integration tests: real driver connections, closed after each test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import snowflake.connector
from snowflake.connector import SnowflakeConnection
from snowflake.connector.constants import QueryStatus
from snowflake.connector.errors import ProgrammingError

from flyteplugins.snowflake.local import LocalSnowflake


def no_backoff() -> Iterator[int]:
    """Retry at once: the driver's default backoff sleeps 1-16 s between retries of a 429/503."""
    while True:
        yield 0


Connect = Callable[..., SnowflakeConnection]


@pytest.fixture
def sf(local_snowflake_fresh: LocalSnowflake) -> LocalSnowflake:
    return local_snowflake_fresh


@pytest.fixture
def connect(sf: LocalSnowflake) -> Iterator[Connect]:
    """Open real driver connections to the local Snowflake; all are closed after the test."""
    opened: list[SnowflakeConnection] = []

    def _connect(**overrides: Any) -> SnowflakeConnection:
        kwargs = sf.connect_kwargs(**{"backoff_policy": no_backoff, **overrides})
        conn = snowflake.connector.connect(**kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


@pytest.fixture
def wait_done() -> Callable[..., list[QueryStatus]]:
    """`wait_done(conn, query_id)` polls until the query ends and returns the distinct statuses seen, in order."""
    return _wait_until_done


def _wait_until_done(conn: SnowflakeConnection, query_id: str, timeout_s: float = 10.0) -> list[QueryStatus]:
    """Poll until the query leaves the running states; returns every distinct status seen, in order."""
    seen: list[QueryStatus] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = conn.get_query_status(query_id)
        if not seen or seen[-1] != status:
            seen.append(status)
        if not conn.is_still_running(status):
            return seen
        time.sleep(0.01)
    raise AssertionError(f"query {query_id} still running after {timeout_s}s: {seen}")


@pytest.fixture
def assert_cancelled() -> Callable[[SnowflakeConnection, str], None]:
    """`assert_cancelled(conn, query_id)` waits for the query to end and checks that it reads as Snowflake reports
    a cancelled query: status FAILED_WITH_ERROR, error 604 "SQL execution canceled"."""
    return _assert_cancelled


def _assert_cancelled(conn: SnowflakeConnection, query_id: str) -> None:
    assert _wait_until_done(conn, query_id)[-1] == QueryStatus.FAILED_WITH_ERROR
    with pytest.raises(ProgrammingError) as info:
        conn.get_query_status_throw_if_error(query_id)
    assert info.value.errno == 604, info.value
    assert "SQL execution canceled" in str(info.value.msg)
