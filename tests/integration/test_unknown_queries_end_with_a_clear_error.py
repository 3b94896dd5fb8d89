"""A query Snowflake does not know fails after a short grace, naming the query and the likely causes; while
Snowflake cannot be reached the task stays running and says so, and a local run gives up after its deadline."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake import Snowflake, SnowflakeConnector
from flyteplugins.snowflake import task as task_module
from flyteplugins.snowflake._status import UNKNOWN_QUERY_GRACE_S
from flyteplugins.snowflake.local import LocalSnowflake
from flyteplugins.snowflake.task import SnowflakeTaskFailed, follow, run_query
from snowflake_harness import PASSWORD, run, serialize

pytestmark = pytest.mark.integration

#: A submit time the grace has passed for.
LONG_AGO = UNKNOWN_QUERY_GRACE_S + 1


async def test_an_unknown_query_waits_for_snowflake_then_fails_naming_the_causes(connector, make_task) -> None:
    meta, _ = await run(connector, make_task("SELECT 1"))
    unknown = dataclasses.replace(meta, query_id=str(uuid.uuid4()), submitted_at=time.time())

    just_submitted = await connector.get(unknown, **PASSWORD)
    assert just_submitted.phase == TaskExecution.QUEUED, just_submitted.message
    assert "waiting for Snowflake to report it" in just_submitted.message

    answer = await connector.get(dataclasses.replace(unknown, submitted_at=time.time() - LONG_AGO), **PASSWORD)
    assert answer.phase == TaskExecution.FAILED, answer.message
    assert f"Snowflake does not know query {unknown.query_id}" in answer.message
    assert f"account {meta.account}, user {meta.user}" in answer.message
    assert "another account" in answer.message and "restarted" in answer.message


async def test_hand_made_metadata_without_a_submit_time_fails_at_once(connector, make_task) -> None:
    meta, _ = await run(connector, make_task("SELECT 1"))
    answer = await connector.get(dataclasses.replace(meta, query_id=str(uuid.uuid4()), submitted_at=0.0), **PASSWORD)
    assert answer.phase == TaskExecution.FAILED
    assert "Snowflake does not know query" in answer.message


async def test_a_local_run_whose_local_snowflake_restarted_ends_with_a_clear_error() -> None:
    connector = SnowflakeConnector()
    try:
        with LocalSnowflake(min_query_ms=600_000) as first:
            port = int(first.connect_kwargs()["port"])
            config = first.config(network_timeout=10, login_timeout=5)
            task = Snowflake(name="lost", query_template="SELECT 1", plugin_config=config, snowflake_password="pw")
            meta = await connector.create(serialize(task), inputs={}, output_prefix="", **PASSWORD)
        # A minute later the local Snowflake is back, without the query and without the session that ran it.
        meta = dataclasses.replace(meta, submitted_at=time.time() - LONG_AGO)
        with LocalSnowflake(port=port):
            resource = await follow(connector, meta, PASSWORD, config)
    finally:
        await connector.pool.close()
    assert resource.phase == TaskExecution.FAILED, resource.message
    assert f"Snowflake does not know query {meta.query_id}" in resource.message


async def test_while_snowflake_is_unreachable_a_local_run_says_so_then_gives_up(
    connector, make_task, local_snowflake_fresh, sf_config, monkeypatch
) -> None:
    monkeypatch.setattr(task_module, "UNREACHABLE_DEADLINE", 1.0)
    monkeypatch.setattr(task_module, "CANCEL_GRACE", 1.0)  # its cancel cannot get through either
    local_snowflake_fresh.configure(min_query_ms=600_000)
    local_snowflake_fresh.configure(fail_next_http=(503, 100_000), fail_http_path="/monitoring")
    with pytest.raises(SnowflakeTaskFailed) as raised:
        await run_query(
            connector, serialize(make_task("SELECT 1")), inputs={}, secrets=PASSWORD, config=sf_config, name="far"
        )
    message = str(raised.value)
    assert "Snowflake task far gave up: Snowflake could not be reached for 1 s" in message
    assert "may still be running" in message and f"SYSTEM$CANCEL_QUERY('{raised.value.query_id}')" in message
