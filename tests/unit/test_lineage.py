"""OpenLineage naming, datasets parsed from SQL, when lineage is on, and a sender that never holds its caller."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flyte.connectors import Resource
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake import _lineage, _metrics
from flyteplugins.snowflake._lineage import QueryJob, account_namespace, configured, dataset_names, run_id_of
from flyteplugins.snowflake._lineage_send import Sender


@pytest.mark.parametrize(
    ("statement", "inputs", "outputs"),
    [
        ("SELECT * FROM orders o JOIN raw.customers c ON o.id = c.id", ["DB.PUBLIC.ORDERS", "DB.RAW.CUSTOMERS"], []),
        ("INSERT INTO daily SELECT * FROM other_db.raw.events", ["OTHER_DB.RAW.EVENTS"], ["DB.PUBLIC.DAILY"]),
        ("CREATE TABLE t2 AS SELECT * FROM t1", ["DB.PUBLIC.T1"], ["DB.PUBLIC.T2"]),
        (
            "MERGE INTO target t USING updates u ON t.id = u.id WHEN MATCHED THEN UPDATE SET v = u.v",
            ["DB.PUBLIC.UPDATES"],
            ["DB.PUBLIC.TARGET"],
        ),
        (
            "INSERT INTO a SELECT * FROM b;\nCREATE TABLE c AS SELECT * FROM a",
            ["DB.PUBLIC.B", "DB.PUBLIC.A"],
            ["DB.PUBLIC.A", "DB.PUBLIC.C"],
        ),
        ('SELECT * FROM "Mixed"."Case" JOIN s.x ON TRUE', ["DB.Mixed.Case", "DB.S.X"], []),
        ("SELECT * FROM t WHERE a = :a", ["DB.PUBLIC.T"], []),
        ("SELECT 1", [], []),
    ],
)
def test_datasets_are_named_database_schema_table(statement: str, inputs: list[str], outputs: list[str]) -> None:
    found_in, found_out = dataset_names(statement, "db", "public")

    assert sorted(found_in) == sorted(inputs)
    assert sorted(found_out) == sorted(outputs)


def test_a_task_without_schema_resolves_to_public() -> None:
    assert dataset_names("SELECT * FROM t", "ANALYTICS", "") == (("ANALYTICS.PUBLIC.T",), ())


def test_sql_the_parser_cannot_read_gives_no_datasets() -> None:
    assert dataset_names("THIS IS NOT SQL ((", "db", "public") == ((), ())


@pytest.mark.parametrize(
    ("account", "namespace"),
    [
        ("MyOrg-MyAccount", "snowflake://myorg-myaccount"),
        ("xy12345", "snowflake://xy12345.us-west-1.aws"),
        ("xy12345.us-east-1", "snowflake://xy12345.us-east-1.aws"),
        ("xy12345.east-us-2.azure", "snowflake://xy12345.east-us-2.azure"),
        ("https://xy12345.us-east-2.aws.snowflakecomputing.com", "snowflake://xy12345.us-east-2.aws"),
    ],
)
def test_account_namespace_follows_openlineage_naming(account: str, namespace: str) -> None:
    assert account_namespace(account) == namespace


def test_run_ids_are_stable_per_query() -> None:
    query_id = "01b2c3d4-0000-1234-0000-0001abcd5678"

    assert run_id_of(query_id) == run_id_of(query_id)
    assert run_id_of(query_id) != run_id_of("01b2c3d4-0000-1234-0000-0001abcd5679")


@pytest.mark.parametrize(
    "environ",
    [
        {"OPENLINEAGE_URL": "http://127.0.0.1:5000"},
        {"OPENLINEAGE_CONFIG": "/etc/openlineage.yml"},
        {"OPENLINEAGE__TRANSPORT__TYPE": "console"},
    ],
)
def test_lineage_is_on_when_configured_the_clients_way(environ: dict[str, str], tmp_path: Path) -> None:
    assert configured(environ, cwd=tmp_path, home=tmp_path)
    assert not configured({**environ, "OPENLINEAGE_DISABLED": "true"}, cwd=tmp_path, home=tmp_path)


def test_lineage_is_on_with_an_openlineage_yml(tmp_path: Path) -> None:
    (tmp_path / ".openlineage").mkdir()
    (tmp_path / ".openlineage" / "openlineage.yml").write_text("transport:\n  type: console\n")

    assert configured({}, cwd=tmp_path / "nowhere", home=tmp_path)
    assert not configured({}, cwd=tmp_path / "nowhere", home=tmp_path / "nowhere")


def test_nothing_of_openlineage_is_imported_by_the_connector(modules_imported_by: Callable[[str], set[str]]) -> None:
    assert modules_imported_by("connector") & {"openlineage", "openlineage_sql"} == set()


def test_quoted_values_in_errors_are_hidden_when_the_statement_binds() -> None:
    job = QueryJob("ns", "task", "snowflake://a-b", inputs=("DB.PUBLIC.ORDERS",), binds=True)
    message = "Numeric value 'hunter2' is not recognized; Object 'ORDERS' does not exist"

    shown = _lineage._shown_error(message, job)

    assert "hunter2" not in shown
    assert "'ORDERS'" in shown
    assert _lineage._shown_error(message, QueryJob("ns", "task", "snowflake://a-b")) == message


def dropped() -> float:
    return _metrics.LINEAGE_EVENTS.labels(outcome="dropped")._value.get()


def failed() -> float:
    return _metrics.LINEAGE_EVENTS.labels(outcome="failed")._value.get()


class BlockingClient:
    """A transport that hangs until released: the sender's queue fills, its callers never wait."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.emitted: list[Any] = []

    def emit(self, event: Any) -> None:
        self.release.wait(10)
        self.emitted.append(event)


def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    client = BlockingClient()
    sender = Sender(lambda: client, size=2)
    before = dropped()

    results = [sender.offer(lambda: "event") for _ in range(6)]

    assert results.count(False) >= 3
    assert dropped() - before == results.count(False)
    client.release.set()
    assert sender.drain(5)
    assert len(client.emitted) == results.count(True)


class BrokenClient:
    def emit(self, event: Any) -> None:
        raise ConnectionError("receiver down")


def test_a_failing_transport_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    sender = Sender(BrokenClient)
    before = failed()

    with caplog.at_level("WARNING", logger="flyteplugins.snowflake._lineage_send"):
        for _ in range(3):
            sender.offer(lambda: "event")
        assert sender.drain(5)

    assert failed() - before == 3
    assert [r.getMessage() for r in caplog.records if "could not be sent" in r.getMessage()] == [
        "OpenLineage: an event could not be sent (ConnectionError: receiver down) "
        "(further ones are logged at debug level)"
    ]


def test_a_client_that_cannot_be_made_turns_lineage_off_not_the_task() -> None:
    def broken() -> Any:
        raise ValueError("Failed to parse OpenLineage config.")

    sender = Sender(broken)
    before = failed()

    assert sender.offer(lambda: "event")
    assert sender.drain(5)
    assert failed() - before == 1


class Recording:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def emit(self, event: Any) -> None:
        self.events.append(event)


def test_a_run_ends_once_per_process_however_often_it_is_seen_final() -> None:
    client = Recording()
    lineage = _lineage.Lineage(Sender(lambda: client))
    meta = _meta("01b2c3d4-0000-1234-0000-0001abcd5678")
    lineage.started(meta, QueryJob("flyte/p/d", "task", "snowflake://a-b"), "SELECT 1")

    for phase in (TaskExecution.RUNNING, TaskExecution.SUCCEEDED, TaskExecution.SUCCEEDED, TaskExecution.ABORTED):
        lineage.ended(meta, Resource(phase=phase, message=""))
    assert lineage.drain(5)

    assert [e.eventType.value for e in client.events] == ["START", "COMPLETE"]
    assert {e.run.runId for e in client.events} == {run_id_of(meta.query_id)}


def _meta(query_id: str) -> Any:
    from flyteplugins.snowflake import SnowflakeJobMetadata

    return SnowflakeJobMetadata("a-b", "ME", "DB", "PUBLIC", "WH", query_id, has_output=False, submitted_at=1.0)


class _Result:
    def __init__(self, uri: str) -> None:
        self.uri = uri


@pytest.mark.parametrize(
    ("uri", "dataset"),
    [
        ("s3://bucket/runs/r1/snowflake-results/01b2", ("s3://bucket", "runs/r1/snowflake-results/01b2")),
        ("/tmp/flyte/raw/snowflake-results/01b2", ("file", "/tmp/flyte/raw/snowflake-results/01b2")),
        ("file:///tmp/raw/01b2", ("file", "/tmp/raw/01b2")),
        ("snowflake://org-acct/WH/01b2", None),
    ],
)
def test_a_materialized_result_is_named_by_its_storage(uri: str, dataset: tuple[str, str] | None) -> None:
    resource = Resource(phase=TaskExecution.SUCCEEDED, outputs={"results": _Result(uri)})

    assert _lineage._result_dataset(resource) == dataset
