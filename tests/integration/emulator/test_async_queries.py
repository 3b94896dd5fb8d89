"""1 + 10: asynchronous queries go NO_DATA/RUNNING -> SUCCESS / FAILED_WITH_ERROR and are read from any connection."""

from __future__ import annotations

import time
from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def test_execute_async_returns_at_once_and_runs_to_success(sf: Any, connect: Any, wait_done: Any) -> None:
    sf.configure(min_query_ms=300)
    conn = connect()
    cur = conn.cursor()
    started = time.monotonic()
    cur.execute_async("select 42 as answer")
    assert time.monotonic() - started < 0.25, "execute_async must not wait for the query"
    query_id = cur.sfqid
    assert conn.get_query_status(query_id) in (QueryStatus.NO_DATA, QueryStatus.RUNNING)
    seen = wait_done(conn, query_id)
    assert seen[-1] == QueryStatus.SUCCESS
    assert QueryStatus.RUNNING in seen
    assert time.monotonic() - started >= 0.3
    cur.get_results_from_sfqid(query_id)
    assert cur.fetchall() == [(42,)]


def test_results_attach_from_another_connection(connect: Any, wait_done: Any) -> None:
    first, second = connect(), connect()
    cur = first.cursor()
    cur.execute_async("select 'from the first connection' as origin")
    query_id = cur.sfqid
    other = second.cursor()
    other.get_results_from_sfqid(query_id)
    assert other.fetchall() == [("from the first connection",)]
    assert second.get_query_status(query_id) == QueryStatus.SUCCESS


def test_a_status_poll_does_not_wait_for_a_running_query(sf: Any, connect: Any) -> None:
    sf.configure(min_query_ms=3000)
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    # Right after the submit the query may still show NO_DATA, as on Snowflake: time the polls once it runs.
    deadline = time.monotonic() + 2.0
    while conn.get_query_status(cur.sfqid) != QueryStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.005)
    started = time.monotonic()
    for _ in range(5):
        assert conn.get_query_status(cur.sfqid) == QueryStatus.RUNNING
    assert time.monotonic() - started < 1.0


def test_a_failing_async_query_shows_failed_with_error_when_polled(connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select * from no_such_table")  # must not raise at submit
    query_id = cur.sfqid
    assert wait_done(conn, query_id)[-1] == QueryStatus.FAILED_WITH_ERROR
    with pytest.raises(ProgrammingError) as info:
        conn.get_query_status_throw_if_error(query_id)
    assert info.value.errno == 2003
    assert "NO_SUCH_TABLE" in info.value.msg.upper()


def test_async_query_rows_are_written_for_later_reads(connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute("create or replace table async_target (n int)")
    cur.execute_async("insert into async_target select * from range(5)")
    assert wait_done(conn, cur.sfqid)[-1] == QueryStatus.SUCCESS
    assert cur.execute("select count(*) from async_target").fetchone() == (5,)


def test_an_async_query_sees_the_sessions_temporary_tables(connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute("create or replace temporary table session_rows (n int)")
    cur.execute("insert into session_rows values (1), (2)")
    cur.execute_async("select n from session_rows order by n")
    query_id = cur.sfqid
    assert wait_done(conn, query_id)[-1] == QueryStatus.SUCCESS
    cur.get_results_from_sfqid(query_id)
    assert cur.fetchall() == [(1,), (2,)]
    cur.execute("drop table session_rows")
    cur.execute_async("select count(*) from session_rows")  # dropped: the async query no longer finds it
    assert wait_done(conn, cur.sfqid)[-1] == QueryStatus.FAILED_WITH_ERROR
    with pytest.raises(ProgrammingError) as raised:
        conn.get_query_status_throw_if_error(cur.sfqid)
    assert raised.value.errno == 2003


def test_a_temporary_table_query_waiting_for_its_session_is_cancelled_at_once(
    connect: Any, assert_cancelled: Any
) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute("create or replace temporary table session_wait (n int)")
    cur.execute_async("select system$wait(30), count(*) from session_wait")  # holds the session's connection
    holding = cur.sfqid
    cur.execute_async("select count(*) from session_wait")  # waits for it
    waiting = cur.sfqid
    started = time.monotonic()
    cur.execute(f"select system$cancel_query('{waiting}')")
    assert_cancelled(conn, waiting)
    assert time.monotonic() - started < 5
    cur.execute(f"select system$cancel_query('{holding}')")
    assert_cancelled(conn, holding)


def test_a_temporary_table_created_asynchronously_stays_with_its_session(connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("create or replace temporary table made_async (n int)")
    assert wait_done(conn, cur.sfqid)[-1] == QueryStatus.SUCCESS
    cur.execute("insert into made_async values (7)")
    assert cur.execute("select n from made_async").fetchall() == [(7,)]
