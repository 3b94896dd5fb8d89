"""`check` finds a task's problems against Snowflake before it runs, and never runs the task's SQL."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from flyteplugins.snowflake import Snowflake
from flyteplugins.snowflake.check import CHECKS, UsageError, check

PASSWORD_ENV = "CHECK_SF_PASSWORD"


@pytest.fixture
def table(sql: Callable[..., Any]) -> str:
    name = "CHK_" + uuid.uuid4().hex[:8].upper()
    sql(f"CREATE TABLE {name} (id NUMBER, name VARCHAR, day DATE)")
    return name


@pytest.fixture
def task(local_snowflake_fresh: Any) -> Callable[..., Snowflake]:
    def make(query: str, *, config: dict[str, Any] | None = None, **kw: Any) -> Snowflake:
        kw.setdefault("snowflake_password", PASSWORD_ENV)
        return Snowflake(
            name=kw.pop("name", "t_" + uuid.uuid4().hex[:6]),
            query_template=query,
            plugin_config=local_snowflake_fresh.config(**(config or {})),
            **kw,
        )

    return make


def _outcomes(report: Any) -> dict[str, Any]:
    (task_report,) = report.tasks
    assert [o.check for o in task_report.outcomes] == list(CHECKS)
    return {o.check: o for o in task_report.outcomes}


def _failed(report: Any) -> tuple[str, str]:
    """(the check that failed, its message); the later checks are skipped."""
    outcomes = _outcomes(report)
    failed = [o for o in outcomes.values() if not o.ok]
    assert len(failed) == 1, report.text()
    later = list(CHECKS)[list(CHECKS).index(failed[0].check) + 1 :]
    assert all(outcomes[name].skipped for name in later)
    assert not report.ok
    return failed[0].check, failed[0].message


def test_a_good_task_passes_every_check_and_reports_what_it_reads(
    task: Any, table: str, sql: Callable[..., Any], local_snowflake_fresh: Any
) -> None:
    sql(f"INSERT INTO {table} SELECT seq4(), 'n', CURRENT_DATE FROM TABLE(GENERATOR(ROWCOUNT => 200000))")
    good = task(
        f"SELECT name, COUNT(*) FROM {table} WHERE id > %(low)s AND name NOT IN (%(names)s) AND day >= %(since)s "
        "GROUP BY name",
        inputs={"low": int, "names": list[str], "since": datetime.date},
    )
    report = check(good, secrets={PASSWORD_ENV: local_snowflake_fresh.password})
    assert report.ok, report.text()
    outcomes = _outcomes(report)
    sf = local_snowflake_fresh
    assert outcomes["login"].details["session"] == {
        "role": "PUBLIC",
        "warehouse": sf.warehouse,
        "database": sf.database,
        "schema": sf.schema,
    }
    (statement,) = outcomes["sql"].details["statements"]
    assert statement["reads"] == [f"{sf.database}.{sf.schema}.{table}"]
    assert statement["partitions_total"] == 2 and statement["bytes_assigned"] > 0
    assert "would scan 2 of 2 partitions" in outcomes["sql"].message


def test_nothing_of_the_task_runs(task: Any, table: str, local_snowflake_fresh: Any) -> None:
    marker = uuid.uuid4().hex
    writer = task(
        f"DELETE FROM {table} WHERE name = '{marker}'; INSERT INTO {table} (id, name) VALUES (%(id)s, '{marker}')",
        inputs={"id": int},
    )
    report = check(writer, secrets={PASSWORD_ENV: local_snowflake_fresh.password})
    assert report.ok, report.text()
    seen = [q.query_text for q in local_snowflake_fresh.query_history() if marker in q.query_text]
    assert seen and all(text.startswith("EXPLAIN USING TABULAR ") for text in seen)
    assert report.statements == 1 + 3 + 2  # the session's context, three SHOWs, two EXPLAINs
    assert report.logins == 1


def test_one_login_serves_every_task_with_the_same_credentials(task: Any, local_snowflake_fresh: Any) -> None:
    tasks = [task("SELECT 1", name=f"same_{n}") for n in range(5)]
    report = check(tasks, secrets={PASSWORD_ENV: local_snowflake_fresh.password})
    assert report.ok and report.logins == 1
    assert report.statements == 1 + 3 + 1  # SELECT 1 compiles once, whichever task asks


def test_a_missing_secret(task: Any) -> None:
    found, message = _failed(check(task("SELECT 1", snowflake_password="CHECK_NOT_SET_ANYWHERE")))
    assert found == "secrets"
    assert "CHECK_NOT_SET_ANYWHERE is not set" in message


def test_a_malformed_key_and_a_wrong_passphrase_never_show_the_secret(task: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"the-right-one"),
    ).decode()
    keyed = task("SELECT 1", snowflake_password=None, snowflake_private_key="CHECK_KEY",
                 snowflake_private_key_passphrase="CHECK_PASSPHRASE")  # fmt: skip
    found, message = _failed(check(keyed, secrets={"CHECK_KEY": encrypted, "CHECK_PASSPHRASE": "not-the-one"}))
    assert found == "secrets" and "passphrase" in message and "not-the-one" not in message
    found, message = _failed(check(keyed, secrets={"CHECK_KEY": "not-a-key-at-all", "CHECK_PASSPHRASE": "x"}))
    assert found == "secrets" and "not-a-key-at-all" not in message


def test_a_wrong_password(task: Any, local_snowflake_fresh: Any) -> None:
    local_snowflake_fresh.add_user("CHECKER", password="right")
    found, message = _failed(check(task("SELECT 1", config={"user": "CHECKER"}), secrets={PASSWORD_ENV: "wrong"}))
    assert found == "login"
    assert "CHECKER" in message and "Incorrect username or password" in message and "wrong" not in message.split()


def test_a_warehouse_that_does_not_exist(task: Any, local_snowflake_fresh: Any) -> None:
    report = check(task("SELECT 1", config={"warehouse": "NO_SUCH_WH"}),
                   secrets={PASSWORD_ENV: local_snowflake_fresh.password})  # fmt: skip
    assert "warehouse NO_SUCH_WH is not in use" in _outcomes(report)["login"].message
    found, message = _failed(report)
    assert found == "access"
    assert "NO_SUCH_WH does not exist or role PUBLIC may not use it" in message
    assert local_snowflake_fresh.warehouse in message  # the warehouses the role may use instead


def test_a_role_without_the_warehouse_or_the_database(task: Any, local_snowflake_fresh: Any) -> None:
    sf = local_snowflake_fresh
    sf.add_role("NO_WH", warehouses=[], databases=None)
    sf.add_role("NO_DB", warehouses=None, databases=["ELSEWHERE"])
    secrets = {PASSWORD_ENV: sf.password}
    found, message = _failed(check(task("SELECT 1", config={"role": "NO_WH"}), secrets=secrets))
    assert found == "access" and f"GRANT USAGE ON WAREHOUSE {sf.warehouse} TO ROLE NO_WH" in message
    found, message = _failed(check(task("SELECT 1", config={"role": "NO_DB"}), secrets=secrets))
    assert found == "access" and f"database {sf.database} does not exist or role NO_DB may not see it" in message


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("SELECT nmae FROM {table}", "invalid identifier 'NMAE'"),
        ("SELECT * FROM NO_SUCH_TABLE_ANYWHERE", "Object 'NO_SUCH_TABLE_ANYWHERE' does not exist or not authorized"),
        ("SELECT 1; SELECT * FROM {table} WHERE nmae = 1", "statement 2 does not compile"),
    ],
)
def test_sql_that_does_not_compile(task: Any, table: str, local_snowflake_fresh: Any, query: str, words: str) -> None:
    found, message = _failed(check(task(query.format(table=table)),
                                   secrets={PASSWORD_ENV: local_snowflake_fresh.password}))  # fmt: skip
    assert found == "sql" and words in message


def test_a_table_an_earlier_statement_creates_is_not_a_failure(task: Any, local_snowflake_fresh: Any) -> None:
    name = "NEW_" + uuid.uuid4().hex[:8].upper()
    report = check(task(f"CREATE TABLE {name} (a INT); INSERT INTO {name} VALUES (1); SELECT * FROM {name}"),
                   secrets={PASSWORD_ENV: local_snowflake_fresh.password})  # fmt: skip
    assert report.ok, report.text()
    assert "2 not compiled: uses a table an earlier statement creates" in _outcomes(report)["sql"].message


def test_a_batch_insert_into_columns_that_do_not_accept_its_inputs(
    task: Any, table: str, local_snowflake_fresh: Any
) -> None:
    secrets = {PASSWORD_ENV: local_snowflake_fresh.password}
    query = f"INSERT INTO {table} (id, name, day) VALUES (%(id)s, %(name)s, %(day)s)"
    fits = task(query, inputs={"id": list[int], "name": list[str], "day": list[datetime.date]}, batch=True)
    assert check(fits, secrets=secrets).ok
    wrong = task(query, inputs={"id": list[str], "name": list[str], "day": list[bool]}, batch=True)
    found, message = _failed(check(wrong, secrets=secrets))
    assert found == "writes"
    assert "input id (str) into ID NUMBER(38,0)" in message and "input day (bool) into DAY DATE" in message


WORKFLOW = """
    import os

    import flyte
    from flyteplugins.snowflake import Snowflake, SnowflakeConfig

    config = SnowflakeConfig(
        account="local-test", user="FLYTE", database="FLYTE", schema="PUBLIC", warehouse="LOCAL_WH",
        host="127.0.0.1", port=int(os.environ["CHECK_PORT"]), protocol="http",
    )
    env = flyte.TaskEnvironment(name="checked")
    counts = Snowflake(name="counts", query_template="SELECT COUNT(*) FROM {table}", plugin_config=config,
                       snowflake_password="{env}")
    typo = Snowflake(name="typo", query_template="SELECT nmae FROM {table}", plugin_config=config,
                     snowflake_password="{env}")

    @env.task
    async def pipeline() -> None:
        await counts()
        await typo()
"""


def _run(path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flyteplugins.snowflake", "check", str(path), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=path.parent)


def test_the_command_as_a_user_runs_it(tmp_path: Path, table: str, local_snowflake_fresh: Any) -> None:
    workflow = tmp_path / "workflow.py"
    workflow.write_text(textwrap.dedent(WORKFLOW).replace("{table}", table).replace("{env}", PASSWORD_ENV))
    env = {**os.environ, "CHECK_PORT": str(local_snowflake_fresh.port), PASSWORD_ENV: local_snowflake_fresh.password}
    # the tasks are found through the driver task that calls them
    done = _run(workflow, env=env)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:3] for line in lines if line.startswith("counts")] == [
        ["counts", name, "ok:"] for name in CHECKS
    ]
    assert any(line.split()[:3] == ["typo", "sql", "FAIL:"] and "invalid identifier 'NMAE'" in line for line in lines)
    assert lines[-1].startswith("2 tasks checked, 1 failed (1 logins")

    done = _run(workflow, "--task", "counts", "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (counts,) = json.loads(done.stdout)
    assert counts["task"] == "counts" and counts["ok"] and [c["check"] for c in counts["checks"]] == list(CHECKS)

    done = _run(workflow, "--task", "no_such_task", env=env)
    assert done.returncode == 2 and "no Snowflake task named no_such_task (tasks found: counts, typo)" in done.stderr
    done = _run(tmp_path / "missing.py", env=env)
    assert done.returncode == 2 and "missing.py: no such file" in done.stderr


def test_an_unknown_task_from_python(task: Any) -> None:
    with pytest.raises(UsageError, match="no Snowflake task named other"):
        check([task("SELECT 1", name="only")], tasks=["other"])
