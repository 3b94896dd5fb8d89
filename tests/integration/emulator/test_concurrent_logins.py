"""Many logins at once on a freshly started local Snowflake all succeed, in the database and schema it started with."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import snowflake.connector

from flyteplugins.snowflake.local import LocalSnowflake

pytestmark = pytest.mark.integration


def test_twenty_logins_at_once_on_a_fresh_server() -> None:
    with LocalSnowflake(database="FRESH_DB", schema="FRESH_SCHEMA") as sf:

        def login_and_ask(n: int) -> int:
            with snowflake.connector.connect(**sf.connect_kwargs(paramstyle="numeric")) as conn:
                query = "SELECT :1 + 0, CURRENT_DATABASE(), CURRENT_SCHEMA()"
                value, database, schema = conn.cursor().execute(query, [n]).fetchone()
                assert (database, schema) == ("FRESH_DB", "FRESH_SCHEMA")
                return int(value)

        with ThreadPoolExecutor(max_workers=20) as pool:
            assert sorted(pool.map(login_and_ask, range(20))) == list(range(20))


def test_the_sql_dialects_are_loaded_before_queries_run_in_threads() -> None:
    """sqlglot hands a half-built dialect to a thread that asks while another loads it (the test above then fails
    now and then with `syntax error at or near ":"`): the server loads both when it imports fakesnow."""
    if importlib.util.find_spec("fakesnow") is None:
        pytest.skip("the local Snowflake needs fakesnow")
    code = "import sys, flyteplugins.snowflake.local._fakesnow; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert {"sqlglot.dialects.snowflake", "sqlglot.dialects.duckdb"} <= set(loaded)
