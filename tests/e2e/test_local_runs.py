"""A data engineer's local run: several Snowflake tasks and a Python task, through flyte's local runner."""

from __future__ import annotations

import datetime
import logging
import re
import uuid

import flyte
import pandas as pd
import pytest

from flyteplugins.snowflake import Snowflake, SnowflakeConfig

pytestmark = pytest.mark.e2e

#: The secret named on every task; tests/e2e/conftest.py exports it as SF_E2E_PASSWORD.
PASSWORD_SECRET = "sf_e2e_password"


def _local_run(task: object, **inputs: object) -> object:
    run = flyte.with_runcontext(mode="local").run(task, **inputs)
    return run.outputs()[0]


def test_workflow_of_snowflake_tasks_feeds_a_python_task(sf_config: SnowflakeConfig, table: str, history) -> None:
    create = Snowflake(
        name="create_events",
        query_template=f"CREATE TABLE {table} (id INT, name STRING, day DATE)",
        plugin_config=sf_config,
        snowflake_password=PASSWORD_SECRET,
    )
    insert = Snowflake(
        name="insert_events",
        query_template=f"INSERT INTO {table} (id, name, day) VALUES (%(ids)s, %(names)s, %(days)s)",
        plugin_config=sf_config,
        inputs={"ids": list[int], "names": list[str], "days": list[datetime.date]},
        batch=True,
        snowflake_password=PASSWORD_SECRET,
    )
    select = Snowflake(
        name="recent_events",
        query_template=f"SELECT id, name, day FROM {table} WHERE day >= %(since)s AND name <> %(skip)s ORDER BY id",
        plugin_config=sf_config,
        inputs={"since": datetime.date, "skip": str},
        output_dataframe_type=pd.DataFrame,
        snowflake_password=PASSWORD_SECRET,
    )
    env = flyte.TaskEnvironment(name=f"e2e_{uuid.uuid4().hex[:8]}")

    @env.task
    async def describe(events: pd.DataFrame) -> str:
        return ",".join(f"{row.ID}:{row.NAME}:{row.DAY}" for row in events.itertuples())

    @env.task
    async def pipeline(since: datetime.date) -> str:
        await create()
        await insert(
            ids=[1, 2, 3, 4],
            names=["a", "b'quote", "skip-me", "100% d"],
            days=[datetime.date(2024, 1, d) for d in (1, 5, 6, 9)],
        )
        events = await select(since=since, skip="skip-me")
        return await describe(events)

    assert _local_run(pipeline, since=datetime.date(2024, 1, 2)) == "2:b'quote:2024-01-05,4:100% d:2024-01-09"
    # the inputs were bound on the server: none of their values is in the SQL text Snowflake recorded
    recorded = history(f"FROM {table} WHERE")
    assert recorded and all("skip-me" not in q.query_text for q in recorded)


def test_a_task_returns_its_result_as_a_dataframe(sf_config: SnowflakeConfig) -> None:
    query = Snowflake(
        name="answer",
        query_template="SELECT %(x)s + 1 AS y, %(label)s AS label",
        plugin_config=sf_config,
        inputs={"x": int, "label": str},
        output_dataframe_type=pd.DataFrame,
        snowflake_password=PASSWORD_SECRET,
    )
    frame = _local_run(query, x=41, label="ok")
    assert isinstance(frame, pd.DataFrame)
    assert frame.to_dict("records") == [{"Y": 42, "LABEL": "ok"}]


def test_failing_query_raises_snowflakes_code_and_message(sf_config: SnowflakeConfig, table: str) -> None:
    broken = Snowflake(
        name="broken",
        query_template=f"SELECT * FROM {table}_MISSING",
        plugin_config=sf_config,
        snowflake_password=PASSWORD_SECRET,
    )
    with pytest.raises(flyte.errors.RuntimeUserError) as raised:
        _local_run(broken)
    message = str(raised.value)
    assert "Snowflake error 2003" in message  # Snowflake's errno for a missing object
    assert f"{table}_MISSING".upper() in message.upper() and "does not exist" in message
    assert "query " in message  # the query id, to look it up in Snowsight


def test_failed_query_is_not_retried_locally(sf_config: SnowflakeConfig, table: str, history) -> None:
    broken = Snowflake(
        name="broken_once",
        query_template=f"SELECT * FROM {table}_NOPE",
        plugin_config=sf_config,
        snowflake_password=PASSWORD_SECRET,
        retries=2,
    )
    with pytest.raises(flyte.errors.RuntimeUserError):
        _local_run(broken)
    assert len(history(f"{table}_NOPE")) == 1  # a SQL error is final, as in a remote run


def test_missing_secret_says_which_variable(sf_config: SnowflakeConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    task = Snowflake(
        name="no_secret",
        query_template="SELECT 1",
        plugin_config=sf_config,
        snowflake_password="not_exported_anywhere",
    )
    monkeypatch.delenv("NOT_EXPORTED_ANYWHERE", raising=False)
    with pytest.raises(Exception, match="NOT_EXPORTED_ANYWHERE"):
        _local_run(task)


def test_progress_lines_follow_the_query(sf, sf_config: SnowflakeConfig, caplog: pytest.LogCaptureFixture) -> None:
    sf.configure(min_query_ms=300, first_status=("RESUMING_WAREHOUSE", 150))
    query = Snowflake(
        name="progress",
        query_template="SELECT 1 AS one",
        plugin_config=sf_config,
        snowflake_password=PASSWORD_SECRET,
        output_dataframe_type=pd.DataFrame,  # rows are counted as the result is saved
    )
    with caplog.at_level(logging.INFO, logger="flyte.snowflake"):
        _local_run(query)
    lines = [r.getMessage() for r in caplog.records if r.name == "flyte.snowflake"]
    submitted = next(line for line in lines if "submitted Snowflake query" in line)
    query_id = submitted.rsplit(" ", 1)[-1]
    assert any("resuming" in line.lower() for line in lines), lines
    assert any("running" in line.lower() for line in lines), lines
    assert sum("app.snowflake.com" in line for line in lines) == 1, lines  # the Snowsight link, once
    finished = [line for line in lines if "finished in" in line]
    assert len(finished) == 1 and query_id in finished[0], lines
    # rows, and the credits estimate of 1 credit an hour (LOCAL_WH is X-Small) for its execution time
    assert re.search(r", 1 rows, ~\d+\.\d{6} credits \(estimate\)$", finished[0]), lines
    assert len(lines) == len(set(lines)), "one line per state change"


def test_progress_is_quiet_at_the_default_level(sf_config: SnowflakeConfig, caplog: pytest.LogCaptureFixture) -> None:
    query = Snowflake(
        name="quiet", query_template="SELECT 1", plugin_config=sf_config, snowflake_password=PASSWORD_SECRET
    )
    with caplog.at_level(logging.WARNING):
        _local_run(query)
    assert [r for r in caplog.records if r.name.startswith("flyte.snowflake")] == []


def test_failure_is_logged_with_snowflakes_code(
    sf_config: SnowflakeConfig, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Snowflake(
        name="broken_logged",
        query_template=f"SELECT * FROM {table}_GONE",
        plugin_config=sf_config,
        snowflake_password=PASSWORD_SECRET,
    )
    with caplog.at_level(logging.INFO, logger="flyte.snowflake"), pytest.raises(flyte.errors.RuntimeUserError):
        _local_run(broken)
    assert any("Snowflake error 2003" in r.getMessage() for r in caplog.records if r.name == "flyte.snowflake")


def test_a_local_batch_of_aware_datetimes_lands_at_their_instants(
    sf_config: SnowflakeConfig, table: str, history
) -> None:
    create = Snowflake(
        name="create_moments",
        query_template=f"CREATE TABLE {table} (id INT, happened TIMESTAMP_TZ)",
        plugin_config=sf_config,
        snowflake_password=PASSWORD_SECRET,
    )
    load = Snowflake(
        name="load_moments",
        query_template=f"-- one query for every row\nINSERT INTO {table} VALUES (%(ids)s, %(moments)s)",
        plugin_config=sf_config,
        inputs={"ids": list[int], "moments": list[datetime.datetime]},
        batch=True,
        snowflake_password=PASSWORD_SECRET,
    )
    read = Snowflake(
        name="read_moments",
        query_template=f"SELECT id, happened FROM {table} ORDER BY id",
        plugin_config=sf_config,
        output_dataframe_type=pd.DataFrame,
        snowflake_password=PASSWORD_SECRET,
    )
    moments = [
        datetime.datetime(2024, 1, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
        datetime.datetime(2024, 7, 1, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-4))),
    ]
    _local_run(create)
    _local_run(load, ids=[1, 2], moments=moments)
    frame = _local_run(read)
    assert [ts.to_pydatetime() for ts in frame["HAPPENED"]] == moments  # the same instants
    assert len(history(f"INTO {table} VALUES")) == 1  # one array-bound query, not one per row
