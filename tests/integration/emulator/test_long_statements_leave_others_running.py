"""Long DuckDB statements never hold up others: only Python is gated to a few threads at a time, not DuckDB."""

from __future__ import annotations

import time
from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus

pytestmark = pytest.mark.integration

# seconds of DuckDB work, until cancelled
LONG = "select count(*) from range(1000000000) a, range(100) b where a.range * b.range % 7 = 3"


def test_quick_statements_finish_while_long_ones_run(connect: Any, wait_done: Any) -> None:
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
        assert wait_done(conn, query_id)[-1] == QueryStatus.ABORTED
