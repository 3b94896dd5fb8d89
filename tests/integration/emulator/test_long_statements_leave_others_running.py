"""Long DuckDB statements never hold up others: only Python is gated to a few threads at a time, not DuckDB."""

from __future__ import annotations

import time
from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus

pytestmark = pytest.mark.integration

# seconds of DuckDB work, until cancelled
LONG = "select count(*) from range(1000000000) a, range(100) b where a.range * b.range % 7 = 3"


def test_quick_statements_finish_while_long_ones_run(connect: Any, wait_done: Any, assert_cancelled: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    long_ids = []
    for _ in range(3):  # more than the emulator's Python slots
        cur.execute_async(LONG)
        long_ids.append(cur.sfqid)
    time.sleep(0.3)
    other = connect(paramstyle="numeric")
    assert other.cursor().execute("select :1", [42]).fetchall() == [(42,)]
    quick = other.cursor()
    quick.execute_async("select 43")
    assert wait_done(other, quick.sfqid)[-1] == QueryStatus.SUCCESS
    assert [conn.get_query_status(q) for q in long_ids] == [QueryStatus.RUNNING] * 3
    for query_id in long_ids:
        conn.cursor().execute(f"select system$cancel_query('{query_id}')")
    for query_id in long_ids:
        assert_cancelled(conn, query_id)


def test_statements_about_queries_never_wait_for_a_query_thread(sf: Any, connect: Any, assert_cancelled: Any) -> None:
    # More held queries than the emulator has query threads: the last ones wait for a thread, as queued queries
    # wait for a warehouse. History look-ups and cancels are metadata operations: they answer at once.
    sf.configure(min_query_ms=30_000)
    conn = connect(paramstyle="numeric")
    cur = conn.cursor()
    ids = []
    for n in range(70):
        cur.execute_async("select :1", [n])
        ids.append(cur.sfqid)
    started = time.monotonic()
    history = "select query_id from table(information_schema.query_history_by_user()) where query_id in (:1, :2)"
    assert sorted(cur.execute(history, [ids[0], ids[-1]]).fetchall()) == sorted([(ids[0],), (ids[-1],)])
    for query_id in (ids[0], ids[-1]):  # one running, one still waiting for a thread
        cur.execute(f"select system$cancel_query('{query_id}')")
    assert time.monotonic() - started < 5, "a metadata statement waited behind the held queries"
    assert_cancelled(conn, ids[0])
    assert_cancelled(conn, ids[-1])
    for query_id in ids[1:-1]:
        cur.execute(f"select system$cancel_query('{query_id}')")
