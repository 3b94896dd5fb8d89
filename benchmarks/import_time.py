"""`import flyteplugins.snowflake` in a fresh process: ours and the public plugin, alternating, same machine.

    .venv/bin/python benchmarks/import_time.py [--runs 9] [--write]

Measures the import statement inside a fresh interpreter (what a user waits for beyond Python's own
start-up), for the two statements users write. `--write` updates the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _public import ensure_public_venv

STATEMENTS = {
    "from flyteplugins.snowflake import Snowflake, SnowflakeConfig": "user import",
    "import flyteplugins.snowflake": "package import",
}
_PROBE = (
    "import time, json; t = time.perf_counter(); {statement}; d = time.perf_counter() - t; "
    "import sys; print(json.dumps({{'s': d, 'pandas': 'pandas' in sys.modules and "
    "type(sys.modules['pandas']).__name__ != '_LazyModule'}}))"
)


def _env() -> dict[str, str]:
    # Bytecode caches are written (as after a normal `pip install`); the sandbox default disables them.
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _probe(python: str, statement: str) -> dict[str, float]:
    out = subprocess.run(
        [python, "-c", _PROBE.format(statement=statement)], capture_output=True, text=True, env=_env(), check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(runs: int, ours: str = sys.executable, public: str | None = None) -> list[dict[str, object]]:
    """Median seconds per statement and plugin; runs alternate between the two so load affects both alike."""
    public = public or str(ensure_public_venv())
    rows = []
    for statement in STATEMENTS:
        for python in (ours, public):  # warm-up: bytecode caches, page cache
            _probe(python, statement)
        times: dict[str, list[float]] = {"ours": [], "public": []}
        for _ in range(runs):
            for name, python in (("ours", ours), ("public", public)):
                times[name].append(_probe(python, statement)["s"])
        rows.append(
            {
                "statement": statement,
                "ours": statistics.median(times["ours"]),
                "public": statistics.median(times["public"]),
                "runs": runs,
            }
        )
    return rows


def table(rows: list[dict[str, object]], command: str) -> str:
    lines = [
        "### Import in a fresh process",
        "",
        f"Command: `{command}`",
        "",
        "| statement | public 2.12.1 (median) | ours (median) | public / ours | goal |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        ours, public = float(row["ours"]), float(row["public"])  # type: ignore[arg-type]
        lines.append(f"| `{row['statement']}` | {public:.2f} s | {ours:.2f} s | {public / ours:.1f}x | < 0.8 s |")
    lines += ["", f"{rows[0]['runs']} runs each, alternating; time of the import statement inside the process."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    rows = measure(args.runs)
    text = table(rows, f"python benchmarks/import_time.py --runs {args.runs} --write")
    print(text)
    if args.write:
        from local_runs import write_block

        write_block("import", text)


if __name__ == "__main__":
    main()
