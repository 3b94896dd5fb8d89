"""The local Snowflake's cost per HTTP request: its CPU per status check, and the check's latency.

    .venv/bin/python benchmarks/emulator_requests.py [--requests 3000] [--rate 250] [--threads 4] [--runs 1]

Status checks are what a busy connector sends most (`GET /monitoring/queries/<id>`, about 250 a second under
`service_load.py`), so they are what this sends: through the real driver, one connection per thread, paced at
`--rate` a second in all, half for a running query and half for unknown ids. The emulator's CPU is its process's
utime + stime from /proc before and after, so it counts every thread of the server and nothing of the client.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import threading
import time
import uuid
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000, help="status checks per run")
    parser.add_argument("--rate", type=float, default=250.0, help="checks a second, all threads together")
    parser.add_argument("--threads", type=int, default=4, help="driver connections checking at once")
    parser.add_argument("--runs", type=int, default=1, help="runs (each with a fresh emulator); medians shown")
    args = parser.parse_args()

    results = [run(args.requests, args.rate, args.threads) for _ in range(args.runs)]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in results)

    parser_name = "httptools" if importlib.util.find_spec("httptools") else "h11"  # what the server's uvicorn uses
    print(
        f"Local Snowflake status checks, {platform.python_implementation()} {platform.python_version()}, "
        f"HTTP parser {parser_name}, {args.requests} checks at {args.rate:.0f}/s from {args.threads} threads, "
        f"median of {args.runs} run(s), load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| emulator CPU per status check | {median('cpu_ms'):.2f} ms |")
    print(f"| of which in the kernel (sockets, epoll) | {median('kernel_ms'):.2f} ms |")
    print(f"| status check latency, p50 / p99 | {median('p50_ms'):.1f} ms / {median('p99_ms'):.1f} ms |")
    print(f"| checks per second reached | {median('rate'):.0f} /s |")


if __name__ == "__main__":
    main()
