"""The connection pool: exclusive leases, the per-key bound, discarding broken sessions, a free event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from flyteplugins.snowflake._pool import Pool


class FakeSession:
    """Stands in for a driver connection: the pool only calls close() and is_closed()."""

    created = 0

    def __init__(self) -> None:
        FakeSession.created += 1
        self.closed = False
        self.in_use = threading.Lock()

    def close(self) -> None:
        self.closed = True

    def is_closed(self) -> bool:
        return self.closed


@pytest.fixture
async def pool():
    p: Pool[FakeSession] = Pool(max_per_key=2, idle_timeout=60)
    yield p
    await p.close()


async def test_a_released_session_is_reused(pool: Pool[FakeSession]) -> None:
    async with pool.connection("k", FakeSession) as first:
        pass
    async with pool.connection("k", FakeSession) as second:
        assert second.conn is first.conn
    assert pool.stats.logins == 1


async def test_keys_never_share_sessions(pool: Pool[FakeSession]) -> None:
    async with pool.connection("alice", FakeSession) as a, pool.connection("bob", FakeSession) as b:
        assert a.conn is not b.conn
    assert pool.size("alice") == 1
    assert pool.size("bob") == 1


async def test_a_session_is_held_by_one_call_at_a_time_and_the_bound_holds(pool: Pool[FakeSession]) -> None:
    overlaps = []

    async def call() -> None:
        async with pool.connection("k", FakeSession) as lease:
            acquired = lease.conn.in_use.acquire(blocking=False)
            overlaps.append(not acquired)
            await asyncio.sleep(0.01)
            lease.conn.in_use.release()

    await asyncio.gather(*(call() for _ in range(20)))
    assert overlaps == [False] * 20
    assert pool.size("k") == 2
    assert pool.stats.logins == 2


async def test_a_call_that_raises_discards_its_session(pool: Pool[FakeSession]) -> None:
    with pytest.raises(RuntimeError):
        async with pool.connection("k", FakeSession) as lease:
            broken = lease.conn
            raise RuntimeError("session broke")
    async with pool.connection("k", FakeSession) as lease:
        assert lease.conn is not broken
    await asyncio.sleep(0.05)  # closing happens on a worker thread
    assert broken.closed
    assert pool.stats.discarded == 1


async def test_an_explicit_discard_closes_the_session(pool: Pool[FakeSession]) -> None:
    async with pool.connection("k", FakeSession) as lease:
        lease.discard()
        discarded = lease.conn
    assert pool.size("k") == 0
    async with pool.connection("k", FakeSession) as lease:
        assert lease.conn is not discarded


async def test_a_closed_idle_session_is_replaced() -> None:
    p: Pool[FakeSession] = Pool(max_per_key=1)
    async with p.connection("k", FakeSession) as lease:
        stale = lease.conn
    stale.closed = True  # e.g. Snowflake expired it while idle
    async with p.connection("k", FakeSession) as lease:
        assert lease.conn is not stale
    await p.close()


async def test_sessions_idle_too_long_are_not_reused() -> None:
    p: Pool[FakeSession] = Pool(max_per_key=1, idle_timeout=0.01)
    async with p.connection("k", FakeSession) as lease:
        old = lease.conn
    await asyncio.sleep(0.03)
    async with p.connection("k", FakeSession) as lease:
        assert lease.conn is not old
    assert p.stats.expired == 1
    await p.close()


async def test_a_failed_login_frees_its_place(pool: Pool[FakeSession]) -> None:
    def refuse() -> FakeSession:
        raise PermissionError("login refused")

    for _ in range(3):
        with pytest.raises(PermissionError):
            async with pool.connection("k", refuse):
                pass
    assert pool.size("k") == 0
    assert pool.stats.login_failures == 3
    async with pool.connection("k", FakeSession) as lease:
        assert not lease.conn.closed


async def test_a_slow_login_does_not_block_the_event_loop(pool: Pool[FakeSession]) -> None:
    def slow_login() -> FakeSession:
        time.sleep(0.3)
        return FakeSession()

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    async with pool.connection("k", slow_login):
        pass
    tick_task.cancel()
    # The loop kept running while the login slept on a worker thread.
    assert ticks >= 10


async def test_close_closes_idle_sessions() -> None:
    p: Pool[FakeSession] = Pool(max_per_key=2)
    async with p.connection("k", FakeSession) as lease:
        session = lease.conn
    await p.close()
    assert session.closed
    assert p.size() == 0


async def test_borrow_finds_an_idle_session_by_label_and_never_logs_in(pool: Pool[FakeSession]) -> None:
    async with pool.connection("fingerprint-1", FakeSession, label="acct|ALICE") as lease:
        logged_in = lease.conn
    async with pool.borrow("acct|ALICE") as borrowed:
        assert borrowed is not None and borrowed.conn is logged_in
        async with pool.borrow("acct|ALICE") as second:
            assert second is None  # the only session is held: exclusive, like any lease
    async with pool.borrow("acct|BOB") as other:
        assert other is None
    assert pool.stats.logins == 1
    assert pool.idle() == 1  # given back


async def test_borrow_waits_for_a_busy_session_and_drops_a_broken_one(pool: Pool[FakeSession]) -> None:
    async def hold() -> None:
        async with pool.connection("k", FakeSession, label="L"):
            await asyncio.sleep(0.05)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    async with pool.borrow("L", wait=1.0) as lease:
        assert lease is not None
        lease.discard()
    await holder
    assert pool.size("k") == 0
    async with pool.borrow("L", wait=0.05) as none_left:
        assert none_left is None
