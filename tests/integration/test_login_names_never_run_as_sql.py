"""The history look-up writes the task's login name into its SQL as a literal that Snowflake reads back whole.

A login name is written by whoever defines the task; the look-up runs with the service's credentials. Against
the local Snowflake, which reads literals as Snowflake does (a backslash starts an escape).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from flyteplugins.snowflake import _client, _observe
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

pytestmark = pytest.mark.integration

NAMES = ["eve\\'", "tail\\", "svc\\'); SELECT 1; --", "o'brien\\", "Mixed \\ Name", 'q"\\"x']


@pytest.mark.parametrize("name", NAMES)
def test_the_name_reads_back_as_written(driver_conn: Any, name: str) -> None:
    # QUERY_HISTORY_BY_USER takes a name with case or odd characters in double quotes, inside the string
    literal = _observe._user_literal(name)
    assert _client.execute(driver_conn, f"SELECT {literal}") == [('"' + name.replace('"', '""') + '"',)]


@pytest.mark.parametrize("name", NAMES)
def test_the_look_up_for_such_a_name_runs_as_one_query_of_its_history(driver_conn: Any, name: str) -> None:
    query_id = _client.submit(driver_conn, "SELECT 1", None, statement_params={})
    meta = SnowflakeJobMetadata(
        "acct", name, "DB", "PUBLIC", "WH", query_id, has_output=False, submitted_at=time.time()
    )
    # the session's user ran the query, not `name`: the answer is that user's (no rows), never an SQL error
    assert _observe.read_histories(driver_conn, [meta], user=name) == {}
    assert query_id in _observe.read_histories(driver_conn, [meta], user=None)
