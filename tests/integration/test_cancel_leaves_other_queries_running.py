"""Cancelling one query ends it in Snowflake and nothing else: same credentials, same pool, other queries run on."""

from __future__ import annotations

import asyncio
import dataclasses

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
    assert local_snowflake_fresh.query_history(metas[0].query_id)[0].status == "ABORTED"

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
