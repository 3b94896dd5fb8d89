"""Snowflake's waiting states (queued, resuming warehouse, blocked...) are waiting, never failures."""

from __future__ import annotations

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake.local import FIRST_STATUSES
from snowflake_harness import PASSWORD, serialize, wait_done

pytestmark = pytest.mark.integration

WAITING = {TaskExecution.QUEUED, TaskExecution.WAITING_FOR_RESOURCES, TaskExecution.RUNNING}


@pytest.mark.parametrize("status", sorted(FIRST_STATUSES))
async def test_a_query_that_waits_first_still_succeeds(status, connector, make_task, local_snowflake_fresh) -> None:
    local_snowflake_fresh.configure(first_status=(status, 400))
    meta = await connector.create(serialize(make_task("SELECT 1")), inputs={}, output_prefix="", **PASSWORD)

    first = await connector.get(meta, **PASSWORD)

    assert first.phase in WAITING, first.message
    assert first.message
    if status == "RESUMING_WAREHOUSE":
        assert "resum" in first.message.lower()
        assert meta.warehouse in first.message
    assert (await wait_done(connector, meta)).phase == TaskExecution.SUCCEEDED
