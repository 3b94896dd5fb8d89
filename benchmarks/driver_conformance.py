"""The local Snowflake against the official driver's own integration tests: which pass, which fail and why.

    .venv/bin/python benchmarks/driver_conformance.py DRIVER_DIR [--out DIR] [--files test_cursor ...]
        [--timeout 300] [--label v4.7.2]

DRIVER_DIR is a checkout of `snowflakedb/snowflake-connector-python` (the folder that holds `test/`), at the tag
closest to the installed driver; the tests are not in the PyPI package. For example, from a bare mirror:

    mkdir -p /tmp/sfdriver && git -C MIRROR archive v4.7.2 test tox.ini | tar -x -C /tmp/sfdriver

For each test file, one at a time, this starts a fresh local Snowflake on 127.0.0.1 (a free port), writes the
suite's `test/parameters.py` to point at it (http, password login through the suite's `USE_PASSWORD=true`), and
runs the file with pytest (the suite's own `tox.ini` options; no retries, no parallel workers). It writes
`conformance.md` (a per-file passed/failed/error/skipped table, then the failures grouped by their first message
line) and `conformance.json` (every test's outcome and message) to `--out` (default `benchmarks/out/conformance/`).

What it changes in the driver's suite: `test/parameters.py` only (written, and removed afterwards). Pytest runs
with `-p no:cacheprovider`, without this package's own pytest plugin, with `--timeout` per test and short
tracebacks.
Needs pytest, pytest-timeout and pytest-asyncio in this interpreter (`pip install -e '.[conformance]'`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flyteplugins.snowflake.local import LocalSnowflake

FILES = (
    "test_cursor",
    "test_bindings",
    "test_qmark",
    "test_cursor_binding",
    "test_async",
    "test_multi_statement",
    "test_execute_multi_statements",
    "test_arrow_result",
    "pandas_it/test_arrow_pandas",
    "test_large_result_set",
    "test_connection",
    "test_dbapi",
    "test_transaction",
    "test_autocommit",
    "test_results",
    "test_errors",
)
OUTCOMES = ("passed", "failed", "error", "skipped")
PARAMETERS_PY = """\
# Written by flyteplugins-snowflake's benchmarks/driver_conformance.py: the local Snowflake on this machine.
CONNECTION_PARAMETERS = {parameters!r}
"""


@dataclass
class TestOutcome:
    name: str
    outcome: str
    message: str = ""
    seconds: float = 0.0


@dataclass
class FileResult:
    file: str
    tests: list[TestOutcome] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    def counts(self) -> Counter[str]:
        return Counter(test.outcome for test in self.tests)


def _driver_root(path: Path) -> Path:
    root = path.parent if (path / "integ").is_dir() else path
    if not (root / "test" / "integ").is_dir():
        raise SystemExit(f"{path} holds no test/integ: pass the driver checkout that contains test/")
    return root


@contextlib.contextmanager
def _parameters(root: Path, sf: LocalSnowflake) -> Iterator[None]:
    parameters = {
        "account": sf.account,
        "user": sf.user,
        "password": sf.password,
        "database": sf.database,
        "schema": sf.schema,
        "warehouse": sf.warehouse,
        "protocol": "http",
        "host": sf.host,
        "port": str(sf.port),
    }
    target = root / "test" / "parameters.py"
    target.write_text(PARAMETERS_PY.format(parameters=parameters))
    try:
        yield
    finally:
        target.unlink(missing_ok=True)


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _outcome(case: ET.Element) -> tuple[str, str]:
    for tag, outcome in (("error", "error"), ("failure", "failed"), ("skipped", "skipped")):
        found = case.find(tag)
        if found is not None:
            return outcome, _first_line(found.get("message") or found.text or "")
    return "passed", ""


def _read_junit(path: Path) -> list[TestOutcome]:
    tests: list[TestOutcome] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = _outcome(case)
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        tests.append(TestOutcome(name, outcome, message, float(case.get("time") or 0)))
    return tests


def _pytest_command(file: str, junit: Path, timeout: int, select: str | None = None) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        f"test/integ/{file}.py",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:flyteplugins_snowflake_local",
        "-o",
        "addopts=-ra --strict-markers",
        f"--timeout={timeout}",
        # one-line tracebacks: pytest's long and short ones parse the test's source, which crashed whole runs of
        # test_connection (CPython's "AST constructor recursion depth mismatch" while threads of a test were failing)
        "--tb=line",
        f"--junitxml={junit}",
        "-q",
        *(["-k", select] if select else []),
    ]


def run_file(root: Path, file: str, out: Path, timeout: int, select: str | None = None) -> FileResult:
    junit = out / "junit" / f"{file.replace('/', '__')}.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)
    log = junit.with_suffix(".log")
    pythonpath = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "USE_PASSWORD": "true", "PYTHONPATH": pythonpath}
    began = time.monotonic()
    with LocalSnowflake() as sf, _parameters(root, sf), log.open("w") as sink:
        subprocess.run(_pytest_command(file, junit, timeout, select), cwd=root, env=env, stdout=sink, stderr=sink)
    result = FileResult(file, seconds=round(time.monotonic() - began, 1))
    if junit.exists():
        result.tests = _read_junit(junit)
    else:
        result.note = f"pytest wrote no report; see {log}"
    return result


_NOISE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8}-[0-9a-f-]{27}|python_tests_\w+|python_connector_tests_\w+|\d+")


def _cause(message: str) -> str:
    """The message with ids, table names and numbers blanked, so that failures of one cause group together."""
    return _NOISE.sub("#", message)[:160]


def _groups(results: Sequence[FileResult]) -> list[tuple[str, int, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for result in results:
        for test in result.tests:
            if test.outcome in ("failed", "error"):
                grouped.setdefault(_cause(test.message), []).append(f"{result.file}::{test.name.split('::')[-1]}")
    ordered = sorted(grouped.items(), key=lambda item: -len(item[1]))
    return [(cause, len(tests), tests) for cause, tests in ordered]


def markdown(results: Sequence[FileResult], driver: str) -> str:
    lines = [
        f"Driver tests: {driver}; installed driver {_driver_version()}.",
        "",
        "| file | passed | failed | error | skipped | total | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    totals: Counter[str] = Counter()
    for result in results:
        counts = result.counts()
        totals.update(counts)
        row = " | ".join(str(counts[o]) for o in OUTCOMES)
        note = f" {result.note}" if result.note else ""
        lines.append(f"| {result.file}{note} | {row} | {sum(counts.values())} | {result.seconds} |")
    row = " | ".join(f"**{totals[o]}**" for o in OUTCOMES)
    lines.append(f"| **all** | {row} | **{sum(totals.values())}** | |")
    lines += ["", "Failures and errors by first message line (numbers and names blanked):", ""]
    for cause, count, tests in _groups(results):
        shown = ", ".join(tests[:6]) + (", ..." if len(tests) > 6 else "")
        lines.append(f"- **{count}** `{cause}`: {shown}")
    return "\n".join(lines) + "\n"


def _driver_version() -> str:
    from snowflake.connector.version import VERSION

    return ".".join(str(part) for part in VERSION[:3])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("driver_dir", type=Path, help="checkout of snowflake-connector-python (holds test/)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "conformance")
    parser.add_argument("--files", nargs="+", default=list(FILES), help="test files under test/integ, no .py")
    parser.add_argument("--timeout", type=int, default=300, help="pytest-timeout per test, seconds")
    parser.add_argument("-k", dest="select", help="pytest -k expression: run only the matching tests of each file")
    parser.add_argument("--label", default="", help="what the driver checkout is (a tag), for the report")
    args = parser.parse_args(argv)
    root = _driver_root(args.driver_dir.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[FileResult] = []
    for file in args.files:
        result = run_file(root, file, args.out, args.timeout, args.select)
        counts = result.counts()
        print(f"{file}: " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES) + f" ({result.seconds} s)", flush=True)
        results.append(result)
    driver = args.label or str(root)
    (args.out / "conformance.md").write_text(markdown(results, driver))
    payload = {"driver_tests": driver, "driver": _driver_version(), "files": [asdict(r) for r in results]}
    (args.out / "conformance.json").write_text(json.dumps(payload, indent=1) + "\n")
    passed = sum(r.counts()["passed"] for r in results)
    total = sum(sum(r.counts().values()) for r in results)
    print(f"passed {passed} of {total}; report in {args.out / 'conformance.md'}")


if __name__ == "__main__":
    main()
