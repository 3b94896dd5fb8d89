"""Fixtures for driving the connector against the local Snowflake through the real driver."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flyteplugins.snowflake import Snowflake, SnowflakeConfig, SnowflakeConnector


@pytest.fixture
def sf_config(local_snowflake_fresh: Any) -> SnowflakeConfig:
    config: SnowflakeConfig = local_snowflake_fresh.config(network_timeout=10, login_timeout=5)
    return config


@pytest.fixture
async def connector() -> Any:
    """A connector with its own pool, closed after the test (no sessions leak between tests)."""
    c = SnowflakeConnector()
    yield c
    await c.pool.close()


@pytest.fixture
def driver_conn(local_snowflake_fresh: Any) -> Iterator[Any]:
    """A session logged in through the plugin's client (its driver settings), closed after the test."""
    from flyteplugins.snowflake import _client

    connection = _client.login(local_snowflake_fresh.connect_kwargs(network_timeout=30, login_timeout=5))
    yield connection
    connection.close()


@pytest.fixture
def fetch(local_snowflake_fresh: Any) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
    """Rows of a finished query, read with the plain driver (what a downstream reader would see)."""
    import snowflake.connector

    conn = snowflake.connector.connect(**local_snowflake_fresh.connect_kwargs())

    def rows(query_id: str) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.get_results_from_sfqid(query_id)
            return [tuple(r) for r in cur.fetchall()]

    yield rows
    conn.close()


@pytest.fixture
def sql(local_snowflake_fresh: Any) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
    """Run set-up SQL directly (create tables, check contents)."""
    import snowflake.connector

    conn = snowflake.connector.connect(**local_snowflake_fresh.connect_kwargs(paramstyle="numeric"))

    def execute(statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(statement, list(params) or None)
            return [tuple(r) for r in cur.fetchall()]

    yield execute
    conn.close()


@pytest.fixture
def make_task(sf_config: SnowflakeConfig) -> Callable[..., Snowflake]:
    def make(query: str, *, inputs: dict[str, type] | None = None, output: type | None = None, **kw: Any) -> Snowflake:
        kw.setdefault("snowflake_password", "sf-password")
        return Snowflake(
            name=kw.pop("name", "q_" + uuid.uuid4().hex[:8]),
            query_template=query,
            plugin_config=kw.pop("plugin_config", sf_config),
            inputs=inputs,
            output_dataframe_type=output,
            **kw,
        )

    return make
