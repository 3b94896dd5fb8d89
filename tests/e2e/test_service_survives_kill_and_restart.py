"""The connector service is killed (SIGKILL) while queries run, and a new one carries on from the stored metadata."""

from __future__ import annotations

import uuid

import pytest
from c0_harness import Backend, literal_inputs, snowflake_task, template_of
from flyteidl2.core.execution_pb2 import TaskExecution

pytestmark = pytest.mark.e2e


def test_queries_continue_after_the_service_is_killed_and_started_again(emulator, start_service) -> None:
    emulator.configure(min_query_ms=2500)
    marker = f"kill_{uuid.uuid4().hex[:8]}"
    task = snowflake_task(emulator, f"SELECT %(n)s AS n, '{marker}' AS marker", {"n": int})
    first = start_service(name="first")
    metas = [Backend(first).create(template_of(task), literal_inputs(task, n=i)) for i in range(10)]
    assert all(Backend(first).get(meta).phase != TaskExecution.FAILED for meta in metas)

    first.kill()  # mid-query: no shutdown hook, its sessions die with it
    second = start_service(name="second")
    final = Backend(second).wait(metas, timeout=60)

    assert [r.phase for r in final] == [TaskExecution.SUCCEEDED] * len(metas), [r.message for r in final]
    ran = [q for q in emulator.query_history() if marker in q.query_text]
    assert len(ran) == len(metas)  # every query ran exactly once: followed, never resubmitted
    assert {q.status for q in ran} == {"SUCCESS"}
