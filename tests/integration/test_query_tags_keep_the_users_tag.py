"""The QUERY_TAG a user sets for their session survives in every statement's tag, next to the Flyte run details.

Snowflake replaces the session's QUERY_TAG by a statement's own, and the plugin tags every statement; so the
user's tag is merged into the plugin's JSON: a plain string under "user_tag", a JSON object key by key.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from snowflake_harness import run

pytestmark = pytest.mark.integration


def _tag(local_snowflake, query_id: str) -> dict:
    (entry,) = local_snowflake.query_history(query_id)
    tag: dict = json.loads(entry.query_tag)
    return tag


@pytest.mark.parametrize(
    "settings",
    [
        {"connection_kwargs": {"session_parameters": {"QUERY_TAG": "team-x"}}},
        {"session_parameters": {"QUERY_TAG": "team-x"}},
    ],
    ids=["connection_kwargs", "session_parameters"],
)
async def test_a_plain_session_tag_is_kept_under_user_tag(
    connector, make_task, sf_config, local_snowflake_fresh, settings
) -> None:
    config = dataclasses.replace(sf_config, **settings)
    task = make_task("SELECT 1 AS one", plugin_config=config, name="tagged_query")
    meta, resource = await run(connector, task)
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    tag = _tag(local_snowflake_fresh, meta.query_id)
    assert tag["user_tag"] == "team-x"
    assert tag["task"].endswith("tagged_query")


async def test_a_json_session_tag_merges_with_query_tag(connector, make_task, sf_config, local_snowflake_fresh) -> None:
    config = dataclasses.replace(
        sf_config,
        session_parameters={"QUERY_TAG": '{"team": "x", "cost_center": 42}'},
        query_tag={"job": "nightly"},
    )
    meta, resource = await run(connector, make_task("SELECT 1", plugin_config=config))
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    tag = _tag(local_snowflake_fresh, meta.query_id)
    assert {k: tag[k] for k in ("team", "cost_center", "job")} == {"team": "x", "cost_center": 42, "job": "nightly"}
    assert tag["task"]
