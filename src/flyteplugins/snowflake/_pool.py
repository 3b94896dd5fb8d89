"""Connections keyed by a credential fingerprint: held exclusively for SQL, shared for status checks.

A login costs 100-500 ms on Snowflake, so the connector keeps sessions alive between calls. The key is a
hash of the connection identity and the secrets (never the secrets themselves); the value is a small
bounded set of live connections. Two kinds of lease:

* `connection()`: exclusive. SQL (submit, cancel, results, history) runs on a session no other SQL call
  uses at the same time: the local Snowflake serialises statements per session, and a cursor's state is
  per call anyway.
* `shared()`: any live connection of the key, least busy first, used by many calls at once. For status
  checks: one GET to Snowflake's monitoring endpoint, no SQL. The driver declares `threadsafety = 2` (a
  connection may be used from several threads) and Snowflake accepts concurrent requests on one session.
  A shared lease logs in only when the key has no live connection, and concurrent callers then wait for
  that one login instead of each making their own.

Either lease gives the connection back, or discards it when it broke: a discarded connection leaves the
pool at once (no new lease gets it) and is closed when its last user lets go.

Every blocking driver call runs on one bounded thread pool, so a slow login never stalls the event loop.
The pool's state is touched only on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Environment variables of the connector service that size the pool (see docs/deploy.md).
POOL_ENV = {
    "max_per_key": "FLYTE_SNOWFLAKE_POOL_SIZE",
    "max_workers": "FLYTE_SNOWFLAKE_POOL_THREADS",
    "max_shared_per_key": "FLYTE_SNOWFLAKE_POOL_CHECKS",
    "idle_timeout": "FLYTE_SNOWFLAKE_POOL_IDLE_TIMEOUT",
}
DEFAULT_MAX_PER_KEY = 8
DEFAULT_MAX_WORKERS = 32
DEFAULT_IDLE_TIMEOUT = 600.0
DEFAULT_MAX_SHARED_PER_KEY = 0  # no bound


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


@dataclass(eq=False)
class _Entry(Generic[C]):
    """One logged-in connection and who uses it."""

    conn: C
    born: float  # monotonic time of its login
    used: float  # monotonic time it was last handed out or given back
    users: int = 0  # leases holding it now, exclusive or shared
    exclusive: bool = False  # an exclusive lease holds it
    gone: bool = False  # out of the pool (broken or expired); closed once its last user lets go


@dataclass
class _Slot(Generic[C]):
    """The connections of one key.

    `live` holds every logged-in connection still in the pool; `free` the live ones no exclusive lease
    holds (shared leases may be using them). `size` counts live connections plus logins in flight: it is
    what `max_per_key` bounds.
    """

    live: list[_Entry[C]] = field(default_factory=list)
    free: deque[_Entry[C]] = field(default_factory=deque)
    size: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)  # calls waiting for a place
    sharing: int = 0  # shared leases in flight
    share_waiting: deque[asyncio.Future[None]] = field(default_factory=deque)  # shared leases over the bound
    turn: int = 0
    login: asyncio.Future[_Entry[C]] | None = None  # the login shared leases are waiting for
    loop: asyncio.AbstractEventLoop | None = None
    label: str | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Futures belong to one event loop; a connector reused from another loop forgets the old ones."""
        if self.loop is not loop:
            self.waiting.clear()
            self.share_waiting.clear()
            self.sharing = 0
            self.login = None
            self.loop = loop


@dataclass(frozen=True)
class PoolSettings:
    """The pool's sizes, from the connector service's environment (`POOL_ENV`) or the defaults."""

    max_per_key: int = DEFAULT_MAX_PER_KEY
    max_workers: int = DEFAULT_MAX_WORKERS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_shared_per_key: int = DEFAULT_MAX_SHARED_PER_KEY

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PoolSettings:
        """Read `FLYTE_SNOWFLAKE_POOL_*`; an unset or empty variable keeps the default.

        Raises:
            ValueError: a variable is set to something that is not a positive number (a typo in a
                deployment should stop the service at start, not change its behaviour silently).
        """
        env = os.environ if environ is None else environ
        return cls(
            max_per_key=int(_positive(env, "max_per_key", DEFAULT_MAX_PER_KEY, int)),
            max_workers=int(_positive(env, "max_workers", DEFAULT_MAX_WORKERS, int)),
            max_shared_per_key=int(_positive(env, "max_shared_per_key", DEFAULT_MAX_SHARED_PER_KEY, int)),
            idle_timeout=_positive(env, "idle_timeout", DEFAULT_IDLE_TIMEOUT, float),
        )


def _positive(env: Mapping[str, str], name: str, default: float, kind: Callable[[str], float]) -> float:
    variable = POOL_ENV[name]
    text = (env.get(variable) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{variable} must be a positive {kind.__name__}, got {text!r}")
    return value


class Pool(Generic[C]):
    """Bounded per-key connection pool; blocking work runs on `run()`'s thread pool.

    Args:
        max_per_key: connections one credential may hold at once (Snowflake sessions per user are finite).
        idle_timeout: seconds after which an unused connection is closed rather than reused (Snowflake
            expires idle sessions; a reused stale one costs a failed call and a retry).
        max_workers: threads for blocking driver calls, shared by every key.
        max_shared_per_key: shared leases (status checks) one key may have in flight at once; 0 means no
            bound. A bound of N caps a key at N / round trip checks per second: useful only when Snowflake is
            close and the process's CPU is the limit (docs/benchmarks.md, "Connector service").
    """

    def __init__(
        self,
        *,
        max_per_key: int = DEFAULT_MAX_PER_KEY,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_shared_per_key: int = DEFAULT_MAX_SHARED_PER_KEY,
        keeps_session: Callable[[BaseException], bool] = lambda exc: False,
    ) -> None:
        """`keeps_session(exc)` says an error left the session healthy (a SQL error), so it is reused."""
        self.max_per_key = max_per_key
        self.max_workers = max_workers
        self.max_shared_per_key = max_shared_per_key
        self._keeps_session = keeps_session
        self.idle_timeout = idle_timeout
        self.stats = PoolStats()
        self._slots: dict[str, _Slot[C]] = {}
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="snowflake")

    @classmethod
    def from_settings(cls, settings: PoolSettings, **kwargs: Any) -> Pool[C]:
        return cls(
            max_per_key=settings.max_per_key,
            max_workers=settings.max_workers,
            max_shared_per_key=settings.max_shared_per_key,
            idle_timeout=settings.idle_timeout,
            **kwargs,
        )

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking function on the pool's threads and await its result."""
        call = functools.partial(fn, *args, **kwargs) if kwargs else fn
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *([] if kwargs else args))

    def size(self, key: str | None = None) -> int:
        """Connections that exist for `key` (or for every key): idle, in use or logging in."""
        if key is not None:
            slot = self._slots.get(key)
            return slot.size if slot else 0
        return sum(slot.size for slot in self._slots.values())

    def idle(self) -> int:
        """Live connections no lease is using."""
        return sum(1 for slot in self._slots.values() for entry in slot.live if not entry.users)

    def key_count(self) -> int:
        """Keys (distinct credentials) that hold at least one connection."""
        return sum(1 for slot in self._slots.values() if slot.size)

    def _slot(self, key: str, label: str | None) -> _Slot[C]:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.bind(asyncio.get_running_loop())
        if label is not None:
            slot.label = label
        return slot

    # --- exclusive leases ------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connection(
        self, key: str, login: Callable[[], C], *, label: str | None = None
    ) -> AsyncIterator[Lease[C]]:
        """Hold one connection of `key` for the duration of the block, alone (no other exclusive lease).

        `login` makes a new connection (blocking; it runs on the thread pool). When the block raises, or
        calls `lease.discard()`, the connection is closed instead of going back to the pool. `label` names
        the key's sessions without secrets (account and user), so `borrow` can find them later.
        """
        slot = self._slot(key, label)
        entry = await self._take(slot, login)
        async with self._held(slot, entry) as lease:
            yield lease

    @contextlib.asynccontextmanager
    async def borrow(self, label: str, *, wait: float = 0.0) -> AsyncIterator[Lease[C] | None]:
        """Hold a free live connection of any key labelled `label`, never logging in; None when there is none.

        For calls that carry no secrets (GetTaskLogs, GetTaskMetrics): they may use a session someone else
        logged in, as long as it is the same account and user. The lease is exclusive. Waits up to `wait`
        seconds while every such connection is held.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            slots = [slot for slot in self._slots.values() if slot.label == label and slot.size > 0]
            for slot in slots:
                slot.bind(loop)
                entry = self._pop_free(slot)
                if entry is None:
                    continue
                self._hand_out(entry, exclusive=True)
                async with self._held(slot, entry) as lease:
                    yield lease
                return
            if not slots or loop.time() >= deadline:
                yield None
                return
            # Rare calls: a short sleep is simpler than joining the slot's waiters (whose wake-ups it could steal).
            await asyncio.sleep(min(0.01, max(0.0, deadline - loop.time())))

    @contextlib.asynccontextmanager
    async def _held(self, slot: _Slot[C], entry: _Entry[C]) -> AsyncIterator[Lease[C]]:
        """Lend an exclusively held connection to a block; it goes back to the slot unless the block broke it."""
        lease = Lease(entry.conn, born=entry.born)
        try:
            yield lease
        except BaseException as exc:
            # A cancelled call may leave a driver call running on its thread: never hand that session on.
            if not (isinstance(exc, Exception) and self._keeps_session(exc)):
                lease.discard()
            raise
        finally:
            entry.exclusive = False
            self._give_back(slot, entry, lease)

    async def _take(self, slot: _Slot[C], login: Callable[[], C]) -> _Entry[C]:
        while True:
            entry = self._pop_free(slot)
            if entry is not None:
                self._hand_out(entry, exclusive=True)
                return entry
            if slot.size < self.max_per_key:
                slot.size += 1
                break
            await self._wait(slot)
        entry = await self._login(slot, login, free=False)
        self._hand_out(entry, exclusive=True)
        return entry

    def _pop_free(self, slot: _Slot[C]) -> _Entry[C] | None:
        """The most recently used free connection that is still open and young enough, dropping stale ones."""
        now = time.monotonic()
        while slot.free:
            entry = slot.free.pop()
            if not entry.conn.is_closed() and (entry.users or now - entry.used < self.idle_timeout):
                return entry
            self._remove(slot, entry, expired=True)
        return None

    # --- shared leases ---------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def shared(
        self,
        key: str,
        login: Callable[[], C],
        *,
        label: str | None = None,
        keeps_session: Callable[[BaseException], bool] | None = None,
    ) -> AsyncIterator[Lease[C]]:
        """Use any live connection of `key` for the block, alongside other calls (status checks, no SQL).

        The least busy live connection is chosen, whether or not an exclusive lease holds it; `login` runs
        only when the key has none, once for all the callers waiting. A block that raises an error
        `keeps_session` (default: the pool's) does not keep, or calls `lease.discard()`, takes the
        connection out of the pool for everyone; a cancelled block does not (other calls use the session
        at the same time anyway, so a request left running on a thread harms nobody).
        """
        slot = self._slot(key, label)
        while self.max_shared_per_key and slot.sharing >= self.max_shared_per_key:
            await _wait_in(slot.share_waiting)
        slot.sharing += 1
        try:
            entry = await self._share(slot, login)
            lease = Lease(entry.conn, born=entry.born, shared=True)
            keeps = keeps_session or self._keeps_session
            try:
                yield lease
            except Exception as exc:
                if not keeps(exc):
                    lease.discard()
                raise
            finally:
                self._give_back(slot, entry, lease)
        finally:
            slot.sharing -= 1
            _wake_in(slot.share_waiting, everyone=False)

    async def _share(self, slot: _Slot[C], login: Callable[[], C]) -> _Entry[C]:
        while True:
            entry = self._pick(slot)
            if entry is not None:
                self._hand_out(entry, exclusive=False)
                return entry
            if slot.login is None:
                if slot.size >= self.max_per_key:
                    # Every place is a login in flight for exclusive leases: wait for one of them to land.
                    await self._wait(slot)
                    continue
                slot.size += 1
                slot.login = asyncio.ensure_future(self._login(slot, login, free=True))
                slot.login.add_done_callback(_retrieve)
            # Shielded: a caller that gives up (a deadline) does not cancel the login the others wait for.
            await asyncio.shield(slot.login)

    def _pick(self, slot: _Slot[C]) -> _Entry[C] | None:
        """The live connection with the fewest users (ties in turn), dropping closed and stale ones."""
        live = slot.live
        if not live:
            return None
        now = time.monotonic()
        best: _Entry[C] | None = None
        stale: list[_Entry[C]] = []
        count = len(live)
        start = slot.turn % count
        slot.turn += 1
        for i in range(count):
            entry = live[(start + i) % count]
            if entry.conn.is_closed() or (not entry.users and now - entry.used >= self.idle_timeout):
                stale.append(entry)
            elif best is None or entry.users < best.users:
                best = entry
        for entry in stale:
            self._remove(slot, entry, expired=True)
        return best

    # --- common ----------------------------------------------------------------------------------------------

    @staticmethod
    def _hand_out(entry: _Entry[C], *, exclusive: bool) -> None:
        entry.users += 1
        entry.used = time.monotonic()
        if exclusive:
            entry.exclusive = True

    async def _login(self, slot: _Slot[C], login: Callable[[], C], *, free: bool) -> _Entry[C]:
        """Log in for a place already counted in `slot.size`; the new connection joins `live` (and `free`)."""
        future = self._executor.submit(login)
        try:
            conn = await asyncio.wrap_future(future)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                # The login goes on in its thread: close what it makes, nobody is waiting for it.
                future.add_done_callback(self._close_orphan)
            else:
                self.stats.login_failures += 1
            slot.size -= 1
            if free:
                slot.login = None
            self._wake(slot, everyone=True)
            raise
        self.stats.logins += 1
        now = time.monotonic()
        entry = _Entry(conn, born=now, used=now)
        slot.live.append(entry)
        if free:
            slot.free.append(entry)
            slot.login = None
        self._wake(slot, everyone=True)
        return entry

    def _close_orphan(self, future: Future[C]) -> None:
        if not future.cancelled() and future.exception() is None:
            _close_quietly(future.result())

    def _give_back(self, slot: _Slot[C], entry: _Entry[C], lease: Lease[C]) -> None:
        entry.users -= 1
        entry.used = time.monotonic()
        removed = False
        if not entry.gone and (lease.discarded or entry.conn.is_closed()):
            self._remove(slot, entry, expired=False)
            removed = True
        elif entry.gone and not entry.users:
            self._close_later(entry.conn)
        elif not lease.shared and not entry.gone:
            slot.free.append(entry)
        if not lease.shared and not removed:
            self._wake(slot, everyone=False)  # a connection came free

    def _remove(self, slot: _Slot[C], entry: _Entry[C], *, expired: bool) -> None:
        """Take a connection out of the pool (once); it is closed now, or when its last user lets go."""
        if entry.gone:
            return
        entry.gone = True
        slot.live.remove(entry)
        with contextlib.suppress(ValueError):
            slot.free.remove(entry)
        slot.size -= 1
        if expired:
            self.stats.expired += 1
        else:
            self.stats.discarded += 1
        if not entry.users:
            self._close_later(entry.conn)
        self._wake(slot, everyone=False)  # a place came free

    async def _wait(self, slot: _Slot[C]) -> None:
        """Wait until `_wake` says a place or a connection may have come free (the caller looks again)."""
        await _wait_in(slot.waiting)

    @staticmethod
    def _wake(slot: _Slot[C], *, everyone: bool) -> None:
        _wake_in(slot.waiting, everyone=everyone)

    async def purge(self, key: str, *, logged_in_before: float | None = None) -> int:
        """Drop the free connections of `key` (Snowflake expired its sessions); returns how many.

        `logged_in_before` (a lease's `born`) spares the connections logged in after it: when many calls
        fail together on an expired session, the late ones must not throw away the fresh login.
        """
        slot = self._slots.get(key)
        if slot is None:
            return 0
        slot.bind(asyncio.get_running_loop())
        stale = [e for e in slot.free if logged_in_before is None or e.born <= logged_in_before]
        for entry in stale:
            self._remove(slot, entry, expired=True)
        if stale:
            self._wake(slot, everyone=True)
        return len(stale)

    def _close_later(self, conn: C) -> None:
        """Close on a thread: closing a session is a network round trip."""
        try:
            self._executor.submit(_close_quietly, conn)
        except RuntimeError:  # the pool was closed meanwhile
            _close_quietly(conn)

    async def close(self) -> None:
        """Close every unused connection and stop the thread pool (connector shutdown)."""
        for slot in self._slots.values():
            slot.bind(asyncio.get_running_loop())
            for entry in list(slot.live):
                entry.gone = True
                slot.size -= 1
                if not entry.users:
                    await self.run(_close_quietly, entry.conn)
            slot.live.clear()
            slot.free.clear()
        self._slots.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class Lease(Generic[C]):
    """A connection lent to one call; `discard()` marks it broken so the pool drops and closes it.

    `born` is when the connection logged in (monotonic clock); `shared` says other calls may be using it.
    """

    conn: C
    discarded: bool = False
    born: float = 0.0
    shared: bool = False

    def discard(self) -> None:
        self.discarded = True


async def _wait_in(queue: deque[asyncio.Future[None]]) -> None:
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    queue.append(waiter)
    try:
        await waiter
    except asyncio.CancelledError:
        if waiter.done() and not waiter.cancelled():
            _wake_in(queue, everyone=False)  # woken and cancelled at once: pass the wake-up on
        else:
            with contextlib.suppress(ValueError):
                queue.remove(waiter)
        raise


def _wake_in(queue: deque[asyncio.Future[None]], *, everyone: bool) -> None:
    while queue:
        waiter = queue.popleft()
        if not waiter.done():
            waiter.set_result(None)
            if not everyone:
                return


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a shared login's outcome as seen, so a failure nobody waited for logs no warning."""
    if not future.cancelled():
        future.exception()


def _close_quietly(conn: Closeable) -> None:
    try:
        conn.close()
    except Exception as exc:  # closing a broken session must never fail a call
        logger.debug("closing a pooled Snowflake connection failed: %s", type(exc).__name__)
