"""4: multi-statement requests (MULTI_STATEMENT_COUNT) with a child query id per statement."""

from __future__ import annotations

from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def test_each_statement_has_its_own_result_set(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("select 1 as a; select 'two' as b, 2 as c;", num_statements=2)
    assert cur.fetchall() == [(1,)]
    assert cur.nextset() is cur
    assert cur.fetchall() == [("two", 2)]
    assert cur.nextset() is None
    parent_id = cur.multi_statement_savedIds
    assert len(parent_id) == 2
    children = {q.query_id: q for q in sf.query_history()}
    assert [children[qid].query_text for qid in cur.multi_statement_savedIds] == [
        "SELECT 1 AS a",
        "SELECT 'two' AS b, 2 AS c",
    ]


def test_a_count_of_zero_accepts_any_number_of_statements(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute(
        "create or replace table ms (n int); insert into ms values (1), (2); select sum(n) from ms", num_statements=0
    )
    cur.nextset()
    cur.nextset()
    assert cur.fetchall() == [(3,)]


def test_a_wrong_statement_count_is_error_8(connect: Any) -> None:
    cur = connect().cursor()
    with pytest.raises(ProgrammingError) as info:
        cur.execute("select 1; select 2")  # the session default count is 1
    assert info.value.errno == 8
    with pytest.raises(ProgrammingError) as info:
        cur.execute("select 1; select 2", num_statements=3)
    assert info.value.errno == 8


def test_a_driver_older_than_multi_statements_is_refused_them(connect: Any) -> None:
    cur = connect(internal_application_version="2.8.1").cursor()
    cur.execute("ALTER SESSION SET MULTI_STATEMENT_COUNT = 0")
    with pytest.raises(ProgrammingError, match="Multiple SQL statements in a single API call are not supported"):
        cur.execute("select 1; select 2")
    assert cur.execute("select 3").fetchall() == [(3,)], "one statement per request still runs"


def test_binds_are_shared_out_across_statements(connect: Any) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("select ?; select ?, ?", [1, "b", 2.5], num_statements=2)
    assert cur.fetchall() == [(1,)]
    cur.nextset()
    assert cur.fetchall() == [("b", 2.5)]


def test_async_multi_statement_results_attach_later(connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 10; select 20", num_statements=2)
    assert wait_done(conn, cur.sfqid)[-1] == QueryStatus.SUCCESS
    reader = conn.cursor()
    reader.get_results_from_sfqid(cur.sfqid)
    assert reader.fetchall() == [(10,)]
    assert reader.nextset() is reader
    assert reader.fetchall() == [(20,)]


def test_a_failing_statement_fails_the_request(sf: Any, connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("create or replace table ms_fail (n int); select * from ms_missing", num_statements=2)
    assert wait_done(conn, cur.sfqid)[-1] == QueryStatus.FAILED_WITH_ERROR
    with pytest.raises(ProgrammingError) as info:
        conn.get_query_status_throw_if_error(cur.sfqid)
    assert info.value.errno == 2003
    assert cur.execute("select count(*) from ms_fail").fetchone() == (0,), "the first statement ran"
