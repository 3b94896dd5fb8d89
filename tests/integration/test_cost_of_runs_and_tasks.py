"""`cost` sums the credits Snowflake attributes to each Flyte run and task, or estimates them until it has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from flyteidl2.connector.connector_pb2 import TaskExecutionMetadata
from flyteidl2.core import identifier_pb2
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake._auth import Credentials
from flyteplugins.snowflake._observe import ServiceCredentials
from flyteplugins.snowflake.cost import CostUsageError, cost, parse_since
from snowflake_harness import PASSWORD, serialize, wait_done

pytestmark = pytest.mark.integration


def _execution(project: str, domain: str, run: str, action: str) -> TaskExecutionMetadata:
    run_id = identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=run)
    node = identifier_pb2.NodeExecutionIdentifier(node_id=action, execution_id=run_id)
    return TaskExecutionMetadata(
        task_execution_id=identifier_pb2.TaskExecutionIdentifier(node_execution_id=node, retry_attempt=0)
    )


@pytest.fixture
def service(local_snowflake_fresh: Any) -> ServiceCredentials:
    sf = local_snowflake_fresh
    sf.add_user("MONITOR", password="local")  # the service's own user
    return ServiceCredentials(
        account=sf.account,
        user="MONITOR",
        credentials=Credentials(password="local"),
        role="ACCOUNTADMIN",  # ACCOUNT_USAGE is readable by a role that sees every query
        warehouse=sf.warehouse,
        host=sf.host,
        port=sf.port,
        protocol="http",
    )


async def _run(connector: Any, make_task: Any, sf: Any, name: str, run: str, action: str) -> Any:
    task = make_task("SELECT 1 AS N", name=name, plugin_config=sf.config(warehouse="COST_WH"))
    meta = await connector.create(
        serialize(task), inputs={}, output_prefix="", task_execution_metadata=_execution("proj", "dev", run, action),
        **PASSWORD,
    )  # fmt: skip
    final = await wait_done(connector, meta)
    assert final.phase == TaskExecution.SUCCEEDED, final.message
    return final.custom_info["query_history"]


async def _two_runs(connector: Any, make_task: Any, sf: Any, run: str) -> list[Any]:
    sf.add_warehouse("COST_WH", "Medium")
    sf.configure(min_query_ms=200)
    return [
        await _run(connector, make_task, sf, "load", run, "a0"),
        await _run(connector, make_task, sf, "load", run, "a1"),
        await _run(connector, make_task, sf, "report", run, "a2"),
        await _run(connector, make_task, sf, "report", run + "-other", "a0"),
    ]


async def test_a_run_costs_what_snowflake_attributes_to_its_tasks(connector, make_task, local_snowflake_fresh, service):
    figures = await _two_runs(connector, make_task, local_snowflake_fresh, "run-attributed")
    report = cost(run="run-attributed", service=service)
    by_task = {line.name: line for line in report.lines}
    assert set(by_task) == {"load", "report"}
    assert (by_task["load"].queries, by_task["report"].queries) == (2, 1)
    assert not any(line.estimated for line in report.lines)
    # the emulator attributes each query its execution time at the warehouse's rate (Medium: 4 credits an hour)
    expected_load = sum(f["execution_ms"] for f in figures[:2]) / 3_600_000 * 4
    assert by_task["load"].credits == pytest.approx(expected_load, rel=0.05)

    by_run = cost(project="proj", domain="dev", since=parse_since("1h"), by="run", service=service)
    runs = {line.name: line.queries for line in by_run.lines}
    assert runs["run-attributed"] == 3 and runs["run-attributed-other"] == 1


async def test_queries_snowflake_has_not_attributed_yet_are_estimated(
    connector, make_task, local_snowflake_fresh, service
):
    await _two_runs(connector, make_task, local_snowflake_fresh, "run-estimated")
    local_snowflake_fresh.configure(attribution_delay_s=3600)  # Snowflake fills the view hours later
    report = cost(run="run-estimated", service=service)
    assert {line.name for line in report.lines} == {"load", "report"}
    assert all(line.estimated and line.credits > 0 for line in report.lines)
    assert "~ includes estimates" in report.text()


def test_the_command_prints_a_table_or_json_and_says_what_is_missing(local_snowflake_fresh, service):
    sf = local_snowflake_fresh
    env = {**os.environ, **sf.service_env("MONITOR", "local")}
    command = [sys.executable, "-m", "flyteplugins.snowflake", "cost"]
    done = subprocess.run([*command, "--run", "no-such-run", "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"by": "task", "credits": 0, "lines": []}
    done = subprocess.run([*command, "--run", "no-such-run"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.splitlines()[0].split() == ["project", "domain", "task", "queries",
                                                                             "credits"]  # fmt: skip
    missing = {k: v for k, v in env.items() if not k.startswith("FLYTE_SNOWFLAKE_SERVICE_")}
    done = subprocess.run([*command, "--run", "r"], env=missing, capture_output=True, text=True)
    assert done.returncode == 2 and "FLYTE_SNOWFLAKE_SERVICE_ACCOUNT" in done.stderr
    done = subprocess.run([*command, "--project", "p"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "--run NAME, or --project P --domain D" in done.stderr


def test_a_role_that_cannot_read_account_usage_is_told_so(local_snowflake_fresh, service):
    from flyteplugins.snowflake.errors import SnowflakeError

    limited = ServiceCredentials(**{**vars(service), "role": "PUBLIC"})
    with pytest.raises(SnowflakeError, match="QUERY_ATTRIBUTION_HISTORY' does not exist or not authorized"):
        cost(run="r", service=limited)
    with pytest.raises(CostUsageError, match="30m"):
        parse_since("a week")
