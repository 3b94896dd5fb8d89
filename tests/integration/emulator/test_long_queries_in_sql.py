"""SYSTEM$WAIT(n) and GENERATOR(TIMELIMIT => n) take their time, as in Snowflake, and a cancel ends them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus

pytestmark = pytest.mark.integration


def test_system_wait_takes_its_time_and_answers_as_snowflake(connect: Any) -> None:
    cur = connect().cursor()
    started = time.monotonic()
    cur.execute("select system$wait(1)")
    assert time.monotonic() - started >= 1.0
    assert cur.fetchall() == [("waited 1 seconds",)]
    assert cur.description[0].name == "SYSTEM$WAIT(1)"
    started = time.monotonic()
    assert cur.execute("select system$wait(300, 'MILLISECONDS') as w").fetchall() == [("waited 300 milliseconds",)]
    assert 0.3 <= time.monotonic() - started < 5


def test_a_generator_with_a_time_limit_runs_that_long(connect: Any) -> None:
    cur = connect().cursor()
    started = time.monotonic()
    cur.execute("select count(*) from table(generator(timeLimit => 1))")
    assert time.monotonic() - started >= 1.0
    (count,) = cur.fetchone()
    assert count > 0
    assert cur.execute("select count(*) from table(generator(timeLimit => 1, rowCount => 7))").fetchone() == (7,)


def test_a_waiting_query_runs_until_cancelled(connect: Any, assert_cancelled: Any) -> None:
    conn = connect()
    query_id = conn.cursor().execute_async("select system$wait(60)")["queryId"]
    deadline = time.monotonic() + 5
    while conn.get_query_status(query_id) != QueryStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    assert conn.get_query_status(query_id) == QueryStatus.RUNNING
    started = time.monotonic()
    conn.cursor().execute(f"select system$cancel_query('{query_id}')")
    assert_cancelled(conn, query_id)
    assert time.monotonic() - started < 5


def test_a_waiting_statement_of_a_multi_statement_request_is_cancelled_with_it(
    connect: Any, assert_cancelled: Any
) -> None:
    conn = connect()
    sql = "select 1; select count(*) from table(generator(timeLimit => 60)); select 2"
    query_id = conn.cursor().execute_async(sql, num_statements=3)["queryId"]
    time.sleep(0.5)
    assert conn.get_query_status(query_id) == QueryStatus.RUNNING
    conn.cursor().execute(f"select system$cancel_query('{query_id}')")
    assert_cancelled(conn, query_id)
