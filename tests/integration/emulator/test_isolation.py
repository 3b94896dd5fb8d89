"""9: 16 threads with a connection each never see another's result or an error."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus

pytestmark = pytest.mark.integration

THREADS = 16
QUERIES = 15


def test_sixteen_threads_each_see_only_their_own_values(connect: Any) -> None:
    conns = [connect(paramstyle="qmark") for _ in range(THREADS)]
    failures: list[str] = []
    barrier = threading.Barrier(THREADS)

    def work(index: int) -> None:
        cur = conns[index].cursor()
        barrier.wait()
        try:
            for n in range(QUERIES):
                value = f"thread-{index}-query-{n}"
                rows = cur.execute("select ?, ? * 2 from range(3)", [value, index * 1000 + n]).fetchall()
                if rows != [(value, (index * 1000 + n) * 2)] * 3:
                    failures.append(f"{value}: {rows}")
                cur.execute_async("select ?", [value])
                query_id = cur.sfqid
                while conns[index].is_still_running(conns[index].get_query_status(query_id)):
                    pass
                cur.get_results_from_sfqid(query_id)
                if cur.fetchall() != [(value,)]:
                    failures.append(f"async {value}")
        except Exception as exc:
            failures.append(f"thread {index}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []


def test_concurrent_async_queries_on_one_connection_do_not_mix(sf: Any, connect: Any) -> None:
    sf.configure(min_query_ms=100)
    conn = connect(paramstyle="qmark")
    cur = conn.cursor()
    ids = {}
    for i in range(8):
        cur.execute_async("select ? from range(100)", [i])
        ids[i] = cur.sfqid
    for i, query_id in ids.items():
        reader = conn.cursor()
        reader.get_results_from_sfqid(query_id)
        assert reader.fetchall() == [(i,)] * 100
        assert conn.get_query_status(query_id) == QueryStatus.SUCCESS
