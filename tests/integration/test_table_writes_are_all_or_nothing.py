"""A dataframe written into a table lands whole or not at all, also when it is larger than one request's binds.

The local Snowflake announces Snowflake's CLIENT_STAGE_ARRAY_BINDING_THRESHOLD (65,280 values): a chunk reaching it
would make the driver run CREATE TEMPORARY STAGE, which commits the write's transaction half-way (the local
Snowflake commits as Snowflake does, then stages the binds).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from flyteplugins.snowflake import _client
from flyteplugins.snowflake import dataframe as sfdf
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.errors import SnowflakeQueryError

pytestmark = pytest.mark.integration

PASSWORD_VAR = "SNOWFLAKE_TEST_WRITE_PASSWORD"
ROWS = 20_000  # x 7 columns: 140,000 values, each 10,000-row chunk of them past the threshold
WIDE = ", ".join(f'"w{i}" VARCHAR' for i in range(5))


@pytest.fixture(scope="module")
def config(local_snowflake: Any) -> Iterator[SnowflakeConfig]:
    sf = local_snowflake.connect_kwargs()
    os.environ[PASSWORD_VAR] = sf["password"]
    yield SnowflakeConfig(
        sf["account"], sf["database"], sf["schema"], sf["warehouse"], sf["user"],
        host=sf["host"], port=sf["port"], protocol="http", network_timeout=60,
    )  # fmt: skip
    os.environ.pop(PASSWORD_VAR, None)


@pytest.fixture(scope="module")
def conn(config: SnowflakeConfig) -> Iterator[Any]:
    connection = _client.login({**config.driver_kwargs(), "password": os.environ[PASSWORD_VAR]})
    yield connection
    connection.close()


def _location(config: SnowflakeConfig, table: str, mode: str) -> sfdf.SnowflakeLocation:
    uri = sfdf.table_uri(config, table, mode=mode, secrets={"snowflake_password": PASSWORD_VAR})
    return sfdf.SnowflakeLocation.parse(uri)


def _frame(values: list[str]) -> pa.Table:
    columns: dict[str, Any] = {"id": list(range(len(values))), "v": values}
    columns.update({f"w{i}": [f"text {i}"] * len(values) for i in range(5)})
    return pa.table(columns)


def _existing(conn: Any, table: str) -> None:
    _client.execute(conn, f'CREATE OR REPLACE TABLE "{table}" ("id" NUMBER(38,0), "v" NUMBER(38,0), {WIDE})')
    _client.execute(conn, f"INSERT INTO \"{table}\" VALUES (-1, -1, 'a', 'b', 'c', 'd', 'e')")


def _contents(conn: Any, table: str) -> list[tuple[Any, ...]]:
    return _client.execute(conn, f'SELECT COUNT(*), MIN("id"), MAX("id"), SUM("v") FROM "{table}"')


def test_a_long_table_writes_whole(conn: Any, config: SnowflakeConfig) -> None:
    _existing(conn, "long_ok")
    written = sfdf.write_table(_location(config, "long_ok", "overwrite"), _frame(["1"] * ROWS))
    assert written == ROWS
    assert _contents(conn, "long_ok") == [(ROWS, 0, ROWS - 1, ROWS)]


@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_a_long_write_failing_in_a_later_chunk_leaves_the_table_unchanged(
    conn: Any, config: SnowflakeConfig, mode: str
) -> None:
    table = f"long_{mode}"
    _existing(conn, table)
    before = _contents(conn, table)
    bad = _frame(["1"] * (ROWS - 1) + ["not a number"])  # only the last chunk fails
    with pytest.raises(SnowflakeQueryError) as raised:
        sfdf.write_table(_location(config, table, mode), bad)
    assert "not a number" in str(raised.value)  # the value's own error, not a refused request
    assert _contents(conn, table) == before == [(1, -1, -1, -1)]
