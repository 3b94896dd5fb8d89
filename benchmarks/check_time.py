"""Time `python -m flyteplugins.snowflake check` on a workflow file of N Snowflake tasks (local Snowflake).

    .venv/bin/python benchmarks/check_time.py [--tasks 20] [--runs 5]

Each run is the command as a user runs it, in a new process (imports included), against one local Snowflake
with a table the tasks read. Prints the wall time and the command's CPU time of each run, their medians, the
logins and statements the check reported (its last line), and how many task statements ran (none may).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import textwrap
from pathlib import Path

import snowflake.connector

from _commands import line, time_command
from flyteplugins.snowflake.local import LocalSnowflake

HEADER = """
    import datetime
    import os

    from flyteplugins.snowflake import Snowflake, SnowflakeConfig

    config = SnowflakeConfig(
        account="local-test", user="FLYTE", database="FLYTE", schema="PUBLIC", warehouse="LOCAL_WH",
        host="127.0.0.1", port=int(os.environ["CHECK_PORT"]), protocol="http",
    )
"""
TASK = """
    task_{n} = Snowflake(
        name="task_{n}",
        query_template="SELECT region, SUM(amount) FROM SALES WHERE day >= %(since)s AND id > {n} GROUP BY region",
        plugin_config=config, inputs={{"since": datetime.date}}, snowflake_password="CHECK_PASSWORD",
    )
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with LocalSnowflake() as sf, tempfile.TemporaryDirectory() as tmp:
        with snowflake.connector.connect(**sf.connect_kwargs()) as conn:
            conn.cursor().execute("CREATE TABLE SALES (id INT, region VARCHAR, amount DOUBLE, day DATE)")
            conn.cursor().execute(
                "INSERT INTO SALES SELECT seq4(), 'r' || (seq4() % 7), 1.5, CURRENT_DATE "
                "FROM TABLE(GENERATOR(ROWCOUNT => 500000))"
            )
        workflow = Path(tmp) / "workflow.py"
        source = HEADER + "".join(TASK.format(n=n) for n in range(args.tasks))
        workflow.write_text(textwrap.dedent(source))
        env = {**os.environ, "CHECK_PORT": str(sf.port), "CHECK_PASSWORD": sf.password}
        command = [sys.executable, "-m", "flyteplugins.snowflake", "check", str(workflow)]
        timed = time_command(command, env, args.runs)
        last = timed.stdout.strip().splitlines()[-1]
        ran = [q.query_text for q in sf.query_history() if "SUM(amount)" in q.query_text]
        task_statements = [text for text in ran if not text.startswith("EXPLAIN ")]
    figures = re.search(r"\((\d+) logins, (\d+) statements\)", last)
    print(f"tasks: {args.tasks}, runs: {args.runs}")
    print(line("wall s", timed.walls))
    print(line("CPU s of the command", timed.cpus))
    if figures:
        print(f"per run: {figures.group(1)} logins, {figures.group(2)} statements")
    print(f"task statements executed: {len(task_statements)}")


if __name__ == "__main__":
    main()
