"""End to end, locally: a Snowflake task's result reaches Python tasks as pandas, polars, pyarrow and flyte.io.

`flyte.with_runcontext(mode="local")` runs the Snowflake task through the connector against the local Snowflake;
each downstream task declares a different library. (No `from __future__ import annotations`: flyte reads the
tasks' annotations, which name types imported inside the test.)
"""

import os
from collections.abc import Iterator
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

pytestmark = [
    pytest.mark.integration,
    # flyte.io's File model uses a class-based pydantic config; importing it warns (not ours to fix).
    pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning"),
]

PASSWORD_VAR = "SNOWFLAKE_TEST_E2E_RESULTS_PASSWORD"
SQL = "SELECT seq4() AS ID, (seq4() / 4)::NUMBER(10,2) AS AMOUNT FROM TABLE(GENERATOR(ROWCOUNT => 10))"


@pytest.fixture
def password(local_snowflake: Any) -> Iterator[dict[str, Any]]:
    kwargs = local_snowflake.connect_kwargs()
    os.environ[PASSWORD_VAR] = kwargs["password"]
    yield kwargs
    os.environ.pop(PASSWORD_VAR, None)


def test_each_library_receives_the_result(password: dict[str, Any]) -> None:
    import flyte
    from flyte.io import DataFrame

    from flyteplugins.snowflake import Snowflake, SnowflakeConfig
    from flyteplugins.snowflake.dataframe import register_handlers

    register_handlers()
    kw = password
    config = SnowflakeConfig(
        kw["account"], kw["database"], kw["schema"], kw["warehouse"], kw["user"],
        host=kw["host"], port=kw["port"], protocol="http",
    )  # fmt: skip
    env = flyte.TaskEnvironment("snowflake_results_e2e")
    query = Snowflake(
        name="amounts", query_template=SQL, plugin_config=config, output_dataframe_type=DataFrame,
        snowflake_password=PASSWORD_VAR,
    )  # fmt: skip

    @env.task
    async def as_pandas(df: pd.DataFrame) -> str:
        return str(df["AMOUNT"].sum())

    @env.task
    async def as_polars(df: pl.DataFrame) -> str:
        return str(df["AMOUNT"].sum())

    @env.task
    async def as_arrow(df: pa.Table) -> str:
        return str(sum(df.column("AMOUNT").to_pylist()))

    @env.task
    async def as_flyte(df: DataFrame) -> str:
        frame = await df.open(pl.DataFrame).all()
        return str(frame["AMOUNT"].sum())

    @env.task
    async def workflow() -> list[str]:
        result = await query()
        return [await as_pandas(result), await as_polars(result), await as_arrow(result), await as_flyte(result)]

    flyte.init()
    run = flyte.with_runcontext(mode="local").run(workflow)
    assert list(run.outputs()[0]) == ["11.25"] * 4  # 0.00 + 0.25 + 0.50 (x2) + 0.75 ... + 2.25: Decimal, exact
