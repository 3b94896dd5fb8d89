"""7: first status, minimum duration, HTTP 503/429 bursts, dropped connections, latency; the CLI flags."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
import snowflake.connector
from snowflake.connector.constants import QueryStatus

pytestmark = pytest.mark.integration


def _statuses_until_success(conn: Any, query_id: str, timeout_s: float = 10) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = conn.get_query_status(query_id).name
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("SUCCESS", "FAILED_WITH_ERROR", "ABORTED"):
            return seen
        time.sleep(0.01)
    raise AssertionError(seen)


@pytest.mark.parametrize(
    "status", ["QUEUED", "RESUMING_WAREHOUSE", "QUEUED_REPARING_WAREHOUSE", "BLOCKED", "NO_DATA", "RESTARTED"]
)
def test_first_status_shows_before_running(sf: Any, connect: Any, status: str) -> None:
    sf.configure(first_status=(status, 150), min_query_ms=100)
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    seen = _statuses_until_success(conn, cur.sfqid)
    assert seen[-2:] == ["RUNNING", "SUCCESS"]
    assert status in seen and seen.index(status) < seen.index("RUNNING")


def test_min_query_ms_holds_a_synchronous_query(sf: Any, connect: Any) -> None:
    sf.configure(min_query_ms=400)
    cur = connect().cursor()
    started = time.monotonic()
    assert cur.execute("select 1").fetchone() == (1,)
    assert time.monotonic() - started >= 0.4


def test_long_synchronous_query_answers_in_progress_and_the_driver_polls(sf: Any, connect: Any) -> None:
    sf.configure(result_wait_ms=100, min_query_ms=500)
    cur = connect().cursor()
    assert cur.execute("select 'polled'").fetchone() == ("polled",)


@pytest.mark.parametrize("http_status", [503, 429])
def test_http_error_bursts_are_retried_by_the_driver(sf: Any, connect: Any, http_status: int) -> None:
    conn = connect()
    sf.configure(fail_next_http=(http_status, 3))
    assert conn.cursor().execute("select 'after a burst'").fetchone() == ("after a burst",)
    assert sf.knobs()["fail_http_count"] == 0


def test_http_errors_on_status_polls_only(sf: Any, connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    sf.configure(fail_next_http=(503, 2), fail_http_path="/monitoring/")
    assert wait_done(conn, cur.sfqid)[-1] == QueryStatus.SUCCESS
    assert sf.knobs()["fail_http_count"] == 0


def test_dropped_connections_are_retried_by_the_driver(sf: Any, connect: Any) -> None:
    conn = connect()
    sf.configure(drop_next=2)
    assert conn.cursor().execute("select 'after drops'").fetchone() == ("after drops",)
    assert sf.knobs()["drop_count"] == 0
    assert len([q for q in sf.query_history() if q.query_text == "select 'after drops'"]) == 1


def test_added_latency(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    sf.configure(latency_ms=250)
    started = time.monotonic()
    cur.execute("select 1")
    assert time.monotonic() - started >= 0.25


def test_unknown_knob_is_refused(sf: Any) -> None:
    with pytest.raises(ValueError):
        sf.configure(no_such_knob=1)
    from flyteplugins.snowflake.local import LocalSnowflakeError

    with pytest.raises(LocalSnowflakeError):
        sf.configure(first_status=("SLEEPING", 10))


def test_knobs_are_reset_between_tests_part_1(sf: Any) -> None:
    sf.configure(latency_ms=123)


def test_knobs_are_reset_between_tests_part_2(sf: Any) -> None:
    assert sf.knobs()["latency_ms"] == 0


def test_cli_prints_ready_and_applies_its_flags() -> None:
    cmd = [
        sys.executable,
        "-m",
        "flyteplugins.snowflake.local",
        "--port",
        "0",
        "--min-query-ms",
        "150",
        "--first-status",
        "QUEUED:100",
    ]
    unset = ("FLYTE_SNOWFLAKE_LOCAL_ADMIN_TOKEN", "FLYTE_SNOWFLAKE_LOCAL_PASSWORD")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("ADMIN_TOKEN ")  # made up, for the admin API
            password_line = proc.stdout.readline().split()  # made up too, for the start-up user (FLYTE)
            assert password_line[0] == "PASSWORD" and len(password_line[1]) >= 16
            line = proc.stdout.readline()
            assert line.startswith("READY 127.0.0.1:")
            port = int(line.strip().rpartition(":")[2])
            with snowflake.connector.connect(
                account="cli",
                user="flyte",
                password=password_line[1],
                host="127.0.0.1",
                port=port,
                protocol="http",
                network_timeout=10,
                login_timeout=10,
                platform_detection_timeout_seconds=0,
            ) as conn:
                cur = conn.cursor()
                cur.execute_async("select 1")
                seen = _statuses_until_success(conn, cur.sfqid)
                assert seen[-3:] == ["QUEUED", "RUNNING", "SUCCESS"]
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


def test_cli_refuses_a_bad_first_status_and_a_public_host() -> None:
    for args in (["--first-status", "DONE:5"], ["--host", "0.0.0.0"]):
        proc = subprocess.run(
            [sys.executable, "-m", "flyteplugins.snowflake.local", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0
        assert proc.stdout == ""
