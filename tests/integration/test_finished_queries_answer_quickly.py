"""A status check never holds the caller while a finished query's result is saved: that goes on in the
background, and a later check collects the final answer (through the real driver, on the local Snowflake)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from snowflake_harness import PASSWORD, serialize, wait_done

pytestmark = pytest.mark.integration


async def _finished_query(connector: Any, make_task: Any, sf: Any, tmp_path: Path) -> Any:
    task = make_task("SELECT seq4() AS N FROM TABLE(GENERATOR(ROWCOUNT => 50))", output=pa.Table)
    meta = await connector.create(serialize(task), inputs={}, output_prefix=str(tmp_path / "out"), **PASSWORD)
    deadline = time.monotonic() + 20
    while not _succeeded(sf, meta.query_id):
        assert time.monotonic() < deadline, "the query never finished"
        await asyncio.sleep(0.05)
    return meta


def _succeeded(sf: Any, query_id: str) -> bool:
    return any(q.execution_status == "SUCCESS" for q in sf.query_history(query_id))


async def test_a_slow_save_answers_running_then_succeeds(connector, make_task, local_snowflake_fresh, tmp_path):
    meta = await _finished_query(connector, make_task, local_snowflake_fresh, tmp_path)
    # A distant Snowflake: saving the result takes several round trips of 300 ms, far over the wait.
    local_snowflake_fresh.configure(latency_ms=300)

    started = time.monotonic()
    first = await connector.get(meta, finish_wait=0.05, **PASSWORD)
    took = time.monotonic() - started

    assert first.phase == TaskExecution.RUNNING, first.message
    assert first.message.endswith("saving its result")
    assert first.custom_info["status"] == "SUCCESS"
    assert took < 0.3 + 0.05 + 0.5, f"the check took {took:.2f}s: one round trip and the wait, not the save"

    # More checks while it saves: all quick, all sharing the one job.
    answers = await asyncio.gather(*(connector.get(meta, finish_wait=0.01, **PASSWORD) for _ in range(4)))
    assert {a.phase for a in answers} <= {TaskExecution.RUNNING, TaskExecution.SUCCEEDED}
    assert len(connector._finishing) <= 1

    final = await wait_done(connector, meta)
    assert final.phase == TaskExecution.SUCCEEDED, final.message
    assert final.outputs is not None and "results" in final.outputs
    assert len(connector._finishing) == 0, "the collected job is forgotten"


async def test_without_a_wait_bound_the_check_returns_the_final_answer(
    connector, make_task, local_snowflake_fresh, tmp_path
):
    meta = await _finished_query(connector, make_task, local_snowflake_fresh, tmp_path)
    local_snowflake_fresh.configure(latency_ms=100)
    final = await connector.get(meta, finish_wait=None, **PASSWORD)
    assert final.phase == TaskExecution.SUCCEEDED, final.message
    assert final.outputs is not None and "results" in final.outputs
