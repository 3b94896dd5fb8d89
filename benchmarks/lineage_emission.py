"""What OpenLineage emission adds to a local run of a short query: emission on vs off, one local Snowflake.

    .venv/bin/python benchmarks/lineage_emission.py [--rounds 6] [--runs 15] [--write]

Starts ONE local Snowflake and an HTTP receiver on 127.0.0.1 standing in for Marquez, then alternates worker
processes with emission off (no OpenLineage configuration) and on (`OPENLINEAGE_URL` pointing at the receiver).
Each worker times `flyte.with_runcontext(mode="local").run(task)` of `SELECT 1` after two warm-up runs, waits for
its events to be sent, and reports. The receiver's count checks that every run sent START and COMPLETE.
A second figure times what the connector itself does per query with emission on (`Lineage.job`, `started`,
`ended`: parsing the SQL and queueing two events), on the caller's thread.

`--write` puts the table into docs/benchmarks.md under "## Lineage", leaving other sections alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "benchmarks.md"
HEADING = "## Lineage"
START, END = "<!-- lineage_emission -->", "<!-- /lineage_emission -->"


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.count += 1
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def worker(host: str, port: int, runs: int) -> None:
    import flyte

    from flyteplugins.snowflake import Snowflake, SnowflakeConfig

    os.environ["SNOWFLAKE_PASSWORD"] = "local"
    config = SnowflakeConfig(
        account="local-test", database="FLYTE", schema="PUBLIC", warehouse="LOCAL_WH", user="FLYTE",
        host=host, port=port, protocol="http",
    )  # fmt: skip
    task = Snowflake(
        name="short", query_template="SELECT 1", plugin_config=config, snowflake_password="snowflake-password"
    )
    flyte.init()
    times = []
    for i in range(2 + runs):
        started = time.perf_counter()
        flyte.with_runcontext(mode="local").run(task)
        if i >= 2:
            times.append(time.perf_counter() - started)
    from flyteplugins.snowflake.task import _connector

    lineage = _connector("snowflake", 0).lineage  # type: ignore[attr-defined]
    drained = lineage.drain(30) if lineage is not None else True
    print(json.dumps({"times": times, "on": lineage is not None, "drained": drained}))


def caller_cost(samples: int = 2000) -> float:
    """Median microseconds the connector spends per query on lineage (job, START, end event), caller's side."""
    import uuid

    from flyte.connectors import Resource
    from flyteidl2.core.execution_pb2 import TaskExecution

    from flyteplugins.snowflake import SnowflakeJobMetadata
    from flyteplugins.snowflake._lineage import Lineage
    from flyteplugins.snowflake._lineage_send import Sender

    class Discard:
        def emit(self, event: Any) -> None:
            pass

    lineage = Lineage(Sender(Discard, size=samples * 3))
    spent = []
    for _ in range(samples):
        meta = SnowflakeJobMetadata("a-b", "ME", "DB", "PUBLIC", "WH", str(uuid.uuid4()), has_output=False)
        started = time.perf_counter()
        job = lineage.job(
            account="myorg-acct", database="DB", schema="PUBLIC", task="short", statement="SELECT 1",
            binds=False, execution=None,
        )  # fmt: skip
        lineage.started(meta, job, "SELECT 1")
        lineage.ended(meta, Resource(phase=TaskExecution.SUCCEEDED, message=""))
        spent.append(time.perf_counter() - started)
        lineage.drain(5)
    return statistics.median(spent) * 1e6


def measure(rounds: int, runs: int) -> dict[str, Any]:
    from flyteplugins.snowflake.local import LocalSnowflake

    receiver = Receiver()
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    times: dict[str, list[float]] = {"off": [], "on": []}
    load_start = os.getloadavg()
    with LocalSnowflake() as sf:
        for _ in range(rounds):
            for mode in ("off", "on"):
                env = {**base, **({"OPENLINEAGE_URL": receiver.url} if mode == "on" else {})}
                before = receiver.count
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", sf.host, str(sf.port), str(runs)],
                    capture_output=True, text=True, env=env, timeout=600, cwd=HERE,
                )  # fmt: skip
                if out.returncode != 0:
                    raise RuntimeError(out.stdout[-3000:] + out.stderr[-3000:])
                result = json.loads(out.stdout.strip().splitlines()[-1])
                assert result["on"] == (mode == "on") and result["drained"], result
                sent = receiver.count - before
                assert sent == (2 * (runs + 2) if mode == "on" else 0), (mode, sent)
                times[mode].extend(result["times"])
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    return {
        "off_ms": off * 1000,
        "on_ms": on * 1000,
        "added_ms": (on - off) * 1000,
        "caller_us": caller_cost(),
        "runs": len(times["on"]),
        "rounds": rounds,
        "load": (load_start, os.getloadavg()),
    }


def table(r: dict[str, Any]) -> str:
    import flyte

    (l0, l1) = r["load"]
    return "\n".join(
        [
            START,
            "### Emission on a local run of a short query",
            "",
            "Command: `python benchmarks/lineage_emission.py --write`",
            "",
            "| | emission off (median) | emission on (median) | added | goal |",
            "|---|---|---|---|---|",
            f"| local run of `SELECT 1`, warm | {r['off_ms']:.1f} ms | {r['on_ms']:.1f} ms "
            f"| {r['added_ms']:+.1f} ms | < 5 ms |",
            f"| the connector's own lineage work per query (parse, START, COMPLETE queued) | — | "
            f"{r['caller_us']:.0f} µs | | |",
            "",
            f"{r['rounds']} rounds alternating a fresh process with emission off and one with it on (`OPENLINEAGE_URL` "
            f"to an HTTP receiver on 127.0.0.1), {r['runs']} timed runs each way after two warm-up runs per process; "
            "every run on sent START and COMPLETE, checked at the receiver. Events go out on the sender's thread, "
            "so the run waits for none of them. "
            f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, flyte {flyte.__version__}; "
            f"load average {l0[0]:.1f} at start, {l1[0]:.1f} at the end (a shared machine: the difference of "
            "medians is within the noise of a run when it is below a millisecond).",
            END,
        ]
    )


def write(text: str) -> None:
    doc = DOC.read_text()
    if START in doc:
        head, rest = doc.split(START, 1)
        doc = head + text + rest.split(END, 1)[1]
    elif HEADING in doc:
        doc = doc.replace(HEADING + "\n", f"{HEADING}\n\n{text}\n", 1)
    else:
        doc = doc.rstrip("\n") + f"\n\n{HEADING}\n\n{text}\n"
    DOC.write_text(doc)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    text = table(measure(args.rounds, args.runs))
    print(text)
    if args.write:
        write(text)


if __name__ == "__main__":
    main()
