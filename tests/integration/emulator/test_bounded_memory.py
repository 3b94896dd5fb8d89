"""8: results are not kept forever: a count cap, a byte cap and a TTL; history records outlive their results."""

from __future__ import annotations

import time
from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus
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


def test_a_result_larger_than_the_byte_cap_fails_its_query_with_the_knob_named(
    sf: Any, connect: Any, wait_done: Any
) -> None:
    sf.configure(max_result_bytes=200_000)
    conn = connect()
    cur = conn.cursor()
    big = "select repeat('x', 100) from range(5000)"  # ~500 kB
    with pytest.raises(ProgrammingError) as info:
        cur.execute(big)
    assert info.value.errno == 100998
    assert "max_result_bytes is 200000" in info.value.msg and "--max-result-bytes" in info.value.msg
    # asynchronously: the query fails, it never succeeds and later "expires"
    cur.execute_async(big)
    query_id = cur.sfqid
    assert wait_done(conn, query_id)[-1] == QueryStatus.FAILED_WITH_ERROR
    with pytest.raises(ProgrammingError) as info:
        conn.get_query_status_throw_if_error(query_id)
    assert info.value.errno == 100998 and "expired" not in info.value.msg
    (entry,) = sf.query_history(query_id)
    assert entry.execution_status == "FAILED_WITH_ERROR" and entry.error_code == "100998"
    assert cur.execute("select repeat('x', 100) from range(100)").fetchall()[0] == ("x" * 100,)  # small ones run


def test_a_result_scan_counts_the_bytes_it_shares_once(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    before = sf.stats()["result_bytes"]
    cur.execute("select repeat('y', 100) from range(2000)")
    first = cur.sfqid
    kept = sf.stats()["result_bytes"] - before
    assert kept > 200_000
    assert len(_result_scan(cur, first)) == 2000
    assert len(_result_scan(cur, first)) == 2000
    assert sf.stats()["result_bytes"] - before == kept


def test_history_and_plans_are_bounded_by_bytes(sf: Any, connect: Any) -> None:
    sf.configure(max_history_bytes=4 * 1024 * 1024)
    cur = connect(paramstyle="numeric").cursor()
    text = "x" * (512 * 1024)
    ids = []
    for i in range(24):  # 12 MiB of distinct query texts, each kept as a plan too
        cur.execute(f"select length('{text}') + {i}")
        ids.append(cur.sfqid)
    assert cur.fetchone() == (len(text) + 23,)
    stats = sf.stats()
    assert stats["history_bytes"] <= 4 * 1024 * 1024
    assert stats["plan_bytes"] <= 64 * 1024 * 1024
    assert not sf.query_history(ids[0]), "the oldest texts left the history"
    assert sf.query_history(ids[-1])[0].query_text.endswith(" + 23")
    # a query gone from the history cannot be asked for its result: the result goes with it
    assert stats["results"] <= stats["queries"]


def test_a_results_long_column_names_count_against_the_byte_cap(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    before = sf.stats()["result_bytes"]
    text = "n" * 300_000
    cur.execute(f"select length('{text}')")  # one small value in a column named by the whole expression
    assert cur.fetchone() == (300_000,)
    assert sf.stats()["result_bytes"] - before >= 2 * 300_000  # the name in the row type and in the Arrow schema


def test_the_plan_cache_keeps_plans_within_its_bytes() -> None:
    pytest.importorskip("fakesnow", reason="the local Snowflake needs fakesnow")
    import sqlglot

    from flyteplugins.snowflake.local import _fakesnow as fs

    def plan(text: str) -> Any:
        tree = sqlglot.parse_one(text)
        return fs._Plan(0, tree, False, text, sqlglot.parse_one(f"describe {text}"), None)

    texts = [f"select length('{'z' * 100_000}') + {i}" for i in range(10)]
    weight = fs.plan_bytes(texts[0], plan(texts[0]))
    assert weight > 3 * 100_000  # the text, the DuckDB text and the literal in each tree
    cache = fs.PlanCache(size=256, max_bytes=8 * weight + weight // 2)
    for text in texts:
        cache.put((text, None, None, False, False), plan(text))
    assert len(cache) == 8 and cache.nbytes <= 8 * weight + weight // 2
    assert cache.get((texts[-1], None, None, False, False)) is not None
    assert cache.get((texts[0], None, None, False, False)) is None
    huge = "select " + ", ".join(str(n) for n in range(20_000))  # 20,000 nodes: ~10 MB as trees, 110 kB as text
    cache.put((huge, None, None, False, False), plan(huge))
    assert cache.get((huge, None, None, False, False)) is None, "a plan over an eighth of the bytes is not kept"
