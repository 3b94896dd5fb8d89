"""Load on one connector-service replica: N concurrent queries through `c0` over gRPC, ours next to the public plugin.

Each run starts a local Snowflake (a minimum query duration keeps the queries overlapping), one `c0` replica of
the plugin under test, and a harness that behaves like the Flyte backend: it creates N tasks (secrets in the
connection, inputs as literals), polls each with GetTask every `--interval` seconds (jittered) until it is
final, and records every GetTask's latency. Reported: completions, errors, p50/p99 GetTask latency, c0's CPU
per poll, peak live Snowflake sessions, logins (ours, from its Prometheus metrics), one execution per query.

    .venv/bin/python benchmarks/service_load.py --queries 500 --min-query-ms 15000 --interval 2

The public plugin runs from its own venv (`--public-python`, default /tmp/pubvenv/bin/python, else the venv
`benchmarks/_public.py` builds); `--only ours|public` runs one side.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from flyteidl2.connector import connector_pb2
from flyteidl2.connector.service_pb2_grpc import AsyncConnectorServiceStub
from flyteidl2.core import tasks_pb2
from flyteidl2.core.execution_pb2 import TaskExecution
from flyteidl2.core.security_pb2 import Connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from c0_harness import ConnectorService, literal_inputs, snowflake_task, template_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from flyteplugins.snowflake.local import LocalSnowflake
from lineage_receiver import Receiver

FINAL = (TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.ABORTED, TaskExecution.RETRYABLE_FAILED)
CATEGORY = connector_pb2.TaskCategory(name="snowflake", version=0)
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The public plugin's task, built in its own venv; the password travels in connection_kwargs, its only way
# to reach a password-authenticated Snowflake (it is then stored in the task and the metadata).
_PUBLIC_TEMPLATE = """
import base64, sys
from flyteplugins.snowflake import Snowflake, SnowflakeConfig
from flyte.models import SerializationContext
from flyte._internal.runtime.task_serde import get_proto_task
host, port, sql = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = SnowflakeConfig(account="local-test", database="FLYTE", schema="PUBLIC", warehouse="LOCAL_WH", user="FLYTE",
    connection_kwargs={"host": host, "port": port, "protocol": "http", "password": "local",
                       "network_timeout": 30, "login_timeout": 10, "platform_detection_timeout_seconds": 0})
task = Snowflake(name="load", query_template=sql, plugin_config=config, inputs={"n": int})
sctx = SerializationContext(version="v1", project="p", domain="d", org="o")
print(base64.b64encode(get_proto_task(task, sctx).SerializeToString()).decode())
"""


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    #: GetTask calls that answered a non-final phase (status checks only) vs. the final one of each query, which
    #: also saves the result (Parquet under the output prefix) and, at most 2 at a time, reads the history figures.
    status_latencies: list[float] = field(default_factory=list)
    final_latencies: list[float] = field(default_factory=list)
    slowest: list[tuple[float, float, str]] = field(default_factory=list)
    phases: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: GetTask answers "still running, saving its result" for queries Snowflake reported done: each costs the
    #: query one more poll interval before the backend sees it final.
    saving_answers: int = 0
    history_misses: list[str] = field(default_factory=list)
    create_seconds: float = 0.0
    started_at: float = 0.0  # wall clock (time.time()) when the first CreateTask went out
    harness_lag: list[tuple[float, float]] = field(default_factory=list)
    wall_seconds: float = 0.0


class GcPauses:
    """This harness's garbage-collection passes over 5 ms (a full pass walks every object the process holds, and
    every GetTask answer waiting meanwhile is seen late)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, int, float]] = []  # (perf_counter at the start, generation, seconds)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif (took := time.perf_counter() - self._started) > 0.005:
            self.pauses.append((self._started, info["generation"], took))


class CpuSampler(threading.Thread):
    """CPU time the hypervisor gave to other guests (/proc/stat `steal`), and the CPU of each of our processes,
    sampled every `period` seconds.

    On a shared VM stolen time is time none of our processes could run: a burst of it shows up as slow calls
    that none of c0, the emulator or the harness caused. The processes' own CPU, step by step, shows which of
    them wanted the two cores when calls were slow.
    """

    def __init__(self, pids: dict[str, int] | None = None, period: float = 0.25) -> None:
        super().__init__(daemon=True, name="cpu-sampler")
        self.period = period
        self.pids = dict(pids or {})
        # (wall clock, steal seconds so far over all CPUs, each process's CPU seconds so far)
        self.samples: list[tuple[float, float, dict[str, float]]] = []
        self._done = threading.Event()

    @staticmethod
    def read() -> float:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / CLK_TCK if len(fields) > 8 else 0.0

    def _sample(self) -> None:
        cpu = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                cpu[name] = _cpu_seconds(pid)
        self.samples.append((time.time(), self.read(), cpu))

    def run(self) -> None:
        while not self._done.is_set():
            self._sample()
            self._done.wait(self.period)

    def finish(self) -> None:
        self._done.set()
        self.join(timeout=5)
        self._sample()

    def steal_total(self) -> float:
        return self.samples[-1][1] - self.samples[0][1] if self.samples else 0.0

    def steal_steps(self) -> list[tuple[float, float]]:
        """(wall clock at the step's start, stolen milliseconds per second during it) for steps with any."""
        return [
            (t0, (s1 - s0) * 1000 / (t1 - t0))
            for (t0, s0, _), (t1, s1, _) in itertools.pairwise(self.samples)
            if s1 > s0 and t1 > t0
        ]

    def cpu_steps(self, name: str) -> list[tuple[float, float]]:
        """(wall clock at the step's start, the process's CPU milliseconds per second during it)."""
        return [
            (t0, (c1[name] - c0[name]) * 1000 / (t1 - t0))
            for (t0, _, c0), (t1, _, c1) in itertools.pairwise(self.samples)
            if name in c0 and name in c1 and t1 > t0
        ]


def _cpu_seconds(pid: int, *, kernel_only: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    if kernel_only:
        return int(fields[12]) / CLK_TCK  # stime: system calls, thread wake-ups, sockets
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime of the process (all its threads)


async def _drive(port: int, template: tasks_pb2.TaskTemplate, inputs: list[Any], interval: float) -> Outcome:
    outcome = Outcome()
    secrets = {"snowflake_password": "local"}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = AsyncConnectorServiceStub(channel)
        gate = asyncio.Semaphore(64)  # the backend's workers: a bounded number of calls in flight per kind
        start = time.perf_counter()
        outcome.started_at = time.time()

        async def run(literals: Any) -> None:
            try:
                async with gate:
                    created = await stub.CreateTask(
                        connector_pb2.CreateTaskRequest(
                            template=template,
                            inputs=literals,
                            output_prefix="/tmp/load",
                            connection=Connection(secrets=secrets),
                        ),
                        timeout=120,
                    )
                outcome.create_seconds = max(outcome.create_seconds, time.perf_counter() - start)
                request = connector_pb2.GetTaskRequest(
                    resource_meta=created.resource_meta, task_category=CATEGORY, connection=Connection(secrets=secrets)
                )
                while True:
                    await asyncio.sleep(interval * random.uniform(0.5, 1.5))
                    t0 = time.perf_counter()
                    response = await stub.GetTask(request, timeout=120)
                    took = time.perf_counter() - t0
                    outcome.latencies.append(took)
                    final = response.resource.phase in FINAL
                    status = response.resource.custom_info.fields.get("status")
                    if not final and status is not None and status.string_value == "SUCCESS":
                        outcome.saving_answers += 1  # done in Snowflake, its result still being saved
                    (outcome.final_latencies if final else outcome.status_latencies).append(took)
                    outcome.slowest.append((took, t0 - start, TaskExecution.Phase.Name(response.resource.phase)))
                    if final:
                        name = TaskExecution.Phase.Name(response.resource.phase)
                        outcome.phases[name] = outcome.phases.get(name, 0) + 1
                        unavailable = response.resource.custom_info.fields.get("query_history_unavailable")
                        if unavailable is not None:
                            outcome.history_misses.append(unavailable.string_value[:200])
                        if response.resource.phase != TaskExecution.SUCCEEDED:
                            outcome.errors.append(response.resource.message[:200])
                        return
            except grpc.aio.AioRpcError as exc:
                outcome.errors.append(f"{exc.code().name}: {(exc.details() or '')[:200]}")

        async def watch_loop() -> None:
            # This harness's own event-loop lag: a GetTask answer is seen late when the harness is busy.
            while True:
                t0 = time.perf_counter()
                await asyncio.sleep(0.01)
                outcome.harness_lag.append((t0 - start, time.perf_counter() - t0 - 0.01))

        watcher = asyncio.ensure_future(watch_loop())
        await asyncio.gather(*(run(literals) for literals in inputs))
        watcher.cancel()
        outcome.wall_seconds = time.perf_counter() - start
    return outcome


def _peak_sessions(sf: LocalSnowflake, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], int(sf.stats().get("sessions", 0)))
        stop.wait(0.5)


_PROBE = """
import json, sys, time, uuid
import snowflake.connector
kwargs, out, period = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
conn = snowflake.connector.connect(**kwargs)
with open(out, "w") as f:
    while True:
        t0 = time.perf_counter()
        conn.rest.request("/monitoring/queries/" + str(uuid.uuid4()), method="get", client="rest", timeout=30)
        f.write(f"{time.time():.3f} {(time.perf_counter() - t0) * 1000:.2f}\\n")
        f.flush()
        time.sleep(period)
"""


def _start_probe(sf: LocalSnowflake, out: Path, period: float) -> subprocess.Popen[bytes]:
    """The emulator's own status round trip, without c0: a separate process polls it on its own session."""
    kwargs = sf.connect_kwargs()
    return subprocess.Popen([sys.executable, "-c", _PROBE, json.dumps(kwargs, default=str), str(out), str(period)])


def _percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return (values or [0.0])[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def run_side(side: str, args: argparse.Namespace, public_python: str | None) -> dict[str, Any]:
    marker = f"load_{side}_{uuid.uuid4().hex[:6]}"
    sql = f"SELECT %(n)s AS n, '{marker}' AS marker"
    with LocalSnowflake(min_query_ms=args.min_query_ms) as sf, tempfile.TemporaryDirectory() as tmp:
        task = snowflake_task(sf, sql, {"n": int}, name="load")
        receiver = Receiver() if args.lineage and side == "ours" else None
        if side == "ours":
            template = template_of(task)
            env: dict[str, str] = {"OPENLINEAGE_URL": receiver.url} if receiver is not None else {}
            c0 = Path(sys.executable).with_name("c0")
        else:
            assert public_python is not None
            encoded = subprocess.run(
                [public_python, "-c", _PUBLIC_TEMPLATE, sf.host, str(sf.port), sql],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            template = tasks_pb2.TaskTemplate.FromString(base64.b64decode(encoded))
            env = {"VIRTUAL_ENV": str(Path(public_python).parent.parent)}
            c0 = Path(public_python).with_name("c0")
        inputs = [literal_inputs(task, n=i) for i in range(args.queries)]
        service = ConnectorService(Path(tmp), env=env, name=side)
        _start(service, c0)
        try:
            stop, peak = threading.Event(), [0]
            watcher = threading.Thread(target=_peak_sessions, args=(sf, stop, peak), daemon=True)
            watcher.start()
            assert service.process is not None
            if args.warm_up:
                # One query end to end first: a replica's first calls import the driver and log in.
                sf.configure(min_query_ms=0)
                asyncio.run(_drive(service.port, template, inputs[:1], 0.05))
                sf.configure(min_query_ms=args.min_query_ms)
            if args.latency_ms:
                # A real Snowflake is tens of milliseconds away, not on loopback: every request waits this long.
                sf.configure(latency_ms=args.latency_ms)
            assert sf.pid is not None
            probe_file = Path(tmp) / "probe.txt"
            probe = _start_probe(sf, probe_file, args.probe_period) if args.probe_period > 0 else None
            cpu0, sf_cpu0, own_cpu0 = _cpu_seconds(service.process.pid), _cpu_seconds(sf.pid), time.process_time()
            sys0 = _cpu_seconds(service.process.pid, kernel_only=True)
            load0 = os.getloadavg()[0]
            # The Flyte backend is not a Python process: keep this stand-in's start-up heap (flyte, the driver,
            # protobuf) out of its full collections, which otherwise stall it for 100+ ms mid-run.
            gc.collect()
            gc.freeze()
            pauses = GcPauses()
            gc.callbacks.append(pauses)
            sampler = CpuSampler({"c0": service.process.pid, "emulator": sf.pid, "harness": os.getpid()})
            sampler.start()
            outcome = asyncio.run(_drive(service.port, template, inputs, args.interval))
            sampler.finish()
            gc.callbacks.remove(pauses)
            gc.unfreeze()
            cpu = _cpu_seconds(service.process.pid) - cpu0
            kernel = _cpu_seconds(service.process.pid, kernel_only=True) - sys0
            sf_cpu, own_cpu = _cpu_seconds(sf.pid) - sf_cpu0, time.process_time() - own_cpu0
            load1 = os.getloadavg()[0]
            if probe is not None:
                probe.terminate()
                probe.wait(timeout=10)
            probe_rows = [line.split() for line in probe_file.read_text().splitlines()] if probe_file.exists() else []
            probe_ms = [float(ms) for _, ms in probe_rows]
            stop.set()
            metrics = service.prometheus()
        finally:
            service.stop()
            if receiver is not None:
                receiver.close()
        history = sf.query_history()
        ran = [q for q in history if marker in q.query_text][: args.queries]
        # the statements that read finished queries' figures for custom_info (and any GetTaskMetrics/Logs)
        history_reads = sum(1 for q in history if "QUERY_HISTORY_BY_USER" in q.query_text)
    if args.trace:
        with open(args.trace, "a") as trace:
            trace.writelines(f"{side} {at:.3f} {took * 1000:.1f} {phase}\n" for took, at, phase in outcome.slowest)
            trace.writelines(f"{side}-lag {at:.3f} {lag * 1000:.1f} LAG\n" for at, lag in outcome.harness_lag)
            # The emulator probe's round trips on the same time axis (its own session, no c0 in between).
            trace.writelines(f"{side}-probe {float(at) - outcome.started_at:.3f} {ms} PROBE\n" for at, ms in probe_rows)
            # CPU the hypervisor gave elsewhere, in milliseconds per second of each 0.25 s step that had some.
            trace.writelines(
                f"{side}-steal {at - outcome.started_at:.3f} {ms:.0f} STEAL\n" for at, ms in sampler.steal_steps()
            )
            # Each process's CPU in milliseconds per second of each step (1000: one core, all the step).
            for name in sampler.pids:
                trace.writelines(
                    f"{side}-{name} {at - outcome.started_at:.3f} {ms:.0f} CPU\n" for at, ms in sampler.cpu_steps(name)
                )
    logins = re.search(r'flyte_connector_snowflake_logins_total\{outcome="ok"\} ([0-9.e+]+)', metrics)
    spaced = re.search(r"flyte_connector_snowflake_submits_spaced_total ([0-9.e+]+)", metrics)
    polls = len(outcome.latencies)
    return {
        "side": side,
        "lineage_events": len(receiver.events) if receiver is not None else None,
        "queries": args.queries,
        "succeeded": outcome.phases.get("SUCCEEDED", 0),
        "errors": len(outcome.errors),
        "first_errors": outcome.errors[:3],
        "custom_info_without_figures": len(outcome.history_misses),
        "first_misses": outcome.history_misses[:2],
        "warm_up": args.warm_up,
        "executions": len(ran),
        "distinct_query_ids": len({q.query_id for q in ran}),
        "history_statements": history_reads,
        "polls": polls,
        "get_p50_ms": round(_percentile(outcome.latencies, 0.50) * 1000, 1),
        "get_p99_ms": round(_percentile(outcome.latencies, 0.99) * 1000, 1),
        "get_max_ms": round(max(outcome.latencies or [0.0]) * 1000, 1),
        "status_checks": len(outcome.status_latencies),
        "status_p50_ms": round(_percentile(outcome.status_latencies, 0.50) * 1000, 1),
        "status_p99_ms": round(_percentile(outcome.status_latencies, 0.99) * 1000, 1),
        "status_max_ms": round(max(outcome.status_latencies or [0.0]) * 1000, 1),
        "final_p50_ms": round(_percentile(outcome.final_latencies, 0.50) * 1000, 1),
        "saving_answers": outcome.saving_answers,
        "final_p99_ms": round(_percentile(outcome.final_latencies, 0.99) * 1000, 1),
        "slowest": [(round(took * 1000), round(at, 1), phase) for took, at, phase in sorted(outcome.slowest)[-5:]],
        "emulator_probe": {
            "requests": len(probe_ms),
            "p50_ms": round(_percentile(probe_ms, 0.50), 1),
            "p99_ms": round(_percentile(probe_ms, 0.99), 1),
            "max_ms": round(max(probe_ms or [0.0]), 1),
        },
        "c0_cpu_ms_per_poll": round(cpu * 1000 / max(1, polls), 2),
        "c0_cpu_s": round(cpu, 1),
        "c0_kernel_cpu_s": round(kernel, 1),
        # The same two cores also run the emulator (status answers and 64 queries at a time in DuckDB) and this
        # harness (the gRPC client, standing in for the Flyte backend): their CPU bounds what c0 can get.
        "emulator_cpu_s": round(sf_cpu, 1),
        "harness_cpu_s": round(own_cpu, 1),
        "harness_lag_max_ms": round(max((lag for _, lag in outcome.harness_lag), default=0.0) * 1000, 1),
        "harness_gc_max_ms": round(max((took for *_, took in pauses.pauses), default=0.0) * 1000, 1),
        "load_1min": [round(load0, 2), round(load1, 2)],
        "steal_s": round(sampler.steal_total(), 2),
        "steal_max_ms_per_s": round(max((ms for _, ms in sampler.steal_steps()), default=0.0)),
        "latency_ms": args.latency_ms,
        "pool_env": {k: v for k, v in os.environ.items() if k.startswith("FLYTE_SNOWFLAKE_POOL_")},
        "peak_live_sessions": peak[0],
        "logins": int(float(logins.group(1))) if logins else None,
        "submits_spaced": int(float(spaced.group(1))) if spaced else None,
        "all_created_s": round(outcome.create_seconds, 1),
        "wall_s": round(outcome.wall_seconds, 1),
    }


def _start(service: ConnectorService, c0: Path) -> None:
    """ConnectorService.start with another venv's c0 (the public plugin's)."""
    import c0_harness

    original = c0_harness.C0
    c0_harness.C0 = c0
    try:
        service.start()
    finally:
        c0_harness.C0 = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--min-query-ms", type=int, default=15_000, help="each query runs at least this long")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between two polls of one query (mean)")
    parser.add_argument("--only", choices=("ours", "public"))
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="measure a cold replica")
    parser.add_argument("--public-python", default="/tmp/pubvenv/bin/python")
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="added by the emulator to every request (a distant Snowflake)"
    )
    parser.add_argument(
        "--probe-period",
        type=float,
        default=0.1,
        help="seconds between the emulator probe's direct status requests (no c0); 0 turns the probe off",
    )
    parser.add_argument(
        "--trace",
        help="write every GetTask as 'side start_s latency_ms phase' lines to this file, with the emulator "
        "probe's round trips (side-probe), stolen CPU (side-steal) and each process's CPU per 0.25 s "
        "(side-c0, side-emulator, side-harness: ms per s)",
    )
    parser.add_argument(
        "--lineage",
        action="store_true",
        help="our c0 sends OpenLineage events (OPENLINEAGE_URL) to a receiver on 127.0.0.1; the result counts them",
    )
    args = parser.parse_args()
    public_python = args.public_python
    if args.only != "ours" and not Path(public_python).exists():
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _public import ensure_public_venv

        public_python = str(ensure_public_venv())
    sides = [args.only] if args.only else ["ours", "public"]
    for side in sides:
        print(json.dumps(run_side(side, args, public_python)), flush=True)


if __name__ == "__main__":
    main()
