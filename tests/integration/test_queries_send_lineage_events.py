"""With OpenLineage configured, every query sends START and COMPLETE, FAIL or ABORT to the receiver (Marquez's
place here), each event valid against OpenLineage's JSON schemas and free of bound values and secrets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from flyteidl2.connector.connector_pb2 import TaskExecutionMetadata
from flyteidl2.core import identifier_pb2
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake import SnowflakeConnector
from flyteplugins.snowflake._lineage import RUN_IDS, account_namespace
from lineage_receiver import Receiver, Schemas, serve
from snowflake_harness import PASSWORD, TERMINAL, serialize, unique_table

pytestmark = pytest.mark.integration

SECRET_VALUE = "bound-value-7f3a9c"


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Receiver]:
    for name in ("OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_API_KEY", "OPENLINEAGE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    for server in serve():
        monkeypatch.setenv("OPENLINEAGE_URL", server.url)
        yield server


@pytest.fixture
async def lineage_connector(receiver: Receiver) -> Any:
    c = SnowflakeConnector()
    yield c
    await c.pool.close()


def execution(run: str = "r1a2b3") -> TaskExecutionMetadata:
    run_id = identifier_pb2.WorkflowExecutionIdentifier(project="flytesnacks", domain="development", name=run)
    node = identifier_pb2.NodeExecutionIdentifier(node_id="a1", execution_id=run_id)
    return TaskExecutionMetadata(
        task_execution_id=identifier_pb2.TaskExecutionIdentifier(node_execution_id=node, retry_attempt=0)
    )


async def submit(
    connector: SnowflakeConnector, task: Any, inputs: dict[str, Any] | None = None, secrets: dict[str, str] = PASSWORD
) -> Any:
    return await connector.create(
        serialize(task), inputs=inputs or {}, output_prefix="", task_execution_metadata=execution(), **secrets
    )


async def wait_done(connector: SnowflakeConnector, meta: Any, secrets: dict[str, str] = PASSWORD) -> Any:
    """Poll like the backend until the query ends; without the history figures, which lineage does not use (a
    figures look-up still running when the test's event loop closes would outlive it)."""
    for _ in range(1000):
        resource = await connector.get(meta, query_history=False, **secrets)
        if resource.phase in TERMINAL:
            return resource
        await asyncio.sleep(0.02)
    raise AssertionError(f"query {meta.query_id} did not end")


def sent(connector: SnowflakeConnector, receiver: Receiver, schemas: Schemas, count: int) -> list[dict[str, Any]]:
    assert connector.lineage is not None
    assert connector.lineage.drain(10)
    for event in receiver.events:
        schemas.validate(event)
    assert len(receiver.events) == count, [e["eventType"] for e in receiver.events]
    return receiver.events


async def test_a_successful_query_sends_start_then_complete(
    lineage_connector, receiver, schemas, make_task, sql, sf_config
) -> None:
    table = unique_table("orders")
    sql(f"CREATE TABLE {table} (id INT)")
    task = make_task(f"SELECT id FROM {table} WHERE id > %(low)s", inputs={"low": int}, name="count_orders")

    meta = await submit(lineage_connector, task, {"low": 1})
    assert (await wait_done(lineage_connector, meta)).phase == TaskExecution.SUCCEEDED

    start, complete = sent(lineage_connector, receiver, schemas, 2)
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    run_id = str(uuid.uuid5(RUN_IDS, meta.query_id))
    assert start["run"]["runId"] == complete["run"]["runId"] == run_id
    assert start["job"]["namespace"] == "flyte/flytesnacks/development"
    assert start["job"]["name"] == "count_orders"
    assert start["job"]["facets"]["sql"]["query"] == f"SELECT id FROM {table} WHERE id > :low"
    facets = start["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == meta.query_id
    assert facets["externalQuery"]["source"].startswith("snowflake://")
    parent = facets["parent"]["job"]
    assert (parent["namespace"], parent["name"]) == ("flyte/flytesnacks/development", "r1a2b3")
    assert facets["processing_engine"]["name"] == "Flyte"
    expected = [f"{sf_config.database}.{sf_config.schema or 'PUBLIC'}.{table}".upper()]
    for event in (start, complete):
        assert [d["name"] for d in event["inputs"]] == expected
        assert {d["namespace"] for d in event["inputs"]} == {facets["externalQuery"]["source"]}
    assert facets["externalQuery"]["source"] == account_namespace(sf_config.account)


async def test_every_event_validates_against_the_openlineage_schemas(
    lineage_connector, receiver, schemas, make_task
) -> None:
    if schemas.missing:
        pytest.skip(schemas.missing)
    for sql in ("SELECT 1", f"SELECT * FROM {unique_table('missing')}"):
        await wait_done(lineage_connector, await submit(lineage_connector, make_task(sql)))

    events = sent(lineage_connector, receiver, schemas, 4)  # validates each one and each of its facets

    assert sorted(e["eventType"] for e in events) == ["COMPLETE", "FAIL", "START", "START"]
    with pytest.raises(jsonschema.ValidationError):  # the schemas do check: an event type the spec lacks fails
        schemas.validate({**events[0], "eventType": "FINISHED"})


async def test_a_failing_query_sends_fail_with_snowflakes_error(
    lineage_connector, receiver, schemas, make_task
) -> None:
    missing = unique_table("missing")
    meta = await submit(lineage_connector, make_task(f"SELECT * FROM {missing}"))
    result = await wait_done(lineage_connector, meta)
    assert result.phase == TaskExecution.FAILED

    start, fail = sent(lineage_connector, receiver, schemas, 2)
    assert [start["eventType"], fail["eventType"]] == ["START", "FAIL"]
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert "does not exist" in message
    assert missing.upper() in message.upper()


async def test_a_cancelled_query_sends_abort_once(
    lineage_connector, receiver, schemas, make_task, local_snowflake_fresh
) -> None:
    local_snowflake_fresh.configure(min_query_ms=3000)
    meta = await submit(lineage_connector, make_task("SELECT 1"))

    await lineage_connector.delete(meta, **PASSWORD)
    assert (await wait_done(lineage_connector, meta)).phase == TaskExecution.ABORTED

    events = sent(lineage_connector, receiver, schemas, 2)
    assert [e["eventType"] for e in events] == ["START", "ABORT"]


async def test_a_multi_statement_task_names_every_table(
    lineage_connector, receiver, schemas, make_task, sql, sf_config
) -> None:
    source, target, copy = unique_table("src"), unique_table("tgt"), unique_table("copy")
    sql(f"CREATE TABLE {source} (id INT)")
    sql(f"CREATE TABLE {target} (id INT)")
    task = make_task(f"INSERT INTO {target} SELECT id FROM {source}; CREATE TABLE {copy} AS SELECT * FROM {target}")

    meta = await submit(lineage_connector, task)
    assert (await wait_done(lineage_connector, meta)).phase == TaskExecution.SUCCEEDED

    start, complete = sent(lineage_connector, receiver, schemas, 2)
    prefix = f"{sf_config.database}.{sf_config.schema or 'PUBLIC'}.".upper()
    for event in (start, complete):
        assert sorted(d["name"] for d in event["inputs"]) == sorted(prefix + t.upper() for t in (source, target))
        assert sorted(d["name"] for d in event["outputs"]) == sorted(prefix + t.upper() for t in (copy, target))


async def test_no_bound_value_or_secret_in_any_event(
    lineage_connector, receiver, schemas, make_task, local_snowflake_fresh
) -> None:
    # a password no event could contain by chance (the start-up user's is a short word)
    secrets = {"snowflake_password": "pw-" + uuid.uuid4().hex}
    local_snowflake_fresh.add_user("LINEAGE_USER", password=secrets["snowflake_password"])
    config = local_snowflake_fresh.config(user="LINEAGE_USER")
    ok = make_task("SELECT %(v)s AS v", inputs={"v": str}, plugin_config=config)
    broken = make_task("SELECT %(v)s::INT AS v", inputs={"v": str}, plugin_config=config)

    for task in (ok, broken):
        meta = await submit(lineage_connector, task, {"v": SECRET_VALUE}, secrets)
        await wait_done(lineage_connector, meta, secrets)

    sent(lineage_connector, receiver, schemas, 4)
    for body in receiver.bodies:
        assert SECRET_VALUE not in body
        assert secrets["snowflake_password"] not in body
        assert "sf-password" not in body
    assert [e["eventType"] for e in receiver.events][-1] == "FAIL"


async def test_two_replicas_send_one_start_per_query(receiver, schemas, make_task) -> None:
    first, second = SnowflakeConnector(), SnowflakeConnector()
    try:
        meta = await submit(first, make_task("SELECT 1"))
        stored = type(meta).decode(meta.encode())  # what the backend hands the other replica
        for _ in range(2):  # each replica asked again and again, also after its final answer
            assert (await wait_done(second, stored)).phase == TaskExecution.SUCCEEDED
            assert (await wait_done(first, meta)).phase == TaskExecution.SUCCEEDED
        assert first.lineage is not None and second.lineage is not None
        assert first.lineage.drain(10) and second.lineage.drain(10)
        for event in receiver.events:
            schemas.validate(event)

        run_id = str(uuid.uuid5(RUN_IDS, meta.query_id))
        # START only at submit; the end once per replica that handed out the final phase, however often asked.
        assert sorted(receiver.of_run(run_id)) == ["COMPLETE", "COMPLETE", "START"]
        times = {e["eventType"]: e["eventTime"] for e in receiver.events}  # replicas' senders race: order by time
        assert times["START"] < times["COMPLETE"]
    finally:
        await first.pool.close()
        await second.pool.close()
