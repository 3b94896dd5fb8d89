"""Network blips, throttling and expired sessions while following a query never fail it, nor run it twice."""

from __future__ import annotations

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from snowflake_harness import PASSWORD, serialize, wait_done

pytestmark = pytest.mark.integration


async def submit(connector, make_task, sf) -> object:
    sf.configure(min_query_ms=600)
    return await connector.create(serialize(make_task("SELECT 1")), inputs={}, output_prefix="", **PASSWORD)


@pytest.mark.parametrize("status", [503, 429])
async def test_http_errors_while_polling(status, connector, make_task, local_snowflake_fresh) -> None:
    meta = await submit(connector, make_task, local_snowflake_fresh)
    local_snowflake_fresh.configure(fail_next_http=(status, 4), fail_http_path="/monitoring")
    assert (await wait_done(connector, meta)).phase == TaskExecution.SUCCEEDED
    assert len(local_snowflake_fresh.query_history(meta.query_id)) == 1


async def test_dropped_connections_while_polling(connector, make_task, local_snowflake_fresh) -> None:
    meta = await submit(connector, make_task, local_snowflake_fresh)
    local_snowflake_fresh.configure(drop_next=2)
    assert (await wait_done(connector, meta)).phase == TaskExecution.SUCCEEDED


async def test_an_expired_session_is_replaced(connector, make_task, local_snowflake_fresh) -> None:
    meta = await submit(connector, make_task, local_snowflake_fresh)
    local_snowflake_fresh.expire_sessions(master=True)
    assert (await wait_done(connector, meta)).phase == TaskExecution.SUCCEEDED
    # and a new query on the same credentials works straight away
    meta2 = await connector.create(serialize(make_task("SELECT 2")), inputs={}, output_prefix="", **PASSWORD)
    assert (await wait_done(connector, meta2)).phase == TaskExecution.SUCCEEDED


async def test_snowflake_down_for_longer_reports_running_not_failed(
    connector, make_task, local_snowflake_fresh
) -> None:
    meta = await submit(connector, make_task, local_snowflake_fresh)
    local_snowflake_fresh.configure(fail_next_http=(503, 1000), fail_http_path="/monitoring")
    resource = await connector.get(meta, **PASSWORD)
    assert resource.phase == TaskExecution.RUNNING
    assert "checking again" in (resource.message or "")
    local_snowflake_fresh.configure(fail_next_http=(503, 0))
    assert (await wait_done(connector, meta)).phase == TaskExecution.SUCCEEDED
