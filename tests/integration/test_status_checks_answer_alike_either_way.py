"""Status checks go straight to the monitoring endpoint on the session's token, and answer exactly as the driver.

Each test logs in with the real driver and follows real queries on the local Snowflake; the driver path
(`FLYTE_SNOWFLAKE_STATUS_CHECKS=driver`) is the reference the direct path is compared with.
"""

from __future__ import annotations

import gc
import time
import uuid
import weakref
from typing import Any

import pytest

from flyteplugins.snowflake import _client

pytestmark = pytest.mark.integration


def _checks() -> dict[str, int]:
    return dict(_client.STATUS_CHECK_PATHS)


def _delta(before: dict[str, int]) -> dict[str, int]:
    return {path: count - before[path] for path, count in _client.STATUS_CHECK_PATHS.items()}


def _both_ways(conn: Any, query_id: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(direct answer, driver answer) for the same query, with the path each took checked."""
    before = _checks()
    direct = _client.poll(conn, query_id)
    assert _delta(before) == {"direct": 1, "driver": 0}
    with monkeypatch.context() as patch:
        patch.setattr(_client._StatusChannel, "of", classmethod(lambda cls, c: None))
        before = _checks()
        driver = _client.poll(conn, query_id)
        assert _delta(before) == {"direct": 0, "driver": 1}
    return direct, driver


def _wait_for(conn: Any, query_id: str, statuses: set[str]) -> None:
    deadline = time.monotonic() + 20
    while _client.poll(conn, query_id).status not in statuses:
        assert time.monotonic() < deadline, f"query {query_id} never reached {statuses}"
        time.sleep(0.05)


def test_running_succeeded_failed_and_unknown_queries_answer_the_same(driver_conn, local_snowflake_fresh, monkeypatch):
    conn = driver_conn
    local_snowflake_fresh.configure(min_query_ms=3000)
    running = _client.submit(conn, "SELECT 1", None, statement_params={})
    # Right after the submit the query may still show NO_DATA or QUEUED: compare both paths once it runs.
    _wait_for(conn, running, {"RUNNING"})
    direct, driver = _both_ways(conn, running, monkeypatch)
    assert direct == driver
    assert direct.status == "RUNNING"

    _wait_for(conn, running, {"SUCCESS"})
    assert _both_ways(conn, running, monkeypatch) == (_client.QueryState("SUCCESS"),) * 2

    local_snowflake_fresh.configure(min_query_ms=0)
    failed = _client.submit(conn, "SELECT * FROM no_such_table_anywhere", None, statement_params={})
    _wait_for(conn, failed, {"FAILED_WITH_ERROR"})
    direct, driver = _both_ways(conn, failed, monkeypatch)
    assert direct == driver
    assert direct.errno is not None
    assert direct.message and "no_such_table_anywhere" in direct.message.lower()

    unknown = str(uuid.uuid4())
    assert _both_ways(conn, unknown, monkeypatch) == (_client.QueryState("NO_DATA"),) * 2


def test_http_faults_are_asked_again_through_the_driver(driver_conn, local_snowflake_fresh):
    conn = driver_conn
    query_id = _client.submit(conn, "SELECT 1", None, statement_params={})
    _wait_for(conn, query_id, {"SUCCESS"})

    for fault in ({"fail_next_http": (503, 2)}, {"fail_next_http": (429, 1)}, {"drop_next": 1}):
        local_snowflake_fresh.configure(**fault)
        before = _checks()
        assert _client.poll(conn, query_id).status == "SUCCESS", fault
        # The direct attempt met the fault; the driver retried it away.
        assert _delta(before) == {"direct": 0, "driver": 1}, fault
        assert local_snowflake_fresh.knobs()["fail_http_count"] == 0
        assert local_snowflake_fresh.knobs()["drop_count"] == 0

    before = _checks()
    assert _client.poll(conn, query_id).status == "SUCCESS"
    assert _delta(before) == {"direct": 1, "driver": 0}, "a fault must not turn the direct path off"


def test_an_expired_token_is_renewed_by_the_driver_and_the_direct_path_follows(driver_conn, local_snowflake_fresh):
    conn = driver_conn
    query_id = _client.submit(conn, "SELECT 1", None, statement_params={})
    _wait_for(conn, query_id, {"SUCCESS"})
    token = conn.rest.token
    assert local_snowflake_fresh.expire_sessions() >= 1

    before = _checks()
    assert _client.poll(conn, query_id).status == "SUCCESS"
    assert _delta(before) == {"direct": 0, "driver": 1}
    assert conn.rest.token != token, "the driver renewed the session token"

    before = _checks()
    assert _client.poll(conn, query_id).status == "SUCCESS"
    assert _delta(before) == {"direct": 1, "driver": 0}


@pytest.mark.parametrize(
    ("variable", "value"), [("FLYTE_SNOWFLAKE_STATUS_CHECKS", "driver"), ("HTTPS_PROXY", "http://127.0.0.1:9")]
)
def test_the_driver_answers_when_told_to_or_behind_a_proxy(local_snowflake_fresh, monkeypatch, variable, value):
    # A proxy set in the environment is for the driver's requests to honour; our direct path does not speak it.
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the driver itself still reaches the emulator
    conn = _client.login(local_snowflake_fresh.connect_kwargs(network_timeout=10, login_timeout=5))
    try:
        before = _checks()
        assert _client.poll(conn, str(uuid.uuid4())).status == "NO_DATA"
        assert _delta(before) == {"direct": 0, "driver": 1}
    finally:
        conn.close()


def test_a_sessions_channel_goes_with_the_session(local_snowflake_fresh):
    conn = _client.login(local_snowflake_fresh.connect_kwargs(network_timeout=10, login_timeout=5))
    assert _client.poll(conn, str(uuid.uuid4())).status == "NO_DATA"
    channel = _client._StatusChannel._channels[conn]
    assert channel is not None
    pool = channel._pool
    assert pool.num_connections == 1
    gone = weakref.ref(channel)
    del channel
    conn.close()
    del conn
    gc.collect()
    assert gone() is None, "a closed session's channel must not outlive it"
    assert pool.pool is None, "its HTTP connections are closed with it"
