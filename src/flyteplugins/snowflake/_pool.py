"""Connections keyed by a credential fingerprint, each held by one call at a time.

A login costs 100-500 ms on Snowflake, so the connector keeps sessions alive between calls. The key is a
hash of the connection identity and the secrets (never the secrets themselves); the value is a small
bounded set of live connections. A call takes a connection exclusively (the driver and the local
Snowflake do not like two calls on one session at once) and gives it back, or discards it when it broke.

Every blocking driver call runs on one bounded thread pool, so a slow login never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Closeable(Protocol):
    def close(self) -> None: ...

    def is_closed(self) -> bool: ...


C = TypeVar("C", bound=Closeable)


@dataclass
class PoolStats:
    """Counters for operators (exported as Prometheus metrics by the connector)."""

    logins: int = 0
    login_failures: int = 0
    discarded: int = 0
    expired: int = 0


@dataclass
class _Idle(Generic[C]):
    conn: C
    since: float


@dataclass
class _Slot(Generic[C]):
    """The connections of one key: idle ones, and how many exist in all (idle + in use + logging in)."""

    idle: deque[_Idle[C]] = field(default_factory=deque)
    size: int = 0
    waiters: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    loop: asyncio.AbstractEventLoop | None = None
    label: str | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Conditions belong to one event loop; a connector reused from another loop gets a new one."""
        if self.loop is not loop:
            self.changed = asyncio.Condition()
            self.loop = loop


class Pool(Generic[C]):
    """Bounded per-key connection pool; blocking work runs on `run()`'s thread pool.

    Args:
        max_per_key: connections one credential may hold at once (Snowflake sessions per user are finite).
        idle_timeout: seconds after which an idle connection is closed rather than reused (Snowflake
            expires idle sessions; a reused stale one costs a failed call and a retry).
        max_workers: threads for blocking driver calls, shared by every key.
    """

    def __init__(
        self,
        *,
        max_per_key: int = 8,
        idle_timeout: float = 600.0,
        max_workers: int = 32,
        keeps_session: Callable[[BaseException], bool] = lambda exc: False,
    ) -> None:
        """`keeps_session(exc)` says an error left the session healthy (a SQL error), so it is reused."""
        self.max_per_key = max_per_key
        self._keeps_session = keeps_session
        self.idle_timeout = idle_timeout
        self.stats = PoolStats()
        self._slots: dict[str, _Slot[C]] = {}
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="snowflake")
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking function on the pool's threads and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def size(self, key: str | None = None) -> int:
        """Connections that exist for `key` (or for every key): idle, in use or logging in."""
        if key is not None:
            slot = self._slots.get(key)
            return slot.size if slot else 0
        return sum(slot.size for slot in self._slots.values())

    def idle(self) -> int:
        return sum(len(slot.idle) for slot in self._slots.values())

    def key_count(self) -> int:
        """Keys (distinct credentials) that hold at least one connection."""
        return sum(1 for slot in self._slots.values() if slot.size)

    @contextlib.asynccontextmanager
    async def connection(
        self, key: str, login: Callable[[], C], *, label: str | None = None
    ) -> AsyncIterator[Lease[C]]:
        """Hold one connection of `key` for the duration of the block.

        `login` makes a new connection (blocking; it runs on the thread pool). When the block raises, or
        calls `lease.discard()`, the connection is closed instead of going back to the pool. `label` names
        the key's sessions without secrets (account and user), so `borrow` can find them later.
        """
        slot = self._slots.setdefault(key, _Slot())
        slot.bind(asyncio.get_running_loop())
        if label is not None:
            slot.label = label
        conn = await self._take(slot, login)
        async with self._held(slot, conn) as lease:
            yield lease

    @contextlib.asynccontextmanager
    async def borrow(self, label: str, *, wait: float = 0.0) -> AsyncIterator[Lease[C] | None]:
        """Hold an idle live connection of any key labelled `label`, never logging in; None when there is none.

        For calls that carry no secrets (GetTaskLogs, GetTaskMetrics): they may use a session someone else
        logged in, as long as it is the same account and user. Waits up to `wait` seconds while every such
        connection is busy.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            slots = [slot for slot in self._slots.values() if slot.label == label and slot.size > 0]
            for slot in slots:
                slot.bind(loop)
                async with slot.changed:
                    conn = self._pop_fresh(slot)
                if conn is None:
                    continue
                async with self._held(slot, conn) as lease:
                    yield lease
                return
            if not slots or loop.time() >= deadline:
                yield None
                return
            # Rare calls: a short sleep is simpler than joining the slot's waiters (whose wake-ups it could steal).
            await asyncio.sleep(min(0.01, max(0.0, deadline - loop.time())))

    @contextlib.asynccontextmanager
    async def _held(self, slot: _Slot[C], conn: C) -> AsyncIterator[Lease[C]]:
        """Lend `conn` to a block; it goes back to the slot unless the block broke it."""
        lease = Lease(conn)
        try:
            yield lease
        except BaseException as exc:
            # A cancelled call may leave a driver call running on its thread: never hand that session on.
            if not (isinstance(exc, Exception) and self._keeps_session(exc)):
                lease.discard()
            raise
        finally:
            await self._give_back(slot, lease)

    async def purge(self, key: str) -> int:
        """Close the idle connections of `key` (Snowflake expired its sessions); returns how many."""
        slot = self._slots.get(key)
        if slot is None:
            return 0
        slot.bind(asyncio.get_running_loop())
        async with slot.changed:
            stale = list(slot.idle)
            slot.idle.clear()
            slot.size -= len(stale)
            self.stats.expired += len(stale)
            slot.changed.notify(len(stale))
        for entry in stale:
            self._close_later(entry.conn)
        return len(stale)

    async def _take(self, slot: _Slot[C], login: Callable[[], C]) -> C:
        async with slot.changed:
            while True:
                conn = self._pop_fresh(slot)
                if conn is not None:
                    return conn
                if slot.size < self.max_per_key:
                    slot.size += 1
                    break
                slot.waiters += 1
                try:
                    await slot.changed.wait()
                finally:
                    slot.waiters -= 1
        try:
            conn = await self.run(login)
        except BaseException:
            self.stats.login_failures += 1
            async with slot.changed:
                slot.size -= 1
                slot.changed.notify()
            raise
        self.stats.logins += 1
        return conn

    def _pop_fresh(self, slot: _Slot[C]) -> C | None:
        """The most recently used idle connection that is still open and young enough, closing stale ones."""
        now = time.monotonic()
        while slot.idle:
            entry = slot.idle.pop()
            if now - entry.since < self.idle_timeout and not entry.conn.is_closed():
                return entry.conn
            self.stats.expired += 1
            slot.size -= 1
            self._close_later(entry.conn)
        return None

    async def _give_back(self, slot: _Slot[C], lease: Lease[C]) -> None:
        async with slot.changed:
            if lease.discarded or lease.conn.is_closed():
                self.stats.discarded += 1
                slot.size -= 1
                self._close_later(lease.conn)
            else:
                slot.idle.append(_Idle(lease.conn, time.monotonic()))
            slot.changed.notify()

    def _close_later(self, conn: C) -> None:
        """Close on a thread: closing a session is a network round trip."""
        self._executor.submit(_close_quietly, conn)

    async def close(self) -> None:
        """Close every idle connection and stop the thread pool (connector shutdown)."""
        for slot in self._slots.values():
            slot.bind(asyncio.get_running_loop())
            async with slot.changed:
                while slot.idle:
                    entry = slot.idle.pop()
                    slot.size -= 1
                    await self.run(_close_quietly, entry.conn)
        self._slots.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class Lease(Generic[C]):
    """A connection held by one call; `discard()` marks it broken so the pool closes it."""

    conn: C
    discarded: bool = False

    def discard(self) -> None:
        self.discarded = True


def _close_quietly(conn: Closeable) -> None:
    try:
        conn.close()
    except Exception as exc:  # closing a broken session must never fail a call
        logger.debug("closing a pooled Snowflake connection failed: %s", type(exc).__name__)
