"""How long the local Snowflake takes for `executemany` of an INSERT (one array-bound statement, as in Snowflake).

    .venv/bin/python benchmarks/executemany.py [--rows 10000] [--runs 3]

Inserts `--rows` rows of (int, str, float, timestamp) through the driver (qmark binds) into a fresh table, `--runs`
times, each into a new table; prints the wall time of each `executemany`, its median, and how many queries the
emulator's history recorded for it (Snowflake runs an array binding as one statement).
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
    args = parser.parse_args()
    base = dt.datetime(2024, 1, 1)
    rows = [(i, f"name-{i}", i / 7, base + dt.timedelta(seconds=i)) for i in range(args.rows)]
    seconds: list[float] = []
    with (
        LocalSnowflake() as sf,
        snowflake.connector.connect(**sf.connect_kwargs(paramstyle="qmark", network_timeout=600)) as conn,
    ):
        cur = conn.cursor()
        for _ in range(args.runs):
            table = f"EM_{uuid.uuid4().hex[:8].upper()}"
            cur.execute(f"create table {table} (id int, name varchar, x float, ts timestamp_ntz)")
            started = time.perf_counter()
            cur.executemany(f"insert into {table} values (?, ?, ?, ?)", rows)
            seconds.append(time.perf_counter() - started)
            assert cur.rowcount == args.rows, cur.rowcount
            assert cur.execute(f"select count(*) from {table}").fetchone() == (args.rows,)
            inserts = [q for q in sf.query_history() if q.query_text.startswith(f"insert into {table}")]
            print(f"{args.rows} rows: {seconds[-1]:.2f} s, {len(inserts)} quer{'y' if len(inserts) == 1 else 'ies'}")
    print(f"median of {args.runs}: {statistics.median(seconds):.2f} s for {args.rows} rows")


if __name__ == "__main__":
    main()
