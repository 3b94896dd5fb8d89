"""A session's temporary tables are in its catalog as Snowflake lists them: DESCRIBE TABLE, SHOW TABLES (kind
TEMPORARY), INFORMATION_SCHEMA.TABLES (TABLE_TYPE 'TEMPORARY TABLE') and COLUMNS; another session sees none of them.
SHOW TABLES dates every table it lists by its CREATE."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def _session_with_a_temporary_table(connect: Any) -> Any:
    cur = connect().cursor()
    cur.execute("CREATE OR REPLACE TABLE KEPT (K INT)")
    cur.execute("CREATE TEMPORARY TABLE SCRATCH (ID NUMBER(10, 0) NOT NULL, LABEL VARCHAR(20))")
    return cur


def test_describe_table_lists_a_temporary_tables_columns(sf: Any, connect: Any) -> None:
    cur = _session_with_a_temporary_table(connect)
    expected = [("ID", "NUMBER(10,0)", "N"), ("LABEL", "VARCHAR(20)", "Y")]
    for name in ("SCRATCH", f"{sf.database}.{sf.schema}.scratch"):
        assert [(r[0], r[1], r[3]) for r in cur.execute(f"DESCRIBE TABLE {name}").fetchall()] == expected
    with pytest.raises(ProgrammingError) as raised:
        connect().cursor().execute("DESCRIBE TABLE SCRATCH")
    assert raised.value.errno == 2003


def test_show_tables_lists_a_temporary_table_and_dates_each_table_by_its_create(sf: Any, connect: Any) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    cur = _session_with_a_temporary_table(connect)
    rows = cur.execute("SHOW TERSE TABLES").fetchall()
    assert [r[1:] for r in rows if r[1] in ("KEPT", "SCRATCH")] == [
        ("KEPT", "TABLE", sf.database, sf.schema),
        ("SCRATCH", "TEMPORARY", sf.database, sf.schema),
    ]
    for name in ("KEPT", "SCRATCH"):
        assert before <= next(r[0] for r in rows if r[1] == name) <= dt.datetime.now(dt.UTC)
    assert [r[1] for r in cur.execute("SHOW TABLES LIKE 'scr%' IN ACCOUNT").fetchall()] == ["SCRATCH"]
    assert "SCRATCH" not in [r[1] for r in connect().cursor().execute("SHOW TABLES IN ACCOUNT").fetchall()]
    cur.execute("DROP TABLE SCRATCH")
    assert "SCRATCH" not in [r[1] for r in cur.execute("SHOW TABLES").fetchall()]


def test_information_schema_lists_a_temporary_table_and_its_columns(sf: Any, connect: Any) -> None:
    cur = _session_with_a_temporary_table(connect)
    tables = (
        "SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, IS_TEMPORARY FROM INFORMATION_SCHEMA.TABLES"
        " WHERE TABLE_NAME IN ('KEPT', 'SCRATCH') ORDER BY TABLE_NAME"
    )
    assert cur.execute(tables).fetchall() == [
        (sf.database, sf.schema, "KEPT", "BASE TABLE", "NO"),
        (sf.database, sf.schema, "SCRATCH", "TEMPORARY TABLE", "YES"),
    ]
    columns = (
        "SELECT TABLE_CATALOG, TABLE_SCHEMA, COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH"
        f" FROM {sf.database}.INFORMATION_SCHEMA.COLUMNS"
        " WHERE TABLE_NAME = 'SCRATCH' ORDER BY ORDINAL_POSITION"
    )
    assert cur.execute(columns).fetchall() == [
        (sf.database, sf.schema, "ID", "NUMBER", None),
        (sf.database, sf.schema, "LABEL", "TEXT", 20),
    ]
    other = connect().cursor()
    assert other.execute(tables).fetchall() == [(sf.database, sf.schema, "KEPT", "BASE TABLE", "NO")]
    assert other.execute(columns).fetchall() == []


def test_an_asynchronous_catalog_query_lists_the_sessions_temporary_tables(connect: Any) -> None:
    cur = _session_with_a_temporary_table(connect)
    cur.execute_async("SELECT TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'SCRATCH'")
    cur.get_results_from_sfqid(cur.sfqid)
    assert cur.fetchall() == [("TEMPORARY TABLE",)]
