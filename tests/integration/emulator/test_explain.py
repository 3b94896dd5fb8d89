"""EXPLAIN compiles a statement without running it and answers in Snowflake's shape."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import snowflake.connector
from snowflake.connector.errors import ProgrammingError

COLUMNS = [
    "step",
    "id",
    "parentOperators",
    "operation",
    "objects",
    "alias",
    "expressions",
    "partitionsTotal",
    "partitionsAssigned",
    "bytesAssigned",
]


@pytest.fixture
def cur(local_snowflake_fresh: Any) -> Iterator[Any]:
    conn = snowflake.connector.connect(**local_snowflake_fresh.connect_kwargs(paramstyle="numeric"))
    yield conn.cursor()
    conn.close()


@pytest.fixture
def tables(cur: Any) -> tuple[str, str]:
    big, small = ("E_" + uuid.uuid4().hex[:8].upper() for _ in range(2))
    cur.execute(f"CREATE TABLE {big} (id INT, name VARCHAR)")
    cur.execute(f"INSERT INTO {big} SELECT seq4(), 'n' FROM TABLE(GENERATOR(ROWCOUNT => 300000))")
    cur.execute(f"CREATE TABLE {small} (id INT, total DOUBLE)")
    return big, small


def _plan(cur: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    rows = cur.execute(sql, params).fetchall()
    assert [d[0] for d in cur.description] == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def test_a_query_plan_names_what_it_scans_with_partitions_and_bytes(cur: Any, tables: tuple[str, str]) -> None:
    big, small = tables
    plan = _plan(cur, f"EXPLAIN USING TABULAR SELECT name, COUNT(*) FROM {big} JOIN {small} USING (id) "
                 "WHERE id > :1 GROUP BY name", [10])  # fmt: skip
    stats, operations = plan[0], plan[1:]
    assert stats["operation"] == "GlobalStats"
    scans = {op["objects"]: op for op in operations if op["operation"] == "TableScan"}
    assert set(scans) == {f"FLYTE.PUBLIC.{big}", f"FLYTE.PUBLIC.{small}"}
    # 300,000 rows are three of DuckDB's 122,880-row groups; the empty table has none
    assert scans[f"FLYTE.PUBLIC.{big}"]["partitionsTotal"] == 3
    assert scans[f"FLYTE.PUBLIC.{big}"]["bytesAssigned"] > 300_000
    assert stats["partitionsTotal"] == 3 and stats["bytesAssigned"] == scans[f"FLYTE.PUBLIC.{big}"]["bytesAssigned"]
    assert "Aggregate" in {op["operation"] for op in operations}
    assert operations[0]["parentOperators"] is None
    assert all(op["step"] == 1 and op["parentOperators"] for op in operations[1:])


def test_dml_is_planned_with_its_target_and_never_run(cur: Any, tables: tuple[str, str]) -> None:
    big, small = tables
    statements = [
        ("Insert", small, f"INSERT INTO {small} SELECT id, 1.0 FROM {big}"),
        ("Update", small, f"UPDATE {small} SET total = 2 WHERE id = 1"),
        ("Delete", big, f"DELETE FROM {big} WHERE id < 5"),
        ("CreateTableAsSelect", f"{small}_COPY", f"CREATE TABLE {small}_COPY AS SELECT * FROM {big}"),
        (
            "Merge",
            small,
            f"MERGE INTO {small} USING {big} ON {small}.id = {big}.id WHEN MATCHED THEN UPDATE SET total = 1",
        ),
    ]
    for operation, target, sql in statements:
        root = _plan(cur, f"EXPLAIN {sql}")[1]
        assert (root["operation"], root["objects"]) == (operation, f"FLYTE.PUBLIC.{target}"), sql
    assert cur.execute(f"SELECT COUNT(*) FROM {small}").fetchone() == (0,)
    assert cur.execute(f"SELECT COUNT(*) FROM {big}").fetchone() == (300_000,)
    with pytest.raises(ProgrammingError) as raised:
        cur.execute(f"SELECT * FROM {small}_COPY")
    assert raised.value.errno == 2003


def test_json_and_text_formats(cur: Any, tables: tuple[str, str]) -> None:
    big, _ = tables
    (content,) = cur.execute(f"EXPLAIN USING JSON SELECT id FROM {big}").fetchone()
    plan = json.loads(content)
    assert plan["GlobalStats"] == {"partitionsTotal": 3, "partitionsAssigned": 3, "bytesAssigned": plan[
        "GlobalStats"]["bytesAssigned"]}  # fmt: skip
    assert any(op.get("objects") == [f"FLYTE.PUBLIC.{big}"] for op in plan["Operations"][0])
    (text,) = cur.execute(f"EXPLAIN USING TEXT SELECT id FROM {big}").fetchone()
    assert text.startswith("GlobalStats:") and f"TableScan  FLYTE.PUBLIC.{big}" in text


def test_explain_needs_no_warehouse(local_snowflake_fresh: Any, tables: tuple[str, str]) -> None:
    big, _ = tables
    with snowflake.connector.connect(**local_snowflake_fresh.connect_kwargs(warehouse="NO_SUCH_WH")) as conn:
        plan = conn.cursor().execute(f"EXPLAIN SELECT * FROM {big}").fetchall()
    assert plan[0][3] == "GlobalStats"


@pytest.mark.parametrize(
    ("sql", "errno", "words"),
    [
        ("SELECT * FROM NO_SUCH_TABLE", 2003, "Object 'NO_SUCH_TABLE' does not exist or not authorized."),
        ("SELECT no_such_column FROM {big}", 904, "invalid identifier 'NO_SUCH_COLUMN'"),
        ("SELEC 1", 1003, "syntax error"),
    ],
)
def test_explain_fails_as_the_statement_would(
    cur: Any, tables: tuple[str, str], sql: str, errno: int, words: str
) -> None:
    with pytest.raises(ProgrammingError) as raised:
        cur.execute("EXPLAIN " + sql.format(big=tables[0]))
    assert raised.value.errno == errno
    assert words in raised.value.msg
