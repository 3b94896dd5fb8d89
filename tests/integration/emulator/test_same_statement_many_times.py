"""The same SELECT text run many times: its parse and transform are reused, its answers never are.

The emulator keeps what fakesnow computes from a query's text (its plan) and reuses it for the same text. These
run the same text with other binds, in other schemas and databases, after its table changed, and from many
connections at once, and check every answer is the one for that run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
from typing import Any

import pytest
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def _plan_hits(sf: Any) -> int:
    return int(sf.stats()["plan_hits"])


def test_each_run_gets_its_own_binds_and_their_types(sf: Any, connect: Any) -> None:
    cur = connect(paramstyle="numeric").cursor()
    hits = _plan_hits(sf)
    values: list[Any] = [1, 2, "two", decimal.Decimal("3.25"), None, 2**40, -7.5, True]
    for value in values:
        assert cur.execute("select :1 as v, 'marker' as m", [value]).fetchall() == [(value, "marker")]
    assert _plan_hits(sf) >= hits + len(values) - 1, "the same text is planned once"


def _run_async(conn: Any, sql: str, params: Any = None) -> tuple[list[Any], list[Any]]:
    """Submit asynchronously, wait, fetch: the rows and the description (the result's columns and their types)."""
    cur = conn.cursor()
    cur.execute(sql, params, _exec_async=True)
    query_id = cur.sfqid
    while conn.is_still_running(conn.get_query_status_throw_if_error(query_id)):
        time.sleep(0.01)
    cur.get_results_from_sfqid(query_id)
    return cur.fetchall(), list(cur.description)


def test_async_runs_describe_their_result_as_a_fresh_run_does(connect: Any) -> None:
    # The columns of an asynchronous run of a planned text are kept by the binds' types: each must be what a
    # synchronous run (described afresh every time) reports for the same value.
    conn = connect(paramstyle="numeric")
    values: list[Any] = [
        1,
        2**40,
        -(2**40),
        2**70,
        decimal.Decimal("3.25"),
        decimal.Decimal("123456.789"),
        "two",
        None,
        -7.5,
        True,
        b"\x01\x02",
        dt.date(2024, 2, 29),
        dt.datetime(2024, 2, 29, 12, 30),
        dt.datetime(2024, 2, 29, 12, 30, tzinfo=dt.timezone.utc),
    ]
    for _ in range(2):  # the second round answers from what the first kept
        for value in values:
            sync = conn.cursor()
            expected_rows = sync.execute("select :1 as v, 'marker' as m", [value]).fetchall()
            rows, description = _run_async(conn, "select :1 as v, 'marker' as m", [value])
            assert rows == expected_rows, value
            assert description == list(sync.description), value


def test_async_runs_after_a_table_changed_give_its_new_columns(connect: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute("create or replace table plans_async_change (a int)")
    cur.execute("insert into plans_async_change values (1)")
    for _ in range(2):
        rows, description = _run_async(conn, "select * from plans_async_change")
        assert rows == [(1,)]
        assert [(d.name, d.type_code) for d in description] == [("A", 0)]  # FIXED
    cur.execute("create or replace table plans_async_change (a varchar, b double)")
    cur.execute("insert into plans_async_change values ('one', 1.5)")
    rows, description = _run_async(conn, "select * from plans_async_change")
    assert rows == [("one", 1.5)]
    assert [(d.name, d.type_code) for d in description] == [("A", 2), ("B", 1)]  # TEXT, REAL


def test_the_same_text_in_two_schemas_reads_each_schemas_table(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create schema if not exists plans_a")
    cur.execute("create or replace table plans_a.t (a int)")
    cur.execute("insert into plans_a.t values (1)")
    cur.execute("create schema if not exists plans_b")
    cur.execute("create or replace table plans_b.t (b varchar, c int)")
    cur.execute("insert into plans_b.t values ('x', 2)")
    for _ in range(2):
        cur.execute("use schema plans_a")
        assert cur.execute("select * from t").fetchall() == [(1,)]
        assert [d.name for d in cur.description] == ["A"]
        cur.execute("use schema plans_b")
        assert cur.execute("select * from t").fetchall() == [("x", 2)]
        assert [d.name for d in cur.description] == ["B", "C"]


def test_the_same_text_in_two_databases_reads_each_databases_table(connect: Any) -> None:
    cur = connect().cursor()
    for name, value in (("PLANS_DB1", 10), ("PLANS_DB2", 20)):
        cur.execute(f"create database if not exists {name}")
        cur.execute(f"use database {name}")
        cur.execute("create schema if not exists s")
        cur.execute("use schema s")
        cur.execute("create or replace table t (n int)")
        cur.execute(f"insert into t values ({value})")
    for _ in range(2):
        for name, value in (("PLANS_DB1", 10), ("PLANS_DB2", 20)):
            cur.execute(f"use database {name}")
            cur.execute("use schema s")
            assert cur.execute("select n from t").fetchall() == [(value,)]


def test_a_table_changed_between_runs_gives_its_new_columns(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace table plans_change (a int)")
    cur.execute("insert into plans_change values (1)")
    assert cur.execute("select * from plans_change").fetchall() == [(1,)]
    cur.execute("create or replace table plans_change (a varchar, b double)")
    cur.execute("insert into plans_change values ('one', 1.5)")
    assert cur.execute("select * from plans_change").fetchall() == [("one", 1.5)]
    assert [d.name for d in cur.description] == ["A", "B"]


def test_a_dropped_table_fails_the_same_text_as_snowflake_would(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace table plans_dropped (a int)")
    assert cur.execute("select a from plans_dropped").fetchall() == []
    cur.execute("drop table plans_dropped")
    with pytest.raises(ProgrammingError) as failed:
        cur.execute("select a from plans_dropped")
    assert failed.value.errno == 2003
    assert failed.value.sqlstate == "42S02"


def test_no_current_schema_is_still_refused_after_a_run_with_one(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace table plans_unqualified (a int)")
    assert cur.execute("select a from plans_unqualified").fetchall() == []
    bare = connect(database=None, schema=None).cursor()
    with pytest.raises(ProgrammingError) as failed:
        bare.execute("select a from plans_unqualified")
    assert failed.value.errno == 90105


def test_identifier_binds_pick_their_own_table(connect: Any) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace table plans_left (v varchar)")
    cur.execute("insert into plans_left values ('left')")
    cur.execute("create or replace table plans_right (v varchar)")
    cur.execute("insert into plans_right values ('right')")
    for _ in range(2):
        for table in ("plans_left", "plans_right"):
            assert cur.execute("select v from identifier(?)", [table]).fetchall() == [(table.split("_")[1],)]


def test_session_variables_are_read_at_each_run(connect: Any) -> None:
    cur = connect().cursor()
    for value in (1, 2):
        cur.execute(f"set plans_var = {value}")
        assert cur.execute("select $plans_var").fetchall() == [(value,)]


def test_many_connections_submitting_the_same_text_each_get_their_values(sf: Any, connect: Any) -> None:
    threads, per_thread = 8, 12
    conns = [connect(paramstyle="numeric") for _ in range(threads)]
    failures: list[str] = []
    barrier = threading.Barrier(threads)

    def work(index: int) -> None:
        conn = conns[index]
        cur = conn.cursor()
        barrier.wait()
        try:
            submitted = {}
            for k in range(per_thread):
                n = index * 1000 + k
                cur.execute("select :1 as n, 'marker' as marker", [n], _exec_async=True)
                submitted[cur.sfqid] = n
            for query_id, n in submitted.items():
                while conn.is_still_running(conn.get_query_status_throw_if_error(query_id)):
                    pass
                cur.get_results_from_sfqid(query_id)
                rows = cur.fetchall()
                if rows != [(n, "marker")]:
                    failures.append(f"{query_id}: expected {n}, got {rows}")
        except Exception as exc:
            failures.append(f"thread {index}: {type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
