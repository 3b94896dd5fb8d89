"""An aware datetime input keeps its instant and its offset, whatever the session's TIMEZONE; a naive one stays
naive; an aware time, which Snowflake's TIME cannot hold, is refused naming the input.

The local Snowflake honours the session TIMEZONE (America/Los_Angeles by default, as Snowflake), so a bind that
depended on it would land hours off here too. It keeps TIMESTAMP_TZ values as instants (DuckDB stores no offset
per value) and answers them with the session's offset, so the offset is checked where it leaves the plugin: in
the bind the driver sends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake._sql import compile_query
from snowflake_harness import run, unique_table

pytestmark = pytest.mark.integration

PLUS5 = dt.timezone(dt.timedelta(hours=5))
NOON_PLUS5 = dt.datetime(2024, 1, 1, 12, 0, tzinfo=PLUS5)  # 07:00 UTC


@pytest.fixture
def la_config(sf_config):
    """Snowflake's default session TIMEZONE, set explicitly: a bind must not depend on it."""
    return dataclasses.replace(sf_config, session_parameters={"TIMEZONE": "America/Los_Angeles"})


async def test_an_aware_datetime_comes_back_as_the_same_instant(connector, make_task, fetch, la_config) -> None:
    task = make_task("SELECT %(ts)s AS ts", inputs={"ts": dt.datetime}, output=pd.DataFrame, plugin_config=la_config)
    meta, resource = await run(connector, task, {"ts": NOON_PLUS5})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    ((value,),) = fetch(meta.query_id)
    assert value.tzinfo is not None, "bound as TIMESTAMP_NTZ: the offset was dropped"
    assert value == NOON_PLUS5


def test_the_bind_carries_the_offset(driver_conn) -> None:
    # What the driver puts on the wire for the plugin's bind: UTC nanoseconds and the offset (+05:00 = 1440+300).
    bound = compile_query("SELECT %(ts)s", {"ts": NOON_PLUS5})
    wire = driver_conn._process_params_qmarks(list(bound.params))
    assert wire == {"1": {"type": "TIMESTAMP_TZ", "value": "1704092400000000000 1740"}}


async def test_an_aware_datetime_is_stored_at_its_instant(connector, make_task, sql, la_config) -> None:
    table = unique_table("events")
    sql(f"CREATE TABLE {table} (id INT, happened TIMESTAMP_TZ)")
    task = make_task(f"INSERT INTO {table} VALUES (1, %(at)s)", inputs={"at": dt.datetime}, plugin_config=la_config)
    _, resource = await run(connector, task, {"at": NOON_PLUS5})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    same = "happened = '2024-01-01 12:00:00 +05:00'::TIMESTAMP_TZ"
    assert sql(f"SELECT {same}, happened FROM {table}") == [(True, NOON_PLUS5)]


async def test_batches_and_lists_of_aware_datetimes_bind_alike(connector, make_task, sql, fetch, la_config) -> None:
    table = unique_table("events")
    sql(f"CREATE TABLE {table} (id INT, happened TIMESTAMP_TZ)")
    moments = [NOON_PLUS5, dt.datetime(2024, 7, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4)))]
    load = make_task(
        f"INSERT INTO {table} VALUES (%(id)s, %(at)s)",
        inputs={"id": list[int], "at": list[dt.datetime]},
        batch=True,
        plugin_config=la_config,
    )
    _, resource = await run(connector, load, {"id": [1, 2], "at": moments})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert sql(f"SELECT id, happened FROM {table} ORDER BY id") == [(1, moments[0]), (2, moments[1])]
    pick = make_task(
        f"SELECT id FROM {table} WHERE happened IN (%(at)s) ORDER BY id",
        inputs={"at": list[dt.datetime]},
        plugin_config=la_config,
    )
    meta, resource = await run(connector, pick, {"at": moments})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert fetch(meta.query_id) == [(1,), (2,)]


async def test_a_naive_datetime_stays_naive(connector, make_task, fetch) -> None:
    naive = dt.datetime(2024, 1, 1, 12, 0)
    meta, resource = await run(connector, make_task("SELECT %(ts)s AS ts", inputs={"ts": dt.datetime}), {"ts": naive})
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert fetch(meta.query_id) == [(naive,)]


async def test_an_aware_time_is_refused_naming_the_input(connector, make_task) -> None:
    task = make_task("SELECT %(opens_at)s AS t", inputs={"opens_at": dt.time})
    _, resource = await run(connector, task, {"opens_at": dt.time(9, 0, tzinfo=PLUS5)})
    assert resource.phase == TaskExecution.FAILED
    assert "input 'opens_at' is a time with a time zone (09:00:00+05:00)" in (resource.message or "")
