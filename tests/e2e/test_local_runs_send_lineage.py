"""A local run with OpenLineage configured sends each query's events before the process exits, the
materialized Parquet result among a query's outputs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from lineage_receiver import Schemas, serve

pytestmark = pytest.mark.e2e

BOUND = "bound-e2e-91c4"

WORKFLOW = textwrap.dedent(
    """
    import os

    import flyte
    import pandas as pd
    from flyteplugins.snowflake import Snowflake, SnowflakeConfig

    config = SnowflakeConfig(
        account="local-test", database="FLYTE", schema="PUBLIC", warehouse="LOCAL_WH", user="FLYTE",
        host=os.environ["SF_E2E_HOST"], port=int(os.environ["SF_E2E_PORT"]), protocol="http",
    )
    TABLE = os.environ["SF_E2E_TABLE"]
    create = Snowflake(
        name="create_names", query_template=f"CREATE TABLE {TABLE} (name STRING)", plugin_config=config,
        snowflake_password="sf_e2e_password",
    )
    insert = Snowflake(
        name="insert_name", query_template=f"INSERT INTO {TABLE} SELECT %(name)s", plugin_config=config,
        inputs={"name": str}, snowflake_password="sf_e2e_password",
    )
    read = Snowflake(
        name="read_names", query_template=f"SELECT name FROM {TABLE}", plugin_config=config,
        output_dataframe_type=pd.DataFrame, snowflake_password="sf_e2e_password",
    )
    env = flyte.TaskEnvironment(name="e2e_lineage")


    @env.task
    async def names(name: str) -> int:
        await create()
        await insert(name=name)
        return len(await read())


    if __name__ == "__main__":
        flyte.init()
        run = flyte.with_runcontext(mode="local").run(names, name=os.environ["SF_E2E_BOUND"])
        print("rows", run.outputs()[0])
    """
)


def test_a_local_run_sends_start_and_complete_for_each_query(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "workflow.py").write_text(WORKFLOW)
    table = f"LINEAGE_{uuid.uuid4().hex[:8].upper()}"
    schemas = Schemas()
    for receiver in serve():
        env = {k: v for k, v in subprocess_env.items() if not k.startswith("OPENLINEAGE")}
        env.update({"OPENLINEAGE_URL": receiver.url, "SF_E2E_TABLE": table, "SF_E2E_BOUND": BOUND})
        done = subprocess.run(
            [sys.executable, "workflow.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "rows 1" in done.stdout

        for event in receiver.events:
            schemas.validate(event)
        kinds = [(e["job"]["name"], e["eventType"]) for e in receiver.events]
        assert sorted(kinds) == sorted(
            (job, kind) for job in ("create_names", "insert_name", "read_names") for kind in ("START", "COMPLETE")
        )
        assert all(BOUND not in body for body in receiver.bodies)
        by_kind = {(e["job"]["name"], e["eventType"]): e for e in receiver.events}
        qualified = f"FLYTE.PUBLIC.{table}"
        assert [d["name"] for d in by_kind["insert_name", "START"]["outputs"]] == [qualified]
        assert [d["name"] for d in by_kind["read_names", "START"]["inputs"]] == [qualified]
        result = by_kind["read_names", "COMPLETE"]["outputs"]
        assert len(result) == 1
        assert result[0]["namespace"] == "file"
        assert result[0]["name"].endswith(
            by_kind["read_names", "START"]["run"]["facets"]["externalQuery"]["externalQueryId"]
        )
