"""Two replicas of the connector service answer alternate calls for the same queries and behave as one."""

from __future__ import annotations

import uuid

import pytest
from c0_harness import Backend, literal_inputs, snowflake_task, template_of
from flyteidl2.core.execution_pb2 import TaskExecution

pytestmark = pytest.mark.e2e


def test_alternating_replicas_create_follow_cancel_and_report_the_same_queries(
    emulator, service, start_service
) -> None:
    emulator.configure(min_query_ms=4000)
    marker = f"replicas_{uuid.uuid4().hex[:8]}"
    task = snowflake_task(emulator, f"SELECT %(n)s AS n, '{marker}' AS marker", {"n": int})
    both = Backend(service, start_service(name="second"))  # every call goes to the other replica
    metas = [both.create(template_of(task), literal_inputs(task, n=i)) for i in range(8)]
    assert [both.get(meta).phase for meta in metas[:2]] == [TaskExecution.RUNNING] * 2
    both.delete(metas[0])  # cancelled by one replica, followed by both

    final = both.wait(metas, timeout=60)
    assert [r.phase for r in final[1:]] == [TaskExecution.SUCCEEDED] * 7, [r.message for r in final]
    assert final[0].phase != TaskExecution.SUCCEEDED
    assert all(any("Succeeded in" in line for line in both.logs(meta)) and both.metrics(meta) for meta in metas[1:3])
    assert len([q for q in emulator.query_history() if marker in q.query_text]) == len(metas)
