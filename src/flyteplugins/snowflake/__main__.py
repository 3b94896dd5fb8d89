"""`python -m flyteplugins.snowflake check TARGET [--task NAME ...] [--json]`: preflight a workflow's tasks.

Exit status: 0 when every check passes, 1 when one fails, 2 for a usage error (a bad TARGET, an unknown task).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flyteplugins.snowflake")
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser(
        "check",
        help="check a workflow's Snowflake tasks against Snowflake without running them",
        description="Check each Snowflake task of TARGET: secrets, login, access, SQL compiles, writes. "
        "Credentials come from the environment variables a local run reads.",
    )
    checking.add_argument("target", help="a Python file or a module path, as `flyte run` takes it")
    checking.add_argument("--task", action="append", metavar="NAME", help="check only this task (repeatable)")
    checking.add_argument("--json", action="store_true", help="print one JSON object per task")
    args = parser.parse_args(argv)

    from .check import UsageError, check

    try:
        report = check(args.target, tasks=args.task)
    except UsageError as exc:
        print(f"{parser.prog} check: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
