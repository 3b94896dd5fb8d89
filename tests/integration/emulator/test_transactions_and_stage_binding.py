"""Transactions as in Snowflake: DDL commits the open transaction first, also the CREATE TEMPORARY STAGE with which
the driver starts an array bind from the stage binding threshold on (it then uploads the binds to that stage)."""

from __future__ import annotations

import decimal
from typing import Any

import pytest
import snowflake.connector

pytestmark = pytest.mark.integration

THRESHOLD = 65_280  # Snowflake's CLIENT_STAGE_ARRAY_BINDING_THRESHOLD


def _count(cur: Any, table: str) -> int:
    return int(cur.execute(f"select count(*) from {table}").fetchone()[0])


def test_a_rolled_back_transaction_leaves_nothing(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace table txn_plain (a int)")
    cur.execute("begin")
    cur.execute("insert into txn_plain values (1)")
    cur.execute("rollback")
    assert _count(cur, "txn_plain") == 0


@pytest.mark.parametrize(
    "ddl",
    [
        "create or replace table txn_other (a int)",
        "create temporary table txn_temp (a int)",
        "alter table txn_ddl add column b int",
        "drop table if exists txn_missing",
        "comment on table txn_ddl is 'x'",
    ],
)
def test_ddl_commits_the_open_transaction_first(connect: Any, ddl: str) -> None:
    cur = connect().cursor()
    cur.execute("create or replace table txn_ddl (a int)")
    cur.execute("begin")
    cur.execute("insert into txn_ddl values (1)")
    cur.execute(ddl)
    cur.execute("insert into txn_ddl (a) values (2)")  # autocommitted: the transaction ended with the DDL
    cur.execute("rollback")
    assert _count(cur, "txn_ddl") == 2


def test_ddl_commits_with_autocommit_off(connect: Any) -> None:
    conn = connect(autocommit=False)
    cur = conn.cursor()
    cur.execute("create or replace table txn_manual (a int)")
    cur.execute("insert into txn_manual values (1)")
    cur.execute("create or replace table txn_manual_other (a int)")
    conn.rollback()
    assert _count(cur, "txn_manual") == 1


def test_alter_session_leaves_the_transaction_open(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace table txn_session (a int)")
    cur.execute("begin")
    cur.execute("insert into txn_session values (1)")
    cur.execute("alter session set query_tag = 'x'")
    cur.execute("rollback")
    assert _count(cur, "txn_session") == 0


def _transaction(cur: Any) -> str | None:
    value = cur.execute("select current_transaction()").fetchone()[0]
    assert value is None or value.isdigit()
    return value  # type: ignore[no-any-return]


def test_current_transaction_names_the_open_transaction_only(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace table txn_id (a int)")
    assert _transaction(cur) is None
    cur.execute("begin")
    first = _transaction(cur)
    cur.execute("insert into txn_id values (1)")
    assert first is not None and _transaction(cur) == first
    cur.execute("commit")
    assert _transaction(cur) is None
    cur.execute("begin")
    second = _transaction(cur)
    assert second is not None and int(second) > int(first)
    cur.execute("rollback")
    assert _transaction(cur) is None


def test_with_autocommit_off_dml_opens_the_transaction_current_transaction_names(connect: Any) -> None:
    conn = connect(autocommit=False)
    cur = conn.cursor()
    cur.execute("create or replace table txn_implicit (a int)")
    assert _transaction(cur) is None  # a query opens none
    cur.execute("insert into txn_implicit values (1)")
    assert _transaction(cur) is not None
    conn.rollback()
    assert _transaction(cur) is None


@pytest.mark.parametrize("switch", ["alter session set autocommit = false", "alter session set autocommit = true"])
def test_changing_autocommit_commits_the_open_transaction(connect: Any, switch: str) -> None:
    conn = connect(autocommit=switch.endswith("false"))  # the switch changes it
    cur = conn.cursor()
    cur.execute("create or replace table txn_switch (a int)")
    cur.execute("begin")
    cur.execute("insert into txn_switch values (1)")
    cur.execute(switch)
    assert _transaction(cur) is None
    cur.execute("rollback")
    assert _count(cur, "txn_switch") == 1


def test_the_login_announces_snowflakes_stage_binding_threshold(connect: Any) -> None:
    conn = connect()
    assert conn._session_parameters["CLIENT_STAGE_ARRAY_BINDING_THRESHOLD"] == THRESHOLD


def test_an_executemany_below_the_threshold_stays_in_the_transaction(connect: Any) -> None:
    cur = connect(paramstyle="numeric").cursor()
    cur.execute("create or replace table below (a int, b text, c number(10,2))")
    rows = [(i, f"r{i}", decimal.Decimal(i) / 4) for i in range(THRESHOLD // 3 - 1)]  # 65,277 values
    cur.execute("begin")
    cur.executemany("insert into below values (:1, :2, :3)", rows)
    assert cur.rowcount == len(rows)
    assert cur.execute("select sum(a), max(c) from below").fetchone() == (
        sum(range(len(rows))),
        decimal.Decimal(len(rows) - 1) / 4,
    )
    cur.execute("rollback")
    assert _count(cur, "below") == 0


def test_an_executemany_at_the_threshold_lands_after_the_implicit_commit(connect: Any) -> None:
    cur = connect(paramstyle="numeric").cursor()
    cur.execute("create or replace table above (a int, b int)")
    cur.execute("insert into above values (-1, -1)")
    cur.execute("begin")
    cur.execute("delete from above")
    rows = [(i, i) for i in range(THRESHOLD // 2)]  # 65,280 values: the driver goes through a stage
    cur.executemany("insert into above values (:1, :2)", rows)
    assert cur.rowcount == len(rows)
    cur.execute("rollback")
    # As in Snowflake: the driver's CREATE TEMPORARY STAGE committed the DELETE before the staged insert, which
    # then ran as a statement of its own (autocommitted): the rollback has nothing left to undo.
    assert cur.execute("select count(*), min(a), max(a) from above").fetchone() == (len(rows), 0, len(rows) - 1)


def test_every_executemany_at_the_threshold_goes_through_the_stage(connect: Any) -> None:
    cur = connect(paramstyle="numeric").cursor()
    cur.execute("create or replace table above_again (a int, b int)")
    rows = [(i, i) for i in range(THRESHOLD // 2)]
    cur.executemany("insert into above_again values (:1, :2)", rows)
    cur.execute("begin")
    cur.execute("insert into above_again values (-1, -1)")
    cur.executemany("insert into above_again values (:1, :2)", rows)  # commits the -1 row first
    cur.execute("rollback")
    assert _count(cur, "above_again") == 2 * len(rows) + 1
    assert cur.execute("show stages like 'SYSTEMBIND'").fetchall() != []


def test_array_binds_of_mixed_python_types_still_insert(connect: Any) -> None:
    cur = connect(paramstyle="numeric").cursor()
    cur.execute("create or replace table mixed (a text, b number(10,2))")
    rows = [("x", 1), (2, decimal.Decimal("2.5")), (None, None), ("y", 3.25)]
    cur.executemany("insert into mixed values (:1, :2)", rows)
    assert cur.execute("select a, b from mixed order by b nulls last").fetchall() == [
        ("x", decimal.Decimal("1.00")),
        ("2", decimal.Decimal("2.50")),
        ("y", decimal.Decimal("3.25")),
        (None, None),
    ]


def test_a_bad_value_late_in_an_array_bind_fails_the_statement(connect: Any) -> None:
    cur = connect(paramstyle="numeric").cursor()
    cur.execute("create or replace table late_bad (a int)")
    rows: list[tuple[Any, ...]] = [(str(i),) for i in range(1000)] + [("not a number",)]
    with pytest.raises(snowflake.connector.ProgrammingError, match="not a number"):
        cur.executemany("insert into late_bad values (:1)", rows)


def test_a_session_without_stage_binding_sends_any_array_inline(connect: Any) -> None:
    conn = connect(paramstyle="numeric", session_parameters={"CLIENT_STAGE_ARRAY_BINDING_THRESHOLD": 0})
    assert conn._session_parameters["CLIENT_STAGE_ARRAY_BINDING_THRESHOLD"] == 0
    cur = conn.cursor()
    cur.execute("create or replace table inline_only (a int, b int)")
    cur.executemany("insert into inline_only values (:1, :2)", [(i, i) for i in range(THRESHOLD)])
    assert _count(cur, "inline_only") == THRESHOLD
