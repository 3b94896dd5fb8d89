"""8: results are not kept forever: a count cap, a byte cap and a TTL; history records outlive their results."""

from __future__ import annotations

import time
from typing import Any

import pytest
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def _result_scan(cur: Any, query_id: str) -> Any:
    return cur.execute(f"select * from table(result_scan('{query_id}'))").fetchall()


def test_the_oldest_results_go_past_the_count_cap(sf: Any, connect: Any) -> None:
    sf.configure(max_results=5)
    cur = connect().cursor()
    cur.execute("select 'first'")
    first = cur.sfqid
    assert _result_scan(cur, first) == [("first",)]
    for i in range(8):
        cur.execute(f"select {i}")
    assert sf.stats()["results"] <= 5
    with pytest.raises(ProgrammingError) as info:
        _result_scan(cur, first)
    assert info.value.errno == 612
    (entry,) = sf.query_history(first)
    assert entry.status == "SUCCESS", "history stays after the result is dropped"


def test_results_expire_after_their_ttl(sf: Any, connect: Any) -> None:
    sf.configure(result_ttl_s=0.3)
    cur = connect().cursor()
    cur.execute("select 'short lived'")
    query_id = cur.sfqid
    time.sleep(0.4)
    cur.execute("select 'newer'")
    with pytest.raises(ProgrammingError) as info:
        _result_scan(cur, query_id)
    assert info.value.errno == 612


def test_the_byte_cap_bounds_kept_results(sf: Any, connect: Any) -> None:
    sf.configure(max_result_bytes=200_000)
    cur = connect().cursor()
    for _ in range(5):
        cur.execute("select repeat('x', 100) from range(1000)")  # ~100 kB each
    assert sf.stats()["result_bytes"] <= 200_000
