"""Local runs side by side: our plugin and the public `flyteplugins-snowflake==2.12.1`, one local Snowflake.

    .venv/bin/python benchmarks/local_runs.py [--runs 15] [--write]

Creates `benchmarks/.venv-public` on first use (never touching our `.venv`), starts ONE local Snowflake and
runs each plugin in its own interpreter against it (`_local_worker.py`), alternating where it matters:

* warm: a short query task (`SELECT 1`), local run, in-process after one warm-up run;
* slow: a query the emulator keeps running for 4 s (`min_query_ms=4000`);
* import: `import flyteplugins.snowflake` in a fresh process (`import_time.py`);
* cold: a fresh process that imports, runs one task and reads its result as a pandas DataFrame.

`--write` puts the tables into docs/benchmarks.md under "Local runs", leaving other sections alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _public import ensure_public_venv  # noqa: E402
from flyteplugins.snowflake.local import LocalSnowflake  # noqa: E402
from import_time import measure as measure_imports  # noqa: E402
from import_time import table as import_table  # noqa: E402

DOC = HERE.parent / "docs" / "benchmarks.md"
WORKER = HERE / "_local_worker.py"
HEADING = "## Local runs"
ORDER = ("machine", "warm", "slow", "import", "cold")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV")}


def _worker(python: str, mode: str, sf: LocalSnowflake, runs: int) -> dict[str, Any]:
    out = subprocess.run(
        [python, str(WORKER), mode, "--host", sf.host, "--port", str(sf.port), "--runs", str(runs)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{python} {mode} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _slow(python: str, sf: LocalSnowflake, runs: int) -> dict[str, Any]:
    """The worker warms up on fast queries, then every query is kept RUNNING for 4 s while it measures."""
    command = [python, str(WORKER), "slow", "--host", sf.host, "--port", str(sf.port), "--runs", str(runs)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())
    assert child.stdin is not None and child.stdout is not None
    try:
        for line in child.stdout:
            if line.startswith("READY"):
                break
        sf.configure(min_query_ms=4000)
        child.stdin.write("go\n")
        child.stdin.flush()
        output, _ = child.communicate(timeout=600)
    finally:
        sf.configure(min_query_ms=0)
        if child.poll() is None:
            child.kill()
    if child.returncode != 0:
        raise RuntimeError(f"{python} slow failed:\n{output[-3000:]}")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def _cold(python: str, sf: LocalSnowflake) -> float:
    started = time.perf_counter()
    _worker(python, "cold", sf, 1)
    return time.perf_counter() - started


def machine_note() -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in line
            ),
            platform.processor() or "unknown CPU",
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    from importlib.metadata import version

    return (
        f"Machine: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, Python {platform.python_version()}, "
        f"flyte {version('flyte')}, snowflake-connector-python {version('snowflake-connector-python')}; "
        f"load average at start {load} (a shared machine: figures are medians, and both plugins ran interleaved "
        "in the same run, so the ratios are fairer than the absolute times)."
    )


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _row(label: str, public: list[float] | None, ours: list[float], goal: str) -> str:
    o = statistics.median(ours)
    if public:
        p = statistics.median(public)
        return f"| {label} | {_fmt(p)} | {_fmt(o)} | {p / o:.1f}x | {goal} |"
    return f"| {label} | — | {_fmt(o)} | — | {goal} |"


def _table(title: str, command: str, rows: list[str], note: str) -> str:
    head = ["| | public 2.12.1 (median) | ours (median) | public / ours | goal |", "|---|---|---|---|---|"]
    return "\n".join([f"### {title}", "", f"Command: `{command}`", "", *head, *rows, "", note])


def write_block(key: str, text: str) -> None:
    """Replace (or add) one marked block of the "Local runs" section of docs/benchmarks.md."""
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n\nFigures come from scripts in `benchmarks/`.\n"
    if HEADING not in doc:
        doc = (
            doc.rstrip() + f"\n\n{HEADING}\n\nOur plugin against the public `flyteplugins-snowflake==2.12.1`, "
            "both on the same local Snowflake.\n"
        )
    start, end = f"<!-- local_runs:{key} -->", f"<!-- /local_runs:{key} -->"
    block = f"{start}\n{text.strip()}\n{end}"
    if start in doc:
        doc = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
    else:
        # keep the blocks in ORDER, inside the Local runs section (before the next "## " heading)
        section_start = doc.index(HEADING)
        nxt = doc.find("\n## ", section_start + len(HEADING))
        section_end = len(doc) if nxt < 0 else nxt
        later = [f"<!-- local_runs:{k} -->" for k in ORDER[ORDER.index(key) + 1 :]]
        positions = [doc.find(m, section_start, section_end) for m in later]
        at = min((p for p in positions if p >= 0), default=section_end)
        doc = doc[:at].rstrip("\n") + "\n\n" + block + "\n" + ("\n" + doc[at:].lstrip("\n") if at < len(doc) else "")
    DOC.write_text(doc.rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15, help="warm runs of ours (the public plugin gets fewer)")
    parser.add_argument("--public-runs", type=int, default=3)
    parser.add_argument("--slow-runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--import-runs", type=int, default=9)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    command = "python benchmarks/local_runs.py --write" + (f" --runs {args.runs}" if args.runs != 15 else "")

    public = str(ensure_public_venv())
    ours = sys.executable
    note = machine_note()
    print(note, flush=True)
    blocks: dict[str, str] = {"machine": note}
    with LocalSnowflake() as sf:
        # warm-up both interpreters (bytecode caches), then the measured runs
        for python in (ours, public):
            _worker(python, "warm", sf, 1)
        warm = {"ours": _worker(ours, "warm", sf, args.runs), "public": _worker(public, "warm", sf, args.public_runs)}
        blocks["warm"] = _table(
            "Short query task, warm, in-process",
            command,
            [
                _row("`SELECT 1`, no output", warm["public"]["no_output"], warm["ours"]["no_output"], "< 100 ms"),
                _row("`SELECT 1` as a pandas DataFrame (ours reads it)", None, warm["ours"]["pandas_result"], ""),
            ],
            f'`flyte.with_runcontext(mode="local").run(task)` after one warm-up run in the same process; '
            f"{args.runs} runs of ours, {args.public_runs} of the public plugin. The public plugin cannot read a "
            "result from the local Snowflake (its reader ignores the task's connection settings), so the "
            "like-for-like row has no output.",
        )
        print(blocks["warm"], flush=True)

        slow = {name: _slow(python, sf, args.slow_runs) for name, python in (("ours", ours), ("public", public))}
        blocks["slow"] = _table(
            "A 4 s query",
            command,
            [
                _row(
                    "query kept running 4 s by the emulator",
                    slow["public"]["no_output"],
                    slow["ours"]["no_output"],
                    "< 4.3 s",
                )
            ],
            f"`min_query_ms=4000`: the query is RUNNING for 4 s; {args.slow_runs} runs each, in-process, "
            "after one warm-up run of a fast query.",
        )
        print(blocks["slow"], flush=True)

        cold: dict[str, list[float]] = {"ours": [], "public": []}
        for _ in range(args.cold_runs):
            for name, python in (("ours", ours), ("public", public)):
                cold[name].append(_cold(python, sf))
        blocks["cold"] = _table(
            "Cold process: import, one task, its result as pandas",
            command,
            [_row("`python worker.py cold`, wall time", cold["public"], cold["ours"], "")],
            f"{args.cold_runs} runs each, alternating; wall time of a fresh interpreter that imports the plugin, "
            "runs one `SELECT 42` task locally and reads the result as a pandas DataFrame. Ours reads it with its "
            "own reader; for the public plugin the benchmark reads it with the driver (`get_results_from_sfqid`), "
            "which is what its reader does, pointed at the local Snowflake.",
        )
        print(blocks["cold"], flush=True)

    rows = measure_imports(args.import_runs, ours, public)
    end_load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    blocks["machine"] = note.replace(" (a shared", f", at the end {end_load} (a shared")
    blocks["import"] = import_table(rows, command)
    print(blocks["import"], flush=True)
    if args.write:
        for key in ORDER:
            write_block(key, blocks[key])
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
