"""_observe: history SQL, history rows -> timeline, metrics and figures, service credentials from the environment."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf import json_format

from flyteplugins.snowflake import _observe
from flyteplugins.snowflake._observe import HistoryRecord, Observation, ServiceCredentials
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

NOW = 1_700_000_000.0


def meta(**changes: object) -> SnowflakeJobMetadata:
    values: dict[str, object] = dict(
        account="myorg-acct",
        user="flyte",
        database="DB",
        schema="PUBLIC",
        warehouse="WH",
        query_id="01b2c3d4-0000-1111-0000-000000000001",
        has_output=True,
        submitted_at=NOW,
    )
    values.update(changes)
    return SnowflakeJobMetadata(**values)  # type: ignore[arg-type]


def row(**changes: object) -> tuple[object, ...]:
    start = dt.datetime.fromtimestamp(NOW, tz=dt.timezone.utc)
    values: dict[str, object] = {
        "QUERY_ID": meta().query_id,
        "QUERY_TEXT": "SELECT *\nFROM t WHERE a = :1",
        "EXECUTION_STATUS": "SUCCESS",
        "ERROR_CODE": None,
        "ERROR_MESSAGE": None,
        "START_TIME": start,
        "END_TIME": start + dt.timedelta(seconds=5),
        "TOTAL_ELAPSED_TIME": 5000,
        "COMPILATION_TIME": 100,
        "EXECUTION_TIME": 2900,
        "QUEUED_PROVISIONING_TIME": 2000,
        "QUEUED_REPAIR_TIME": 0,
        "QUEUED_OVERLOAD_TIME": 0,
        "TRANSACTION_BLOCKED_TIME": 0,
        "ROWS_PRODUCED": 42,
        "ROWS_INSERTED": 0,
        "ROWS_UPDATED": 0,
        "ROWS_DELETED": 0,
        "BYTES_SCANNED": 3 * 1024 * 1024,
        "WAREHOUSE_NAME": "WH",
        "WAREHOUSE_SIZE": "Medium",
        "WAREHOUSE_TYPE": "STANDARD",
    }
    values.update(changes)
    return tuple(values[c] for c in _observe.HISTORY_COLUMNS)


def test_history_sql_filters_by_query_id_and_bounds_the_time_range() -> None:
    sql, params = _observe.history_statement([meta()], user=None, now=NOW + 60)
    assert params == [meta().query_id]
    assert "INFORMATION_SCHEMA.QUERY_HISTORY_BY_USER(" in sql and "BY_SESSION" not in sql
    assert f"END_TIME_RANGE_START => TO_TIMESTAMP_LTZ({int(NOW) - 300})" in sql
    assert "USER_NAME" not in sql  # the session's own user
    assert sql.endswith("WHERE QUERY_ID IN (:1)")


def test_history_sql_for_several_queries_starts_at_the_oldest() -> None:
    older = meta(query_id="01-older", submitted_at=NOW - 600)
    sql, params = _observe.history_statement([meta(), older, meta()], user=None, now=NOW)
    assert params == [meta().query_id, "01-older"]  # each id once
    assert sql.endswith("WHERE QUERY_ID IN (:1, :2)")
    assert f"END_TIME_RANGE_START => TO_TIMESTAMP_LTZ({int(NOW) - 600 - 300})" in sql


def test_history_sql_without_a_submission_time_searches_the_whole_range() -> None:
    # metadata written by the public plugin has no submitted_at: no range start may hide its query
    sql, _ = _observe.history_statement([meta(), meta(query_id="01-public", submitted_at=None)], user=None)
    assert "END_TIME_RANGE_START" not in sql and "RESULT_LIMIT => 10000" in sql


def test_history_sql_needs_a_query() -> None:
    with pytest.raises(ValueError, match="at least one"):
        _observe.history_statement([], user=None)


def test_history_sql_stays_inside_the_seven_days_snowflake_answers_for() -> None:
    sql, _ = _observe.history_statement([meta(submitted_at=NOW - 30 * 86400)], user=None, now=NOW)
    assert f"TO_TIMESTAMP_LTZ({int(NOW - 7 * 86400 + 60)})" in sql


@pytest.mark.parametrize(
    ("user", "literal"),
    [
        ("flyte", "'FLYTE'"),
        ("Mixed Name", "'\"Mixed Name\"'"),
        ("o'brien", "'\"o''brien\"'"),
        # a backslash escapes in a Snowflake literal: doubled, so the quote after it stays inside the string
        ("eve\\'", "'\"eve\\\\''\"'"),
        ("tail\\", "'\"tail\\\\\"'"),
    ],
)
def test_another_users_name_is_quoted_as_snowflake_wants(user: str, literal: str) -> None:
    sql, _ = _observe.history_statement([meta()], user=user)
    assert f"USER_NAME => {literal}" in sql


def test_timeline_of_a_query_that_waited_for_its_warehouse() -> None:
    record = HistoryRecord.from_row(row())
    events = _observe.timeline(meta(), record)
    messages = [m for _, m in events]
    assert messages[0] == f"Query {record.query_id} submitted on warehouse WH"
    assert messages[1] == "Compiled in 100 ms"
    assert messages[2] == "Waited for the warehouse to resume (2.00 s)"
    assert messages[3] == "Running"
    assert messages[4] == "Succeeded in 5.00 s: 42 rows produced, 3.0 MiB scanned"
    times = [t for t, _ in events]
    assert times == sorted(times) and times[-1] == NOW + 5


def test_timeline_of_failed_cancelled_running_and_rejected_queries() -> None:
    failed = HistoryRecord.from_row(
        row(EXECUTION_STATUS="FAILED_WITH_ERROR", ERROR_CODE="002003", ERROR_MESSAGE="gone")
    )
    assert _observe.timeline(meta(), failed)[-1][1] == "Failed after 5.00 s with error 002003: gone"
    cancelled = HistoryRecord.from_row(row(EXECUTION_STATUS="FAILED_WITH_ERROR", ERROR_CODE="000604"))
    assert _observe.timeline(meta(), cancelled)[-1][1] == "Cancelled after 5.00 s"
    running = HistoryRecord.from_row(row(EXECUTION_STATUS="RUNNING", END_TIME=None, TOTAL_ELAPSED_TIME=1500))
    assert _observe.timeline(meta(), running, now=NOW + 2)[-1] == (NOW + 2, "Still running after 1.50 s")
    rejected = meta(query_id="", error={"errno": 1003, "message": "syntax error"})
    assert _observe.timeline(rejected, None) == [
        (NOW, "Snowflake rejected the statement before running it: error 1003: syntax error")
    ]


def test_logs_carry_the_text_with_placeholders_and_the_link_or_say_why() -> None:
    record = HistoryRecord.from_row(row())
    lines = [line.message for line in _observe.logs_response(meta(), Observation(record, "pool")).body.lines]
    assert "FROM t WHERE a = :1" in lines and "SELECT *" in lines
    assert lines[-1].startswith("Snowsight: https://app.snowflake.com/myorg/acct/#/compute/history/queries/01b2")
    why = _observe.logs_response(meta(), Observation(None, reason="no session")).body.lines
    assert [line.message for line in why][-2] == "No query history: no session"


def test_metrics_are_one_point_prometheus_matrices_in_the_units_of_their_names() -> None:
    record = HistoryRecord.from_row(row())
    results = {
        r.metric: json_format.MessageToDict(r.data)
        for r in _observe.metrics_response(meta(), Observation(record)).results
    }
    assert set(results) == set(_observe.METRICS)
    elapsed = results["snowflake_query_elapsed_seconds"]
    assert elapsed["resultType"] == "matrix"
    assert elapsed["result"][0]["values"] == [[NOW + 5, "5"]]
    assert results["snowflake_query_queued_seconds"]["result"][0]["values"][0][1] == "2"
    assert results["snowflake_query_compilation_seconds"]["result"][0]["values"][0][1] == "0.1"
    assert results["snowflake_query_bytes_scanned"]["result"][0]["values"][0][1] == str(3 * 1024 * 1024)
    assert results["snowflake_query_rows_produced"]["result"][0]["metric"]["status"] == "SUCCESS"
    # 2.9 s on a Medium warehouse (4 credits an hour)
    assert results["snowflake_query_credits_estimate"]["result"][0]["values"][0][1] == "0.003222"
    # no warehouse size (a query that needed no warehouse): no estimate rather than a made-up one
    no_size = _observe.metrics_response(meta(), Observation(HistoryRecord.from_row(row(WAREHOUSE_SIZE=None))))
    assert "snowflake_query_credits_estimate" not in {r.metric for r in no_size.results}
    empty = _observe.metrics_response(meta(), Observation(None, reason="why")).results
    assert [r.metric for r in empty] == [_observe.UNAVAILABLE_METRIC]
    assert json_format.MessageToDict(empty[0].data) == {"resultType": "matrix", "result": [], "reason": "why"}


def test_custom_info_figures() -> None:
    record = HistoryRecord.from_row(row())
    assert _observe.custom_info_figures(Observation(record)) == {
        "query_history": {
            "elapsed_ms": 5000,
            "queued_ms": 2000,
            "compilation_ms": 100,
            "execution_ms": 2900,
            "rows_produced": 42,
            "rows_inserted": 0,
            "rows_updated": 0,
            "rows_deleted": 0,
            "bytes_scanned": 3 * 1024 * 1024,
            "credits_estimate": round(2900 / 3_600_000 * 4, 9),
        }
    }


def test_a_dml_statement_reports_the_rows_it_changed() -> None:
    record = HistoryRecord.from_row(row(ROWS_PRODUCED=5, ROWS_INSERTED=3, ROWS_UPDATED=2, QUERY_TEXT="MERGE ..."))
    figures = _observe.custom_info_figures(Observation(record))["query_history"]
    assert (figures["rows_inserted"], figures["rows_updated"], figures["rows_deleted"]) == (3, 2, 0)
    assert _observe._ending(record).endswith(": 3 rows inserted, 2 updated, 3.0 MiB scanned")
    metrics = {
        r.metric: json_format.MessageToDict(r.data)
        for r in _observe.metrics_response(meta(), Observation(record)).results
    }
    assert metrics["snowflake_query_rows_inserted"]["result"][0]["values"][0][1] == "3"
    assert _observe.custom_info_figures(Observation(None, reason="r")) == {"query_history_unavailable": "r"}


def config(**changes: object) -> SnowflakeConfig:
    values: dict[str, object] = dict(account="myorg-acct", database="DB", schema="S", warehouse="WH", user="flyte")
    values.update(changes)
    return SnowflakeConfig(**values)  # type: ignore[arg-type]


def test_session_label_names_account_user_and_endpoint_only() -> None:
    assert _observe.session_label(config()) == _observe.session_label(config(role="OTHER", warehouse="W2"))
    assert _observe.session_label(config()) != _observe.session_label(config(user="someone"))
    assert _observe.session_label(config()) != _observe.session_label(config(host="proxy", port=8080))


def test_service_credentials_come_from_the_environment_and_never_print() -> None:
    assert ServiceCredentials.from_env({}) is None
    assert ServiceCredentials.from_env({"FLYTE_SNOWFLAKE_SERVICE_ACCOUNT": "myorg-acct"}) is None
    env = {
        "FLYTE_SNOWFLAKE_SERVICE_ACCOUNT": "MYORG-ACCT",
        "FLYTE_SNOWFLAKE_SERVICE_USER": "monitor",
        "FLYTE_SNOWFLAKE_SERVICE_PASSWORD": "hunter2",
        "FLYTE_SNOWFLAKE_SERVICE_ROLE": "MONITORING",
        "FLYTE_SNOWFLAKE_SERVICE_PORT": "8443",
    }
    service = ServiceCredentials.from_env(env)
    assert service is not None and "hunter2" not in repr(service)
    assert service.serves(config()) and not service.serves(config(account="otherorg-acct"))
    session = service.config_for(config(host="attacker.example", warehouse="TASK_WH"))
    assert session.user == "monitor" and session.role == "MONITORING" and session.port == 8443
    assert session.host is None  # never the host a task names: the service's secret goes to its own endpoint
    assert session.database == "DB" and session.warehouse == "TASK_WH"
