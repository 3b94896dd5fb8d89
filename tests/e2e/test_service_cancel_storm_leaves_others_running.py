"""Many runs are aborted at once: their queries are cancelled, and the other queries keep running to success."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from c0_harness import Backend, literal_inputs, snowflake_task, template_of
from flyteidl2.core.execution_pb2 import TaskExecution

pytestmark = pytest.mark.e2e


def test_a_storm_of_cancels_leaves_the_other_queries_running(service, emulator) -> None:
    emulator.configure(min_query_ms=2500)
    marker = f"storm_{uuid.uuid4().hex[:8]}"
    task = snowflake_task(emulator, f"SELECT %(n)s AS n, '{marker}' AS marker", {"n": int})
    backend = Backend(service)
    metas = [backend.create(template_of(task), literal_inputs(task, n=i)) for i in range(20)]
    doomed, spared = metas[::2], metas[1::2]

    with ThreadPoolExecutor(max_workers=10) as pool:  # the backend aborts ten runs at the same moment, twice
        list(pool.map(backend.delete, doomed + doomed))
    assert all(backend.get(meta).phase != TaskExecution.FAILED for meta in spared)

    final = dict(zip(metas, backend.wait(metas, timeout=60), strict=True))
    assert [final[m].phase for m in spared] == [TaskExecution.SUCCEEDED] * len(spared)
    assert all(final[m].phase == TaskExecution.ABORTED for m in doomed)
    # as Snowflake reports a cancelled query: FAILED_WITH_ERROR, error 604
    outcomes = {(q.status, q.error_code) for q in emulator.query_history() if marker in q.query_text}
    assert outcomes == {("SUCCESS", None), ("FAILED_WITH_ERROR", "000604")}
