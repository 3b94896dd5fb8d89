"""What Flyte runs and tasks cost in Snowflake credits, from Snowflake's own attribution.

```bash
python -m flyteplugins.snowflake cost --run r8f2k --by task
python -m flyteplugins.snowflake cost --project flytesnacks --domain production --since 7d --by run --json
```

Every statement this plugin sends carries the Flyte run details in its QUERY_TAG (project, domain, run, action,
task). `cost` reads `SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY` (compute credits attributed to each
query, plus query acceleration) for the tagged queries, and sums them by task or by run. Snowflake fills that
view hours after a query ends: a query it does not show yet is counted from the query history instead, as an
estimate (execution time x its warehouse's credits per hour), and marked as such. It logs in with the connector
service's monitoring settings (`FLYTE_SNOWFLAKE_SERVICE_*`, docs/deploy.md), whose role must see ACCOUNT_USAGE.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from . import _credits
from ._observe import SERVICE_ENV, ServiceCredentials
from .config import SnowflakeConfig
from .errors import SnowflakeError

__all__ = ["CostLine", "CostReport", "CostUsageError", "cost", "failure_message", "parse_since"]

_SINCE = re.compile(r"\s*(\d+)\s*([dhm])\s*")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
# The QUERY_HISTORY table function answers for the last 7 days only.
_HISTORY_DAYS = 7
_BY = {"task": ("project", "domain", "task"), "run": ("project", "domain", "run")}


class CostUsageError(ValueError):
    """The command cannot run: arguments that do not fit, or no monitoring settings."""


@dataclasses.dataclass
class CostLine:
    """The credits of one task or run: attributed by Snowflake, or estimated where it has not attributed yet."""

    project: str
    domain: str
    name: str  # the task, or the run
    queries: int = 0
    credits: float = 0.0
    estimated_queries: int = 0

    @property
    def estimated(self) -> bool:
        """True when some of the credits are an estimate (Snowflake has not attributed those queries yet)."""
        return self.estimated_queries > 0


@dataclasses.dataclass
class CostReport:
    by: str
    lines: list[CostLine]

    @property
    def credits(self) -> float:
        return sum(line.credits for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        """Figures as numbers: what `--json` prints."""
        return {
            "by": self.by,
            "credits": round(self.credits, 9),
            "lines": [
                {
                    "project": line.project,
                    "domain": line.domain,
                    self.by: line.name,
                    "queries": line.queries,
                    "credits": round(line.credits, 9),
                    "estimated_queries": line.estimated_queries,
                }
                for line in self.lines
            ],
        }

    def text(self) -> str:
        """A table for the terminal, most expensive first; `~` marks figures that hold estimates."""
        header = ("project", "domain", self.by, "queries", "credits")
        rows = [
            (
                line.project,
                line.domain,
                line.name,
                str(line.queries),
                f"{'~' if line.estimated else ''}{line.credits:.6f}",
            )
            for line in self.lines
        ]
        rows.append(("", "", "total", str(sum(line.queries for line in self.lines)), f"{self.credits:.6f}"))
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        out = [_row(row, widths) for row in [header, *rows]]
        if any(line.estimated for line in self.lines):
            out.append("~ includes estimates: Snowflake has not attributed every query yet (it takes hours)")
        return "\n".join(out)


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    """Names to the left, figures to the right."""
    return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def parse_since(text: str) -> timedelta:
    """`7d`, `12h`, `30m` -> a timedelta.

    Raises:
        CostUsageError: anything else.
    """
    found = _SINCE.fullmatch(text or "")
    if found is None:
        raise CostUsageError(f"--since {text!r}: give a number of days, hours or minutes, as 7d, 12h or 30m")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def cost(
    *,
    run: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    since: timedelta = timedelta(days=7),
    by: str = "task",
    service: ServiceCredentials | None = None,
) -> CostReport:
    """The credits of the Flyte queries of one run, or of a project and domain since a time, by task or by run.

    Raises:
        CostUsageError: neither a run nor a project and domain, an unknown `by`, no monitoring settings.
        SnowflakeError: Snowflake refused the login or the statements (e.g. a role that cannot read ACCOUNT_USAGE).
    """
    if by not in _BY:
        raise CostUsageError(f"--by {by!r}: one of task, run")
    if run is None and (project is None or domain is None):
        raise CostUsageError("say which queries: --run NAME, or --project P --domain D (with --since)")
    service = service or ServiceCredentials.from_env()
    if service is None:
        needed = ", ".join(SERVICE_ENV[k] for k in ("account", "user", "warehouse"))
        raise CostUsageError(
            f"no monitoring settings: set {needed} and one of {SERVICE_ENV['snowflake_private_key']}, "
            f"{SERVICE_ENV['snowflake_password']}, {SERVICE_ENV['snowflake_pat']} or "
            f"{SERVICE_ENV['snowflake_oauth_token']} (docs/deploy.md)"
        )
    wanted = {"run": run, "project": project, "domain": domain}
    attributed, history = _read(service, int(since.total_seconds()), _prefilter(wanted))
    return CostReport(by, _lines(_queries(attributed, history, wanted), by))


def _prefilter(wanted: Mapping[str, str | None]) -> str:
    """A LIKE pattern for the tags Snowflake returns (compact JSON, as the plugin writes them). A `_` or `%` in
    the value matches more than itself: the rows are matched exactly afterwards, from their parsed tags."""
    key, value = next((k, v) for k, v in wanted.items() if v is not None)
    return "%" + json.dumps({key: value}, separators=(",", ":"))[1:-1] + "%"


def _read(service: ServiceCredentials, seconds: int, pattern: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from . import _client

    config = SnowflakeConfig(
        account=service.account,
        database="SNOWFLAKE",
        schema="ACCOUNT_USAGE",
        warehouse=service.warehouse or "",
        user=service.user,
        role=service.role,
        host=service.host,
        port=service.port,
        protocol=service.protocol,
    )
    conn = _client.login({**config.driver_kwargs(), **service.credentials.driver_kwargs()})
    try:
        # The seconds are an integer of ours (never a user's text); the LIKE pattern is bound.
        attributed = _client.execute_named(
            conn,
            "SELECT QUERY_ID, PARENT_QUERY_ID, QUERY_TAG, CREDITS_ATTRIBUTED_COMPUTE, CREDITS_USED_QUERY_ACCELERATION "
            "FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY "
            f"WHERE START_TIME >= DATEADD(second, -{int(seconds)}, CURRENT_TIMESTAMP()) AND QUERY_TAG LIKE :1",
            [pattern],
        )
        history_start = int(time.time()) - min(seconds, _HISTORY_DAYS * 86400 - 60)
        history = _client.execute_named(
            conn,
            "SELECT QUERY_ID, QUERY_TAG, QUERY_TYPE, EXECUTION_TIME, WAREHOUSE_SIZE, WAREHOUSE_TYPE "
            "FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY("
            f"END_TIME_RANGE_START => TO_TIMESTAMP_LTZ({history_start}), RESULT_LIMIT => 10000)) "
            "WHERE QUERY_TAG LIKE :1 AND END_TIME IS NOT NULL",
            [pattern],
        )
    finally:
        conn.close()
    return attributed, history


@dataclasses.dataclass(frozen=True)
class _Query:
    tag: Mapping[str, str]
    credits: float
    estimated: bool


def _queries(
    attributed: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]], wanted: Mapping[str, str | None]
) -> list[_Query]:
    rows = list(attributed)
    parents = {row["PARENT_QUERY_ID"] for row in rows if row.get("PARENT_QUERY_ID")}
    found: dict[str, _Query] = {}
    for row in rows:
        tag = _tag(row.get("QUERY_TAG"))
        if row["QUERY_ID"] in parents or not _matches(tag, wanted):
            continue  # a multi-statement request's credits are its statements'
        credits = float(row.get("CREDITS_ATTRIBUTED_COMPUTE") or 0) + float(
            row.get("CREDITS_USED_QUERY_ACCELERATION") or 0
        )
        found[str(row["QUERY_ID"])] = _Query(tag, credits, estimated=False)
    for row in history:
        query_id, tag = str(row["QUERY_ID"]), _tag(row.get("QUERY_TAG"))
        if query_id in found or query_id in parents or row.get("QUERY_TYPE") == "MULTI_STATEMENT":
            continue
        if not _matches(tag, wanted):
            continue
        estimate = _credits.estimate(int(row.get("EXECUTION_TIME") or 0), row.get("WAREHOUSE_SIZE"),
                                     row.get("WAREHOUSE_TYPE"))  # fmt: skip
        if estimate is not None:
            found[query_id] = _Query(tag, estimate, estimated=True)
    return list(found.values())


def _tag(text: Any) -> dict[str, str]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _matches(tag: Mapping[str, str], wanted: Mapping[str, str | None]) -> bool:
    return all(tag.get(key) == value for key, value in wanted.items() if value is not None)


def _lines(queries: Iterable[_Query], by: str) -> list[CostLine]:
    lines: dict[tuple[str, str, str], CostLine] = {}
    for query in queries:
        key = tuple(query.tag.get(k, "") for k in _BY[by])
        line = lines.setdefault(key, CostLine(key[0], key[1], key[2] or "(untagged)"))  # type: ignore[arg-type]
        line.queries += 1
        line.credits += query.credits
        line.estimated_queries += int(query.estimated)
    return sorted(lines.values(), key=lambda line: (-line.credits, line.name))


def failure_message(exc: SnowflakeError) -> str:
    """What the command prints when Snowflake refuses the login or a statement."""
    return f"Snowflake refused: {exc} (the monitoring role needs access to SNOWFLAKE.ACCOUNT_USAGE; docs/deploy.md)"
