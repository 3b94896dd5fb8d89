"""The Flyte backend runs Snowflake tasks through the connector service (`c0`) over gRPC, as in production."""

from __future__ import annotations

import json
import re

import pytest
from c0_harness import Backend, literal_inputs, snowflake_task, template_of
from flyteidl2.connector import connector_pb2
from flyteidl2.core.execution_pb2 import TaskExecution
from google.protobuf import json_format

pytestmark = pytest.mark.e2e


def test_the_service_lists_the_snowflake_connector(service) -> None:
    listed = service.metadata.ListConnectors(connector_pb2.ListConnectorsRequest(), timeout=10)
    categories = {(c.name, v.name, v.version) for c in listed.connectors for v in c.supported_task_categories}
    assert ("Snowflake Connector", "snowflake", 0) in categories


def test_a_query_with_inputs_runs_to_success_with_logs_metrics_and_figures(service, emulator) -> None:
    emulator.configure(min_query_ms=200, first_status=("RESUMING_WAREHOUSE", 100))
    task = snowflake_task(emulator, "SELECT %(x)s + 1 AS y, %(label)s AS label", {"x": int, "label": str})
    backend = Backend(service)
    meta = backend.create(template_of(task), literal_inputs(task, x=41, label="very-secret-label"))
    assert b"e2e-password" not in meta  # the stored metadata holds identifiers only

    (done,) = backend.wait([meta])
    assert done.phase == TaskExecution.SUCCEEDED, done.message
    assert any("app.snowflake.com" in link.uri for link in done.log_links)
    info = json_format.MessageToDict(done.custom_info)
    figures = info["query_history"]
    assert figures["rows_produced"] == 1
    assert figures["elapsed_ms"] >= 200 and figures["queued_ms"] >= 100
    assert set(figures) == {
        "elapsed_ms",
        "queued_ms",
        "compilation_ms",
        "execution_ms",
        "rows_produced",
        "rows_inserted",
        "rows_updated",
        "rows_deleted",
        "bytes_scanned",
        "credits_estimate",
    }
    assert (figures["rows_inserted"], figures["rows_updated"], figures["rows_deleted"]) == (0, 0, 0)  # a query
    assert 0 < figures["credits_estimate"] == pytest.approx(figures["execution_ms"] / 3_600_000, rel=1e-3)  # 1/h

    lines = backend.logs(meta)
    text = "\n".join(lines)
    assert "submitted on warehouse LOCAL_WH" in text
    assert "Waited for the warehouse to resume" in text
    assert "Running" in lines and "Succeeded in" in text
    assert "SELECT :1 + 1 AS y, :2 AS label" in text  # the query text, with placeholders
    # Never the values. 41 as a whole token: the Snowsight link below carries the query id, whose hex can hold "41".
    assert "very-secret-label" not in text and re.search(r"\b41\b", text.split("Query text")[1]) is None
    assert "Snowsight: https://app.snowflake.com/" in text

    metrics = backend.metrics(meta)
    rows = metrics["snowflake_query_rows_produced"]["result"][0]
    assert rows["values"][0][1] == "1" and rows["metric"]["status"] == "SUCCESS"
    assert float(metrics["snowflake_query_elapsed_seconds"]["result"][0]["values"][0][1]) >= 0.2
    assert {
        "snowflake_query_queued_seconds",
        "snowflake_query_compilation_seconds",
        "snowflake_query_execution_seconds",
        "snowflake_query_bytes_scanned",
    } <= set(metrics)

    backend.delete(meta)  # deleting a finished query is a no-op, not an error
    assert len(emulator.query_history(json.loads(meta)["query_id"])) == 1


def test_a_failing_query_fails_with_snowflakes_code_in_status_and_logs(service, emulator) -> None:
    task = snowflake_task(emulator, "SELECT * FROM NO_SUCH_TABLE_E2E")
    backend = Backend(service)
    meta = backend.create(template_of(task))
    (done,) = backend.wait([meta])
    assert done.phase == TaskExecution.FAILED
    assert "Snowflake error 2003" in done.message and "NO_SUCH_TABLE_E2E" in done.message
    text = "\n".join(backend.logs(meta))
    assert "Snowflake rejected the statement" in text or "Failed after" in text


def test_a_running_query_is_cancelled_by_delete(service, emulator) -> None:
    emulator.configure(min_query_ms=30_000)
    task = snowflake_task(emulator, "SELECT 1 AS slow")
    backend = Backend(service)
    meta = backend.create(template_of(task))
    assert backend.get(meta).phase in (TaskExecution.QUEUED, TaskExecution.RUNNING)
    backend.delete(meta)
    backend.delete(meta)  # idempotent
    (done,) = backend.wait([meta], timeout=20)
    assert done.phase == TaskExecution.ABORTED, done.message
    assert "Cancelled after" in "\n".join(backend.logs(meta))


def test_logs_and_metrics_without_a_live_session_use_service_credentials_or_say_why(
    service, emulator, start_service
) -> None:
    task = snowflake_task(emulator, "SELECT 2 AS two")
    meta = Backend(service).create(template_of(task))
    Backend(service).wait([meta])

    # A fresh replica has never seen the task's secret and the call carries none.
    bare = Backend(start_service(name="bare"))
    lines = bare.logs(meta)
    assert any("No query history" in line and "FLYTE_SNOWFLAKE_SERVICE_ACCOUNT" in line for line in lines), lines
    assert any("app.snowflake.com" in line for line in lines)  # the link needs no session
    unavailable = bare.metrics(meta)["snowflake_query_metrics_unavailable"]
    assert unavailable["result"] == [] and "service credentials" in unavailable["reason"]

    kw = emulator.connect_kwargs()
    # Another user sees the task user's queries with a role that may (MONITOR on the warehouse in Snowflake).
    emulator.configure(monitor_roles=["ACCOUNTADMIN", "FLYTE_MONITOR"])
    emulator.add_user("FLYTE_MONITOR", password="monitor-password")
    monitor = start_service(
        name="monitor",
        env={
            "FLYTE_SNOWFLAKE_SERVICE_ACCOUNT": kw["account"],
            "FLYTE_SNOWFLAKE_SERVICE_USER": "FLYTE_MONITOR",
            "FLYTE_SNOWFLAKE_SERVICE_ROLE": "FLYTE_MONITOR",
            "FLYTE_SNOWFLAKE_SERVICE_PASSWORD": "monitor-password",
            "FLYTE_SNOWFLAKE_SERVICE_HOST": kw["host"],
            "FLYTE_SNOWFLAKE_SERVICE_PORT": str(kw["port"]),
            "FLYTE_SNOWFLAKE_SERVICE_PROTOCOL": "http",
        },
    )
    with_service = Backend(monitor)
    assert any("Succeeded in" in line for line in with_service.logs(meta))
    assert with_service.metrics(meta)["snowflake_query_rows_produced"]["result"][0]["values"][0][1] == "1"
    scraped = monitor.prometheus()
    assert 'flyte_connector_snowflake_history_lookups_total{source="service"}' in scraped


def test_prometheus_shows_the_frameworks_metrics_and_ours(service, emulator) -> None:
    task = snowflake_task(emulator, "SELECT 3 AS three")
    backend = Backend(service)
    backend.wait([backend.create(template_of(task))])
    scraped = service.prometheus()
    for name in (
        "flyte_connector_requests_success_total",  # the framework's
        "flyte_connector_request_latency_seconds",
        'flyte_connector_snowflake_pool_connections{state="total"}',  # ours
        'flyte_connector_snowflake_logins_total{outcome="ok"}',
        "flyte_connector_snowflake_retries_total",
        'flyte_connector_snowflake_query_polls_total{phase="SUCCEEDED",status="SUCCESS"}',
        'flyte_connector_snowflake_queries_finished_total{phase="SUCCEEDED"}',
        'flyte_connector_snowflake_queries_submitted_total{outcome="accepted"}',
        "flyte_connector_snowflake_submits_spaced_total",
    ):
        assert name in scraped, name
    # The query was followed on the direct path: no fault, so the driver's path was not needed.
    direct = re.search(r'flyte_connector_snowflake_status_checks_total\{path="direct"\} ([0-9.e+]+)', scraped)
    assert direct is not None and float(direct.group(1)) >= 1, scraped
    # The submit gate: the task's submit has left it; the limit is the pool's 32 threads or, on a busy
    # machine where the create found the event loop slow, lower but never below one.
    figures = dict(
        re.findall(
            r'^flyte_connector_snowflake_(submit_limit|submit_spacing_seconds|submits\{state="\w+"\}) ([0-9.e+-]+)$',
            scraped,
            re.M,
        )
    )
    assert float(figures['submits{state="running"}']) == 0 and float(figures['submits{state="waiting"}']) == 0
    assert 1 <= float(figures["submit_limit"]) <= 32, figures
    assert 0 <= float(figures["submit_spacing_seconds"]) <= 0.02, figures
