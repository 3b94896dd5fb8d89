"""Cancelling one query ends it in Snowflake and nothing else: same credentials, same pool, other queries run on.

Snowflake reports a cancelled query as FAILED_WITH_ERROR with error 604 "SQL execution canceled" (as the local
Snowflake does); the task reads ABORTED when the connector cancelled it, and FAILED, saying so, when someone else
did."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from snowflake_harness import PASSWORD, run, serialize, wait_done

pytestmark = pytest.mark.integration


async def test_cancel_one_of_three_the_others_finish_and_new_work_starts(
    connector, make_task, local_snowflake_fresh
) -> None:
    local_snowflake_fresh.configure(min_query_ms=1500)
    template = serialize(make_task("SELECT 1 AS one"))
    metas = [await connector.create(template, inputs={}, output_prefix="", **PASSWORD) for _ in range(3)]

    await connector.delete(metas[0], **PASSWORD)

    cancelled = await wait_done(connector, metas[0])
    others = await asyncio.gather(*(wait_done(connector, m) for m in metas[1:]))
    assert cancelled.phase == TaskExecution.ABORTED
    assert [r.phase for r in others] == [TaskExecution.SUCCEEDED] * 2
    (history,) = local_snowflake_fresh.query_history(metas[0].query_id)
    assert (history.status, history.error_code) == ("FAILED_WITH_ERROR", "000604")

    local_snowflake_fresh.configure(min_query_ms=0)
    _, fresh = await run(connector, make_task("SELECT 2"))
    assert fresh.phase == TaskExecution.SUCCEEDED


async def test_cancel_is_idempotent(connector, make_task, local_snowflake_fresh) -> None:
    local_snowflake_fresh.configure(min_query_ms=2000)
    meta = await connector.create(serialize(make_task("SELECT 1")), inputs={}, output_prefix="", **PASSWORD)
    await connector.delete(meta, **PASSWORD)
    await connector.delete(meta, **PASSWORD)
    assert (await wait_done(connector, meta)).phase == TaskExecution.ABORTED


async def test_cancelling_a_finished_query_leaves_its_result(connector, make_task, fetch) -> None:
    meta, resource = await run(connector, make_task("SELECT 7 AS seven"))
    assert resource.phase == TaskExecution.SUCCEEDED
    await connector.delete(meta, **PASSWORD)
    assert (await wait_done(connector, meta)).phase == TaskExecution.SUCCEEDED
    assert fetch(meta.query_id) == [(7,)]


async def test_cancelling_an_unknown_query_is_not_an_error(connector, make_task) -> None:
    meta, _ = await run(connector, make_task("SELECT 1"))
    unknown = dataclasses.replace(meta, query_id="01234567-89ab-cdef-0123-456789abcdef")
    await connector.delete(unknown, **PASSWORD)


async def test_cancel_never_closes_the_shared_session(connector, make_task, local_snowflake_fresh) -> None:
    local_snowflake_fresh.configure(min_query_ms=800)
    template = serialize(make_task("SELECT 1"))
    first = await connector.create(template, inputs={}, output_prefix="", **PASSWORD)
    await connector.delete(first, **PASSWORD)
    logins = connector.pool.stats.logins
    second = await connector.create(template, inputs={}, output_prefix="", **PASSWORD)
    assert (await wait_done(connector, second)).phase == TaskExecution.SUCCEEDED
    assert connector.pool.stats.logins == logins
    assert connector.pool.stats.discarded == 0


async def _ended(meta, local_snowflake) -> None:
    """Wait until the local Snowflake has ended the query (a cancel is asynchronous, as in Snowflake)."""
    deadline = time.monotonic() + 10
    while local_snowflake.query_history(meta.query_id)[0].status == "RUNNING":
        assert time.monotonic() < deadline, "the cancelled query never ended"
        await asyncio.sleep(0.02)


async def test_after_delete_the_next_check_answers_aborted_at_once(connector, make_task, local_snowflake_fresh) -> None:
    local_snowflake_fresh.configure(min_query_ms=30_000)
    meta = await connector.create(serialize(make_task("SELECT 1")), inputs={}, output_prefix="", **PASSWORD)
    await connector.delete(meta, **PASSWORD)
    await _ended(meta, local_snowflake_fresh)
    # A distant Snowflake: the query history look-up takes longer than the check waits for it.
    local_snowflake_fresh.configure(latency_ms=150)
    answer = await connector.get(meta, **PASSWORD)  # as the service calls it: figures wanted, a short wait
    assert answer.phase == TaskExecution.ABORTED, answer.message
    assert answer.message.startswith(f"Query {meta.query_id} was cancelled as the task's abort asked")
    assert answer.custom_info["status"] == "FAILED_WITH_ERROR" and answer.custom_info["error"]["errno"] == 604


async def test_a_cancel_from_outside_the_task_fails_it_saying_who_may_have_cancelled(
    connector, make_task, local_snowflake_fresh, sql
) -> None:
    local_snowflake_fresh.configure(min_query_ms=30_000)
    meta = await connector.create(serialize(make_task("SELECT 1")), inputs={}, output_prefix="", **PASSWORD)
    sql(f"SELECT SYSTEM$CANCEL_QUERY('{meta.query_id}')")  # an administrator, from another session
    answer = await wait_done(connector, meta)
    assert answer.phase == TaskExecution.FAILED, answer.message
    assert f"Query {meta.query_id} was cancelled in Snowflake, and not by this task" in answer.message
    assert "error 604, SQL execution canceled" in answer.message and "SYSTEM$CANCEL_QUERY" in answer.message


async def test_a_statement_timeout_fails_the_task_with_snowflakes_words(
    connector, make_task, local_snowflake_fresh, sf_config
) -> None:
    local_snowflake_fresh.configure(min_query_ms=30_000)
    task = make_task("SELECT 1", plugin_config=dataclasses.replace(sf_config, statement_timeout=1))
    meta = await connector.create(serialize(task), inputs={}, output_prefix="", **PASSWORD)
    answer = await wait_done(connector, meta)
    # Snowflake cancels it (error 630), as the task asked: a failure to finish in time, not a cancel by anyone
    assert answer.phase == TaskExecution.FAILED, answer.message
    assert "Snowflake error 630" in answer.message and "timeout of 1 second(s)" in answer.message
