"""Many logins at once on a freshly started local Snowflake all succeed (they create its database together)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import snowflake.connector

from flyteplugins.snowflake.local import LocalSnowflake

pytestmark = pytest.mark.integration


def test_twenty_logins_at_once_on_a_fresh_server() -> None:
    with LocalSnowflake(database="FRESH_DB", schema="FRESH_SCHEMA") as sf:

        def login_and_ask(n: int) -> int:
            with snowflake.connector.connect(**sf.connect_kwargs(paramstyle="numeric")) as conn:
                (value,) = conn.cursor().execute("SELECT :1 + 0", [n]).fetchone()
                return int(value)

        with ThreadPoolExecutor(max_workers=20) as pool:
            assert sorted(pool.map(login_and_ask, range(20))) == list(range(20))
