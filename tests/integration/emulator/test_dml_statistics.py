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
