"""A user's SQL reaches Snowflake as written, with inputs bound on the server, and its result comes back."""

from __future__ import annotations

import datetime
import decimal

import pandas as pd
import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from snowflake_harness import run, unique_table

pytestmark = pytest.mark.integration


async def test_a_query_with_typed_inputs_returns_its_rows(connector, make_task, fetch) -> None:
    task = make_task(
        "SELECT %(n)s + 1 AS next, %(name)s AS name, %(day)s AS day, %(price)s AS price",
        inputs={"n": int, "name": str, "day": datetime.date, "price": decimal.Decimal},
        output=pd.DataFrame,
    )
    inputs = {"n": 41, "name": "O'Brien", "day": datetime.date(2024, 2, 29), "price": decimal.Decimal("12.50")}
    meta, resource = await run(connector, task, inputs)
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert fetch(meta.query_id) == [(42, "O'Brien", datetime.date(2024, 2, 29), decimal.Decimal("12.50"))]
    assert resource.outputs is not None and "results" in resource.outputs


async def test_input_values_never_enter_the_sql_text(connector, make_task, local_snowflake_fresh) -> None:
    task = make_task("SELECT %(secret_value)s AS v", inputs={"secret_value": str})
    meta, resource = await run(connector, task, {"secret_value": "needle-4711"})
    assert resource.phase == TaskExecution.SUCCEEDED
    (entry,) = local_snowflake_fresh.query_history(meta.query_id)
    assert "needle-4711" not in entry.query_text
    assert ":1" in entry.query_text


async def test_percent_signs_and_comments_survive_with_inputs(connector, make_task, sql, fetch) -> None:
    table = unique_table("names")
    sql(f"CREATE TABLE {table} (name VARCHAR)")
    sql(f"INSERT INTO {table} VALUES ('Ada'), ('Alan'), ('Bob'), ('100%')")
    template = f"""
        -- names starting with a given letter; the comment must not swallow the query
        SELECT name FROM {table}
        WHERE name LIKE 'A%' AND name <> %(excluded)s   -- trailing comment
        ORDER BY name
    """
    meta, resource = await run(connector, make_task(template, inputs={"excluded": str}), {"excluded": "Bob"})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert fetch(meta.query_id) == [("Ada",), ("Alan",)]


@pytest.mark.parametrize("with_input", [False, True], ids=["without inputs", "with an input"])
async def test_a_doubled_percent_is_one_percent_with_or_without_inputs(connector, make_task, fetch, with_input) -> None:
    template = "SELECT '100%%' AS label, 10 %% 3 AS rest, 'A%' AS pattern"
    task = make_task(template + (", %(n)s AS n" if with_input else ""), inputs={"n": int} if with_input else None)
    meta, resource = await run(connector, task, {"n": 7} if with_input else None)
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert fetch(meta.query_id)[0][:3] == ("100%", 1, "A%")


async def test_a_commented_line_in_a_delete_deletes_only_what_it_says(connector, make_task, sql) -> None:
    table = unique_table("orders")
    sql(f"CREATE TABLE {table} (id INT, status VARCHAR)")
    sql(f"INSERT INTO {table} VALUES (1, 'open'), (2, 'closed'), (3, 'closed')")
    template = f"DELETE FROM {table}\n-- everything closed:\nWHERE status = %(status)s"
    _, resource = await run(connector, make_task(template, inputs={"status": str}), {"status": "closed"})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert sql(f"SELECT id FROM {table} ORDER BY id") == [(1,)]


async def test_whitespace_inside_string_literals_is_kept(connector, make_task, fetch) -> None:
    meta, resource = await run(connector, make_task("SELECT 'a  b\tc' AS s"))
    assert resource.phase == TaskExecution.SUCCEEDED
    assert fetch(meta.query_id) == [("a  b\tc",)]


async def test_a_list_input_binds_for_in(connector, make_task, sql, fetch) -> None:
    table = unique_table("ids")
    sql(f"CREATE TABLE {table} (id INT)")
    sql(f"INSERT INTO {table} VALUES (1), (2), (3), (4)")
    task = make_task(f"SELECT id FROM {table} WHERE id IN (%(ids)s) ORDER BY id", inputs={"ids": list[int]})
    meta, resource = await run(connector, task, {"ids": [2, 4]})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert fetch(meta.query_id) == [(2,), (4,)]


async def test_batch_inserts_rows_through_array_binding(connector, make_task, sql, local_snowflake_fresh) -> None:
    table = unique_table("people")
    sql(f"CREATE TABLE {table} (name VARCHAR, age INT, team VARCHAR)")
    task = make_task(
        f"INSERT INTO {table} (name, age, team) VALUES (%(name)s, %(age)s, %(team)s)",
        inputs={"name": list[str], "age": list[int], "team": str},
        batch=True,
    )
    meta, resource = await run(connector, task, {"name": ["Ann", "Bo (x, y)"], "age": [31, 42], "team": "data"})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert sql(f"SELECT name, age, team FROM {table} ORDER BY age") == [("Ann", 31, "data"), ("Bo (x, y)", 42, "data")]
    # one request, not one statement per row
    assert len(local_snowflake_fresh.query_history(meta.query_id)) == 1


async def test_multi_statement_runs_as_one_request_and_returns_the_last_result(
    connector, make_task, sql, fetch
) -> None:
    table = unique_table("ms")
    task = make_task(
        f"CREATE TABLE {table} (x INT);\nINSERT INTO {table} VALUES (%(x)s);\nSELECT x * 2 AS y FROM {table};",
        inputs={"x": int},
        output=pd.DataFrame,
    )
    meta, resource = await run(connector, task, {"x": 21})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert meta.statement_count == 3
    children = resource.custom_info["statement_query_ids"]
    assert len(children) == 3
    assert fetch(children[-1]) == [(42,)]
    assert resource.outputs["results"].uri.split("?")[0].endswith(children[-1])


async def test_query_tag_and_statement_timeout_travel_with_the_statement(
    connector, make_task, sf_config, local_snowflake_fresh
) -> None:
    import dataclasses
    import json

    config = dataclasses.replace(sf_config, query_tag={"team": "growth"}, statement_timeout=120)
    meta, resource = await run(connector, make_task("SELECT 1", plugin_config=config))
    assert resource.phase == TaskExecution.SUCCEEDED
    (entry,) = local_snowflake_fresh.query_history(meta.query_id)
    tag = json.loads(entry.query_tag)
    assert tag["team"] == "growth"
    assert tag["task"]
