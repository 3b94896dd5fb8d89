"""Does a driver call ever stall the connector's event loop? Threads (what the plugin does) vs the driver's asyncio API.

    .venv/bin/python benchmarks/event_loop.py                  # threads + the blocking anti-pattern
    /tmp/aiovenv/bin/python benchmarks/event_loop.py           # the same, plus snowflake.connector.aio

(`/tmp/aiovenv`: see docs/event-loop.md; the aio API needs `aiohttp`, which the plugin does not depend on.)

Against the local Snowflake (a separate process, so "client CPU" counts only our side), each scenario runs for
`--duration` seconds while a 10 ms ticker on the same loop records how late each tick wakes up:

* threads: `Pool.connection` leases + `Pool.run(_client.poll | _client.login)`, i.e. the connector's own path,
  4 credentials x 8 connections (Pool defaults: 8 per key, 32 threads).
* aio: `snowflake.connector.aio.connect` and `await conn.rest.request(...)` (the request `_client.poll` makes),
  the same 4 x 8 connections, each held by one call at a time (an asyncio.Queue per credential).
* blocking: the sync driver called straight from a coroutine, the anti-pattern the pool exists to avoid.

Figures: operations per second, process CPU per operation (`time.process_time`, every thread), the emulator's
CPU per operation (/proc), ticks seen (~380 in 4 s when the loop is free), tick lag p50 / p99 / max, errors
(exceptions and unexpected answers), and the 1-minute load average when the scenario started (the machine is
shared). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import snowflake.connector

from flyteplugins.snowflake import _client
from flyteplugins.snowflake._pool import Pool
from flyteplugins.snowflake.local import LocalSnowflake

try:
    import aiohttp
    from snowflake.connector.aio import connect as aio_connect

    AIO_ERROR: str | None = None
except Exception as exc:  # the aio API imports aiohttp at import time
    aio_connect = None
    AIO_ERROR = f"{type(exc).__name__}: {exc}"

KEYS = [f"BENCH_{i}" for i in range(4)]
PER_KEY = 8  # Pool's default max_per_key
TICK_S = 0.010
EXPECTED = {"RUNNING", "SUCCESS", "QUEUED"}
LOGINS = 20
SLOW_MS = 300


# -- measuring ---------------------------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    approach: str
    ops: int = 0
    errors: int = 0
    error_kinds: set[str] = field(default_factory=set)
    seconds: float = 0.0
    cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    lags: list[float] = field(default_factory=list)
    load: float = 0.0
    login_ms: list[float] = field(default_factory=list)
    logins: int = 0

    def fail(self, exc: BaseException | str) -> None:
        self.errors += 1
        self.error_kinds.add(exc if isinstance(exc, str) else f"{type(exc).__name__}: {str(exc)[:80]}")


def _server_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    """Sleep 10 ms at a time; record how late each wake-up is (what any other coroutine would wait)."""
    due = time.perf_counter() + TICK_S
    while not stop.is_set():
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        now = time.perf_counter()
        lags.append(now - due)
        due = now + TICK_S


async def measure(
    sf: LocalSnowflake, scenario: str, approach: str, workers: list[Callable[[asyncio.Event, Result], Awaitable[None]]]
) -> Result:
    """Run `workers` and the ticker together for the scenario's duration."""
    result = Result(scenario, approach, load=os.getloadavg()[0])
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(stop, result.lags))
    await asyncio.sleep(0.05)  # the ticker is running before the load starts
    cpu0, server0, t0 = time.process_time(), _server_cpu(sf.pid), time.perf_counter()
    tasks = [asyncio.create_task(w(stop, result)) for w in workers]
    await asyncio.sleep(ARGS.duration)
    stop.set()
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - t0
    result.cpu_s = time.process_time() - cpu0
    result.server_cpu_s = _server_cpu(sf.pid) - server0
    await ticker
    return result


def _check(result: Result, state: _client.QueryState) -> None:
    if state.status in EXPECTED and state.errno is None:
        result.ops += 1
    else:
        result.fail(f"unexpected status {state.status} ({state.message})")


# -- the approaches ----------------------------------------------------------------------------------------------


class Threads:
    """The plugin's path: exclusive leases from `Pool`, every driver call on `Pool.run`'s bounded threads."""

    name = "threads"

    def __init__(self, sf: LocalSnowflake) -> None:
        self.sf = sf
        self.pool: Pool[Any] = Pool()
        self.kwargs = {key: sf.connect_kwargs(user=key) for key in KEYS}
        self.query_ids: dict[str, str] = {}

    def _login(self, key: str) -> Callable[[], Any]:
        return functools.partial(_client.login, self.kwargs[key])

    async def warm(self) -> None:
        held, everyone = 0, asyncio.Event()

        async def hold(key: str) -> None:
            nonlocal held
            async with self.pool.connection(key, self._login(key)) as lease:
                held += 1
                if held == len(KEYS) * PER_KEY:
                    everyone.set()
                await everyone.wait()  # every lease is out at once, so the pool logs in PER_KEY times per key
                if key not in self.query_ids:
                    self.query_ids[key] = await self.pool.run(
                        _client.submit, lease.conn, "select 1", None, statement_params={}
                    )

        await asyncio.gather(*(hold(key) for key in KEYS for _ in range(PER_KEY)))
        assert self.pool.size() == len(KEYS) * PER_KEY, self.pool.size()

    async def poll(self, i: int) -> _client.QueryState:
        key = KEYS[i % len(KEYS)]
        async with self.pool.connection(key, self._login(key)) as lease:
            return await self.pool.run(_client.poll, lease.conn, self.query_ids[key])

    async def login(self, user: str) -> Any:
        return await self.pool.run(_client.login, self.sf.connect_kwargs(user=user))

    async def close_conn(self, conn: Any) -> None:
        await self.pool.run(conn.close)

    async def close(self) -> None:
        await self.pool.close()


class Aio:
    """The driver's asyncio API (`snowflake.connector.aio`), same number of connections, one call per connection."""

    name = "aio"

    def __init__(self, sf: LocalSnowflake) -> None:
        self.sf = sf
        self.idle: dict[str, asyncio.Queue[Any]] = {}
        self.query_ids: dict[str, str] = {}

    async def warm(self) -> None:
        for key in KEYS:
            conns = await asyncio.gather(*(self.login(key) for _ in range(PER_KEY)))
            self.idle[key] = asyncio.Queue()
            for conn in conns:
                self.idle[key].put_nowait(conn)
            cur = conns[0].cursor()
            await cur.execute("select 1", _exec_async=True)
            self.query_ids[key] = str(cur.sfqid)

    async def poll(self, i: int) -> _client.QueryState:
        key = KEYS[i % len(KEYS)]
        conn = await self.idle[key].get()
        try:
            query_id = self.query_ids[key]
            answer = await conn.rest.request(
                "/monitoring/queries/" + quote(query_id), method="get", client="rest", timeout=_client.POLL_TIMEOUT_S
            )
        finally:
            self.idle[key].put_nowait(conn)
        queries = (answer.get("data") or {}).get("queries")  # the same reading as _client.poll
        if not queries:
            return _client.QueryState("NO_DATA" if queries == [] else "FAILED_WITH_ERROR")
        q = queries[0]
        return _client.QueryState(str(q.get("status")), errno=q.get("errorCode"), message=q.get("errorMessage"))

    async def login(self, user: str) -> Any:
        assert aio_connect is not None
        return await aio_connect(**{**_client.BASE_CONNECT_KWARGS, **self.sf.connect_kwargs(user=user)})

    async def close_conn(self, conn: Any) -> None:
        await conn.close()

    async def close(self) -> None:
        for queue in self.idle.values():
            while not queue.empty():
                await queue.get_nowait().close()


Approach = Threads | Aio


# -- the workloads -----------------------------------------------------------------------------------------------


def pollers(
    approach: Approach, n: int, period: float | None = None
) -> list[Callable[[asyncio.Event, Result], Awaitable[None]]]:
    """n coroutines, each polling its query's status back to back (a connector following n queries at full
    speed), or once every `period` seconds, the n starts spread evenly over one period."""

    def make(i: int) -> Callable[[asyncio.Event, Result], Awaitable[None]]:
        async def run(stop: asyncio.Event, result: Result) -> None:
            due = time.perf_counter() + (period * i / n if period else 0.0)
            while not stop.is_set():
                if period:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), max(0.0, due - time.perf_counter()))
                    if stop.is_set():
                        break
                    due += period
                try:
                    _check(result, await approach.poll(i))
                except Exception as exc:
                    result.fail(exc)

        return run

    return [make(i) for i in range(n)]


def login_storm(approach: Approach, count: int = LOGINS) -> Callable[[asyncio.Event, Result], Awaitable[None]]:
    """Rounds of `count` concurrent logins as new users (sessions closed after each round), until stopped."""

    async def one(user: str, result: Result) -> Any:
        began = time.perf_counter()
        try:
            conn = await approach.login(user)
        except Exception as exc:
            result.fail(exc)
            return None
        result.login_ms.append((time.perf_counter() - began) * 1000)
        result.logins += 1
        return conn

    async def run(stop: asyncio.Event, result: Result) -> None:
        round_ = 0
        while not stop.is_set():
            conns = await asyncio.gather(*(one(f"STORM_{round_}_{i}", result) for i in range(count)))
            await asyncio.gather(*(approach.close_conn(c) for c in conns if c is not None), return_exceptions=True)
            round_ += 1

    return run


def blocking_pollers(conns: list[Any], query_ids: list[str], n: int) -> list[Callable[..., Awaitable[None]]]:
    """The anti-pattern: the sync driver's poll called straight from n coroutines."""

    def make(i: int) -> Callable[[asyncio.Event, Result], Awaitable[None]]:
        async def run(stop: asyncio.Event, result: Result) -> None:
            while not stop.is_set():
                try:
                    _check(result, _client.poll(conns[i % len(conns)], query_ids[i % len(conns)]))
                except Exception as exc:
                    result.fail(exc)
                await asyncio.sleep(0)

        return run

    return [make(i) for i in range(n)]


def blocking_logins(sf: LocalSnowflake) -> Callable[[asyncio.Event, Result], Awaitable[None]]:
    """The anti-pattern: the sync driver's login (and close) straight from a coroutine, one after another."""

    async def run(stop: asyncio.Event, result: Result) -> None:
        i = 0
        while not stop.is_set():
            began = time.perf_counter()
            try:
                conn = _client.login(sf.connect_kwargs(user=f"BLOCKING_{i}"))
            except Exception as exc:
                result.fail(exc)
                await asyncio.sleep(0)
                continue
            result.login_ms.append((time.perf_counter() - began) * 1000)
            result.logins += 1
            conn.close()
            i += 1
            await asyncio.sleep(0)

    return run


# -- the run -----------------------------------------------------------------------------------------------------


async def run_all(sf: LocalSnowflake, approaches: list[Approach]) -> list[Result]:
    results: list[Result] = []
    # One login before any concurrent ones, so that no measured login is the first of the process.
    await asyncio.to_thread(lambda: _client.login(sf.connect_kwargs()).close())
    for approach in approaches:
        await approach.warm()
        await measure(sf, "warm-up", approach.name, pollers(approach, 50))  # not reported

    results.append(await measure(sf, "idle loop (ticker only)", "-", []))
    slow = f"20 logins + 50 polls, {SLOW_MS} ms added to every request"
    scenarios: list[tuple[str, Callable[[Approach], list[Any]]]] = [
        ("200 queries, each polled once a second", lambda a: pollers(a, 200, period=1.0)),
        ("50 concurrent polls", lambda a: pollers(a, 50)),
        ("200 concurrent polls", lambda a: pollers(a, 200)),
        (f"{LOGINS} concurrent logins (repeated)", lambda a: [login_storm(a)]),
        (f"200 polls + {LOGINS} logins", lambda a: [*pollers(a, 200), login_storm(a)]),
        (slow, lambda a: [*pollers(a, 50), login_storm(a)]),
    ]
    for scenario, workload in scenarios:
        for approach in approaches:  # interleaved, so both see the same machine load
            if scenario == slow:
                sf.configure(latency_ms=SLOW_MS)
            try:
                results.append(await measure(sf, scenario, approach.name, workload(approach)))
            finally:
                if scenario == slow:
                    sf.configure(latency_ms=0)

    # The anti-pattern, on the thread approach's warm connections (idle now, so no call shares one).
    threads = next(a for a in approaches if isinstance(a, Threads))
    conns = [threads.pool._slots[key].idle[-1].conn for key in KEYS]
    query_ids = [threads.query_ids[key] for key in KEYS]
    results.append(await measure(sf, "50 concurrent polls", "blocking", blocking_pollers(conns, query_ids, 50)))
    results.append(await measure(sf, "logins one by one", "blocking", [blocking_logins(sf)]))
    sf.configure(latency_ms=SLOW_MS)
    try:
        results.append(await measure(sf, f"logins one by one, {SLOW_MS} ms added", "blocking", [blocking_logins(sf)]))
    finally:
        sf.configure(latency_ms=0)

    for approach in approaches:
        await approach.close()
    return results


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | approach | polls/s | logins/s | login p50 ms | client CPU % of a core | client CPU ms/op "
        "| emulator CPU ms/op | ticks | lag p50 ms | lag p99 ms | lag max ms | errors | load |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lags = sorted(r.lags) or [0.0]
        ops = r.ops + r.logins

        def per_op(seconds: float, ops: int = ops) -> str:
            return f"{seconds / ops * 1000:.2f}" if ops else "-"

        login_p50 = f"{statistics.median(r.login_ms):.0f}" if r.login_ms else "-"
        lines.append(
            f"| {r.scenario} | {r.approach} | {r.ops / r.seconds:.0f} | {r.logins / r.seconds:.1f} | {login_p50} "
            f"| {r.cpu_s / r.seconds * 100:.0f} | {per_op(r.cpu_s)} | {per_op(r.server_cpu_s)} | {len(r.lags)} "
            f"| {_ms(statistics.median(lags))} "
            f"| {_ms(lags[min(len(lags) - 1, int(len(lags) * 0.99))])} | {_ms(lags[-1])} | {r.errors} "
            f"| {r.load:.2f} |"
        )
    return "\n".join(lines)


ARGS = argparse.Namespace(duration=4.0)


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per scenario")
    parser.add_argument("--no-aio", action="store_true", help="skip snowflake.connector.aio even when importable")
    ARGS = parser.parse_args()

    began = time.perf_counter()
    load0 = os.getloadavg()
    with LocalSnowflake(min_query_ms=3_600_000) as sf:  # the polled queries stay RUNNING throughout
        approaches: list[Approach] = [Threads(sf)]
        if aio_connect is not None and not ARGS.no_aio:
            approaches.append(Aio(sf))
        results = asyncio.run(run_all(sf, approaches))

    aio = f"aiohttp {aiohttp.__version__}" if AIO_ERROR is None else f"not available ({AIO_ERROR})"
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"snowflake-connector-python {snowflake.connector.__version__}, snowflake.connector.aio: {aio}\n"
        f"{ARGS.duration:g} s per scenario; load average (1/5/15 min) {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} "
        f"at start, {'/'.join(f'{x:.2f}' for x in os.getloadavg())} at end; "
        f"total {time.perf_counter() - began:.0f} s\n"
    )
    print(table(results))
    errors = {kind for r in results for kind in r.error_kinds}
    if errors:
        print("\nerrors:\n" + "\n".join(f"- {kind}" for kind in sorted(errors)))


if __name__ == "__main__":
    main()
