"""A multi-statement result is saved below the task's output prefix, whatever ids the server's answer lists.

The local Snowflake sends only well-formed statement ids; a damaged or tampered answer is made at our own
seam, `_client.child_query_ids`, on top of the real answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake import _client
from snowflake_harness import PASSWORD, serialize, unique_table, wait_done

pytestmark = pytest.mark.integration


async def _run_to_prefix(connector: Any, task: Any, prefix: Path) -> Any:
    meta = await connector.create(serialize(task), inputs={}, output_prefix=str(prefix), **PASSWORD)
    return await wait_done(connector, meta)


async def test_a_statement_id_that_is_no_query_id_is_never_a_path(
    connector: Any, make_task: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _client.child_query_ids

    def tampered(conn: Any, query_id: str) -> list[str]:
        return [*real(conn, query_id)[:-1], "../../escaped"]

    monkeypatch.setattr(_client, "child_query_ids", tampered)
    table = unique_table("ms")
    task = make_task(f"CREATE TABLE {table} (x INT);\nSELECT 1 AS y;", output=pd.DataFrame)
    prefix = tmp_path / "run" / "outputs"
    resource = await _run_to_prefix(connector, task, prefix)
    assert resource.phase == TaskExecution.FAILED
    assert "could not be saved" in resource.message and "'../../escaped'" in resource.message
    assert "not a Snowflake query id" in resource.message
    assert not (tmp_path / "run" / "escaped").exists() and not (prefix.parent.parent / "escaped").exists()
    assert not any(tmp_path.rglob("*.parquet"))


async def test_well_formed_statement_ids_still_save_the_last_result(
    connector: Any, make_task: Any, tmp_path: Path
) -> None:
    table = unique_table("ms")
    task = make_task(f"CREATE TABLE {table} (x INT);\nSELECT 1 AS y;", output=pd.DataFrame)
    resource = await _run_to_prefix(connector, task, tmp_path)
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    last = resource.custom_info["statement_query_ids"][-1]
    assert (tmp_path / "snowflake-results" / last / "_SUCCESS").exists()
