"""Finished queries' history rows for `custom_info`, read for many queries with one statement.

The GetTask that sees a query finish reads its figures (rows, bytes, queued and execution time) from the query
history. Queries often finish together (a warehouse's queue draining a wave of them), and one look-up each
would put that many statements on the users' warehouses, and on this replica's sessions and CPU, at the moment
it is busiest. So look-ups wait together: one statement at a time per session key (credentials and session
settings), at most `concurrency` in the process, each reading the rows of every query of its key that waited
for it (up to `max_batch`). A quiet key's look-up starts at once, alone. While a key's queries keep finishing
(its last statement ended less than `burst_s` ago), a statement first waits `linger_s` for more of them: the
GetTasks that see a wave's queries finish are spread over the backend's poll interval, so they rarely arrive
while a statement runs.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._observe import HistoryRecord
from .metadata import SnowflakeJobMetadata

#: Runs the blocking `fn(connection)` on a pooled session of the look-up's credentials.
Runner = Callable[[Callable[[Any], dict[str, HistoryRecord]]], Awaitable[dict[str, HistoryRecord]]]
#: Reads the history rows of these queries on a connection (blocking), by query id.
Reader = Callable[[Any, Sequence[SnowflakeJobMetadata]], dict[str, HistoryRecord]]


#: How many keys' last statement times are kept before the quiet ones are forgotten.
_KEYS_KEPT = 1024


class Late(Exception):
    """The query history did not answer in time; the statement goes on and its answer is dropped."""


@dataclass
class _Wanted:
    meta: SnowflakeJobMetadata
    run: Runner
    answer: asyncio.Future[HistoryRecord | None]


@dataclass
class _LoopState:
    """The look-ups of one event loop (futures belong to their loop)."""

    #: Waiting look-ups by session key, the key waiting longest first.
    waiting: dict[str, list[_Wanted]] = field(default_factory=dict)
    #: Statements running: the session key of each, and when it started (the loop holds tasks weakly: this
    #: keeps them).
    running: dict[asyncio.Task[None], tuple[str, float]] = field(default_factory=dict)
    #: When each key's last statement ended (loop time).
    ended: dict[str, float] = field(default_factory=dict)

    def keys_running(self) -> set[str]:
        """The session keys that have a statement running (or gathering)."""
        return {key for key, _ in self.running.values()}


class HistoryBatches:
    """History look-ups of finished queries, batched per session key (credentials and session settings)."""

    def __init__(
        self,
        read: Reader,
        *,
        concurrency: int = 2,
        max_batch: int = 200,
        linger_s: float = 0.5,
        burst_s: float = 2.0,
    ) -> None:
        self._read = read
        self._concurrency = concurrency
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._burst_s = burst_s
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        #: Statements run so far (for tests).
        self.statements = 0

    def running(self) -> int:
        """Statements running now, in the current event loop."""
        state = self._loops.get(asyncio.get_running_loop())
        return len(state.running) if state else 0

    def busy(self, key: str) -> bool:
        """Whether a look-up for `key` now would wait for a statement ahead of it (one running or gathering, or
        look-ups already waiting), in the current event loop."""
        state = self._loops.get(asyncio.get_running_loop())
        if state is None:
            return False
        return key in state.waiting or key in state.keys_running()

    async def read(self, key: str, meta: SnowflakeJobMetadata, run: Runner, *, wait: float) -> HistoryRecord | None:
        """The query's history row (None when the history has no such query).

        Raises:
            Late: no answer within `wait` seconds; the look-up is forgotten (a statement that already asked
                for it still runs, and its other queries still get their rows). At once when the statements it
                would wait for (its key's, or all when every slot is taken) have been running longer than that:
                the history is not answering now (say, the warehouse is saturated and the statements queue
                behind its queries), and waiting would only delay the task.
            SnowflakeError: the statement that asked for this query failed.
        """
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        now = loop.time()
        stuck = [now - started > wait for running_key, started in state.running.values() if running_key == key]
        if any(stuck) or (
            len(state.running) >= self._concurrency
            and all(now - started > wait for _, started in state.running.values())
        ):
            raise Late(f"no answer to the look-ups running for over {wait:g} s")
        answer: asyncio.Future[HistoryRecord | None] = loop.create_future()
        state.waiting.setdefault(key, []).append(_Wanted(meta, run, answer))
        self._start(state)
        try:
            return await asyncio.wait_for(answer, wait)
        except asyncio.TimeoutError:
            raise Late(f"no answer within {wait:g} s") from None

    def _start(self, state: _LoopState) -> None:
        """Start statements for the keys waiting longest that have none running, while fewer than
        `concurrency` run."""
        loop = asyncio.get_running_loop()
        while len(state.running) < self._concurrency:
            busy = state.keys_running()
            key = next((waiting_key for waiting_key in state.waiting if waiting_key not in busy), None)
            if key is None:
                return
            now = loop.time()
            in_burst = now - state.ended.get(key, -math.inf) < self._burst_s
            task = asyncio.ensure_future(self._statement(state, key, self._linger_s if in_burst else 0.0))
            state.running[task] = (key, now)

    async def _statement(self, state: _LoopState, key: str, linger: float) -> None:
        try:
            if linger > 0:
                await asyncio.sleep(linger)  # the key's look-ups that arrive meanwhile join this statement
            wanted = [w for w in state.waiting.pop(key, []) if not w.answer.done()]  # done: its caller gave up
            batch, rest = wanted[: self._max_batch], wanted[self._max_batch :]
            if rest:
                state.waiting[key] = rest  # behind the other keys
            if batch:
                await self._ask(batch)
        finally:
            task = asyncio.current_task()
            if task is not None:
                state.running.pop(task, None)
            now = asyncio.get_running_loop().time()
            state.ended[key] = now
            if len(state.ended) > _KEYS_KEPT:  # credentials come and go: forget the quiet ones
                state.ended = {k: t for k, t in state.ended.items() if now - t < self._burst_s}
            self._start(state)

    async def _ask(self, batch: list[_Wanted]) -> None:
        metas = [w.meta for w in batch]
        self.statements += 1
        try:
            records = await batch[0].run(lambda conn: self._read(conn, metas))
        except Exception as exc:
            for w in batch:
                if not w.answer.done():  # done: cancelled by a caller that gave up
                    w.answer.set_exception(exc)
        else:
            for w in batch:
                if not w.answer.done():
                    w.answer.set_result(records.get(w.meta.query_id))
