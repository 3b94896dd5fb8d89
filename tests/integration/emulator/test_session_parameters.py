"""Session parameters: ALTER SESSION SET/UNSET, a login's session parameters and SHOW PARAMETERS each act, with
Snowflake's defaults; an unknown or unsupported one is refused, never accepted and ignored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from snowflake.connector.errors import DatabaseError, ProgrammingError

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc
# A wall-clock time read as TIMESTAMP_LTZ: its instant depends on the session's TIMEZONE.
LTZ_OF_NOON = "select '2024-07-01 12:00:00'::timestamp_ntz::timestamp_ltz"


def _parameter(cur: Any, name: str) -> tuple[str, str, str]:
    rows = cur.execute(f"show parameters like '{name}' in session").fetchall()
    assert len(rows) == 1, rows
    key, value, default, level, _description, _kind = rows[0]
    assert key == name
    return value, default, level


def test_time_zone_defaults_to_snowflake_s(connect: Any) -> None:
    cur = connect().cursor()
    assert _parameter(cur, "TIMEZONE") == ("America/Los_Angeles", "America/Los_Angeles", "")
    (noon,) = cur.execute(LTZ_OF_NOON).fetchone()
    assert noon.utcoffset() == dt.timedelta(hours=-7)  # Pacific daylight time
    assert noon.astimezone(UTC) == dt.datetime(2024, 7, 1, 19, 0, tzinfo=UTC)


def test_time_zone_at_login_and_by_alter_session_moves_conversions(connect: Any) -> None:
    cur = connect(timezone="UTC").cursor()
    assert cur.execute(LTZ_OF_NOON).fetchone()[0].astimezone(UTC) == dt.datetime(2024, 7, 1, 12, tzinfo=UTC)
    cur.execute("alter session set timezone = 'Asia/Tokyo'")
    assert _parameter(cur, "TIMEZONE") == ("Asia/Tokyo", "America/Los_Angeles", "SESSION")
    (noon,) = cur.execute(LTZ_OF_NOON).fetchone()
    assert noon.astimezone(UTC) == dt.datetime(2024, 7, 1, 3, tzinfo=UTC)
    assert noon.utcoffset() == dt.timedelta(hours=9)
    # LTZ -> NTZ is the wall clock in the session's zone
    (wall,) = cur.execute("select '2024-07-01 00:00:00 +00:00'::timestamp_ltz::timestamp_ntz").fetchone()
    assert wall == dt.datetime(2024, 7, 1, 9, 0)
    cur.execute("alter session unset timezone")
    assert _parameter(cur, "TIMEZONE") == ("America/Los_Angeles", "America/Los_Angeles", "")


def test_time_zone_acts_on_asynchronous_queries(connect: Any, wait_done: Any) -> None:
    conn = connect(session_parameters={"TIMEZONE": "Europe/Berlin"})
    cur = conn.cursor()
    cur.execute_async(LTZ_OF_NOON)
    wait_done(conn, cur.sfqid)
    cur.get_results_from_sfqid(cur.sfqid)
    assert cur.fetchone()[0].astimezone(UTC) == dt.datetime(2024, 7, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("statement", "errno", "words"),
    [
        ("alter session set no_such_parameter = 1", 1006, "invalid parameter 'NO_SUCH_PARAMETER'"),
        ("alter session unset no_such_parameter", 1006, "invalid parameter 'NO_SUCH_PARAMETER'"),
        ("alter session set timezone = 'Nowhere/Land'", 1008, "invalid value [Nowhere/Land] for parameter"),
        ("alter session set multi_statement_count = 'many'", 1008, "for parameter 'MULTI_STATEMENT_COUNT'"),
        ("alter session set timestamp_type_mapping = 'TIMESTAMP_LTZ'", 2, "not emulated by the local Snowflake"),
        ("alter session set binary_output_format = 'BASE64'", 2, "'BINARY_OUTPUT_FORMAT' is not emulated"),
        ("alter session set", 1003, "syntax error"),
    ],
)
def test_an_unknown_or_unsupported_parameter_is_refused(connect: Any, statement: str, errno: int, words: str) -> None:
    cur = connect().cursor()
    with pytest.raises(ProgrammingError) as raised:
        cur.execute(statement)
    assert raised.value.errno == errno
    assert words in raised.value.msg


def test_an_unknown_login_parameter_is_refused(connect: Any) -> None:
    with pytest.raises(DatabaseError, match="invalid parameter 'NO_SUCH_PARAMETER'"):
        connect(session_parameters={"NO_SUCH_PARAMETER": 1})


def test_multi_statement_count_from_login_and_session(connect: Any) -> None:
    cur = connect(session_parameters={"MULTI_STATEMENT_COUNT": 0}).cursor()
    cur.execute("select 1; select 2")
    assert cur.nextset() is cur and cur.fetchall() == [(2,)]
    cur.execute("alter session set multi_statement_count = 3")
    with pytest.raises(ProgrammingError, match="Actual statement count 2 did not match the desired statement count 3"):
        cur.execute("select 1; select 2")
    plain = connect().cursor()
    with pytest.raises(ProgrammingError, match="desired statement count 1"):
        plain.execute("select 1; select 2")


def test_alter_session_in_a_multi_statement_request_reaches_the_driver(connect: Any) -> None:
    conn = connect(session_parameters={"MULTI_STATEMENT_COUNT": 0})
    conn.cursor().execute("select 1; alter session set json_indent = 4; alter session set timezone = 'UTC'")
    assert conn.converter.get_parameter("JSON_INDENT") == "4"
    assert conn.converter.get_parameter("TIMEZONE") == "UTC"


def test_statement_timeout_cancels_a_long_statement(sf: Any, connect: Any) -> None:
    sf.configure(min_query_ms=5000)
    cur = connect().cursor()
    cur.execute("alter session set statement_timeout_in_seconds = 1")
    with pytest.raises(ProgrammingError) as raised:
        cur.execute("select 1")
    assert raised.value.errno == 630
    assert "timeout of 1 second(s)" in raised.value.msg
    with pytest.raises(ProgrammingError) as per_statement:
        connect().cursor().execute("select 2", _statement_params={"STATEMENT_TIMEOUT_IN_SECONDS": 1})
    assert per_statement.value.errno == 630


ROW_OF_EACH_TYPE = (
    "select 7::number(10, 0), 1.25::number(5, 2), 2.5::float, 'text', true, null, '2024-01-02'::date, "
    "'12:34:56.789'::time, '1960-01-01 00:00:00.5'::timestamp_ntz, '2024-07-01 12:00:00'::timestamp_ltz, "
    "'2024-07-01 12:00:00'::timestamp_tz, x'0aff'::binary"
)


@pytest.mark.parametrize("parameter", ["python_connector_query_result_format", "query_result_format"])
def test_json_results_hold_the_same_values_as_arrow(connect: Any, parameter: str) -> None:
    cur = connect().cursor()
    arrow = cur.execute(ROW_OF_EACH_TYPE).fetchall()
    cur.execute(f"alter session set {parameter} = 'JSON'")
    cur.execute(ROW_OF_EACH_TYPE)
    assert cur._query_result_format == "json"
    assert cur.fetchall() == arrow
    cur.execute("alter session set query_result_format = 'ARROW_FORCE'")
    assert cur.execute("select 1").fetchall() == [(1,)] and cur._query_result_format == "arrow"


def test_a_large_json_result_comes_in_chunks(sf: Any, connect: Any) -> None:
    sf.configure(result_chunk_rows=300)
    cur = connect(session_parameters={"PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "JSON"}).cursor()
    cur.execute("select seq4() as n, 'row ' || seq4() as s from table(generator(rowcount => 1000))")
    assert cur._query_result_format == "json"
    assert [batch.rowcount for batch in cur.get_result_batches()] == [300, 300, 300, 100]
    assert cur.fetchall() == [(n, f"row {n}") for n in range(1000)]


def test_use_with_a_qualified_name_sets_the_schema(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create schema if not exists use_target")
    cur.execute("use flyte.use_target")  # no DATABASE/SCHEMA keyword: a qualified name is a schema
    assert cur.execute("select current_database(), current_schema()").fetchone() == ("FLYTE", "USE_TARGET")
    cur.execute("create or replace table here (n int)")
    assert cur.execute("select count(*) from flyte.use_target.here").fetchone() == (0,)


def test_alter_session_followed_by_more_statements_is_a_multi_statement_request(connect: Any) -> None:
    cur = connect().cursor()
    with pytest.raises(ProgrammingError, match="Actual statement count 2 did not match the desired statement count 1"):
        cur.execute("alter session set multi_statement_count = 2; select 1;")
    assert _parameter(cur, "MULTI_STATEMENT_COUNT")[0] == "1"
    cur.execute("alter session set timezone = 'UTC'; select 1", num_statements=2)
    assert _parameter(cur, "TIMEZONE")[0] == "UTC"


def test_number_and_boolean_parameters_reach_the_driver_typed(connect: Any) -> None:
    conn = connect(session_parameters={"CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY": "900"})
    assert conn._session_parameters["CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY"] == 900
    cur = conn.cursor()
    cur.execute(f"alter session set client_prefetch_threads = {conn.client_prefetch_threads + 1}")
    assert conn.client_prefetch_threads == 5
    assert cur._result_set.prefetch_thread_num == 5
    cur.execute("alter session set client_result_column_case_insensitive = true")
    assert conn._session_parameters["CLIENT_RESULT_COLUMN_CASE_INSENSITIVE"] is True
    cur.execute("alter session set date_output_format = 'yyyy-mm-dd'")
    assert conn._session_parameters["DATE_OUTPUT_FORMAT"] == "yyyy-mm-dd"  # a STRING as spelled


def test_a_statements_own_result_format_wins_over_the_sessions(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("SELECT 1 AS A", _statement_params={"PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "json"})
    assert type(cur._result_set.batches[0]).__name__ == "JSONResultBatch"
    cur.execute("SELECT 1 AS A")
    assert type(cur._result_set.batches[0]).__name__ == "ArrowResultBatch", "the session's format again"
    cur.execute("ALTER SESSION SET PYTHON_CONNECTOR_QUERY_RESULT_FORMAT = 'JSON'")
    cur.execute("SELECT 1 AS A", _statement_params={"PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "ARROW"})
    assert type(cur._result_set.batches[0]).__name__ == "ArrowResultBatch"
    assert cur.fetchall() == [(1,)]
