"""Snowflake tasks in a local Flyte run, on the local Snowflake: no account, no set-up. Run it with `scripts/demo`.

It starts the local Snowflake (an emulator on 127.0.0.1), then runs one workflow: create a table, insert rows
in one batch, run a query with typed inputs, and hand its result to a Python task as a pandas DataFrame.
The Snowflake tasks are written exactly as for a real account; only `SnowflakeConfig` points elsewhere.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import time

import flyte
import pandas as pd

from flyteplugins.snowflake import Snowflake, SnowflakeConfig
from flyteplugins.snowflake.local import LocalSnowflake

env = flyte.TaskEnvironment(name="snowflake_demo")


def build_workflow(config: SnowflakeConfig) -> flyte.TaskTemplate:  # type: ignore[type-arg]
    """The demo's tasks, for a `SnowflakeConfig` (a real account's works the same)."""
    create_orders = Snowflake(
        name="create_orders",
        query_template="""
            CREATE OR REPLACE TABLE orders (
                id INT, customer STRING, amount NUMBER(10, 2), ordered_on DATE
            )
        """,
        plugin_config=config,
        snowflake_password="snowflake-password",
    )
    insert_orders = Snowflake(
        name="insert_orders",
        # batch=True: list inputs are columns of one array-bound INSERT INTO, run as one atomic query.
        query_template="INSERT INTO orders VALUES (%(ids)s, %(customers)s, %(amounts)s, %(days)s)",
        plugin_config=config,
        inputs={"ids": list[int], "customers": list[str], "amounts": list[str], "days": list[datetime.date]},
        batch=True,
        snowflake_password="snowflake-password",
    )
    big_orders = Snowflake(
        name="big_orders",
        # Inputs are bound on the server, never pasted into the SQL: quotes and % in values are harmless.
        query_template="""
            SELECT customer, COUNT(*) AS orders, SUM(amount) AS total
            FROM orders
            WHERE ordered_on >= %(since)s AND amount >= %(min_amount)s AND customer <> %(exclude)s
            GROUP BY customer
            ORDER BY total DESC
        """,
        plugin_config=config,
        inputs={"since": datetime.date, "min_amount": int, "exclude": str},
        output_dataframe_type=pd.DataFrame,
        snowflake_password="snowflake-password",
    )

    @env.task
    async def report(totals: pd.DataFrame) -> str:
        return totals.to_string(index=False)

    @env.task
    async def pipeline(since: datetime.date, min_amount: int, exclude: str) -> str:
        await create_orders()
        await insert_orders(
            ids=[1, 2, 3, 4, 5, 6],
            customers=["ada", "grace", "ada", "linus", "o'brien", "grace"],
            amounts=["120.50", "80.00", "310.25", "45.10", "99.99", "150.00"],
            days=[datetime.date(2024, 3, d) for d in (1, 3, 7, 9, 12, 15)],
        )
        totals = await big_orders(since=since, min_amount=min_amount, exclude=exclude)
        return await report(totals)

    return pipeline


def main() -> int:
    # The plugin's progress lines (submitted, running, finished...) are INFO on the `flyte.snowflake` logger:
    # quiet unless asked for (`LOG_LEVEL=info`, `flyte -v run ...`). Shown here without flyte's own INFO lines.
    progress = logging.getLogger("flyte.snowflake")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False

    started = time.perf_counter()
    print("starting the local Snowflake...")
    with LocalSnowflake() as sf:
        # In a local run a secret is read from the environment: `snowflake-password` -> SNOWFLAKE_PASSWORD.
        os.environ["SNOWFLAKE_PASSWORD"] = sf.password
        # Points at the local Snowflake (host, port, http); a real account needs only account/user/...
        config = sf.config()
        pipeline = build_workflow(config)
        flyte.init()
        print(f"local Snowflake on {sf.url}; running the workflow...")
        run = flyte.with_runcontext(mode="local").run(
            pipeline, since=datetime.date(2024, 3, 2), min_amount=50, exclude="linus"
        )
        print("\nbig orders since 2024-03-02, by customer:\n")
        print(run.outputs()[0])
    print(f"\ndone in {time.perf_counter() - started:.1f}s (local Snowflake stopped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
