"""3 + 11: qmark and numeric binds with typed values, executemany array binds, values come back right."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

pytestmark = pytest.mark.integration

VALUES: list[Any] = [
    7,
    -2.5,
    decimal.Decimal("12345.678"),
    "text with 'quotes' and %s",
    True,
    None,
    dt.date(2024, 2, 29),
    dt.time(23, 59, 58, 123456),
    dt.datetime(2024, 2, 29, 12, 30, 45, 654321),
    b"\x00\xffbytes",
]


@pytest.mark.parametrize("paramstyle", ["qmark", "numeric"])
def test_typed_values_round_trip(connect: Any, paramstyle: str) -> None:
    cur = connect(paramstyle=paramstyle).cursor()
    marks = ", ".join("?" if paramstyle == "qmark" else f":{i + 1}" for i in range(len(VALUES)))
    row = cur.execute(f"select {marks}", VALUES).fetchone()
    assert list(row) == [v if not isinstance(v, bytes) else bytearray(v) for v in VALUES]
    assert type(row[1]) is float and type(row[2]) is decimal.Decimal and type(row[0]) is int


def test_aware_datetimes_bind_as_timestamp_tz(connect: Any) -> None:
    cur = connect(paramstyle="qmark").cursor()
    aware = dt.datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    (back,) = cur.execute("select ?", [("TIMESTAMP_TZ", aware)]).fetchone()
    assert back == aware  # the same instant (returned in UTC)
    assert back.utcoffset() is not None


def test_binds_are_not_in_the_query_text(sf: Any, connect: Any) -> None:
    cur = connect(paramstyle="numeric").cursor()
    cur.execute("select :1 as secret_value", ["do-not-log-me"])
    (entry,) = sf.query_history(cur.sfqid)
    assert "do-not-log-me" not in entry.query_text


def test_executemany_inserts_with_one_array_bind(sf: Any, connect: Any) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace table batch_rows (id int, amount number(10,2), label text, created timestamp_ntz)")
    rows = [(i, decimal.Decimal(f"{i}.25"), f"row {i}", dt.datetime(2024, 1, 1, 0, 0, i)) for i in range(50)]
    before = len(sf.query_history())
    cur.executemany("insert into batch_rows values (?, ?, ?, ?)", rows)
    assert cur.rowcount == 50
    assert len(sf.query_history()) == before + 1, "an array bind is one statement"
    back = cur.execute("select * from batch_rows order by id").fetchall()
    assert back == rows


def test_an_array_bind_writes_all_its_rows_or_none(connect: Any) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace table all_or_none (id int not null)")
    with pytest.raises(Exception, match="NULL"):
        cur.executemany("insert into all_or_none values (?)", [(1,), (None,), (3,)])
    assert cur.execute("select count(*) from all_or_none").fetchone() == (0,)
    # inside an explicit transaction the rows join it, and its ROLLBACK takes them back
    cur.execute("begin")
    cur.executemany("insert into all_or_none values (?)", [(4,), (5,)])
    cur.execute("rollback")
    assert cur.execute("select count(*) from all_or_none").fetchone() == (0,)
    cur.execute("begin")
    cur.executemany("insert into all_or_none values (?)", [(6,), (7,)])
    cur.execute("commit")
    assert cur.execute("select id from all_or_none order by id").fetchall() == [(6,), (7,)]


def test_nulls_of_every_type_come_back_as_null(connect: Any) -> None:
    cur = connect().cursor()
    types = [
        "int",
        "number(10,2)",
        "float",
        "text",
        "boolean",
        "date",
        "time",
        "timestamp_ntz",
        "timestamp_tz",
        "timestamp_ltz",
        "binary",
        "variant",
    ]
    cur.execute(f"create or replace table nulls ({', '.join(f'c{i} {t}' for i, t in enumerate(types))})")
    cur.execute(f"insert into nulls values ({', '.join('null' for _ in types)})")
    cur.execute("insert into nulls (c0) values (1)")
    rows = cur.execute("select * from nulls order by c0 nulls first").fetchall()
    assert rows[0] == tuple(None for _ in types)
    assert rows[1] == (1, *[None] * (len(types) - 1))


def test_timestamps_mixed_with_nulls_keep_their_values(connect: Any) -> None:
    cur = connect(paramstyle="qmark").cursor()
    stamps = [dt.datetime(1969, 12, 31, 23, 59, 59, 500000), None, dt.datetime(2030, 6, 1, 8, 0)]
    cur.execute("create or replace table stamps (i int, ts timestamp_ntz)")
    for i, ts in enumerate(stamps):  # one by one: the driver sends an array bind mixing NULLs as TEXT
        cur.execute("insert into stamps values (?, ?)", (i, ts))
    assert [ts for _, ts in cur.execute("select * from stamps order by i").fetchall()] == stamps


def test_timestamp_with_time_zone_literal(connect: Any) -> None:
    cur = connect().cursor()
    (value,) = cur.execute("select '2024-03-10 12:00:00 +05:00'::timestamp_tz").fetchone()
    assert value == dt.datetime(2024, 3, 10, 7, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("paramstyle", "sql"),
    [
        ("qmark", "insert into {t} (id, label, amount) values (?, upper(?), ?)"),
        ("numeric", "insert into {t} (amount, id, label) values (:3, :1, upper(:2))"),
    ],
)
def test_a_large_array_bind_inserts_every_row_with_expressions_and_nulls(
    sf: Any, connect: Any, paramstyle: str, sql: str
) -> None:
    cur = connect(paramstyle=paramstyle).cursor()
    table = f"many_{paramstyle}"
    cur.execute(f"create or replace table {table} (id int, label text, amount number(10,2))")
    rows = [(i, None if i % 7 == 0 else f"row {i}", decimal.Decimal(i) / 4) for i in range(3000)]
    cur.executemany(sql.format(t=table), rows)
    assert cur.rowcount == 3000
    (entry,) = [q for q in sf.query_history() if q.query_text.startswith(f"insert into {table}")]
    assert entry.rows_produced == 3000
    back = cur.execute(f"select id, label, amount from {table} order by id").fetchall()
    assert back == [(i, label.upper() if label else None, amount) for i, label, amount in rows]


def test_an_array_bind_of_mixed_value_types_still_inserts_each_row(connect: Any) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace table mixed_binds (v text)")
    cur.executemany("insert into mixed_binds values (?)", [("a",), (1,), (2.5,), (None,)])
    assert cur.rowcount == 4
    assert cur.execute("select v from mixed_binds order by v nulls last").fetchall() == [
        ("1",),
        ("2.5",),
        ("a",),
        (None,),
    ]


@pytest.mark.parametrize("paramstyle", ["qmark", "numeric"])
def test_a_bound_format_formats_a_bound_date_or_timestamp(connect: Any, paramstyle: str) -> None:
    cur = connect(paramstyle=paramstyle).cursor()
    mark = ["?", "?"] if paramstyle == "qmark" else [":1", ":2"]
    sql = f"select to_char({mark[0]}, {mark[1]})"
    assert cur.execute(sql, [dt.date(2024, 3, 1), "YYYY/MM/DD"]).fetchone() == ("2024/03/01",)
    assert cur.execute(sql, [dt.datetime(2024, 3, 1, 13, 5), "DD.MM.YYYY HH24:MI"]).fetchone() == ("01.03.2024 13:05",)


def test_a_number_with_a_bound_format_is_refused_not_misformatted(connect: Any) -> None:
    from snowflake.connector.errors import ProgrammingError

    with pytest.raises(ProgrammingError, match="not emulated"):
        connect(paramstyle="qmark").cursor().execute("select to_char(?, ?)", [12.5, "999.99"])
