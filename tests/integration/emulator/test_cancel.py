"""2: SYSTEM$CANCEL_QUERY and the driver's abort request end a running query as Snowflake reports it:
FAILED_WITH_ERROR, error 604 "SQL execution canceled"."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus
from snowflake.connector.errors import DatabaseError, ProgrammingError

pytestmark = pytest.mark.integration


def test_system_cancel_query_ends_a_running_query_failed_with_error_604(
    sf: Any, connect: Any, assert_cancelled: Any
) -> None:
    sf.configure(min_query_ms=5000)
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    query_id = cur.sfqid
    time.sleep(0.05)
    started = time.monotonic()
    (answer,) = connect().cursor().execute(f"select system$cancel_query('{query_id}')").fetchone()
    assert answer == f"query [{query_id}] terminated."
    assert_cancelled(conn, query_id)
    assert time.monotonic() - started < 2.0, "cancel must end the query at once, not after min_query_ms"
    with pytest.raises(DatabaseError) as fetched:
        cur.get_results_from_sfqid(query_id)
        cur.fetchall()
    assert "SQL execution canceled" in fetched.value.msg


def test_cancel_stops_duckdb_work(connect: Any, assert_cancelled: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    # seconds of DuckDB work: the cancel must interrupt it, not wait for it
    cur.execute_async("select count(*) from range(1000000000) a, range(100) b where a.range * b.range % 7 = 3")
    query_id = cur.sfqid
    time.sleep(0.3)
    assert conn.get_query_status(query_id) == QueryStatus.RUNNING
    started = time.monotonic()
    conn.cursor().execute(f"select system$cancel_query('{query_id}')")
    assert_cancelled(conn, query_id)
    assert time.monotonic() - started < 2.0


def test_cursor_abort_query_cancels(sf: Any, connect: Any, assert_cancelled: Any) -> None:
    sf.configure(min_query_ms=5000)
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    assert cur.abort_query(cur.sfqid) is True
    assert_cancelled(conn, cur.sfqid)


def test_driver_timeout_sends_abort_request_and_query_ends_cancelled(sf: Any, connect: Any) -> None:
    sf.configure(min_query_ms=5000)
    conn = connect()
    cur = conn.cursor()
    with pytest.raises(ProgrammingError) as info:
        cur.execute("select 'slow'", timeout=1)  # the driver's timer posts /queries/v1/abort-request
    assert info.value.errno == 604
    history = [q for q in sf.query_history() if q.query_text == "select 'slow'"]
    assert (history[-1].status, history[-1].error_code) == ("FAILED_WITH_ERROR", "000604")


def test_abort_request_from_another_thread_ends_a_synchronous_query(sf: Any, connect: Any) -> None:
    sf.configure(min_query_ms=5000)
    conn = connect()
    cur = conn.cursor()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            cur.execute("select 'sync and slow'")
        except ProgrammingError as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not [
        q for q in sf.query_history() if q.query_text == "select 'sync and slow'"
    ]:
        time.sleep(0.02)
    (running,) = [q for q in sf.query_history() if q.query_text == "select 'sync and slow'"]
    connect().cursor().execute(f"select system$cancel_query('{running.query_id}')")
    worker.join(5)
    assert errors and getattr(errors[0], "errno", None) == 604


def test_cancelling_a_finished_or_unknown_query_is_not_an_error(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("select 1")
    finished = cur.sfqid
    for query_id in (finished, str(uuid.uuid4())):
        (answer,) = cur.execute(f"select system$cancel_query('{query_id}')").fetchone()
        assert answer == "Identified SQL statement is not currently executing."
    assert cur.abort_query(finished) is False


def test_cancelling_a_malformed_query_id_is_a_snowflake_error(connect: Any) -> None:
    with pytest.raises(ProgrammingError) as info:
        connect().cursor().execute("select system$cancel_query('not-a-query-id')")
    assert info.value.errno == 2140
    assert info.value.sqlstate == "22023"
