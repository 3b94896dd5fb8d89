"""Snowflake misbehaves while the service follows queries: 503/429 bursts, dropped connections, expired sessions."""

from __future__ import annotations

import uuid

import pytest
from c0_harness import Backend, literal_inputs, snowflake_task, template_of
from flyteidl2.core.execution_pb2 import TaskExecution

pytestmark = pytest.mark.e2e


def _submit(backend: Backend, emulator, n: int) -> tuple[list[bytes], str]:
    marker = f"faults_{uuid.uuid4().hex[:8]}"
    task = snowflake_task(emulator, f"SELECT %(n)s AS n, '{marker}' AS marker", {"n": int})
    template = template_of(task)
    return [backend.create(template, literal_inputs(task, n=i)) for i in range(n)], marker


def test_http_bursts_and_dropped_connections_while_polling_lose_no_query(service, emulator) -> None:
    emulator.configure(min_query_ms=1500)
    backend = Backend(service)
    metas, marker = _submit(backend, emulator, 6)
    emulator.configure(fail_next_http=(503, 4))
    seen = [backend.get(meta).phase for meta in metas]
    emulator.configure(fail_next_http=(429, 4))
    seen += [backend.get(meta).phase for meta in metas]
    emulator.configure(drop_next=3)
    seen += [backend.get(meta).phase for meta in metas]
    assert TaskExecution.FAILED not in seen and TaskExecution.RETRYABLE_FAILED not in seen

    final = backend.wait(metas, timeout=60)
    assert [r.phase for r in final] == [TaskExecution.SUCCEEDED] * len(metas), [r.message for r in final]
    assert len([q for q in emulator.query_history() if marker in q.query_text]) == len(metas)  # none ran twice
    assert "flyte_connector_snowflake_retries_total" in service.prometheus()


def test_an_expired_session_is_replaced_transparently(emulator, start_service) -> None:
    backend = Backend(start_service(name="expiry"))  # its own replica: the expired sessions stay in its pool
    metas, _ = _submit(backend, emulator, 2)
    assert [r.phase for r in backend.wait(metas)] == [TaskExecution.SUCCEEDED] * 2
    assert emulator.expire_sessions(master=True) >= 1  # every session and its master token: a new login is needed

    metas, _ = _submit(backend, emulator, 3)
    final = backend.wait(metas)
    assert [r.phase for r in final] == [TaskExecution.SUCCEEDED] * 3, [r.message for r in final]
