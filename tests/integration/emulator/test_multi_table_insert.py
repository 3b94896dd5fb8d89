"""Multi-table inserts (`INSERT [OVERWRITE] ALL | FIRST`) as Snowflake runs them: rows to every target whose clause
holds, one statement (all targets or none), the rows inserted per target in the answer and in `cursor.stats`."""

from __future__ import annotations

from typing import Any

import pytest
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def _tables(cur: Any) -> None:
    cur.execute("create or replace table mti_src (n int)")
    cur.execute("insert into mti_src values (5), (15), (25), (null)")
    cur.execute("create or replace table mti_a (n int)")
    cur.execute("create or replace table mti_b (n int, tag text)")


def _rows(cur: Any, table: str) -> list[tuple[Any, ...]]:
    rows = cur.execute(f"select * from {table}").fetchall()
    return sorted(rows, key=lambda row: tuple((value is None, value or 0) for value in row))


def test_an_unconditional_insert_all_fills_every_target(connect: Any) -> None:
    cur = connect().cursor()
    _tables(cur)
    cur.execute("insert all into mti_a into mti_b (n, tag) values (n, 'x') select n from mti_src")
    assert cur.rowcount == 8
    assert [d.name for d in cur.description] == [
        "number of rows inserted into MTI_A",
        "number of rows inserted into MTI_B",
    ]
    assert cur.fetchall() == [(4, 4)]
    assert cur.stats.num_rows_inserted == 8 and cur.stats.num_rows_deleted == 0
    assert _rows(cur, "mti_a") == [(5,), (15,), (25,), (None,)]
    assert _rows(cur, "mti_b") == [(5, "x"), (15, "x"), (25, "x"), (None, "x")]


def test_insert_all_takes_every_clause_that_holds_and_else_the_rest(connect: Any) -> None:
    cur = connect().cursor()
    _tables(cur)
    cur.execute(
        "insert all when n > 20 then into mti_a when n > 10 then into mti_a into mti_b values (n, 'ten') "
        "else into mti_b values (n, 'else') select n from mti_src"
    )
    assert cur.fetchall() == [(3, 4)]
    assert _rows(cur, "mti_a") == [(15,), (25,), (25,)]
    assert _rows(cur, "mti_b") == [(5, "else"), (15, "ten"), (25, "ten"), (None, "else")]


def test_insert_first_takes_the_first_clause_that_holds(connect: Any) -> None:
    cur = connect().cursor()
    _tables(cur)
    cur.execute(
        "insert first when n > 20 then into mti_a when n > 10 then into mti_b values (n, 'ten') "
        "else into mti_b values (n, 'else') select n from mti_src"
    )
    assert cur.rowcount == 4
    assert _rows(cur, "mti_a") == [(25,)]
    assert _rows(cur, "mti_b") == [(5, "else"), (15, "ten"), (None, "else")]


def test_overwrite_empties_the_targets_first_and_counts_their_rows_deleted(connect: Any) -> None:
    cur = connect().cursor()
    _tables(cur)
    cur.execute("insert into mti_a values (100), (101)")
    cur.execute("insert overwrite all into mti_a select n from mti_src where n > 10")
    assert cur.stats.num_rows_inserted == 2 and cur.stats.num_rows_deleted == 2
    assert _rows(cur, "mti_a") == [(15,), (25,)]


def test_a_failing_target_leaves_every_target_untouched(connect: Any) -> None:
    cur = connect().cursor()
    _tables(cur)
    with pytest.raises(ProgrammingError) as raised:
        cur.execute("insert all into mti_a into mti_missing select n from mti_src")
    assert raised.value.errno == 2003
    assert _rows(cur, "mti_a") == []


def test_with_autocommit_off_the_inserts_join_the_transaction(connect: Any) -> None:
    conn = connect(autocommit=False)
    cur = conn.cursor()
    _tables(cur)
    cur.execute("insert all into mti_a into mti_b (n) select n from mti_src")
    conn.rollback()
    assert _rows(cur, "mti_a") == [] and _rows(cur, "mti_b") == []


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("insert all into mti_a select uniform(1, 9, random()) from mti_src", "UNIFORM"),
        ("insert all into mti_a select n from mti_a", "MTI_A"),
    ],
)
def test_a_source_that_could_differ_between_targets_is_refused(connect: Any, sql: str, named: str) -> None:
    cur = connect().cursor()
    _tables(cur)
    with pytest.raises(ProgrammingError, match=f"{named}.*not emulated") as raised:
        cur.execute(sql)
    assert raised.value.errno == 2
