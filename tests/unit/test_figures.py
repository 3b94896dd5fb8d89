"""History look-ups for `custom_info`, batched: who waits with whom, what each caller gets, what is dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from flyteplugins.snowflake._figures import HistoryBatches, Late
from flyteplugins.snowflake._observe import HISTORY_COLUMNS, HistoryRecord
from flyteplugins.snowflake.errors import SnowflakeQueryError
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

pytestmark = pytest.mark.asyncio


async def _settle() -> None:
    """Let every task that can run take its steps."""
    for _ in range(5):
        await asyncio.sleep(0)


def _ask(
    batches: HistoryBatches, history: History, key: str, query_id: str, *, conn: str = "s", wait: float = 5
) -> asyncio.Future[HistoryRecord | None]:
    """Start a look-up of `query_id`, keyed `key`, run on the history's connection `conn`."""
    return asyncio.ensure_future(batches.read(key, _meta(query_id), history.runner(conn), wait=wait))


def _meta(query_id: str) -> SnowflakeJobMetadata:
    return SnowflakeJobMetadata("acct", "FLYTE", "DB", "PUBLIC", "WH", query_id, False, submitted_at=1.0)


def _record(query_id: str) -> HistoryRecord:
    return HistoryRecord.from_row([query_id if column == "QUERY_ID" else None for column in HISTORY_COLUMNS])


class History:
    """The query history seen through sessions: each statement's ids, by the connection that ran it.

    A statement blocks until `open` is set, so tests decide what waits while it runs."""

    def __init__(self, known: set[str] | None = None) -> None:
        self.known = known
        self.asked: list[tuple[str, list[str]]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.fail: Exception | None = None
        #: statements (by the order they start in) held until their event is set, after `open`
        self.hold: dict[int, asyncio.Event] = {}
        self.started = 0

    def read(self, conn: str, metas: Sequence[SnowflakeJobMetadata]) -> dict[str, HistoryRecord]:
        self.asked.append((conn, [m.query_id for m in metas]))
        if self.fail is not None:
            raise self.fail
        return {m.query_id: _record(m.query_id) for m in metas if self.known is None or m.query_id in self.known}

    def runner(self, conn: str) -> Callable[[Callable[[Any], dict[str, HistoryRecord]]], Any]:
        async def run(fn: Callable[[Any], dict[str, HistoryRecord]]) -> dict[str, HistoryRecord]:
            index, self.started = self.started, self.started + 1
            await self.open.wait()
            if index in self.hold:
                await self.hold[index].wait()
            return fn(conn)

        return run


async def test_a_lone_look_up_runs_at_once() -> None:
    history = History()
    batches = HistoryBatches(history.read, linger_s=0.0)
    record = await batches.read("k", _meta("q1"), history.runner("s1"), wait=1.0)
    assert record is not None and record.query_id == "q1"
    assert history.asked == [("s1", ["q1"])]


async def test_look_ups_that_arrive_while_a_statement_runs_share_the_next() -> None:
    history = History(known={"q1", "q2", "q3", "q4"})
    history.open.clear()
    batches = HistoryBatches(history.read, concurrency=2, linger_s=0.0)
    first = _ask(batches, history, "k", "q1")
    await _settle()
    assert batches.running() == 1  # one statement at a time per key
    later = [_ask(batches, history, "k", q) for q in ("q2", "q3", "q4", "q5")]
    await _settle()
    assert batches.running() == 1
    history.open.set()
    answers = await asyncio.gather(first, *later)
    assert [a.query_id if a else None for a in answers] == ["q1", "q2", "q3", "q4", None]  # q5: not in history
    assert [ids for _, ids in history.asked] == [["q1"], ["q2", "q3", "q4", "q5"]]
    assert batches.statements == 2  # the ids each asked for: above
    assert batches.running() == 0


async def test_at_most_concurrency_statements_run_at_once() -> None:
    history = History()
    history.open.clear()
    batches = HistoryBatches(history.read, concurrency=2, linger_s=0.0)
    calls = [_ask(batches, history, key, key, conn=key) for key in "abc"]
    await _settle()
    assert batches.running() == 2 and [conn for conn, _ in history.asked] == []
    history.open.set()
    assert all(await asyncio.gather(*calls))
    assert [conn for conn, _ in history.asked] == ["a", "b", "c"]


async def test_different_credentials_never_share_a_statement() -> None:
    history = History()
    history.open.clear()
    batches = HistoryBatches(history.read, concurrency=1, linger_s=0.0)
    busy = _ask(batches, history, "alice", "a0", conn="alice")
    await _settle()
    waiting = [_ask(batches, history, key, q, conn=key) for key, q in (("bob", "b1"), ("alice", "a1"), ("bob", "b2"))]
    await _settle()
    history.open.set()
    await asyncio.gather(busy, *waiting)
    # bob waited first, so his statement goes first; each credential's queries on its own session
    assert history.asked == [("alice", ["a0"]), ("bob", ["b1", "b2"]), ("alice", ["a1"])]


async def test_a_batch_is_at_most_max_batch_queries() -> None:
    history = History()
    history.open.clear()
    batches = HistoryBatches(history.read, concurrency=1, max_batch=2, linger_s=0.0)
    calls = [_ask(batches, history, "k", f"q{n}") for n in range(5)]
    await _settle()
    history.open.set()
    assert all(await asyncio.gather(*calls))
    assert [ids for _, ids in history.asked] == [["q0", "q1"], ["q2", "q3"], ["q4"]]


async def test_a_caller_that_gave_up_is_not_asked_for() -> None:
    history = History()
    history.open.clear()
    batches = HistoryBatches(history.read, concurrency=1, linger_s=0.0)
    running = _ask(batches, history, "k", "q1")
    await _settle()
    with pytest.raises(Late, match=r"within 0\.01 s"):
        await batches.read("k", _meta("q2"), history.runner("s"), wait=0.01)
    kept = _ask(batches, history, "k", "q3")
    await _settle()
    history.open.set()
    assert (await running) is not None and (await kept) is not None
    assert [ids for _, ids in history.asked] == [["q1"], ["q3"]]


async def test_a_statement_answers_the_callers_still_waiting() -> None:
    history = History()
    history.open.clear()
    second = history.hold[1] = asyncio.Event()  # the statement for q1 and q2: held until q2 gives up
    batches = HistoryBatches(history.read, concurrency=1, linger_s=0.0)
    ahead = _ask(batches, history, "k", "q0")
    await _settle()
    patient = _ask(batches, history, "k", "q1")
    hasty = _ask(batches, history, "k", "q2", wait=0.05)
    await _settle()
    history.open.set()
    await ahead
    with pytest.raises(Late):
        await hasty
    second.set()
    record = await patient
    assert record is not None and record.query_id == "q1"
    assert [ids for _, ids in history.asked] == [["q0"], ["q1", "q2"]]


async def test_a_failed_statement_fails_each_of_its_callers() -> None:
    history = History()
    history.open.clear()
    second = history.hold[1] = asyncio.Event()
    batches = HistoryBatches(history.read, concurrency=1, linger_s=0.0)
    ahead = _ask(batches, history, "k", "q0")
    await _settle()
    together = [_ask(batches, history, "k", q) for q in ("q1", "q2")]
    await _settle()
    history.open.set()
    assert await ahead is not None
    history.fail = SnowflakeQueryError("Insufficient privileges to operate on warehouse 'WH'", errno=3001)
    second.set()
    outcomes = await asyncio.gather(*together, return_exceptions=True)
    assert all(isinstance(o, SnowflakeQueryError) and "privileges" in str(o) for o in outcomes), outcomes
    assert [ids for _, ids in history.asked] == [["q0"], ["q1", "q2"]]
    assert batches.running() == 0


async def test_when_the_statements_ahead_are_stuck_a_look_up_gives_up_at_once() -> None:
    history = History()
    history.open.clear()  # the history answers nothing (statements queued behind a saturated warehouse)
    batches = HistoryBatches(history.read, concurrency=2, linger_s=0.0)
    loop = asyncio.get_running_loop()
    stuck = [_ask(batches, history, key, key, conn=key, wait=0.05) for key in "ab"]
    await _settle()
    waited = loop.time()
    with pytest.raises(Late):  # both running for less than `wait`: this one waits its turn, then gives up
        await batches.read("c", _meta("c"), history.runner("c"), wait=0.05)
    assert loop.time() - waited >= 0.05
    for key in "ac":  # its own key's statement stuck; every slot taken by a stuck statement
        started = loop.time()
        with pytest.raises(Late, match="running for over"):
            await batches.read(key, _meta(key + "2"), history.runner(key), wait=0.05)
        assert loop.time() - started < 0.05
    for call in stuck:
        with pytest.raises(Late):
            await call
    history.open.set()
    await asyncio.sleep(0.01)
    assert batches.running() == 0
    assert [ids for _, ids in history.asked] == [["a"], ["b"]]  # "c" gave up before its turn came
    record = await batches.read("a", _meta("a3"), history.runner("a"), wait=1)
    assert record is not None and record.query_id == "a3"


async def test_while_a_keys_queries_keep_finishing_a_statement_waits_for_more() -> None:
    history = History()
    batches = HistoryBatches(history.read, linger_s=0.2, burst_s=5.0)
    assert await batches.read("k", _meta("q1"), history.runner("s"), wait=1)  # quiet: at once, alone
    loop = asyncio.get_running_loop()
    started = loop.time()
    calls = []
    for n in (2, 3, 4):  # one every 50 ms, right after the first: the same wave
        calls.append(_ask(batches, history, "k", f"q{n}", wait=1))
        await asyncio.sleep(0.05)
    assert all(await asyncio.gather(*calls))
    assert loop.time() - started >= 0.2
    assert [ids for _, ids in history.asked] == [["q1"], ["q2", "q3", "q4"]]
    assert await batches.read("other", _meta("o1"), history.runner("o"), wait=1)  # another key is quiet
    assert history.asked[-1] == ("o", ["o1"])


async def test_a_key_is_busy_while_a_look_up_of_it_runs_or_waits() -> None:
    history = History()
    history.open.clear()
    batches = HistoryBatches(history.read, concurrency=1, linger_s=0.0)
    assert not batches.busy("a")
    running = _ask(batches, history, "a", "a1", conn="a")
    waiting = _ask(batches, history, "b", "b1", conn="b")
    await _settle()
    assert batches.busy("a") and batches.busy("b") and not batches.busy("c")
    history.open.set()
    await asyncio.gather(running, waiting)
    assert not batches.busy("a") and not batches.busy("b")


async def test_quiet_keys_are_forgotten() -> None:
    from flyteplugins.snowflake import _figures

    history = History()
    batches = HistoryBatches(history.read, linger_s=0.0, burst_s=0.01)
    for n in range(_figures._KEYS_KEPT):
        assert await batches.read(f"key{n}", _meta(f"q{n}"), history.runner("s"), wait=1)
    state = batches._loops[asyncio.get_running_loop()]
    assert len(state.ended) == _figures._KEYS_KEPT  # all kept so far
    await asyncio.sleep(0.02)  # all quiet now
    assert await batches.read("new", _meta("q-new"), history.runner("s"), wait=1)
    assert list(state.ended) == ["new"]
