"""A query waiting for one of the local Snowflake's query threads reports QUEUED, as Snowflake reports a query
waiting for a busy warehouse: never NO_DATA (Snowflake does not know it) for longer than a moment."""

from __future__ import annotations

import time
from typing import Any

import pytest
import snowflake.connector

THREADS = 64  # the engine's query threads


@pytest.mark.timeout(120)
def test_queries_beyond_the_threads_are_queued_then_run(local_snowflake_fresh: Any) -> None:
    sf = local_snowflake_fresh
    sf.configure(min_query_ms=60_000)
    with snowflake.connector.connect(**sf.connect_kwargs()) as conn:
        ids = []
        for _ in range(THREADS + 2):
            cur = conn.cursor()
            cur.execute_async("SELECT 1")
            ids.append(cur.sfqid)
        time.sleep(1.0)
        try:
            statuses = [conn.get_query_status(query_id).name for query_id in ids]
            assert statuses.count("RUNNING") == THREADS, statuses
            assert statuses[-2:] == ["QUEUED", "QUEUED"], statuses
        finally:
            for query_id in ids:
                conn.cursor().execute(f"SELECT SYSTEM$CANCEL_QUERY('{query_id}')")
