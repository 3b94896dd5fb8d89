"""A finished query's figures carry an estimate of the credits it used, from its warehouse's size and type."""

from __future__ import annotations

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from snowflake_harness import PASSWORD, serialize, wait_done

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("size", "kind", "rate"), [("Medium", "STANDARD", 4), ("Large", "SNOWPARK-OPTIMIZED", 12)])
async def test_the_estimate_is_execution_time_at_the_warehouse_rate(
    connector, make_task, local_snowflake_fresh, size, kind, rate
):
    sf = local_snowflake_fresh
    sf.add_warehouse("COSTED_WH", size, kind)
    sf.configure(min_query_ms=300)  # a query that runs long enough to cost something
    task = make_task("SELECT 1 AS N", plugin_config=sf.config(warehouse="COSTED_WH"))
    meta = await connector.create(serialize(task), inputs={}, output_prefix="", **PASSWORD)
    final = await wait_done(connector, meta)
    assert final.phase == TaskExecution.SUCCEEDED, final.message
    figures = final.custom_info["query_history"]
    assert figures["execution_ms"] >= 200
    assert figures["credits_estimate"] == pytest.approx(figures["execution_ms"] / 3_600_000 * rate, abs=1e-9)
    (row,) = sf.query_history(meta.query_id)
    assert (row.warehouse_name, row.warehouse_size) == ("COSTED_WH", size)

    metrics = await connector.get_metrics(meta)
    names = {result.metric for result in metrics.results}
    assert "snowflake_query_credits_estimate" in names
