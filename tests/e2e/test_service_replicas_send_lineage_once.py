"""Two replicas of the connector service, OpenLineage configured on both: one START per query, its end once."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from c0_harness import Backend, literal_inputs, snowflake_task, template_of
from flyteidl2.core.execution_pb2 import TaskExecution

from lineage_receiver import Receiver, Schemas, serve

pytestmark = pytest.mark.e2e

BOUND = "bound-c0-5e1b"


def _settled(receiver: Receiver, expected: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.events) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # anything late (a duplicate) would arrive now


def test_alternating_replicas_send_one_start_and_one_end_per_query(emulator, start_service) -> None:
    schemas = Schemas()
    for receiver in serve():
        env = {"OPENLINEAGE_URL": receiver.url}
        both = Backend(start_service(env=env, name="first"), start_service(env=env, name="second"))
        emulator.configure(min_query_ms=1500)
        marker = f"lineage_{uuid.uuid4().hex[:8]}"
        task = snowflake_task(emulator, f"SELECT %(v)s AS v, '{marker}' AS marker", {"v": str}, name="tagged")
        metas = [both.create(template_of(task), literal_inputs(task, v=BOUND)) for _ in range(6)]
        both.delete(metas[0])

        final = both.wait(metas[1:], timeout=60)
        assert [r.phase for r in final] == [TaskExecution.SUCCEEDED] * 5

        _settled(receiver, 12)
        for event in receiver.events:
            schemas.validate(event)
        runs = Counter((e["run"]["runId"], e["eventType"]) for e in receiver.events)
        run_ids = {e["run"]["runId"] for e in receiver.events}
        assert len(run_ids) == 6
        assert sorted(runs.values()) == [1] * 12, runs
        kinds = Counter(kind for _, kind in runs)
        assert kinds == {"START": 6, "COMPLETE": 5, "ABORT": 1}
        assert all(BOUND not in body for body in receiver.bodies)
