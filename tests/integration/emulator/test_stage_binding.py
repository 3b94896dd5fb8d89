"""An `executemany` of more values than CLIENT_STAGE_ARRAY_BINDING_THRESHOLD goes through the driver's bind stage, as
against Snowflake: CREATE TEMPORARY STAGE SYSTEMBIND, a PUT of the rows as CSV, then the INSERT reading them.
Text binds read into TIMESTAMP_TZ/LTZ, DATE and BINARY columns as Snowflake reads text."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import os
import stat
from typing import Any

import pytest
import snowflake.connector

from flyteplugins.snowflake.local import LocalSnowflake

Connect = Any  # conftest's `connect` fixture


pytestmark = pytest.mark.integration

THRESHOLD = 65_280  # Snowflake's CLIENT_STAGE_ARRAY_BINDING_THRESHOLD
ROWS = 100_000


def _put(cur: Any, target: str, source: str = "1.csv") -> dict[str, Any]:
    """The local Snowflake's answer to the driver's PUT of a file into `target` (as `_upload_stream` sends it)."""
    ret: dict[str, Any] = cur._execute_helper(
        f"PUT file://{source} ?", binding_params={"1": {"type": "TEXT", "value": target}}
    )
    return ret


def _stage_location(cur: Any, target: str) -> str:
    """The directory the local Snowflake gives the driver for a PUT into its bind stage."""
    ret = _put(cur, target)
    assert ret["success"], ret
    return str(ret["data"]["stageInfo"]["location"])


def test_an_executemany_above_the_threshold_lands_every_row(connect: Connect) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace table staged (c1 integer, c2 string)")
    cur.executemany("insert into staged (c1, c2) values (?, ?)", [(i, f"test{i}") for i in range(ROWS)])
    assert cur.rowcount == ROWS
    assert cur.stats is not None and cur.stats.num_rows_inserted == ROWS
    assert cur.execute("select count(*), sum(c1), count(distinct c2), max(c2) from staged").fetchone() == (
        ROWS,
        sum(range(ROWS)),
        ROWS,
        "test99999",
    )
    # it went through the stage: the driver created it in this session
    assert [row[1] for row in cur.execute("show stages like 'SYSTEMBIND'").fetchall()] == ["SYSTEMBIND"]


def test_staged_values_arrive_as_the_same_values_bound_inline(connect: Connect) -> None:
    """Every type the driver writes as CSV text comes back as when the same rows are bound inline."""
    columns = "i int, f float, n number(12,3), s string, b boolean, d date, t time, ts timestamp_ntz, bin binary"
    rows: list[tuple[Any, ...]] = [
        (
            i,
            i / 8,
            decimal.Decimal(i) / 1000,
            [f"s{i}", "", None, 'quote " and, comma', "line\nbreak", "back\\slash"][i % 6],
            [True, False, None][i % 3],
            # the driver stages a date as milliseconds since the epoch, which Snowflake reads by their size: those
            # of 1969-1970 (below 31,536,000,000 in size) as seconds
            dt.date(1971, 1, 1) + dt.timedelta(days=i * 37) if i else dt.date(1750, 5, 9),
            dt.time(i % 24, i % 60, i % 60, i % 1_000_000),
            # a time since the epoch in nanoseconds: Snowflake reads an integer text by its size, so one within a
            # year of 1970 would read as milliseconds there (the driver sends dates in milliseconds for that)
            dt.datetime(1900, 1, 1, 23, 59) + dt.timedelta(seconds=i * 3607, microseconds=i),
            bytes([i % 256, 255 - i % 256]),
        )
        for i in range(THRESHOLD // 9 + 1)
    ]
    staged = connect(paramstyle="qmark").cursor()
    inline = connect(paramstyle="qmark", session_parameters={"CLIENT_STAGE_ARRAY_BINDING_THRESHOLD": 0}).cursor()
    staged.execute(f"create or replace table via_stage ({columns})")
    staged.execute(f"create or replace table via_request ({columns})")
    staged.executemany("insert into via_stage values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    inline.executemany("insert into via_request values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    assert staged.execute("show stages like 'SYSTEMBIND'").fetchall() != []
    assert inline.execute("show stages like 'SYSTEMBIND'").fetchall() == []
    got = staged.execute("select * from via_stage order by i").fetchall()
    assert got == inline.execute("select * from via_request order by i").fetchall()
    assert got[2][3] is None and got[1][3] == "" and got[3][3] == 'quote " and, comma' and got[4][3] == "line\nbreak"
    assert got[0][5] == dt.date(1750, 5, 9) and got[0][8] == bytes([0, 255])


def test_a_bad_value_in_the_last_staged_row_leaves_no_row(connect: Connect) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace table staged_bad (a int, b int)")
    rows: list[tuple[Any, ...]] = [(i, i) for i in range(THRESHOLD // 2)] + [("not a number", 0)]
    with pytest.raises(snowflake.connector.ProgrammingError, match="not a number"):
        cur.executemany("insert into staged_bad values (?, ?)", rows)
    assert cur.execute("select count(*) from staged_bad").fetchone() == (0,)


@pytest.mark.parametrize("column_type", ["timestamp_tz", "timestamp_ltz"])
@pytest.mark.parametrize("text", ["2023-03-15 13:17:29.207 +05:00", "2023-03-15 13:17:29.207 +0500"])
def test_offset_text_reads_into_tz_and_ltz_columns(connect: Connect, column_type: str, text: str) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute(f"create or replace temporary table offsets (ts {column_type})")
    cur.execute("insert into offsets values (?)", (text,))  # one bind
    cur.executemany("insert into offsets values (?)", [[text]] * 2)  # an array bind
    cur.executemany("insert into offsets values (?)", [[text]] * (THRESHOLD + 1))  # through the stage
    expected = dt.datetime(2023, 3, 15, 13, 17, 29, 207000, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert cur.execute("select count(*), min(ts), max(ts) from offsets").fetchone() == (
        THRESHOLD + 4,
        expected,
        expected,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-03-15 13:17:29 Z", dt.datetime(2023, 3, 15, 13, 17, 29, tzinfo=dt.timezone.utc)),
        ("2023-03-15T13:17:29-07", dt.datetime(2023, 3, 15, 20, 17, 29, tzinfo=dt.timezone.utc)),
        ("1678886249", dt.datetime(2023, 3, 15, 13, 17, 29, tzinfo=dt.timezone.utc)),  # seconds since the epoch
        ("1678886249207", dt.datetime(2023, 3, 15, 13, 17, 29, 207000, tzinfo=dt.timezone.utc)),  # milliseconds
    ],
)
def test_text_forms_of_a_timestamp_tz(connect: Connect, text: str, expected: dt.datetime) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace temporary table tz_forms (ts timestamp_tz, s string)")
    cur.execute("insert into tz_forms values (?, ?)", (text, text))
    assert cur.execute("select ts, s from tz_forms").fetchone() == (expected, text)  # the string column keeps it


@pytest.mark.parametrize("column_type", ["timestamp_tz", "timestamp_ltz"])
def test_offset_text_cast_to_tz_or_ltz(connect: Connect, column_type: str) -> None:
    cur = connect(paramstyle="qmark").cursor()
    text = "2023-03-15 13:17:29.207 +05:00"
    expected = dt.datetime(2023, 3, 15, 13, 17, 29, 207000, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    for _ in range(2):  # the same text again: the statement is run afresh, not from a kept plan
        assert cur.execute(f"select cast(? as {column_type}), ?", (text, text)).fetchone() == (expected, text)


def test_a_stage_path_out_of_the_stage_is_refused(connect: Connect) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace table escapes (a string)")
    cur.execute("create or replace temporary stage SYSTEMBIND file_format=(type=csv field_optionally_enclosed_by='\"')")
    for path in ("@SYSTEMBIND/../../etc", "@SYSTEMBIND/a/../../b", "@SYSTEMBIND//etc/passwd/.."):
        with pytest.raises(snowflake.connector.ProgrammingError, match="invalid stage location") as read:
            cur.execute("insert into escapes values (?)", _bind_stage=path)
        assert read.value.errno == 1003
        put = _put(cur, path)
        assert not put["success"] and "invalid stage location" in put["message"]
    assert cur.execute("select count(*) from escapes").fetchone() == (0,)
    for source in ("..", "."):
        put = cur._execute_helper(
            f"PUT file://{source} ?", binding_params={"1": {"type": "TEXT", "value": "@SYSTEMBIND/a"}}
        )
        assert not put["success"] and "invalid file name" in put["message"]


def test_a_missing_stage_or_an_empty_path_is_a_snowflake_error(connect: Connect) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace table nothing_staged (a string)")
    with pytest.raises(snowflake.connector.ProgrammingError, match=r"Stage '.*SYSTEMBIND' does not exist") as missing:
        cur.execute("insert into nothing_staged values (?)", _bind_stage="@SYSTEMBIND/0123abcd")
    assert missing.value.errno == 2003
    cur.execute("create or replace temporary stage SYSTEMBIND file_format=(type=csv)")
    with pytest.raises(snowflake.connector.ProgrammingError, match="was not found") as empty:
        cur.execute("insert into nothing_staged values (?)", _bind_stage="@SYSTEMBIND/0123abcd")
    assert empty.value.errno == 91016


def test_a_session_reads_and_writes_its_own_stage_only(connect: Connect) -> None:
    mine, other = connect(paramstyle="qmark").cursor(), connect(paramstyle="qmark").cursor()
    mine.execute("create or replace table own_stage (a string)")
    mine.execute("create or replace temporary stage SYSTEMBIND file_format=(type=csv)")
    mine._upload_stream(io.BytesIO(b"mine\n"), "@SYSTEMBIND/abc/1.csv", {"source_compression": "auto_detect"})
    with pytest.raises(snowflake.connector.ProgrammingError, match="does not exist or not authorized"):
        other.execute("insert into own_stage values (?)", _bind_stage="@SYSTEMBIND/abc")
    other.execute("create or replace temporary stage SYSTEMBIND file_format=(type=csv)")
    with pytest.raises(snowflake.connector.ProgrammingError, match="was not found"):
        other.execute("insert into own_stage values (?)", _bind_stage="@SYSTEMBIND/abc")
    assert _stage_location(mine, "@SYSTEMBIND/abc") != _stage_location(other, "@SYSTEMBIND/abc")
    mine.execute("insert into own_stage values (?)", _bind_stage="@SYSTEMBIND/abc")
    assert mine.execute("select a from own_stage").fetchall() == [("mine",)]


def test_the_stage_is_private_and_ends_with_its_session(connect: Connect) -> None:
    conn = connect(paramstyle="qmark")
    cur = conn.cursor()
    cur.execute("create or replace temporary stage SYSTEMBIND file_format=(type=csv)")
    location = _stage_location(cur, "@SYSTEMBIND/p")
    stage = os.path.dirname(location)
    root = os.path.dirname(stage)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700 and stat.S_IMODE(os.stat(stage).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(location).st_mode) == 0o700
    conn.close()
    assert not os.path.exists(stage)
    assert connect().cursor().execute("show stages like 'SYSTEMBIND'").fetchall() == []


def test_the_stages_go_when_the_server_stops() -> None:
    with LocalSnowflake() as sf, snowflake.connector.connect(**sf.connect_kwargs(paramstyle="qmark")) as conn:
        cur = conn.cursor()
        cur.execute("create or replace table left_behind (a int)")
        cur.executemany("insert into left_behind values (?)", [[i] for i in range(THRESHOLD)])
        root = os.path.dirname(os.path.dirname(_stage_location(cur, "@SYSTEMBIND/p")))
        assert os.path.isdir(root)
    assert not os.path.exists(root)


def test_put_to_any_other_stage_is_still_refused(connect: Connect) -> None:
    cur = connect(paramstyle="qmark").cursor()
    cur.execute("create or replace stage mine")
    put = _put(cur, "@mine/a")
    assert not put["success"] and "PUT is not supported" in put["message"]
