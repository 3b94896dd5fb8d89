"""Reading Snowflake results: our readers side by side with the public plugin's, on one local Snowflake.

    .venv/bin/python benchmarks/read_results.py [--rows 1000000] [--materialize-rows 1000000,5000000]
        [--public-python PATH]   (default: benchmarks/.venv-public, built with the public plugin on first use)
        [--chunk-mib N] [--prefetch-threads N]

Starts the local Snowflake, builds the tables with a SQL generator, then runs every measurement in a fresh
subprocess (so peak RSS, from `resource.getrusage`, belongs to that reader alone): read N rows x 5 columns
into pyarrow and pandas with each plugin's reader, and materialize results of each size into Parquet.
Prints a Markdown table. The public plugin only reads into pandas; its row for pyarrow says so.

`--chunk-mib` sets the local Snowflake's result chunk size (its `result_chunk_bytes`, 4 MiB by default) and
`--prefetch-threads` how many chunks materialization downloads ahead (`MATERIALIZE_PREFETCH_THREADS`, 2 by
default): together they set materialization's peak memory (docs/dataframes.md, "Figures").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (
    "seq4() AS ID, uniform(0::float, 1::float, random()) AS X, 'name_' || seq4() AS NAME, "
    "dateadd(second, seq4(), '2024-01-01'::timestamp_ntz) AS TS, (seq4() % 100000 / 100)::NUMBER(12,2) AS AMOUNT"
)

# Each snippet runs in its own interpreter; it prints one JSON line. `SF` holds the emulator's connect kwargs.
_PRELUDE = """
import json, os, resource, sys, time
SF = json.loads(os.environ["BENCH_SF"])
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def submit(conn, table):
    cur = conn.cursor()
    cur.execute_async(f"SELECT * FROM {table}")
    qid = cur.sfqid
    cur.get_results_from_sfqid(qid)  # wait until it is done: only the read is timed
    return qid
"""

_OURS_READ = """
import asyncio
from flyteplugins.snowflake import _client
from flyteplugins.snowflake import dataframe as sfdf
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata
import pyarrow as pa, pandas as pd
from flyte.io._dataframe.dataframe import flyte_dataset_transformer
from flyteidl2.core import literals_pb2, types_pb2
sfdf.register_handlers()
config = SnowflakeConfig(SF["account"], SF["database"], SF["schema"], SF["warehouse"], SF["user"],
                         host=SF["host"], port=SF["port"], protocol="http", network_timeout=300)
os.environ["BENCH_SNOWFLAKE_PASSWORD"] = SF["password"]
conn = _client.login({**config.driver_kwargs(), "password": SF["password"]})
qid = submit(conn, TABLE)
meta = SnowflakeJobMetadata(account=config.account, user=config.user, database=config.database,
    schema=config.schema, warehouse=config.warehouse, query_id=qid, has_output=True, config=config.to_custom(),
    secrets={"snowflake_password": "BENCH_SNOWFLAKE_PASSWORD"})
uri = sfdf.result_reference(meta, qid).uri
sd = literals_pb2.StructuredDataset(uri=uri, metadata=literals_pb2.StructuredDatasetMetadata(
    structured_dataset_type=types_pb2.StructuredDatasetType(format="")))
target = {"pyarrow": pa.Table, "pandas": pd.DataFrame}[LIBRARY]
before = rss_mb()
start = time.perf_counter()
value = asyncio.run(flyte_dataset_transformer.open_as(sd, target, sd.metadata))
seconds = time.perf_counter() - start
print(json.dumps({"rows": len(value), "seconds": seconds, "rss_before": before, "peak_rss": rss_mb()}))
"""

_PUBLIC_READ = """
import functools
import snowflake.connector
# The public reader connects with account/user/database/schema/warehouse only: point it at the emulator.
snowflake.connector.connect = functools.partial(snowflake.connector.connect, host=SF["host"], port=SF["port"],
    protocol="http", password=SF["password"], network_timeout=300, platform_detection_timeout_seconds=0)
import pandas as pd
from flyteplugins.snowflake.dataframe import SnowflakeToPandasDecodingHandler
from flyteidl2.core import literals_pb2
conn = snowflake.connector.connect(account=SF["account"], user=SF["user"], database=SF["database"],
    schema=SF["schema"], warehouse=SF["warehouse"])
qid = submit(conn, TABLE)
uri = f"snowflake://{SF['user']}/{SF['account']}/{SF['warehouse']}/{SF['database']}/{SF['schema']}/{qid}"
sd = literals_pb2.StructuredDataset(uri=uri)
import asyncio
before = rss_mb()
start = time.perf_counter()
value = asyncio.run(SnowflakeToPandasDecodingHandler().decode(sd, sd.metadata))
seconds = time.perf_counter() - start
print(json.dumps({"rows": len(value), "seconds": seconds, "rss_before": before, "peak_rss": rss_mb()}))
"""

_OURS_MATERIALIZE = """
import asyncio, tempfile
from flyteplugins.snowflake import _client, _materialize
from flyteplugins.snowflake import dataframe as sfdf
if PREFETCH:
    _materialize.MATERIALIZE_PREFETCH_THREADS = PREFETCH
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata
config = SnowflakeConfig(SF["account"], SF["database"], SF["schema"], SF["warehouse"], SF["user"],
                         host=SF["host"], port=SF["port"], protocol="http", network_timeout=300)
conn = _client.login({**config.driver_kwargs(), "password": SF["password"]})
qid = submit(conn, TABLE)
out = tempfile.mkdtemp(prefix="bench-materialize-")
meta = SnowflakeJobMetadata(account=config.account, user=config.user, database=config.database,
    schema=config.schema, warehouse=config.warehouse, query_id=qid, has_output=True, config=config.to_custom(),
    output_prefix=out)
async def run(fn):
    return await asyncio.to_thread(fn, conn)
before = rss_mb()
start = time.perf_counter()
df = asyncio.run(sfdf.materialize(meta, qid, run))
seconds = time.perf_counter() - start
manifest = json.load(open(os.path.join(df.uri, "_SUCCESS")))
print(json.dumps({"rows": manifest["rows"], "seconds": seconds, "rss_before": before, "peak_rss": rss_mb(),
                  "parts": len(manifest["parts"])}))
"""


def _measure(python: str, snippet: str, sf: dict[str, Any], **names: Any) -> dict[str, Any]:
    header = "".join(f"{k} = {v!r}\n" for k, v in names.items())
    code = _PRELUDE + header + textwrap.dedent(snippet)
    env = {**os.environ, "BENCH_SF": json.dumps(sf), "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as cwd:  # never pick up this checkout's package from the cwd
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=1800)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        errors = [line for line in out.stderr.splitlines() if line and not line[0].isspace()]
        return {"error": errors[-1][:300] if errors else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _row(what: str, reader: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"| {what} | {reader} | failed: {result['error']} | | | |"
    rate = result["rows"] / result["seconds"] if result["seconds"] else float("inf")
    return (
        f"| {what} | {reader} | {result['rows']:,} | {result['seconds']:.2f} | {rate:,.0f} | "
        f"{result['peak_rss']:.0f} (start {result['rss_before']:.0f}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--materialize-rows", default="1000000,5000000")
    parser.add_argument("--public-python", default=None, help="default: benchmarks/.venv-public, built on first use")
    parser.add_argument("--chunk-mib", type=float, default=4.0, help="the local Snowflake's result chunk size")
    parser.add_argument("--prefetch-threads", type=int, default=0, help="materialization's chunks ahead (0: its own)")
    args = parser.parse_args()
    if args.public_python is None:
        from _public import ensure_public_venv

        args.public_python = str(ensure_public_venv())
    sizes = sorted({args.rows, *(int(n) for n in args.materialize_rows.split(",") if n)})

    import snowflake.connector

    from flyteplugins.snowflake.local import LocalSnowflake

    with LocalSnowflake() as emulator:
        emulator.configure(
            max_result_bytes=8 * 1024**3, max_results=100, result_chunk_bytes=int(args.chunk_mib * 1024**2)
        )
        sf = emulator.connect_kwargs()
        with snowflake.connector.connect(**sf) as conn:
            for n in sizes:
                conn.cursor().execute(
                    f"CREATE OR REPLACE TABLE BENCH_{n} AS SELECT {COLUMNS} FROM TABLE(GENERATOR(ROWCOUNT => {n}))"
                )
        ours = sys.executable
        lines = [
            "| measurement | reader | rows | seconds | rows/s | peak RSS MB (at start) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        table = f"BENCH_{args.rows}"
        for library in ("pyarrow", "pandas"):
            what = f"read {args.rows:,} x 5 into {library}"
            lines.append(_row(what, "ours", _measure(ours, _OURS_READ, sf, TABLE=table, LIBRARY=library)))
            if library == "pandas" and Path(args.public_python).exists():
                lines.append(_row(what, "public plugin", _measure(args.public_python, _PUBLIC_READ, sf, TABLE=table)))
            else:
                lines.append(f"| {what} | public plugin | not supported (pandas only) | | | |")
        for n in (int(x) for x in args.materialize_rows.split(",") if x):
            result = _measure(ours, _OURS_MATERIALIZE, sf, TABLE=f"BENCH_{n}", PREFETCH=args.prefetch_threads)
            lines.append(_row(f"materialize {n:,} x 5 to Parquet", "ours", result))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
