"""A task written for the public flyteplugins-snowflake runs here as it did there: same shapes, same names."""

from __future__ import annotations

import dataclasses

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution
from google.protobuf import struct_pb2

from snowflake_harness import PASSWORD, serialize, wait_done

pytestmark = pytest.mark.integration


async def test_a_task_without_a_schema_key_runs_in_public(connector, make_task, sf_config, sql, fetch) -> None:
    sql("CREATE SCHEMA IF NOT EXISTS ELSEWHERE")
    task = make_task("SELECT CURRENT_SCHEMA() AS s", plugin_config=dataclasses.replace(sf_config, schema="ELSEWHERE"))
    template = serialize(task)
    as_written = await connector.create(template, inputs=None, output_prefix="", **PASSWORD)
    assert (await wait_done(connector, as_written)).phase == TaskExecution.SUCCEEDED
    assert fetch(as_written.query_id) == [("ELSEWHERE",)]
    custom = dict(template.custom)
    del custom["schema"]  # a task the public plugin serialized without it reads as PUBLIC there
    template.custom.Clear()
    template.custom.update(custom)
    assert "schema" not in template.custom and isinstance(template.custom, struct_pb2.Struct)
    meta = await connector.create(template, inputs=None, output_prefix="", **PASSWORD)
    resource = await wait_done(connector, meta)
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert fetch(meta.query_id) == [("PUBLIC",)]


async def test_the_snowsight_link_has_the_public_plugins_name(connector, make_task) -> None:
    template = serialize(make_task("SELECT 1"))
    meta = await connector.create(template, inputs=None, output_prefix="", **PASSWORD)
    resource = await wait_done(connector, meta)
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    assert [(link.name, link.uri.startswith("https://app.snowflake.com/")) for link in resource.log_links] == [
        ("Snowflake Dashboard", True)
    ]
