"""The connection pool: exclusive and shared leases, the per-key bound, discarding broken sessions, a free loop."""

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


# --- shared leases (status checks: no SQL, many calls on one session at once) ---------------------------------


async def test_shared_leases_use_one_session_at_once_and_log_in_once(pool: Pool[FakeSession]) -> None:
    logins = 0

    def slow_login() -> FakeSession:
        nonlocal logins
        logins += 1
        time.sleep(0.05)  # every caller arrives while the first login is in flight
        return FakeSession()

    in_flight = peak = 0
    sessions = set()

    async def check() -> None:
        nonlocal in_flight, peak
        async with pool.shared("k", slow_login) as lease:
            sessions.add(id(lease.conn))
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(check() for _ in range(50)))
    assert logins == 1 and pool.stats.logins == 1
    assert len(sessions) == 1
    assert peak == 50  # all fifty on the one session together
    assert pool.size("k") == 1
    assert pool.idle() == 1


async def test_shared_leases_ride_on_exclusively_held_sessions_without_logging_in(pool: Pool[FakeSession]) -> None:
    async with pool.connection("k", FakeSession) as held, pool.shared("k", FakeSession) as shared:
        assert shared.conn is held.conn
        assert shared.shared and not held.shared
    assert pool.stats.logins == 1


async def test_shared_leases_pick_the_least_busy_session(pool: Pool[FakeSession]) -> None:
    async with pool.connection("k", FakeSession) as a, pool.connection("k", FakeSession) as b:
        pass
    seen = []
    async with pool.shared("k", FakeSession) as first, pool.shared("k", FakeSession) as second:
        seen = [first.conn, second.conn]
    assert {id(c) for c in seen} == {id(a.conn), id(b.conn)}  # spread over both sessions


async def test_an_exclusive_lease_still_waits_for_exclusive_holders_not_for_shared_users() -> None:
    p: Pool[FakeSession] = Pool(max_per_key=1)
    async with p.shared("k", FakeSession) as shared:
        # The only session is in shared use: an exclusive lease may still take it (SQL next to a status GET).
        async with p.connection("k", FakeSession) as exclusive:
            assert exclusive.conn is shared.conn
            waiter = asyncio.create_task(_hold(p))
            await asyncio.sleep(0.02)
            assert not waiter.done()  # a second exclusive lease waits: the bound is 1
        await asyncio.wait_for(waiter, 1)
    assert p.stats.logins == 1
    await p.close()


async def _hold(p: Pool[FakeSession]) -> None:
    async with p.connection("k", FakeSession):
        pass


async def test_a_broken_shared_session_leaves_the_pool_at_once_and_closes_when_its_last_user_is_done(
    pool: Pool[FakeSession],
) -> None:
    release = asyncio.Event()

    async def slow_user() -> FakeSession:
        async with pool.shared("k", FakeSession) as lease:
            await release.wait()
            return lease.conn

    user = asyncio.create_task(slow_user())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError):
        async with pool.shared("k", FakeSession) as lease:
            broken = lease.conn
            raise RuntimeError("session broke")  # the pool's default keeps no session on an error
    assert pool.size("k") == 0 and pool.stats.discarded == 1
    async with pool.shared("k", FakeSession) as fresh:
        assert fresh.conn is not broken  # no new lease gets the broken session
    assert not broken.closed  # still in use by the slow call
    release.set()
    assert await user is broken
    await asyncio.sleep(0.05)  # closing happens on a worker thread
    assert broken.closed
    assert pool.stats.logins == 2 and pool.stats.discarded == 1


async def test_many_calls_failing_on_one_shared_session_discard_it_once(pool: Pool[FakeSession]) -> None:
    async def failing() -> None:
        async with pool.shared("k", FakeSession):
            await asyncio.sleep(0.01)
            raise RuntimeError("expired")

    results = await asyncio.gather(*(failing() for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert pool.stats.discarded == 1
    assert pool.size("k") == 0
    async with pool.shared("k", FakeSession):
        assert pool.size("k") == 1


async def test_shared_keeps_session_decides_which_errors_keep_it(pool: Pool[FakeSession]) -> None:
    with pytest.raises(TimeoutError):
        async with pool.shared("k", FakeSession, keeps_session=lambda e: isinstance(e, TimeoutError)) as lease:
            kept = lease.conn
            raise TimeoutError("a network blip")
    async with pool.shared("k", FakeSession) as lease:
        assert lease.conn is kept
    assert pool.stats.discarded == 0


async def test_a_cancelled_shared_call_keeps_the_session(pool: Pool[FakeSession]) -> None:
    async def check() -> None:
        async with pool.shared("k", FakeSession):
            await asyncio.sleep(10)

    task = asyncio.create_task(check())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.size("k") == 1 and pool.stats.discarded == 0


async def test_a_failed_shared_login_fails_every_waiting_call_and_frees_its_place(pool: Pool[FakeSession]) -> None:
    attempts = 0

    def refuse() -> FakeSession:
        nonlocal attempts
        attempts += 1
        time.sleep(0.02)
        raise PermissionError("login refused")

    async def check() -> None:
        async with pool.shared("k", refuse):
            pass

    results = await asyncio.gather(*(check() for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, PermissionError) for r in results)
    assert attempts == 1  # one login for all ten
    assert pool.size("k") == 0
    async with pool.shared("k", FakeSession) as lease:
        assert not lease.conn.closed


async def test_a_closed_or_stale_shared_session_is_replaced() -> None:
    p: Pool[FakeSession] = Pool(max_per_key=2, idle_timeout=0.02)
    async with p.shared("k", FakeSession) as lease:
        first = lease.conn
    first.closed = True
    async with p.shared("k", FakeSession) as lease:
        second = lease.conn
        assert second is not first
    await asyncio.sleep(0.04)  # unused for longer than idle_timeout
    async with p.shared("k", FakeSession) as lease:
        assert lease.conn is not second
    assert p.stats.expired == 2
    await p.close()


async def test_shared_leases_wait_when_every_place_is_a_login_in_flight() -> None:
    p: Pool[FakeSession] = Pool(max_per_key=1)

    def slow_login() -> FakeSession:
        time.sleep(0.05)
        return FakeSession()

    async def exclusive() -> FakeSession:
        async with p.connection("k", slow_login) as lease:
            await asyncio.sleep(0.05)
            return lease.conn

    holder = asyncio.create_task(exclusive())
    await asyncio.sleep(0.01)  # its login is in flight and takes the only place
    async with p.shared("k", FakeSession) as lease:
        shared = lease.conn
    assert shared is await holder  # it waited for that login and rode on its session
    assert p.stats.logins == 1
    await p.close()


async def test_purge_spares_sessions_logged_in_after_the_expired_one(pool: Pool[FakeSession]) -> None:
    async with pool.connection("k", FakeSession) as old, pool.connection("k", FakeSession) as new:
        pass
    assert new.born > old.born
    assert await pool.purge("k", logged_in_before=old.born) == 1
    async with pool.connection("k", FakeSession) as lease:
        assert lease.conn is new.conn
    assert await pool.purge("k") == 1


async def test_pool_settings_come_from_the_environment() -> None:
    from flyteplugins.snowflake._pool import PoolSettings

    assert PoolSettings.from_env({}) == PoolSettings()
    env = {"FLYTE_SNOWFLAKE_POOL_SIZE": "4", "FLYTE_SNOWFLAKE_POOL_THREADS": "12", "FLYTE_SNOWFLAKE_POOL_CHECKS": "6"}
    settings = PoolSettings.from_env({**env, "FLYTE_SNOWFLAKE_POOL_IDLE_TIMEOUT": ""})
    assert (settings.max_per_key, settings.max_workers, settings.idle_timeout) == (4, 12, 600.0)
    assert settings.max_shared_per_key == 6 and PoolSettings().max_shared_per_key == 0  # 0: no bound
    for bad in ("0", "-1", "eight", "2.5"):
        with pytest.raises(ValueError, match="FLYTE_SNOWFLAKE_POOL_SIZE"):
            PoolSettings.from_env({"FLYTE_SNOWFLAKE_POOL_SIZE": bad})
    p: Pool[FakeSession] = Pool.from_settings(settings)
    assert (p.max_per_key, p.max_workers) == (4, 12)
    await p.close()


async def test_shared_leases_in_flight_per_key_can_be_bounded() -> None:
    p: Pool[FakeSession] = Pool(max_per_key=2, max_shared_per_key=3)
    in_flight = peak = 0

    async def check() -> None:
        nonlocal in_flight, peak
        async with p.shared("k", FakeSession):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(check() for _ in range(20)))
    assert peak == 3
    assert p.stats.logins == 1
    # a cancelled waiter does not keep its turn
    async with p.shared("k", FakeSession), p.shared("k", FakeSession), p.shared("k", FakeSession):
        waiter = asyncio.create_task(check())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    await asyncio.wait_for(check(), 1)
    await p.close()
