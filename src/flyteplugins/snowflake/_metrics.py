"""The plugin's Prometheus metrics, served by the connector service next to flyte's own `flyte_connector_*` ones.

Pool figures are read from the pools when Prometheus scrapes (nothing to keep in step); events (retries,
polls by status, finished queries, history look-ups) are counters bumped where they happen. `c0` exposes
the default registry on its `--prometheus_port`.

| metric | type | labels |
|---|---|---|
| `flyte_connector_snowflake_pool_connections` | gauge | `state` = `idle` or `total` |
| `flyte_connector_snowflake_pool_credentials` | gauge | |
| `flyte_connector_snowflake_logins_total` | counter | `outcome` = `ok` or `failed` |
| `flyte_connector_snowflake_sessions_closed_total` | counter | `reason` = `broken` or `idle_expired` |
| `flyte_connector_snowflake_retries_total` | counter | `reason` = `transient` or `session_expired` |
| `flyte_connector_snowflake_query_polls_total` | counter | `status` (Snowflake's), `phase` (Flyte's) |
| `flyte_connector_snowflake_status_checks_total` | counter | `path` = `direct` or `driver` (see `_client.poll`) |
| `flyte_connector_snowflake_queries_finished_total` | counter | `phase` |
| `flyte_connector_snowflake_queries_submitted_total` | counter | `outcome` = `accepted` or `rejected` |
| `flyte_connector_snowflake_history_lookups_total` | counter | `source` = `task`, `pool`, `service` or `none` |
| `flyte_connector_snowflake_lineage_events_total` | counter | `outcome` = `sent`, `dropped` (queue full) or `failed` |
| `flyte_connector_snowflake_submit_limit` | gauge | (submits allowed at once; see `_admission`) |
| `flyte_connector_snowflake_submits` | gauge | `state` = `running` or `waiting` |
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from flyteidl2.core.execution_pb2 import TaskExecution
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import _client
from ._admission import SubmitGate
from ._pool import Pool

__all__ = [
    "HISTORY_LOOKUPS",
    "LINEAGE_EVENTS",
    "PREFIX",
    "QUERIES_FINISHED",
    "QUERIES_SUBMITTED",
    "QUERY_POLLS",
    "RETRIES",
    "observe_poll",
    "track_gate",
    "track_pool",
]

PREFIX = "flyte_connector_snowflake_"

RETRIES = Counter(f"{PREFIX}retries_total", "Driver calls retried after a transient Snowflake failure", ["reason"])
QUERY_POLLS = Counter(f"{PREFIX}query_polls", "Status checks of queries, by Snowflake status", ["status", "phase"])
QUERIES_FINISHED = Counter(f"{PREFIX}queries_finished", "Status checks that found a query finished", ["phase"])
QUERIES_SUBMITTED = Counter(f"{PREFIX}queries_submitted", "Queries handed to Snowflake", ["outcome"])
LINEAGE_EVENTS = Counter(f"{PREFIX}lineage_events", "OpenLineage events, by what became of them", ["outcome"])
HISTORY_LOOKUPS = Counter(
    f"{PREFIX}history_lookups", "Query history reads for logs, metrics and custom_info, by session used", ["source"]
)

_pools: weakref.WeakSet[Pool[Any]] = weakref.WeakSet()
_gates: weakref.WeakSet[SubmitGate] = weakref.WeakSet()


def track_pool(pool: Pool[Any]) -> None:
    """Export this pool's figures (every tracked pool is summed; a collected pool drops out by itself)."""
    _pools.add(pool)


def track_gate(gate: SubmitGate) -> None:
    """Export this submit gate's limit and queue (tracked gates are summed, like pools)."""
    _gates.add(gate)


_PHASE_NAMES = {number: name for name, number in TaskExecution.Phase.items()}
# (status, phase) -> the counters' children: looked up once per label pair, not on every status check.
_poll_children: dict[tuple[str, int], tuple[Any, Any]] = {}


def observe_poll(status: str, phase: int, *, terminal: bool) -> None:
    """Count one status check of a query."""
    children = _poll_children.get((status, phase))
    if children is None:
        phase_name = _PHASE_NAMES.get(phase, str(phase))
        children = (QUERY_POLLS.labels(status=status, phase=phase_name), QUERIES_FINISHED.labels(phase=phase_name))
        if len(_poll_children) < 1024:  # statuses and phases are small closed sets; bound it all the same
            _poll_children[(status, phase)] = children
    children[0].inc()
    if terminal:
        children[1].inc()


class _PoolCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        pools = list(_pools)
        connections = GaugeMetricFamily(
            f"{PREFIX}pool_connections", "Snowflake sessions held by the connector", labels=["state"]
        )
        connections.add_metric(["total"], sum(p.size() for p in pools))
        connections.add_metric(["idle"], sum(p.idle() for p in pools))
        yield connections
        yield GaugeMetricFamily(
            f"{PREFIX}pool_credentials",
            "Distinct credentials (pool keys) with at least one session",
            value=sum(p.key_count() for p in pools),
        )
        logins = CounterMetricFamily(f"{PREFIX}logins", "Snowflake logins made by the pool", labels=["outcome"])
        logins.add_metric(["ok"], sum(p.stats.logins for p in pools))
        logins.add_metric(["failed"], sum(p.stats.login_failures for p in pools))
        yield logins
        closed = CounterMetricFamily(
            f"{PREFIX}sessions_closed", "Pooled sessions closed instead of reused", labels=["reason"]
        )
        closed.add_metric(["broken"], sum(p.stats.discarded for p in pools))
        closed.add_metric(["idle_expired"], sum(p.stats.expired for p in pools))
        yield closed
        checks = CounterMetricFamily(
            f"{PREFIX}status_checks", "Status checks sent to Snowflake, by the way they went", labels=["path"]
        )
        for path, count in sorted(_client.STATUS_CHECK_PATHS.items()):
            checks.add_metric([path], count)
        yield checks
        gates = list(_gates)
        yield GaugeMetricFamily(
            f"{PREFIX}submit_limit",
            "Submits allowed at once; below the pool's threads while the event loop falls behind",
            value=sum(g.limit for g in gates),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}submit_spacing_seconds",
            "Seconds between two submits let in while one at a time is still too much for the event loop (0: none)",
            value=max((g.spacing for g in gates), default=0.0),
        )
        yield CounterMetricFamily(
            f"{PREFIX}submits_spaced", "Submits let in one per spacing interval", value=sum(g.spaced for g in gates)
        )
        submits = GaugeMetricFamily(f"{PREFIX}submits", "Submits in progress and waiting their turn", labels=["state"])
        submits.add_metric(["running"], sum(g.inside for g in gates))
        submits.add_metric(["waiting"], sum(g.waiting for g in gates))
        yield submits


REGISTRY.register(_PoolCollector())
