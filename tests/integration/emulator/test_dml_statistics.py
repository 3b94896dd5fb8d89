"""DML answers carry Snowflake's statistics (the driver's `cursor.stats`) and history counts the rows changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from snowflake.connector.cursor import QueryResultStats

pytestmark = pytest.mark.integration


def test_inserts_updates_deletes_and_merges_report_their_rows(sf: Any, connect: Any) -> None:
    cur = connect(paramstyle="qmark").cursor()
    table = f"STATS_{uuid.uuid4().hex[:8].upper()}"
    cur.execute(f"create temp table {table} (id int, name varchar)")
    assert cur.stats == QueryResultStats(None, None, None, None)  # DDL: no figures
    cur.execute(f"insert into {table} values (1, 'a'), (2, 'b'), (3, 'c')")
    assert cur.stats == QueryResultStats(3, 0, 0, 0)
    cur.execute(f"update {table} set name = 'x' where id in (1, 2)")
    assert cur.stats == QueryResultStats(0, 0, 2, 0)
    cur.execute(f"delete from {table} where id = 3")
    assert cur.stats == QueryResultStats(0, 1, 0, 0)
    cur.executemany(f"insert into {table} values (?, ?)", [(4, "d"), (5, "e")])
    assert cur.stats == QueryResultStats(2, 0, 0, 0)
    cur.execute(
        f"merge into {table} t using (select * from values (1, 'm'), (9, 'n') as v(id, name)) s on t.id = s.id "
        "when matched then update set t.name = s.name when not matched then insert (id, name) values (s.id, s.name)"
    )
    assert cur.stats == QueryResultStats(1, 0, 1, 0)
    merge_id = cur.sfqid
    cur.execute(f"select * from {table}")
    assert cur.stats == QueryResultStats(None, None, None, None)  # a query changes no rows

    row = cur.execute(
        "select rows_inserted, rows_updated, rows_deleted, rows_produced "
        "from table(information_schema.query_history()) where query_id = ?",
        [merge_id],
    ).fetchone()
    assert row == (1, 1, 0, 2)


def test_create_table_as_select_reports_the_rows_it_inserts(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create temp table ctas_rows (n int) as select n from values (1), (2), (3) as t(n)")
    assert cur.rowcount == 1  # the answer is one message row, as Snowflake's
    assert cur.stats == QueryResultStats(3, 0, 0, 0)
    cur.execute("create temp table if not exists ctas_rows (n int) as select 1 as n")
    assert cur.stats == QueryResultStats(None, None, None, None)  # it exists: nothing inserted
    cur.execute("create temp view ctas_view as select n from ctas_rows")
    assert cur.stats == QueryResultStats(None, None, None, None)


def test_truncate_reports_the_rows_it_deletes(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create temp table truncated (n int)")
    cur.execute("insert into truncated values (1), (2), (3)")
    cur.execute("truncate table truncated")
    assert cur.stats == QueryResultStats(0, 3, 0, 0)
    assert cur.execute("select count(*) from truncated").fetchone() == (0,)


def test_dml_changing_no_row_sends_no_statistics(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create temp table untouched (n int)")
    cur.execute("insert into untouched values (1)")
    cur.execute("update untouched set n = 2 where n = 999")
    assert cur.stats == QueryResultStats(None, None, None, None)
    assert cur.rowcount == 0
    cur.execute("delete from untouched where n = 999")
    assert cur.stats == QueryResultStats(None, None, None, None)


def test_update_from_counts_each_target_row_once_and_the_extra_matches_as_duplicates(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create temp table targets (k int, v int)")
    cur.execute("insert into targets values (0, 0), (0, 0), (1, 0), (2, 0)")  # k=0 twice, k=2 never matched
    cur.execute("create temp table sources (k int)")
    cur.execute("insert into sources values (0), (0), (0), (1), (1)")  # k=0 three times, k=1 twice
    cur.execute("update targets t set v = 1 from sources s where t.k = s.k")
    # 2 x 3 + 1 x 2 = 8 matches of 3 target rows: 3 rows updated, 5 duplicates
    assert cur.stats == QueryResultStats(0, 0, 3, 5)
    assert cur.rowcount == 3
    assert cur.execute("select count(*) from targets where v = 1").fetchone() == (3,)


@pytest.mark.parametrize("paramstyle", ["qmark", "numeric"])
def test_a_bound_update_from_counts_its_rows_too(sf: Any, connect: Any, paramstyle: str) -> None:
    cur = connect(paramstyle=paramstyle).cursor()
    cur.execute("create temp table bound_targets (k int, v int)")
    cur.execute("insert into bound_targets values (0, 0), (1, 0), (2, 0)")
    cur.execute("create temp table bound_sources (k int, tag varchar)")
    cur.execute("insert into bound_sources values (0, 'a'), (0, 'a'), (1, 'a'), (2, 'b')")
    one, two, three = ("?", "?", "?") if paramstyle == "qmark" else (":1", ":2", ":3")
    join = f"from bound_sources s where t.k = s.k and s.tag = {two} and t.k < {three}"
    cur.execute(f"update bound_targets t set v = {one} {join}", [7, "a", 5])
    assert cur.stats == QueryResultStats(0, 0, 2, 1)  # rows 0 and 1; row 0 matched twice
    assert cur.execute("select k from bound_targets where v = 7 order by k").fetchall() == [(0,), (1,)]
