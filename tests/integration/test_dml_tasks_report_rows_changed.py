"""A DML task's figures say how many rows it inserted, updated and deleted (through the connector, as the
backend calls it, on the local Snowflake)."""

from __future__ import annotations

import uuid

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from snowflake_harness import run

pytestmark = pytest.mark.integration


async def test_rows_changed_reach_custom_info(connector, make_task, sql) -> None:
    table = f"DML_{uuid.uuid4().hex[:8].upper()}"
    sql(f"create table {table} (id int, label varchar)")
    sql(f"insert into {table} values (1, 'a'), (2, 'b'), (3, 'c')")

    _, inserted = await run(connector, make_task(f"INSERT INTO {table} VALUES (4, 'd'), (5, 'e')"))
    _, updated = await run(connector, make_task(f"UPDATE {table} SET label = 'x' WHERE id <= 3"))
    _, deleted = await run(connector, make_task(f"DELETE FROM {table} WHERE id = 5"))

    for resource in (inserted, updated, deleted):
        assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    figures = [r.custom_info["query_history"] for r in (inserted, updated, deleted)]
    assert [(f["rows_inserted"], f["rows_updated"], f["rows_deleted"]) for f in figures] == [
        (2, 0, 0),
        (0, 3, 0),
        (0, 0, 1),
    ]
