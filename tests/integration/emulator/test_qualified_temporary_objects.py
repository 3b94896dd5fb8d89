"""A temporary table or view may be named with its database and schema, as in Snowflake: the session reads it by
that name (or bare), other sessions never see it, and the session's context does not move."""

from __future__ import annotations

from typing import Any

import pytest
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def test_a_qualified_temporary_table_and_view_belong_to_their_session(sf: Any, connect: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute("create schema if not exists TEMP_ELSEWHERE")
    cur.execute(f"use schema {sf.database}.{sf.schema}")
    table = f'"{sf.database}"."TEMP_ELSEWHERE"."QUALIFIED_TEMP"'
    cur.execute(f"create temporary table {table} (n int)")
    cur.execute(f"insert into {sf.database}.temp_elsewhere.qualified_temp values (1), (2)")
    cur.execute(
        f"create or replace temp view {sf.database}.temp_elsewhere.qualified_view as select sum(n) s from {table}"
    )
    assert cur.execute(f"select s from {sf.database}.temp_elsewhere.qualified_view").fetchall() == [(3,)]
    assert cur.execute("select current_schema()").fetchone() == (sf.schema,)
    assert conn.schema == sf.schema  # the driver's cached context did not move either

    other = connect().cursor()
    with pytest.raises(ProgrammingError) as info:
        other.execute(f"select * from {table}")
    assert info.value.errno == 2003

    cur.execute(f"drop view if exists {sf.database}.temp_elsewhere.qualified_view")
    with pytest.raises(ProgrammingError) as info:
        cur.execute(f"select * from {sf.database}.temp_elsewhere.qualified_view")
    assert info.value.errno == 2003


def test_a_session_without_a_schema_names_a_temporary_view_qualified(sf: Any, connect: Any) -> None:
    conn = connect(schema=None)
    cur = conn.cursor()
    view = f'"{sf.database}"."{sf.schema}"."NO_SCHEMA_VIEW"'
    cur.execute(f"create or replace temp view {view} as select 1 as x")
    assert cur.execute(f"select x from {view}").fetchall() == [(1,)]
    cur.execute(f"drop view if exists {view}")
    assert cur.execute("select current_schema()").fetchone() == (None,)
    assert conn.schema is None
