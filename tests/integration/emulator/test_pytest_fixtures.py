"""The pytest plugin's fixtures: connection settings that work, and knobs that never leak between tests."""

from __future__ import annotations

from typing import Any

import pytest
import snowflake.connector

pytestmark = pytest.mark.integration


def test_snowflake_connect_kwargs_connects(snowflake_connect_kwargs: dict[str, Any]) -> None:
    assert snowflake_connect_kwargs["host"] == "127.0.0.1"
    assert snowflake_connect_kwargs["platform_detection_timeout_seconds"] == 0
    assert snowflake_connect_kwargs["network_timeout"] > 0
    with snowflake.connector.connect(**snowflake_connect_kwargs) as conn:
        assert conn.cursor().execute("select current_database()").fetchone() == ("FLYTE",)


def test_knobs_set_through_the_session_fixture_part_1(local_snowflake: Any) -> None:
    local_snowflake.configure(min_query_ms=777)
    local_snowflake.add_user("LEAKY", password="x")


def test_knobs_set_through_the_session_fixture_part_2(local_snowflake: Any, snowflake_connect_kwargs: Any) -> None:
    assert local_snowflake.knobs()["min_query_ms"] == 0, "the teardown hook resets knobs"
    with pytest.raises(snowflake.connector.errors.DatabaseError, match="390100"):
        snowflake.connector.connect(**{**snowflake_connect_kwargs, "user": "LEAKY", "password": "x"})
    # the user registered by part 1 is forgotten; the start-up user stays
