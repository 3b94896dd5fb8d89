"""The plugin's commands.

* `python -m flyteplugins.snowflake check TARGET [--task NAME ...] [--json]`: preflight a workflow's tasks.
  Exit status 0 when every check passes, 1 when one fails, 2 for a usage error (a bad TARGET, an unknown task).
* `python -m flyteplugins.snowflake cost [--run NAME | --project P --domain D [--since 7d]] [--by task|run]
  [--json]`: the credits of Flyte runs and tasks. Exit status 0, 1 when Snowflake refuses, 2 for a usage error.
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
    costing = commands.add_parser(
        "cost",
        help="the Snowflake credits of Flyte runs and tasks",
        description="Credits Snowflake attributed to the queries of a run, or of a project and domain, by task or "
        "run; an estimate where Snowflake has not attributed them yet. Logs in with the connector service's "
        "FLYTE_SNOWFLAKE_SERVICE_* settings.",
    )
    costing.add_argument("--run", help="the Flyte run's name")
    costing.add_argument("--project", help="the Flyte project")
    costing.add_argument("--domain", help="the Flyte domain")
    costing.add_argument("--since", default="7d", help="how far back: 7d, 12h, 30m (default 7d)")
    costing.add_argument("--by", choices=("task", "run"), default="task", help="sum by task (default) or by run")
    costing.add_argument("--json", action="store_true", help="print JSON whose figures are numbers")
    args = parser.parse_args(argv)
    if args.command == "cost":
        return _cost(parser.prog, args)

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


def _cost(prog: str, args: argparse.Namespace) -> int:
    from .cost import CostUsageError, cost, failure_message, parse_since
    from .errors import SnowflakeError

    try:
        report = cost(run=args.run, project=args.project, domain=args.domain, since=parse_since(args.since),
                      by=args.by)  # fmt: skip
    except CostUsageError as exc:
        print(f"{prog} cost: {exc}", file=sys.stderr)
        return 2
    except SnowflakeError as exc:
        print(f"{prog} cost: {failure_message(exc)}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2) if args.json else report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
