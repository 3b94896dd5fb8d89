"""The driver's per-statement cancellation timer runs on one shared thread, and still cancels on time.

The driver arms a timer of `network_timeout` seconds around every statement's request, including async
submits that return at once; by default each is a new thread. The plugin swaps in `SharedCancellationTimer`.
"""

from __future__ import annotations

import threading
import time

import pytest
import snowflake.connector
from snowflake.connector import cursor as driver_cursor

from flyteplugins.snowflake import _client

pytestmark = pytest.mark.integration


def test_the_driver_takes_the_shared_timer() -> None:
    # Fails loudly when a driver upgrade renames or drops the hook: submits would start a thread each again.
    _client.preload()
    assert driver_cursor._TrackedQueryCancellationTimer is _client.SharedCancellationTimer


def test_submits_start_no_thread_and_leave_nothing_armed(driver_conn, monkeypatch) -> None:
    conn = driver_conn
    _client.submit(conn, "SELECT 1", None, statement_params={})  # the deadlines thread exists from here on
    started: list[str] = []
    original = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self.name)
        original(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for n in range(30):
        _client.submit(conn, "SELECT :1 AS n", [n], statement_params={})
    assert started == []
    assert _client._DEADLINES.pending() == 0, "every submit disarmed its timer"


def test_a_statement_past_its_timeout_is_still_cancelled(driver_conn, local_snowflake_fresh) -> None:
    conn = driver_conn
    local_snowflake_fresh.configure(min_query_ms=5000)
    started = time.monotonic()
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as caught, conn.cursor() as cur:
        cur.execute("SELECT 42 AS late", timeout=1)
    assert time.monotonic() - started < 4.5, "the timer fired at its deadline, not after the query"
    assert "timeout" in str(caught.value).lower()
    assert isinstance(cur._timebomb, _client.SharedCancellationTimer) and cur._timebomb.executed
    history = [q for q in local_snowflake_fresh.query_history() if "SELECT 42 AS late" in q.query_text]
    assert history and history[-1].execution_status != "SUCCESS"


def test_timers_fire_in_deadline_order_and_cancelled_ones_never() -> None:
    fired: list[str] = []
    done = threading.Event()
    late = _client.SharedCancellationTimer(0.3, lambda: (fired.append("late"), done.set()))
    early = _client.SharedCancellationTimer(0.1, fired.append, ["early"])
    disarmed = _client.SharedCancellationTimer(0.2, fired.append, ["disarmed"])
    for timer in (late, early, disarmed):
        timer.start()
    disarmed.cancel()
    assert done.wait(5)
    assert fired == ["early", "late"]
    assert early.executed and late.executed and not disarmed.executed


def test_a_firing_timer_counts_as_executed_before_its_cancel_goes_out() -> None:
    # The statement's request can return "canceled" while the cancel request is still in flight; the driver
    # calls that a timeout only if `executed` is already set by then.
    seen: list[bool] = []
    done = threading.Event()
    timer = _client.SharedCancellationTimer(0.05, lambda: (seen.append(timer.executed), done.set()))
    timer.start()
    assert done.wait(5)
    assert seen == [True]
