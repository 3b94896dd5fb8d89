"""The local Snowflake's cost per HTTP request: its CPU per status check, and the check's latency.

    .venv/bin/python benchmarks/emulator_requests.py [--requests 3000] [--rate 250] [--threads 4] [--runs 1]
    .venv/bin/python benchmarks/emulator_requests.py --waves [--queries 200] [--threads 8] [--hold-ms 3000]
    .venv/bin/python benchmarks/emulator_requests.py --history [--queries 1000] [--lookups 40]

Status checks are what a busy connector sends most (`GET /monitoring/queries/<id>`, about 250 a second under
`service_load.py`), so they are what this sends: through the real driver, one connection per thread, paced at
`--rate` a second in all, half for a running query and half for unknown ids. The emulator's CPU is its process's
utime + stime from /proc before and after, so it counts every thread of the server and nothing of the client.

`--waves` measures the status check's latency while many statements start and finish at once: `--queries`
asynchronous statements of the same text (`SELECT :1 AS n, 'marker' AS marker`, a numeric bind) from `--threads`
driver connections, each held `--hold-ms` by the `min_query_ms` knob, so they run in waves of the emulator's 64
workers. The connections poll their statements (about `--rate` checks a second in all) and read each result when
it is done, checking the bind came back. A probe in its own process (so the load's threads do not delay it on
the client side) checks a status every `--probe-ms` and records each latency.

`--history` measures what the connector's figures cost the emulator: `--queries` statements in the history,
then `--lookups` reads of one query's row each, with the statement the connector sends
(`INFORMATION_SCHEMA.QUERY_HISTORY_BY_USER(...) WHERE QUERY_ID = :1`).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import platform
import statistics
import threading
import time
import uuid
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import snowflake.connector
from snowflake.connector import SnowflakeConnection as Connection

from flyteplugins.snowflake.local import LocalSnowflake

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """utime and stime of the process (all its threads): its own work, and the kernel's on its behalf."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def _check(conn: Connection, query_id: str) -> float:
    began = time.perf_counter()
    answer = conn.rest.request(f"/monitoring/queries/{query_id}", method="get", client="rest")
    if not answer.get("success"):
        raise RuntimeError(f"status check failed: {answer}")
    return time.perf_counter() - began


def _checks(conn: Connection, running_id: str, count: int, interval: float, latencies: list[float]) -> None:
    """`count` checks paced `interval` apart (open loop: a slow answer does not delay the next start)."""
    start = time.perf_counter()
    for i in range(count):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        latencies.append(_check(conn, running_id if i % 2 else str(uuid.uuid4())))


def run(requests: int, rate: float, threads: int) -> dict[str, float]:
    with LocalSnowflake() as sf:
        assert sf.pid is not None
        conns = [snowflake.connector.connect(**sf.connect_kwargs()) for _ in range(threads)]
        cur = conns[0].cursor()
        cur.execute("select 1")  # warm: the server's first query
        sf.configure(min_query_ms=3_600_000)  # the checked query stays RUNNING throughout
        cur.execute_async("select 1")
        running_id = str(cur.sfqid)
        for conn in conns:
            _check(conn, running_id)  # warm: the connection and the driver's first-call costs
        latencies: list[float] = []
        per_thread = requests // threads
        workers = [
            threading.Thread(target=_checks, args=(conn, running_id, per_thread, threads / rate, latencies))
            for conn in conns
        ]
        time.sleep(0.5)  # let the emulator settle after the logins
        (user0, system0), began = _cpu_seconds(sf.pid), time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        (user1, system1), elapsed = _cpu_seconds(sf.pid), time.perf_counter() - began
        for conn in conns:
            conn.close()
    latencies.sort()
    return {
        "cpu_ms": (user1 - user0 + system1 - system0) / len(latencies) * 1000,
        "kernel_ms": (system1 - system0) / len(latencies) * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "rate": len(latencies) / elapsed,
    }


WAVE_SQL = "SELECT :1 AS n, 'marker' AS marker"


def _probe(connect_kwargs: dict[str, Any], every_s: float, pipe: Pipe) -> None:
    """In its own process: a status check every `every_s` until told to stop; sends back (start, latency) pairs."""
    conn = snowflake.connector.connect(**connect_kwargs)
    query_id = str(uuid.uuid4())
    for _ in range(20):
        _check(conn, query_id)  # warm
    pipe.send("ready")
    samples: list[tuple[float, float]] = []
    next_at = time.perf_counter()
    while not pipe.poll():
        began = time.time()
        samples.append((began, _check(conn, query_id)))
        next_at += every_s
        time.sleep(max(0.0, next_at - time.perf_counter()))
    conn.close()
    pipe.send(samples)


def _drive(conn: Connection, first: int, count: int, interval: float, failures: list[str]) -> None:
    """Submit `count` statements, poll them round-robin one check per `interval`, read each result once done."""
    cur = conn.cursor()
    pending: dict[str, int] = {}
    for n in range(first, first + count):
        cur.execute(WAVE_SQL, (n,), _exec_async=True)
        pending[str(cur.sfqid)] = n
    next_at = time.perf_counter()
    while pending:
        for query_id, n in list(pending.items()):
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
            if conn.is_still_running(conn.get_query_status_throw_if_error(query_id)):
                continue
            cur.get_results_from_sfqid(query_id)
            rows = cur.fetchall()
            if rows != [(n, "marker")]:
                failures.append(f"{query_id}: expected {[(n, 'marker')]}, got {rows}")
            del pending[query_id]


def waves(queries: int, threads: int, hold_ms: int, rate: float, probe_ms: float) -> dict[str, float]:
    with LocalSnowflake(min_query_ms=hold_ms) as sf:
        kwargs = sf.connect_kwargs(paramstyle="numeric")
        conns = [snowflake.connector.connect(**kwargs) for _ in range(threads)]
        spawn = multiprocessing.get_context("spawn")
        ours, theirs = spawn.Pipe()
        probe = spawn.Process(target=_probe, args=(kwargs, probe_ms / 1000, theirs))
        probe.start()
        ours.recv()
        time.sleep(1.0)  # a second of quiet checks: the reference
        quiet_until = time.time()
        failures: list[str] = []
        per_thread = queries // threads
        workers = [
            threading.Thread(target=_drive, args=(conn, i * per_thread, per_thread, threads / rate, failures))
            for i, conn in enumerate(conns)
        ]
        assert sf.pid is not None
        (user0, system0), began = _cpu_seconds(sf.pid), time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        user1, system1 = _cpu_seconds(sf.pid)
        ours.send("stop")
        samples: list[tuple[float, float]] = ours.recv()
        probe.join()
        for conn in conns:
            conn.close()
    if failures:
        raise RuntimeError(f"{len(failures)} wrong results, e.g. {failures[0]}")
    quiet = sorted(latency for at, latency in samples if at < quiet_until)
    loaded = sorted(latency for at, latency in samples if at >= quiet_until)
    return {
        "quiet_p50_ms": statistics.median(quiet) * 1000,
        "p50_ms": statistics.median(loaded) * 1000,
        "p99_ms": loaded[int(len(loaded) * 0.99)] * 1000,
        "max_ms": loaded[-1] * 1000,
        "over_50ms": sum(1 for x in loaded if x > 0.05),
        "checks": len(loaded),
        "seconds": elapsed,
        # everything the server did for one statement: its submit, its run, its share of the checks, its result
        "cpu_per_statement_ms": (user1 - user0 + system1 - system0) / queries * 1000,
    }


def history(queries: int, lookups: int) -> dict[str, float]:
    """The emulator's CPU for one look-up of a query's history row, as the connector reads figures, with
    `queries` queries in the history."""
    from flyteplugins.snowflake import _observe
    from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

    with LocalSnowflake() as sf:
        assert sf.pid is not None
        conn = snowflake.connector.connect(**sf.connect_kwargs(paramstyle="numeric"))
        cur = conn.cursor()
        submitted = time.time()
        ids = []
        for n in range(queries):
            cur.execute(WAVE_SQL, (n,), _exec_async=True)
            ids.append(str(cur.sfqid))
        while conn.is_still_running(conn.get_query_status(ids[-1])):
            time.sleep(0.05)
        metas = [
            SnowflakeJobMetadata(
                "local", "FLYTE", "FLYTE", "PUBLIC", "LOCAL_WH", query_id, False, submitted_at=submitted
            )
            for query_id in ids[-lookups:]
        ]
        _observe.read_history(conn, metas[0], user=None)  # warm
        (user0, system0), began = _cpu_seconds(sf.pid), time.perf_counter()
        for meta in metas:
            if _observe.read_history(conn, meta, user=None) is None:
                raise RuntimeError(f"no history row for {meta.query_id}")
        (user1, system1), elapsed = _cpu_seconds(sf.pid), time.perf_counter() - began
        conn.close()
    return {"cpu_ms": (user1 - user0 + system1 - system0) / lookups * 1000, "wall_ms": elapsed / lookups * 1000}


def main_history(args: argparse.Namespace) -> None:
    results = [history(args.queries, args.lookups) for _ in range(args.runs)]
    print(
        f"Local Snowflake query-history look-ups (the connector's statement, one query id each), "
        f"{args.queries} queries in the history, {args.lookups} look-ups, median of {args.runs} run(s), "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| emulator CPU per look-up | {statistics.median(r['cpu_ms'] for r in results):.1f} ms |")
    print(f"| look-up round trip | {statistics.median(r['wall_ms'] for r in results):.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000, help="status checks per run")
    parser.add_argument("--rate", type=float, default=250.0, help="checks a second, all threads together")
    parser.add_argument("--threads", type=int, help="driver connections at once (default 4; --waves: 8)")
    parser.add_argument("--runs", type=int, default=1, help="runs (each with a fresh emulator); medians shown")
    parser.add_argument("--waves", action="store_true", help="status checks while statements start in waves")
    parser.add_argument(
        "--queries", type=int, default=200, help="--waves: statements submitted; --history: queries in the history"
    )
    parser.add_argument("--hold-ms", type=int, default=3000, help="--waves: min_query_ms, each statement's hold")
    parser.add_argument("--probe-ms", type=float, default=20.0, help="--waves: the probe's interval")
    parser.add_argument("--history", action="store_true", help="the emulator's CPU per query-history look-up")
    parser.add_argument("--lookups", type=int, default=40, help="--history: look-ups measured")
    args = parser.parse_args()
    if args.waves:
        main_waves(args)
        return
    if args.history:
        main_history(args)
        return

    threads = args.threads or 4
    results = [run(args.requests, args.rate, threads) for _ in range(args.runs)]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in results)

    parser_name = "httptools" if importlib.util.find_spec("httptools") else "h11"  # what the server's uvicorn uses
    print(
        f"Local Snowflake status checks, {platform.python_implementation()} {platform.python_version()}, "
        f"HTTP parser {parser_name}, {args.requests} checks at {args.rate:.0f}/s from {threads} threads, "
        f"median of {args.runs} run(s), load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| emulator CPU per status check | {median('cpu_ms'):.2f} ms |")
    print(f"| of which in the kernel (sockets, epoll) | {median('kernel_ms'):.2f} ms |")
    print(f"| status check latency, p50 / p99 | {median('p50_ms'):.1f} ms / {median('p99_ms'):.1f} ms |")
    print(f"| checks per second reached | {median('rate'):.0f} /s |")


def main_waves(args: argparse.Namespace) -> None:
    threads = args.threads or 8
    results = [waves(args.queries, threads, args.hold_ms, args.rate, args.probe_ms) for _ in range(args.runs)]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in results)

    print(
        f"Local Snowflake status checks while statements start in waves, {platform.python_implementation()} "
        f"{platform.python_version()}: {args.queries} async statements from {threads} connections, held "
        f"{args.hold_ms} ms, polled at {args.rate:.0f}/s; a probe every {args.probe_ms:.0f} ms; median of "
        f"{args.runs} run(s), load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| probe latency, quiet (before the load), p50 | {median('quiet_p50_ms'):.1f} ms |")
    print(
        f"| probe latency under the waves, p50 / p99 / max | "
        f"{median('p50_ms'):.1f} ms / {median('p99_ms'):.1f} ms / {median('max_ms'):.0f} ms |"
    )
    print(f"| probes over 50 ms (of {median('checks'):.0f}) | {median('over_50ms'):.0f} |")
    print(f"| all statements done in | {median('seconds'):.1f} s |")
    print(f"| emulator CPU per statement (submit, run, checks, result) | {median('cpu_per_statement_ms'):.1f} ms |")


if __name__ == "__main__":
    main()
