"""Figures of the local Snowflake: start-up, `select 1` round trips, status-poll latency, memory after N queries.

    .venv/bin/python benchmarks/emulator_bench.py [--queries 10000] [--starts 3]

Prints a Markdown table. Every figure goes through the real driver (snowflake-connector-python) except the
start-up time, which is `LocalSnowflake().start()` until the `READY` line.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import snowflake.connector

from flyteplugins.snowflake.local import LocalSnowflake


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=10_000, help="queries run before measuring memory")
    parser.add_argument("--starts", type=int, default=3, help="start-ups to time")
    parser.add_argument("--round-trip-s", type=float, default=3.0, help="seconds of `select 1` round trips")
    args = parser.parse_args()

    starts = []
    for _ in range(args.starts):
        began = time.perf_counter()
        with LocalSnowflake():
            starts.append(time.perf_counter() - began)

    rows: list[tuple[str, str]] = [(f"start-up (to READY), median of {args.starts}", _ms(statistics.median(starts)))]
    with LocalSnowflake() as sf:
        conn = snowflake.connector.connect(**sf.connect_kwargs())
        cur = conn.cursor()
        cur.execute("select 1")
        rss_idle = sf.stats()["rss_bytes"]

        count, began = 0, time.perf_counter()
        while time.perf_counter() - began < args.round_trip_s:
            cur.execute("select 1").fetchall()
            count += 1
        elapsed = time.perf_counter() - began
        rows.append(("`select 1` round trips per second (one connection)", f"{count / elapsed:.0f} /s"))
        rows.append(("`select 1` round trip, mean", _ms(elapsed / count)))

        cur.execute_async("select 1")
        query_id = cur.sfqid
        while conn.is_still_running(conn.get_query_status(query_id)):
            pass
        polls = []
        for _ in range(300):
            t = time.perf_counter()
            conn.get_query_status(query_id)
            polls.append(time.perf_counter() - t)
        polls.sort()
        rows.append(("status poll (`get_query_status`), median", _ms(statistics.median(polls))))
        rows.append(("status poll, p95", _ms(polls[int(len(polls) * 0.95)])))

        began = time.perf_counter()
        for i in range(args.queries):
            cur.execute(f"select {i} as n, 'row {i}' as label").fetchall()
        run_s = time.perf_counter() - began
        stats = sf.stats()
        rows.append(("server RSS, idle after login", f"{rss_idle / 2**20:.0f} MiB"))
        rows.append((f"server RSS after {args.queries:,} queries", f"{stats['rss_bytes'] / 2**20:.0f} MiB"))
        rows.append((f"results kept after {args.queries:,} queries (cap)", f"{stats['results']:,}"))
        rows.append((f"{args.queries:,} queries, wall time", f"{run_s:.1f} s"))
        conn.close()

    print(
        f"Local Snowflake, {platform.python_implementation()} {platform.python_version()}, "
        f"snowflake-connector-python {snowflake.connector.__version__}\n"
    )
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
