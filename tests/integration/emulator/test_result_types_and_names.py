"""Result types and column names as Snowflake sends them: NUMBER(p,0) as int64 (128-bit beyond), expressions
named by their text in upper case."""

from __future__ import annotations

import decimal
from typing import Any

import pyarrow as pa
import pytest

pytestmark = pytest.mark.integration


def test_number_with_scale_zero_arrives_as_int64(connect: Any) -> None:
    cur = connect().cursor()
    sql = "select 42::number(38, 0) as n, null::number(38, 0) as empty, 1.25::number(5, 2) as d"
    table = cur.execute(sql).fetch_arrow_all()
    assert table.schema.field("N").type == pa.int64()
    frame = cur.execute("select 42::number(38, 0) as n").fetch_pandas_all()
    assert str(frame["N"].dtype) == "int64" and frame["N"][0] == 42
    assert cur.execute(sql).fetchone() == (42, None, decimal.Decimal("1.25"))


def test_a_scaled_number_arrives_as_scaled_integers(connect: Any) -> None:
    # Snowflake sends NUMBER(p<=18, s>0) as unscaled integers: the driver makes float64 of them in Arrow unless
    # asked for decimals, and Decimal objects in rows either way.
    sql = "select 1.25::number(5, 2) as d, -3.5::number(10, 1) as e"
    plain = connect().cursor()
    assert plain.execute(sql).fetchone() == (decimal.Decimal("1.25"), decimal.Decimal("-3.5"))
    assert plain.execute(sql).fetch_arrow_all().schema.field("D").type == pa.float64()
    exact = connect(arrow_number_to_decimal=True).cursor().execute(sql).fetch_arrow_all()
    assert exact.column("D").to_pylist() == [decimal.Decimal("1.25")] and exact.column("E").type.scale == 1


def test_a_wide_scaled_number_arrives_as_scaled_integers_when_they_fit(connect: Any) -> None:
    # NUMBER(38, s) values whose unscaled integers fit int64 come as int64, as Snowflake narrows them: floats in
    # Arrow and pandas, Decimal objects in rows; wider ones stay 128-bit decimals (Decimal objects in pandas)
    cur = connect().cursor()
    sql = "select 1.2345::number(38, 10) as a, -0.000000001::number(38, 18) as b"
    assert cur.execute(sql).fetchone() == (decimal.Decimal("1.2345"), decimal.Decimal("-1E-9"))
    frame = cur.execute(sql).fetch_pandas_all()
    assert str(frame["A"].dtype) == "float64" and frame["A"][0] == 1.2345 and frame["B"][0] == -1e-9
    wide = cur.execute("select 9.9999999999999999999999999999999999999::number(38, 37) as w").fetch_arrow_all()
    assert wide.column("W").to_pylist() == [decimal.Decimal("9.9999999999999999999999999999999999999")]


def test_number_beyond_int64_stays_exact(connect: Any) -> None:
    cur = connect().cursor()
    big = 12345678901234567890123
    sql = f"select {big} as big, 7::number(38, 0) as small"
    assert cur.execute(sql).fetchone() == (big, 7)
    table = cur.execute(sql).fetch_arrow_all()
    assert table.column("BIG").to_pylist() == [decimal.Decimal(big)]
    assert table.schema.field("SMALL").type == pa.int64()


def test_a_number_38_column_holds_38_digits(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace temporary table wide (i int, n number(38, 0), d decimal(38, 0))")
    big = 99999999999999999999999999999999999999
    cur.execute(f"insert into wide values (1, {big}, -{big}), (2, 7, 7)")
    assert cur.execute("select n, d, n - 1 from wide order by i").fetchall() == [(big, -big, big - 1), (7, 7, 6)]
    frame = cur.execute("select n from wide where i = 2").fetch_pandas_all()
    assert str(frame["N"].dtype) == "int64"


def test_unaliased_expressions_are_named_as_snowflake_names_them(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace temporary table named (a int, x int)")
    cur.execute("insert into named values (1, 2), (1, 3)")
    cur.execute("select count(*), 'b', sum(x), a, a as renamed, max(x) + 1 from named group by a")
    assert [column.name for column in cur.description] == ["COUNT(*)", "'B'", "SUM(X)", "A", "RENAMED", "MAX(X) + 1"]
    assert cur.fetchall() == [(2, "b", 5, 1, 1, 4)]
    frame = cur.execute("select count(*) from named").fetch_pandas_all()
    assert list(frame.columns) == ["COUNT(*)"]


def test_unaliased_expressions_are_named_by_their_text_as_written(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("select 1.0::float, 'NaN'::float,  Null::float, 1+2, [1, 2], top_n from (select 3 as top_n)")
    names = [column.name for column in cur.description]
    assert names == ["1.0::FLOAT", "'NAN'::FLOAT", "NULL::FLOAT", "1+2", "[1, 2]", "TOP_N"]
    frame = cur.execute("select 1.0::float, 'NaN'::float, Null::float;").fetch_pandas_all()
    assert list(frame.columns) == ["1.0::FLOAT", "'NAN'::FLOAT", "NULL::FLOAT"]


def test_names_of_a_repeated_and_an_asynchronous_statement_match(connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    sql = "select 1 + 1, upper('x')"
    first = [c.name for c in cur.execute(sql).description]
    again = [c.name for c in cur.execute(sql).description]
    cur.execute_async(sql)
    wait_done(conn, cur.sfqid)
    cur.get_results_from_sfqid(cur.sfqid)
    cur.fetchall()
    assert first == again == [c.name for c in cur.description] == ["1 + 1", "UPPER('X')"]


def test_a_query_with_a_seeded_random_has_its_columns(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("select seq4() as n, uniform(1, 9, random(42)) as r from table(generator(rowcount => 3))")
    assert [c.name for c in cur.description] == ["N", "R"]
    rows = cur.fetchall()
    assert [n for n, _ in rows] == [0, 1, 2] and all(1 <= r <= 9 for _, r in rows)


def test_one_seed_gives_one_sequence_of_random_values(connect: Any) -> None:
    cur = connect().cursor()
    sql = "select random(100) as a, random(100) as b, random(7) as c from table(generator(rowcount => 50))"
    rows = cur.execute(sql).fetchall()
    assert all(a == b for a, b, _ in rows), "the same seed twice in a row is the same value"
    assert len({a for a, _, _ in rows}) == 50 and any(a != c for a, _, c in rows), "a sequence, seeded"
    assert cur.execute(sql).fetchall() == rows, "and the same sequence in the next query"
    cur.execute("create or replace temporary table seeded (c0 int, c1 int)")
    cur.execute("insert into seeded select random(100), random(100) from table(generator(rowcount => 20))")
    assert cur.execute("select count(*) from seeded where c0 = c1").fetchone() == (20,)
    assert cur.execute("select sum(random(1)) is not null from table(generator(rowcount => 2))").fetchone() == (True,)


def test_columns_say_whether_they_can_be_null_as_snowflake_says(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("CREATE OR REPLACE TEMPORARY TABLE NULLS (K INT NOT NULL, V VARCHAR)")
    cur.execute("INSERT INTO NULLS VALUES (1, 'a')")
    described = {c.name: (c.is_nullable, c.precision) for c in cur.execute("SELECT K, V FROM NULLS").description}
    cur.execute("SELECT SEQ4() AS S, RANDSTR(3, RANDOM()) AS R, 'x' AS L, NULL AS N FROM NULLS")
    described.update({c.name: (c.is_nullable, c.precision) for c in cur.description})
    described.update(
        {c.name: (c.is_nullable, c.precision) for c in cur.execute("SELECT COUNT(*) AS C FROM NULLS").description}
    )
    assert described["K"][0] is False and described["V"][0] is True, "a NOT NULL table column stays NOT NULL"
    assert described["S"] == (False, 10), "SEQ4 is NUMBER(10,0) NOT NULL"
    assert described["R"][0] is False and described["L"][0] is False
    assert described["C"] == (False, 18), "COUNT is NUMBER(18,0) NOT NULL"
    assert described["N"][0] is True
    union = cur.execute("SELECT 1 AS A UNION ALL SELECT NULL").description
    assert union[0].is_nullable is True, "a set operation's column is nullable when a branch is"
    empty = cur.execute("SELECT SEQ4() AS C1 FROM TABLE(GENERATOR(ROWCOUNT => 1)) WHERE 1 = 0")
    assert (empty.description[0].is_nullable, empty.description[0].precision) == (False, 10), "also without rows"
