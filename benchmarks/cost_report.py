"""Time `python -m flyteplugins.snowflake cost` over N attributed queries of one Flyte run (local Snowflake).

    .venv/bin/python benchmarks/cost_report.py [--queries 10000] [--runs 3]

The queries are the statements of multi-statement requests tagged as the plugin tags them (20 tasks of one run),
on a Medium warehouse; each is one row of QUERY_ATTRIBUTION_HISTORY. Each run is the command as a user runs it,
in a new process; prints its wall time and CPU time, the time of `cost()` called in a process that has
imported everything already (the login included), and what the report counted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import snowflake.connector

from _commands import line, time_command
from flyteplugins.snowflake._observe import ServiceCredentials
from flyteplugins.snowflake.cost import cost
from flyteplugins.snowflake.local import LocalSnowflake

TASKS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with LocalSnowflake() as sf:
        sf.add_warehouse("BENCH_WH", "Medium")
        sf.add_user("MONITOR", password="monitor-password")
        sf.configure(max_history=args.queries * 2)
        per_task = args.queries // TASKS
        started = time.perf_counter()
        for n in range(TASKS):
            tag = json.dumps({"project": "bench", "domain": "dev", "run": "r1", "task": f"task_{n}"},
                             separators=(",", ":"))  # fmt: skip
            kwargs = sf.connect_kwargs(warehouse="BENCH_WH", session_parameters={"QUERY_TAG": tag})
            with snowflake.connector.connect(**kwargs) as conn:
                conn.cursor().execute("SELECT 1;" * per_task, num_statements=per_task)
        print(f"made {per_task * TASKS} tagged queries in {time.perf_counter() - started:.1f} s")
        env = {**os.environ, **sf.service_env("MONITOR", "monitor-password")}
        command = [sys.executable, "-m", "flyteplugins.snowflake", "cost", "--run", "r1", "--json"]
        timed = time_command(command, env, args.runs)
        report = json.loads(timed.stdout)
        service = ServiceCredentials.from_env(env)
        assert service is not None
        api = []
        for _ in range(args.runs):
            began = time.perf_counter()
            cost(run="r1", service=service)
            api.append(time.perf_counter() - began)
    counted = sum(line["queries"] for line in report["lines"])
    print(f"report: {len(report['lines'])} tasks, {counted} queries, {report['credits']:.6f} credits")
    print(line("wall s", timed.walls))
    print(line("cost() in process, s", api))
    print(line("CPU s of the command", timed.cpus))


if __name__ == "__main__":
    main()
