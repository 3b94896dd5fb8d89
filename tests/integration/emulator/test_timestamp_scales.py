"""TIMESTAMP and TIME values keep the fractional digits their column or cast declares, cut toward the earlier time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration

TEXTS = [
    "2017-01-01 12:00:00.123456789",
    "1969-12-31 23:59:59.000000001",
    "1969-12-31 11:59:59.987654",
    "2014-01-02 16:00:00",
]


def _cut(text: str, scale: int) -> dt.datetime:
    """What Snowflake keeps of the text at a scale of 0-6: the first `scale` digits, not rounded."""
    whole, _, fraction = text.partition(".")
    digits = (fraction[:scale] if scale else "").ljust(6, "0")
    return dt.datetime.fromisoformat(whole).replace(microsecond=int(digits))


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is None else value.astimezone(dt.timezone.utc).replace(tzinfo=None)


@pytest.mark.parametrize("sf_type", ["TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ"])
@pytest.mark.parametrize("scale", [0, 1, 3, 5])
def test_inserted_values_are_cut_to_the_column_scale(connect: Any, sf_type: str, scale: int) -> None:
    cur = connect(timezone="UTC").cursor()
    cur.execute(f"CREATE OR REPLACE TABLE scaled (i INT, t {sf_type}({scale}))")
    cur.execute("INSERT INTO scaled VALUES " + ", ".join(f"({i}, '{t}')" for i, t in enumerate(TEXTS)))
    rows = cur.execute("SELECT t FROM scaled ORDER BY i").fetchall()
    assert [_naive_utc(t) for (t,) in rows] == [_cut(t, scale) for t in TEXTS]
    frame = cur.execute("SELECT t FROM scaled ORDER BY i").fetch_pandas_all()
    assert [_naive_utc(t.to_pydatetime()) for t in frame["T"]] == [_cut(t, scale) for t in TEXTS]


def test_every_write_path_cuts_and_a_rollback_undoes_the_cut_rows(connect: Any) -> None:
    conn = connect(timezone="UTC", paramstyle="qmark")
    cur = conn.cursor()
    cur.execute("CREATE OR REPLACE TABLE scaled (i INT, t TIMESTAMP_NTZ(2), tm TIME(0))")
    cur.execute("INSERT INTO scaled SELECT 1, '2020-01-01 00:00:00.999'::TIMESTAMP_NTZ, '10:00:00.9'::TIME")
    cur.executemany(
        "INSERT INTO scaled VALUES (?, ?, ?)",
        [(2, "2020-01-01 00:00:00.123456", "01:02:03.999999"), (3, None, None)],
    )
    cur.execute("UPDATE scaled SET t = '2021-05-05 05:05:05.55555' WHERE i = 3")
    cur.execute(
        "MERGE INTO scaled USING (SELECT 4 AS i) s ON scaled.i = s.i "
        "WHEN NOT MATCHED THEN INSERT (i, t, tm) VALUES (4, '1969-12-31 23:59:59.001', '23:59:59.5')"
    )
    cur.execute("BEGIN")
    cur.execute("INSERT INTO scaled VALUES (5, '2022-01-01 00:00:00.129', NULL)")
    cur.execute("ROLLBACK")
    rows = cur.execute("SELECT i, t, tm FROM scaled ORDER BY i").fetchall()
    assert rows == [
        (1, dt.datetime(2020, 1, 1, 0, 0, 0, 990000), dt.time(10, 0, 0)),
        (2, dt.datetime(2020, 1, 1, 0, 0, 0, 120000), dt.time(1, 2, 3)),
        (3, dt.datetime(2021, 5, 5, 5, 5, 5, 550000), None),
        (4, dt.datetime(1969, 12, 31, 23, 59, 59), dt.time(23, 59, 59)),
    ]


def test_casts_with_a_scale_cut_the_value(connect: Any) -> None:
    cur = connect(timezone="UTC", paramstyle="qmark").cursor()
    row = cur.execute(
        "SELECT '2017-01-01 12:00:00.123456789'::TIMESTAMP_NTZ(3), CAST('1969-12-31 23:59:59.5' AS TIMESTAMP_TZ(0)),"
        " TRY_CAST('12:34:56.789' AS TIME(1)), CAST(? AS TIMESTAMP_LTZ(4)),"
        " CAST(CAST('2017-01-01 12:00:00.987654' AS TIMESTAMP_NTZ(5)) AS TIMESTAMP_NTZ(2))",
        ["2017-01-01 12:00:00.987654"],
    ).fetchone()
    assert row is not None
    assert row[0] == dt.datetime(2017, 1, 1, 12, 0, 0, 123000)
    assert _naive_utc(row[1]) == dt.datetime(1969, 12, 31, 23, 59, 59)
    assert row[2] == dt.time(12, 34, 56, 700000)
    assert _naive_utc(row[3]) == dt.datetime(2017, 1, 1, 12, 0, 0, 987600)
    assert row[4] == dt.datetime(2017, 1, 1, 12, 0, 0, 980000)


def test_the_declared_scale_follows_the_table(connect: Any) -> None:
    cur = connect(timezone="UTC").cursor()
    cur.execute("CREATE OR REPLACE TABLE scaled (t TIMESTAMP_NTZ(0))")
    cur.execute("ALTER TABLE scaled RENAME TO renamed")
    cur.execute("ALTER TABLE renamed ADD COLUMN u TIMESTAMP_NTZ(1)")
    cur.execute("ALTER TABLE renamed RENAME COLUMN t TO v")
    cur.execute("INSERT INTO renamed (v, u) VALUES ('2020-01-01 00:00:00.77', '2020-01-01 00:00:00.77')")
    cur.execute("CREATE OR REPLACE TABLE cloned CLONE renamed")
    cur.execute("INSERT INTO cloned (v, u) VALUES ('2020-01-01 00:00:01.77', '2020-01-01 00:00:01.77')")
    # a table re-created without a scale keeps the microseconds
    cur.execute("CREATE OR REPLACE TABLE renamed (v TIMESTAMP_NTZ, u TIMESTAMP_NTZ)")
    cur.execute("INSERT INTO renamed VALUES ('2020-01-01 00:00:00.77', '2020-01-01 00:00:00.77')")
    cur.execute("CREATE TABLE IF NOT EXISTS renamed (v TIMESTAMP_NTZ(0), u TIMESTAMP_NTZ(0))")
    cur.execute("INSERT INTO renamed VALUES ('2020-01-01 00:00:02.77', '2020-01-01 00:00:02.77')")
    assert cur.execute("SELECT v, u FROM cloned ORDER BY v").fetchall() == [
        (dt.datetime(2020, 1, 1, 0, 0, 0), dt.datetime(2020, 1, 1, 0, 0, 0, 700000)),
        (dt.datetime(2020, 1, 1, 0, 0, 1), dt.datetime(2020, 1, 1, 0, 0, 1, 700000)),
    ]
    assert cur.execute("SELECT v FROM renamed ORDER BY v").fetchall() == [
        (dt.datetime(2020, 1, 1, 0, 0, 0, 770000),),
        (dt.datetime(2020, 1, 1, 0, 0, 2, 770000),),
    ]


def test_a_table_created_from_a_query_with_declared_columns_is_cut(connect: Any) -> None:
    cur = connect(timezone="UTC").cursor()
    cur.execute("CREATE OR REPLACE TABLE scaled (t TIMESTAMP_NTZ(1)) AS SELECT '2020-01-01 00:00:00.99'::TIMESTAMP_NTZ")
    assert cur.execute("SELECT t FROM scaled").fetchall() == [(dt.datetime(2020, 1, 1, 0, 0, 0, 900000),)]


def test_convert_timezone_of_two_arguments_gives_the_instant_as_timestamp_tz(connect: Any) -> None:
    cur = connect(timezone="America/New_York").cursor()
    row = cur.execute(
        "SELECT CONVERT_TIMEZONE('UTC', '2020-01-01 01:02:03.123456') AS A,"
        " CONVERT_TIMEZONE('Asia/Tokyo', '2020-06-01 12:00:00 +02:00'::TIMESTAMP_TZ) AS B,"
        " CONVERT_TIMEZONE(NULL, '2020-06-01 12:00:00'::TIMESTAMP_LTZ) AS C"
    ).fetchone()
    assert row is not None
    assert [column.type_code for column in cur.description] == [7, 7, 7]  # TIMESTAMP_TZ
    # text is read in the session's zone, as Snowflake reads text as TIMESTAMP_TZ
    assert row[0].astimezone(dt.timezone.utc).replace(tzinfo=None) == dt.datetime(2020, 1, 1, 6, 2, 3, 123456)
    assert row[1] == dt.datetime(2020, 6, 1, 10, 0, tzinfo=dt.timezone.utc)
    assert row[2] is None
    with pytest.raises(ProgrammingError, match="Unknown TimeZone 'Mars/Olympus'"):
        cur.execute("SELECT CONVERT_TIMEZONE('Mars/Olympus', CURRENT_TIMESTAMP())")


def test_results_report_timestamp_ltz_for_plain_columns_casts_and_current_timestamp(connect: Any) -> None:
    cur = connect(timezone="America/Los_Angeles").cursor()
    cur.execute("CREATE OR REPLACE TABLE typed (ltz TIMESTAMP_LTZ, tz TIMESTAMP_TZ(3), ntz TIMESTAMP_NTZ(0), n INT)")
    cur.execute("INSERT INTO typed VALUES ('2020-01-01 10:00:00', '2020-01-01 10:00:00', '2020-01-01 10:00:00', 1)")
    expected = [("LTZ", 6), ("TZ", 7), ("NTZ", 8), ("N", 0)]  # type codes: LTZ 6, TZ 7, NTZ 8, FIXED 0
    for sql in ("SELECT ltz, tz, ntz, n FROM typed", "SELECT * FROM typed", "SELECT t.ltz, tz, ntz, n FROM typed t"):
        for _ in range(2):  # the second run of a text takes its kept plan
            cur.execute(sql)
            assert [(c.name, c.type_code) for c in cur.description] == expected
    row = cur.execute("SELECT ltz FROM typed").fetchone()
    assert row is not None and str(row[0].tzinfo) == "America/Los_Angeles"  # the session's zone, as for LTZ
    assert row[0].replace(tzinfo=None) == dt.datetime(2020, 1, 1, 10, 0)
    frame = cur.execute("SELECT ltz FROM typed").fetch_pandas_all()
    assert frame["LTZ"][0] == row[0]
    cur.execute("SELECT '2020-01-01'::TIMESTAMP_LTZ(2) AS a, CURRENT_TIMESTAMP() AS b, ltz AS c, tz FROM typed")
    assert [c.type_code for c in cur.description] == [6, 6, 6, 7]
    # an expression of a column has DuckDB's type, TIMESTAMP_TZ
    cur.execute("SELECT DATEADD(day, 1, ltz) AS d FROM typed")
    assert [c.type_code for c in cur.description] == [7]


SCALED_VALUES = (
    "CREATE OR REPLACE TABLE typed (i INT, ntz TIMESTAMP_NTZ(3), ltz TIMESTAMP_LTZ(0), tz TIMESTAMP_TZ(5), tm TIME(2))"
)


@pytest.mark.parametrize("result_format", ["ARROW", "JSON"])
def test_results_report_the_declared_scale_and_values_arrive_whole(connect: Any, result_format: str) -> None:
    conn = connect(timezone="UTC", session_parameters={"PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": result_format})
    cur = conn.cursor()
    cur.execute(SCALED_VALUES)
    cur.execute(
        "INSERT INTO typed VALUES (1, '1969-12-31 23:59:59.0019', '1969-12-31 23:59:59.9', "
        "'2020-02-02 02:02:02.1234567', '23:59:59.999'), (2, NULL, NULL, NULL, NULL), "
        "(3, '9999-12-31 23:59:59.999999', '0001-01-01 00:00:00', '2262-04-12 00:00:00.000019', '00:00:00.01')"
    )
    sql = "SELECT ntz, ltz, tz, tm, CAST(ntz AS TIMESTAMP_NTZ(1)) AS c FROM typed ORDER BY i"
    rows = cur.execute(sql).fetchall()
    assert [(c.name, c.scale) for c in cur.description] == [("NTZ", 3), ("LTZ", 0), ("TZ", 5), ("TM", 2), ("C", 1)]
    utc = dt.timezone.utc
    assert [tuple(_naive_utc(v) if isinstance(v, dt.datetime) else v for v in row) for row in rows] == [
        (
            dt.datetime(1969, 12, 31, 23, 59, 59, 1000),
            dt.datetime(1969, 12, 31, 23, 59, 59),
            dt.datetime(2020, 2, 2, 2, 2, 2, 123450),
            dt.time(23, 59, 59, 990000),
            dt.datetime(1969, 12, 31, 23, 59, 59),
        ),
        (None, None, None, None, None),
        (
            dt.datetime(9999, 12, 31, 23, 59, 59, 999000),
            dt.datetime(1, 1, 1),
            dt.datetime(2262, 4, 12, 0, 0, 0, 10),
            dt.time(0, 0, 0, 10000),
            dt.datetime(9999, 12, 31, 23, 59, 59, 900000),
        ),
    ]
    assert rows[0][1].tzinfo is not None and rows[0][2].utcoffset() == utc.utcoffset(None)
    if result_format == "ARROW":
        # pandas takes the unit of the scale: a year-9999 value of scale 3 is no overflow
        frame = cur.execute(sql).fetch_pandas_all()
        assert str(frame["NTZ"].dtype) == "datetime64[ms]"
        assert frame["NTZ"][2].to_pydatetime() == dt.datetime(9999, 12, 31, 23, 59, 59, 999000)
        assert frame["TZ"][0].to_pydatetime().astimezone(utc) == dt.datetime(2020, 2, 2, 2, 2, 2, 123450, tzinfo=utc)


def test_an_asynchronous_insert_is_cut_too(connect: Any, wait_done: Any) -> None:
    conn = connect(timezone="UTC")
    cur = conn.cursor()
    cur.execute("CREATE OR REPLACE TABLE scaled (t TIMESTAMP_NTZ(1))")
    cur.execute_async("INSERT INTO scaled VALUES ('2020-01-01 00:00:00.99')")
    wait_done(conn, cur.sfqid)
    assert cur.execute("SELECT t FROM scaled").fetchall() == [(dt.datetime(2020, 1, 1, 0, 0, 0, 900000),)]


def test_a_table_created_from_a_query_takes_its_columns_scales(connect: Any) -> None:
    cur = connect(timezone="UTC").cursor()
    cur.execute("CREATE OR REPLACE TABLE source (t TIMESTAMP_NTZ(1), l TIMESTAMP_LTZ)")
    cur.execute("CREATE OR REPLACE TABLE copied AS SELECT * FROM source")
    cur.execute("CREATE OR REPLACE TABLE picked AS SELECT t AS u, l, '2020-01-01'::TIMESTAMP_NTZ(2) AS c FROM source")
    for table in ("copied", "picked"):
        cur.execute(
            f"INSERT INTO {table} SELECT '2020-01-01 00:00:00.99', '2020-01-01 00:00:00.99'"
            + (", '2020-01-01 00:00:00.999'" if table == "picked" else "")
        )
    assert cur.execute("SELECT * FROM copied").fetchall()[0][0] == dt.datetime(2020, 1, 1, 0, 0, 0, 900000)
    row = cur.execute("SELECT * FROM picked").fetchone()
    assert row is not None and (row[0], row[2]) == (
        dt.datetime(2020, 1, 1, 0, 0, 0, 900000),
        dt.datetime(2020, 1, 1, 0, 0, 0, 990000),
    )
    assert [(c.name, c.type_code, c.scale) for c in cur.description] == [("U", 8, 1), ("L", 6, 9), ("C", 8, 2)]
