"""One plugin's side of `benchmarks/local_runs.py`, run by that plugin's interpreter (ours or the public venv's).

`python _local_worker.py {warm|slow|cold} --host H --port P --runs N` prints one JSON line of timings.
Both plugins run the same SQL on the same local Snowflake; only the way each is configured differs:
the public plugin gets the emulator's address and password through `connection_kwargs`, ours through
typed fields and a password secret.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

T0 = time.perf_counter()


def _plugin() -> str:
    from importlib.metadata import version

    return "public" if version("flyteplugins-snowflake").startswith("2.") else "ours"


def _config(host: str, port: int) -> object:
    from flyteplugins.snowflake import SnowflakeConfig

    base = dict(account="local-test", database="FLYTE", schema="PUBLIC", warehouse="LOCAL_WH", user="FLYTE")
    if _plugin() == "public":
        client = {"platform_detection_timeout_seconds": 0, "network_timeout": 30, "login_timeout": 10}
        address = {"host": host, "port": port, "protocol": "http", "password": "local"}
        return SnowflakeConfig(**base, connection_kwargs={**address, **client})
    os.environ["SNOWFLAKE_PASSWORD"] = "local"
    return SnowflakeConfig(**base, host=host, port=port, protocol="http")


def _tolerate_no_data() -> None:
    """The public plugin fails a task whose first status check sees NO_DATA ("Unrecognized state", its
    defect 1), which Snowflake and the local Snowflake answer right after a submit. For the figures to exist
    at all, NO_DATA is read as QUEUED in its process; its polling and timing are left as they are."""
    from flyteidl2.core.execution_pb2 import TaskExecution

    import flyteplugins.snowflake.connector as public_connector

    original = public_connector.convert_to_flyte_phase

    def convert(state: str) -> object:
        return TaskExecution.QUEUED if state.lower() == "no_data" else original(state)

    public_connector.convert_to_flyte_phase = convert


def _task(name: str, sql: str, config: object, output: object = None) -> object:
    from flyteplugins.snowflake import Snowflake

    secrets = {} if _plugin() == "public" else {"snowflake_password": "snowflake-password"}
    return Snowflake(name=name, query_template=sql, plugin_config=config, output_dataframe_type=output, **secrets)


def _timed_runs(task: object, runs: int, warmup: int = 1) -> list[float]:
    import flyte

    times = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        flyte.with_runcontext(mode="local").run(task)
        if i >= warmup:
            times.append(time.perf_counter() - started)
    return times


def _read_public_result(uri: str, host: str, port: int) -> object:
    """What the public reader would do if it honoured the task's connection settings (it does not: it logs in
    with account/user only and a SNOWFLAKE_PRIVATE_KEY variable, so it cannot reach the local Snowflake)."""
    import snowflake.connector

    query_id = uri.rstrip("/").rsplit("/", 1)[-1]
    with snowflake.connector.connect(
        account="local-test", user="FLYTE", password="local", database="FLYTE", schema="PUBLIC",
        warehouse="LOCAL_WH", host=host, port=port, protocol="http", platform_detection_timeout_seconds=0,
    ) as conn, conn.cursor() as cur:  # fmt: skip
        cur.get_results_from_sfqid(query_id)
        return cur.fetch_pandas_all()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["warm", "slow", "cold"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import flyte
    import flyte.io

    flyte.init()
    if _plugin() == "public":
        _tolerate_no_data()
    config = _config(args.host, args.port)
    result: dict[str, object] = {"plugin": _plugin()}
    if args.mode == "warm":
        result["no_output"] = _timed_runs(_task("short", "SELECT 1 AS one", config), args.runs)
        if _plugin() == "ours":
            import pandas as pd

            task = _task("short_df", "SELECT 1 AS one", config, pd.DataFrame)
            result["pandas_result"] = _timed_runs(task, args.runs)
    elif args.mode == "slow":
        task = _task("slow", "SELECT 1 AS one", config)
        _timed_runs(task, 0, warmup=1)  # warm, like the warm figures; then the driver makes queries slow
        print("READY", flush=True)
        sys.stdin.readline()
        result["no_output"] = _timed_runs(task, args.runs, warmup=0)
    else:  # cold: everything since the interpreter started: imports, one task, its result as pandas
        if _plugin() == "ours":
            import pandas as pd

            frame = flyte.with_runcontext(mode="local").run(_task("cold", "SELECT 42 AS x", config, pd.DataFrame))
            value = frame.outputs()[0]
        else:
            out = flyte.with_runcontext(mode="local").run(_task("cold", "SELECT 42 AS x", config, flyte.io.DataFrame))
            value = _read_public_result(out.outputs()[0].uri, args.host, args.port)
        assert int(value.iloc[0, 0]) == 42, value
        result["since_start"] = time.perf_counter() - T0
    print(json.dumps(result), flush=True)
    os._exit(0)  # do not let atexit hooks of either plugin add to the figure


if __name__ == "__main__":
    main()
