"""6: query history per query id, read the way the plugin reads it in Snowflake (INFORMATION_SCHEMA functions)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from snowflake.connector import DictCursor
from snowflake.connector.constants import QueryStatus
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration

BY_ID = "select * from table(information_schema.query_history_by_session()) where query_id = ?"


def test_a_finished_query_is_in_history_with_its_facts(sf: Any, connect: Any) -> None:
    sf.configure(min_query_ms=200)
    conn = connect(paramstyle="qmark")
    cur = conn.cursor()
    cur.execute("select * from range(7)", _statement_params={"QUERY_TAG": "flyte:run-1"})
    query_id = cur.sfqid
    row = conn.cursor(DictCursor).execute(BY_ID, [query_id]).fetchone()
    assert row["QUERY_ID"] == query_id
    assert row["QUERY_TEXT"] == "select * from range(7)"
    assert row["EXECUTION_STATUS"] == "SUCCESS"
    assert row["QUERY_TAG"] == "flyte:run-1"
    assert row["ROWS_PRODUCED"] == 7
    assert row["BYTES_SCANNED"] > 0
    assert row["ERROR_CODE"] is None and row["ERROR_MESSAGE"] is None
    assert isinstance(row["START_TIME"], dt.datetime) and row["START_TIME"] <= row["END_TIME"]
    assert row["TOTAL_ELAPSED_TIME"] >= 200
    assert row["EXECUTION_TIME"] >= 200
    assert row["WAREHOUSE_NAME"] == "LOCAL_WH" and row["USER_NAME"] == "FLYTE"
    assert row["QUEUED_OVERLOAD_TIME"] == 0 and row["COMPILATION_TIME"] >= 0


def test_a_failed_query_has_its_error(connect: Any) -> None:
    conn = connect(paramstyle="qmark")
    cur = conn.cursor()
    with pytest.raises(ProgrammingError):
        cur.execute("select * from missing_for_history")
    query_id = cur.sfqid
    row = conn.cursor(DictCursor).execute(BY_ID, [query_id]).fetchone()
    assert row["EXECUTION_STATUS"] == "FAILED_WITH_ERROR"
    assert row["ERROR_CODE"] == "002003"
    assert "MISSING_FOR_HISTORY" in row["ERROR_MESSAGE"].upper()


def test_a_cancelled_query_is_failed_with_error_604(sf: Any, connect: Any, wait_done: Any) -> None:
    sf.configure(min_query_ms=3000)
    conn = connect(paramstyle="qmark")
    cur = conn.cursor()
    cur.execute_async("select 'to cancel'")
    cur.abort_query(cur.sfqid)
    # As in Snowflake, a cancel is asynchronous: the history shows it once the query has ended.
    assert wait_done(conn, cur.sfqid)[-1] == QueryStatus.FAILED_WITH_ERROR
    row = conn.cursor(DictCursor).execute(BY_ID, [cur.sfqid]).fetchone()
    assert (row["EXECUTION_STATUS"], row["ERROR_CODE"]) == ("FAILED_WITH_ERROR", "000604")


def test_waiting_for_a_warehouse_shows_in_its_column(sf: Any, connect: Any, wait_done: Any) -> None:
    sf.configure(first_status=("RESUMING_WAREHOUSE", 200))
    conn = connect(paramstyle="qmark")
    cur = conn.cursor()
    cur.execute_async("select 1")
    wait_done(conn, cur.sfqid)
    row = conn.cursor(DictCursor).execute(BY_ID, [cur.sfqid]).fetchone()
    assert row["QUEUED_PROVISIONING_TIME"] >= 180
    assert row["QUEUED_OVERLOAD_TIME"] == 0


def test_running_query_shows_running(sf: Any, connect: Any) -> None:
    sf.configure(min_query_ms=2000)
    conn = connect(paramstyle="qmark")
    cur = conn.cursor()
    cur.execute_async("select 'long'")
    time.sleep(0.1)
    row = conn.cursor(DictCursor).execute(BY_ID, [cur.sfqid]).fetchone()
    assert row["EXECUTION_STATUS"] == "RUNNING" and row["END_TIME"] is None
    cur.abort_query(cur.sfqid)


def test_query_history_sees_other_sessions_by_session_does_not(connect: Any) -> None:
    first, second = connect(), connect(paramstyle="qmark")
    cur = first.cursor()
    cur.execute("select 'other session'")
    query_id = cur.sfqid
    reader = second.cursor()
    assert reader.execute(BY_ID, [query_id]).fetchall() == []
    rows = reader.execute(
        "select query_id, execution_status from table(information_schema.query_history(result_limit => 1000)) "
        "where query_id = ?",
        [query_id],
    ).fetchall()
    assert rows == [(query_id, "SUCCESS")]


def test_session_query_tag_applies_to_later_queries(connect: Any) -> None:
    conn = connect(paramstyle="qmark")
    cur = conn.cursor()
    cur.execute("alter session set query_tag = 'nightly'")
    cur.execute("select 1")
    (tag,) = cur.execute(
        "select query_tag from table(information_schema.query_history_by_session()) where query_id = ?", [cur.sfqid]
    ).fetchone()
    assert tag == "nightly"


def test_admin_view_of_history(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("select 5", _statement_params={"QUERY_TAG": "admin-view"})
    (entry,) = sf.query_history(cur.sfqid)
    assert (entry.status, entry.rows_produced, entry.query_tag) == ("SUCCESS", 1, "admin-view")


# A look-up by query id builds that query's row only (the emulator keeps the id the WHERE requires); these check
# the answers stay those of the whole statement.

_BY_ID_LIMITED = (
    "select query_id from table(information_schema.query_history(result_limit => {limit})) where query_id = {value}"
)


@pytest.mark.parametrize(
    ("where", "keeps_one_row"),
    [
        ("where query_id = :1", True),
        ("h where h.query_id = :1 and 1 = 1", True),
        ("where :1 = query_id", True),
        ("where query_id = :1 or 1 = 1", False),
        ("where query_id = :2 and user_name = :1", True),
        ("h where x.query_id = :1", False),
        ("where query_id in (:1, :2, 'c')", True),
        ("where query_id in (?, ?)", True),
        ("where query_id in (?, ?) and user_name = ?", False),
        ("where query_id in (:1, upper(:2))", False),
        ("where query_id in (select :1)", False),
        ("where query_id not in (:1)", False),
    ],
)
def test_what_a_history_statement_requires_of_query_id(where: str, keeps_one_row: bool) -> None:
    from flyteplugins.snowflake.local import _fakesnow as fs

    sql = f"select * from table(information_schema.query_history()) {where}"
    classified = fs.classify(sql)
    assert classified.kind == "history"
    assert (classified.query_ids is not None) == keeps_one_row, classified.query_ids


@pytest.mark.parametrize(
    ("where", "params", "ids"),
    [
        ("where query_id = :1", ("a",), {"a"}),
        ("where query_id in (:2, 'c', :1)", ("a", "b"), {"a", "b", "c"}),
        ("where query_id in (?, ?)", ("a", "b"), {"a", "b"}),
        ("where query_id in (:1, :2)", ("a", 7), None),  # not a string: DuckDB's WHERE decides alone
        ("where query_id in (:1, :3)", ("a", "b"), None),  # no such bind: DuckDB reports it
    ],
)
def test_the_ids_a_history_statement_keeps(where: str, params: tuple[object, ...], ids: set[str] | None) -> None:
    from flyteplugins.snowflake.local import _fakesnow as fs

    classified = fs.classify(f"select * from table(information_schema.query_history()) {where}")
    assert fs.history_filter(classified, params) == (None if ids is None else frozenset(ids))


def _two_queries(conn: Any) -> tuple[str, str]:
    """Run two statements, one after the other; their query ids, the older first."""
    cur = conn.cursor()
    ids = []
    for text in ("select 'first'", "select 'second'"):
        cur.execute(text)
        ids.append(cur.sfqid)
    return ids[0], ids[1]


def test_result_limit_applies_before_the_query_id(connect: Any) -> None:
    # Snowflake takes the latest RESULT_LIMIT queries, then the WHERE: an older query is not found.
    conn = connect(paramstyle="qmark")
    older, newer = _two_queries(conn)
    reader = conn.cursor()
    # the latest two: this statement itself (running) and `newer`
    assert reader.execute(_BY_ID_LIMITED.format(limit=2, value="?"), [newer]).fetchall() == [(newer,)]
    assert reader.execute(_BY_ID_LIMITED.format(limit=2, value="?"), [older]).fetchall() == []
    assert reader.execute(_BY_ID_LIMITED.format(limit=100, value=f"'{older}'")).fetchall() == [(older,)]


def test_the_rest_of_the_condition_still_applies(connect: Any) -> None:
    conn = connect(paramstyle="qmark")
    one, two = _two_queries(conn)
    reader = conn.cursor()
    history = "select query_id from table(information_schema.query_history()) "
    failed = reader.execute(history + "where query_id = ? and execution_status = 'FAILED_WITH_ERROR'", [one])
    assert failed.fetchall() == []
    either = reader.execute(history + "where query_id = ? or query_id = ? order by start_time", [one, two])
    assert either.fetchall() == [(one,), (two,)]


def test_a_look_up_of_several_ids_answers_each_of_them(connect: Any) -> None:
    conn = connect(paramstyle="numeric")
    one, two = _two_queries(conn)
    cur = conn.cursor()
    cur.execute("select 'third'")
    third = cur.sfqid
    history = "select query_id from table(information_schema.query_history()) "
    both = cur.execute(history + "where query_id in (:1, :2, :3) order by start_time", [one, third, "no-such-id"])
    assert both.fetchall() == [(one,), (third,)]
    assert two not in {row[0] for row in cur.execute(history + "where query_id in (:1)", [one]).fetchall()}


@pytest.mark.parametrize(
    "columns",
    [
        "*",
        "query_id, query_text, execution_status, start_time, end_time, total_elapsed_time, rows_produced",
        "h.query_id as id, h.bytes_scanned, error_code, warehouse_name as wh, is_client_generated_statement",
    ],
)
def test_a_look_up_that_only_picks_columns_answers_as_the_sql_would(connect: Any, columns: str) -> None:
    # `where query_id in (...)` alone is answered without running SQL; `and 1 = 1` makes DuckDB run it: the
    # two answers, their columns and types included, must be the same.
    conn = connect(paramstyle="numeric")
    one, two = _two_queries(conn)
    history = f"select {columns} from table(information_schema.query_history_by_user()) h where query_id in (:1, :2)"
    answers = []
    for sql in (history, history + " and 1 = 1"):
        cur = conn.cursor().execute(sql, [one, two])
        answers.append(([(d.name, d.type_code, d.scale, d.is_nullable) for d in cur.description], cur.fetchall()))
    (quick_columns, quick_rows), (sql_columns, sql_rows) = answers
    assert quick_columns == sql_columns
    assert sorted(quick_rows, key=repr) == sorted(sql_rows, key=repr)
    assert len(quick_rows) == 2
