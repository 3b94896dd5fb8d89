"""How long the local Snowflake takes for `executemany` of an INSERT (one array-bound statement, as in Snowflake).

    .venv/bin/python benchmarks/executemany.py [--rows 10000] [--runs 3] [--columns 4] [--inline]

Inserts `--rows` rows of (int, str, float, timestamp), or their first `--columns`, through the driver (qmark
binds) into a fresh table, `--runs` times, each into a new table; prints the wall time of each `executemany`, its
median, how many queries the emulator's history recorded for it (Snowflake runs an array binding as one
statement) and whether the driver went through its bind stage (from CLIENT_STAGE_ARRAY_BINDING_THRESHOLD bind
values on: CREATE TEMPORARY STAGE, a PUT of the rows as CSV, then the INSERT reading them). `--inline` sets the
threshold to 0, so the binds go in the INSERT's request whatever their number.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
import uuid

import snowflake.connector

from flyteplugins.snowflake.local import LocalSnowflake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--columns", type=int, default=4, choices=range(1, 5))
    parser.add_argument("--inline", action="store_true", help="CLIENT_STAGE_ARRAY_BINDING_THRESHOLD=0: no stage")
    args = parser.parse_args()
    base = dt.datetime(2024, 1, 1)
    width = args.columns
    rows = [(i, f"name-{i}", i / 7, base + dt.timedelta(seconds=i))[:width] for i in range(args.rows)]
    columns = ", ".join(["id int", "name varchar", "x float", "ts timestamp_ntz"][:width])
    marks = ", ".join("?" * width)
    session = {"CLIENT_STAGE_ARRAY_BINDING_THRESHOLD": 0} if args.inline else {}
    kwargs = {"paramstyle": "qmark", "network_timeout": 600, "session_parameters": session}
    seconds: list[float] = []
    with (
        LocalSnowflake() as sf,
        snowflake.connector.connect(**sf.connect_kwargs(**kwargs)) as conn,
    ):
        cur = conn.cursor()
        for _ in range(args.runs):
            table = f"EM_{uuid.uuid4().hex[:8].upper()}"
            cur.execute(f"create table {table} ({columns})")
            started = time.perf_counter()
            cur.executemany(f"insert into {table} values ({marks})", rows)
            seconds.append(time.perf_counter() - started)
            assert cur.rowcount == args.rows, cur.rowcount
            assert cur.execute(f"select count(*) from {table}").fetchone() == (args.rows,)
            history = sf.query_history()
            inserts = [q for q in history if q.query_text.startswith(f"insert into {table}")]
            at = history.index(inserts[0])
            staged = at > 0 and history[at - 1].query_text.startswith("PUT ")  # the driver's upload, just before
            print(
                f"{args.rows} rows x {width}: {seconds[-1]:.2f} s, {len(inserts)} quer"
                f"{'y' if len(inserts) == 1 else 'ies'}{', through the bind stage' if staged else ''}"
            )
    print(f"median of {args.runs}: {statistics.median(seconds):.2f} s for {args.rows} rows x {width} columns")


if __name__ == "__main__":
    main()
