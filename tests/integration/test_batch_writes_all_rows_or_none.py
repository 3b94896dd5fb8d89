"""A batch task writes all its rows in one atomic query, or is refused when it is defined.

The driver array-binds only a statement whose text begins with INSERT INTO; any other statement it runs once
per row, as separate queries that can fail halfway while the task follows only the last one. So a batch task
is one INSERT INTO (comments before it are dropped so that the driver sees it), and every other shape is
refused with the alternative.
"""

from __future__ import annotations

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake.errors import SnowflakeConfigError
from snowflake_harness import PASSWORD, run, serialize, unique_table, wait_done

pytestmark = pytest.mark.integration


def _task_statements(history, table: str) -> list:
    """The statements on `table` that carry binds: the tasks' (set-up SQL binds nothing)."""
    return [e for e in history if table in e.query_text and ":1" in e.query_text]


@pytest.fixture
def table(sql) -> str:
    name = unique_table("accounts")
    sql(f"CREATE TABLE {name} (id INT NOT NULL, balance INT)")
    sql(f"INSERT INTO {name} VALUES (1, 10), (2, 20), (3, 30)")
    return name


async def test_a_commented_batch_insert_is_one_query_with_every_row(
    connector, make_task, sql, table, local_snowflake_fresh
) -> None:
    task = make_task(
        f"-- nightly load\n/* from the API */\nINSERT INTO {table} (id, balance) VALUES (%(id)s, %(balance)s);",
        inputs={"id": list[int], "balance": list[int]},
        batch=True,
    )
    meta, resource = await run(connector, task, {"id": [4, 5, 6], "balance": [40, 50, 60]})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert sql(f"SELECT id FROM {table} WHERE id > 3 ORDER BY id") == [(4,), (5,), (6,)]
    assert [e.query_id for e in _task_statements(local_snowflake_fresh.query_history(), table)] == [meta.query_id]


async def test_a_failing_row_leaves_the_table_as_it_was(connector, make_task, sql, table) -> None:
    task = make_task(
        f"INSERT INTO {table} (id, balance) VALUES (%(id)s, %(balance)s)",
        inputs={"id": list[int | None], "balance": list[int]},
        batch=True,
    )
    _, resource = await run(connector, task, {"id": [4, None, 6], "balance": [40, 50, 60]})
    assert resource.phase == TaskExecution.FAILED, resource.message
    assert sql(f"SELECT id FROM {table} ORDER BY id") == [(1,), (2,), (3,)]


@pytest.mark.parametrize(
    ("template", "what"),
    [
        ("UPDATE {t} SET balance = %(balance)s WHERE id = %(id)s", "starts with UPDATE"),
        ("DELETE FROM {t} WHERE id = %(id)s AND balance = %(balance)s", "starts with DELETE"),
        (
            "MERGE INTO {t} USING (SELECT %(id)s AS id, %(balance)s AS b) s ON {t}.id = s.id "
            "WHEN MATCHED THEN UPDATE SET balance = s.b",
            "starts with MERGE",
        ),
        ("INSERT OVERWRITE INTO {t} VALUES (%(id)s, %(balance)s)", "starts with INSERT OVERWRITE"),
        ("DELETE FROM {t} WHERE id = %(id)s; INSERT INTO {t} VALUES (%(id)s, %(balance)s)", "has 2 statements"),
    ],
)
def test_shapes_that_would_run_row_by_row_are_refused_when_defined(make_task, table, template, what) -> None:
    with pytest.raises(SnowflakeConfigError, match=what) as info:
        make_task(template.format(t=table), inputs={"id": list[int], "balance": list[int]}, batch=True)
    message = str(info.value)
    assert "INSERT INTO" in message and "staging table" in message and "MERGE" in message


async def test_a_refused_shape_from_elsewhere_fails_before_touching_the_table(
    connector, make_task, sql, table, local_snowflake_fresh
) -> None:
    # A task template written by other code: the connector refuses it as the definition would have.
    valid = make_task(
        f"INSERT INTO {table} VALUES (%(id)s, %(balance)s)", inputs={"id": list[int], "balance": list[int]}, batch=True
    )
    template = serialize(valid)
    template.sql.statement = f"UPDATE {table} SET balance = %(balance)s WHERE id = %(id)s"
    meta = await connector.create(template, inputs={"id": [1, 2, 3], "balance": [0, 0, 0]}, **PASSWORD)
    resource = await wait_done(connector, meta)
    assert resource.phase == TaskExecution.FAILED
    assert "starts with UPDATE" in (resource.message or "") and "staging table" in (resource.message or "")
    assert sql(f"SELECT balance FROM {table} ORDER BY id") == [(10,), (20,), (30,)]
    assert _task_statements(local_snowflake_fresh.query_history(), table) == []


async def test_cancelling_a_batch_cancels_its_one_query(connector, make_task, table, local_snowflake_fresh) -> None:
    local_snowflake_fresh.configure(min_query_ms=5000)
    task = make_task(
        f"INSERT INTO {table} VALUES (%(id)s, %(balance)s)", inputs={"id": list[int], "balance": list[int]}, batch=True
    )
    meta = await connector.create(serialize(task), inputs={"id": [7, 8, 9], "balance": [1, 2, 3]}, **PASSWORD)
    await connector.delete(meta, **PASSWORD)
    resource = await wait_done(connector, meta)
    assert resource.phase == TaskExecution.ABORTED, resource.message
    (insert,) = _task_statements(local_snowflake_fresh.query_history(), table)
    assert (insert.query_id, insert.error_code) == (meta.query_id, "000604")
