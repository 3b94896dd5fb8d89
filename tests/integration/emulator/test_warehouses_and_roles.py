"""Warehouses are objects and roles limit what a session may use, with Snowflake's errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import snowflake.connector
from snowflake.connector.errors import DatabaseError, ProgrammingError


@pytest.fixture
def login(local_snowflake_fresh: Any) -> Iterator[Callable[..., Any]]:
    opened: list[Any] = []

    def connect(**overrides: Any) -> Any:
        conn = snowflake.connector.connect(**local_snowflake_fresh.connect_kwargs(**overrides))
        opened.append(conn)
        return conn.cursor()

    yield connect
    for conn in opened:
        conn.close()


def _table(cur: Any) -> str:
    name = "T_" + uuid.uuid4().hex[:8].upper()
    cur.execute(f"CREATE TABLE {name} (a INT)")
    return name


def test_a_login_with_an_unknown_warehouse_succeeds_and_its_first_query_fails_with_000606(login: Any) -> None:
    table = _table(login())
    cur = login(warehouse="NO_SUCH_WH")
    assert cur.execute("SELECT CURRENT_WAREHOUSE()").fetchone() == (None,)
    assert cur.execute("SELECT 1").fetchone() == (1,)  # answered without a warehouse, as in Snowflake
    with pytest.raises(ProgrammingError) as raised:
        cur.execute(f"SELECT * FROM {table}")
    assert raised.value.errno == 606
    assert "No active warehouse selected" in raised.value.msg


def test_create_show_and_use_warehouse(login: Any) -> None:
    cur = login(warehouse="NO_SUCH_WH")
    table = _table(cur)
    name = "WH_" + uuid.uuid4().hex[:6].upper()
    cur.execute(f"CREATE WAREHOUSE {name} WAREHOUSE_SIZE = 'MEDIUM'")
    # a new warehouse becomes the session's current one
    assert cur.execute("SELECT CURRENT_WAREHOUSE()").fetchone() == (name,)
    assert cur.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,)
    rows = cur.execute(f"SHOW WAREHOUSES LIKE '{name}'").fetchall()
    columns = [d[0] for d in cur.description]
    shown = dict(zip(columns, rows[0], strict=True))
    assert (shown["name"], shown["size"], shown["is_current"]) == (name, "Medium", "Y")
    with pytest.raises(ProgrammingError) as raised:
        cur.execute("USE WAREHOUSE NOT_THERE")
    assert raised.value.errno == 2043
    cur.execute(f"DROP WAREHOUSE {name}")
    assert cur.execute(f"SHOW WAREHOUSES LIKE '{name}'").fetchall() == []


def test_a_role_uses_only_its_warehouses_and_databases(local_snowflake_fresh: Any, login: Any) -> None:
    sf = local_snowflake_fresh
    sf.add_warehouse("ANALYST_WH", "Small")
    sf.add_role("ANALYST", warehouses=["ANALYST_WH"], databases=["ANALYTICS"])
    # the role may not use the task's warehouse or database: the login succeeds with neither, as in Snowflake
    cur = login(role="ANALYST")
    assert cur.execute("SELECT CURRENT_ROLE(), CURRENT_WAREHOUSE(), CURRENT_DATABASE()").fetchone() == (
        "ANALYST",
        None,
        None,
    )
    assert [row[0] for row in cur.execute("SHOW WAREHOUSES").fetchall()] == ["ANALYST_WH"]
    assert sf.database not in [row[1] for row in cur.execute("SHOW DATABASES").fetchall()]
    with pytest.raises(ProgrammingError) as raised:
        cur.execute(f"USE DATABASE {sf.database}")
    assert raised.value.errno == 2043
    cur.execute("USE WAREHOUSE ANALYST_WH")
    assert cur.execute("SELECT CURRENT_WAREHOUSE()").fetchone() == ("ANALYST_WH",)


def test_a_user_logs_in_with_its_default_role_and_only_its_roles(local_snowflake_fresh: Any, login: Any) -> None:
    sf = local_snowflake_fresh
    sf.add_user("ROLE_USER", password="pw", default_role="LOADER", default_warehouse=sf.warehouse, roles=["LOADER"])
    cur = login(user="ROLE_USER", password="pw", role=None, warehouse=None)
    assert cur.execute("SELECT CURRENT_ROLE(), CURRENT_WAREHOUSE()").fetchone() == ("LOADER", sf.warehouse)
    with pytest.raises(ProgrammingError) as raised:
        cur.execute("USE ROLE ACCOUNTADMIN")
    assert raised.value.errno == 3013
    with pytest.raises(DatabaseError) as refused:
        login(user="ROLE_USER", password="pw", role="ACCOUNTADMIN")
    assert refused.value.errno == 390189
