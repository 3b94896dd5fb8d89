"""Stored procedures in the subset of Snowflake Scripting the local Snowflake emulates: a body of one RETURN of an
expression over the arguments, or of a declared result set; overloads by number of arguments; anything else
refused at CREATE, naming what is not emulated."""

from __future__ import annotations

from typing import Any

import pytest
from snowflake.connector.errors import IntegrityError, ProgrammingError

pytestmark = pytest.mark.integration

GREET = """create or replace temporary procedure greet(name varchar, times int)
returns varchar not null
language sql
as
begin
  return repeat('hi ' || name || '! ', times);
end;"""


@pytest.mark.parametrize("paramstyle", ["qmark", "pyformat"])
def test_a_procedure_returns_its_expression_over_the_arguments(connect: Any, paramstyle: str) -> None:
    cur = connect(paramstyle=paramstyle).cursor()
    cur.execute(GREET)
    assert cur.fetchall() == [("Function GREET successfully created.",)]
    assert cur.callproc("greet", ("Ann", 2)) == ("Ann", 2)
    assert cur.fetchall() == [("hi Ann! hi Ann! ",)]
    assert cur.description[0].name == "GREET"


def test_call_by_sql_with_a_dollar_quoted_body(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create procedure half(x float) returns float language sql as $$ begin return x / 2; end $$")
    assert cur.execute("call half(3)").fetchall() == [(1.5,)]


def test_a_procedure_returns_a_declared_result_set_as_its_table(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace table sp_source (n int, s text)")
    cur.execute("insert into sp_source values (1, 'a'), (2, 'b')")
    cur.execute(
        """create or replace temporary procedure rows_of(flag boolean)
        returns table(n int, s varchar)
        language sql
        as
        declare
            res resultset default (select n, s from sp_source order by n);
        begin
            return table(res);
        end;"""
    )
    assert cur.execute("call rows_of(true)").fetchall() == [(1, "a"), (2, "b")]
    assert [d.name for d in cur.description] == ["N", "S"]


def test_overloads_are_told_apart_by_their_number_of_arguments(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace procedure pick() returns int language sql as begin return 0; end;")
    cur.execute("create or replace procedure pick(a int) returns int language sql as begin return a + 1; end;")
    assert cur.execute("call pick()").fetchall() == [(0,)]
    assert cur.execute("call pick(41)").fetchall() == [(42,)]
    cur.execute("drop procedure pick(int)")
    with pytest.raises(ProgrammingError) as raised:
        cur.execute("call pick(41)")
    assert raised.value.errno == 1044 and "Invalid argument types for function 'PICK'" in raised.value.msg


def test_a_permanent_procedure_is_seen_by_other_sessions_a_temporary_one_is_not(connect: Any) -> None:
    first, second = connect().cursor(), connect().cursor()
    first.execute("create or replace procedure shared_sp() returns int language sql as begin return 1; end;")
    first.execute("create or replace temporary procedure own_sp() returns int language sql as begin return 2; end;")
    assert second.execute("call shared_sp()").fetchall() == [(1,)]
    with pytest.raises(ProgrammingError) as raised:
        second.execute("call own_sp()")
    assert raised.value.errno == 2140


def test_a_null_from_a_not_null_procedure_fails(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute(GREET)
    with pytest.raises(IntegrityError) as raised:
        cur.execute("call greet(null, 1)")
    assert raised.value.errno == 100072


def test_creating_an_existing_procedure_without_or_replace_fails(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute(GREET)
    with pytest.raises(ProgrammingError) as raised:
        cur.execute(GREET.replace("create or replace temporary", "create temporary"))
    assert raised.value.errno == 2002


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("language python runtime_version = '3.11' handler = 'run' as 'def run(): return 1'", "LANGUAGE PYTHON"),
        ("language sql as begin let x := 1; return x; end;", "procedure body other than"),
        ("language sql as declare x int default 1; begin return x; end;", "DECLARE"),
        ("strict language sql as begin return 1; end;", "clause STRICT"),
        ("language sql as begin return (select count(*) from t where a = :a); end;", "variables"),
    ],
)
def test_what_is_not_emulated_fails_at_create(connect: Any, body: str, named: str) -> None:
    cur = connect().cursor()
    with pytest.raises(ProgrammingError, match=named) as raised:
        cur.execute(f"create or replace procedure not_here(a int) returns int {body}")
    assert raised.value.errno == 2 and "not emulated by the local Snowflake" in raised.value.msg


def test_a_second_overload_with_as_many_arguments_is_refused(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("create or replace procedure twice(a int) returns int language sql as begin return a * 2; end;")
    with pytest.raises(ProgrammingError, match="second overload of TWICE") as raised:
        cur.execute("create or replace procedure twice(a varchar) returns int language sql as begin return 1; end;")
    assert raised.value.errno == 2


@pytest.mark.parametrize(
    "sql", ["show procedures", "show user procedures like 'X%'", "describe procedure greet(varchar, int)"]
)
def test_listing_procedures_is_refused_rather_than_answered_empty(connect: Any, sql: str) -> None:
    cur = connect().cursor()
    cur.execute(GREET)
    with pytest.raises(ProgrammingError, match="SHOW PROCEDURES and DESCRIBE PROCEDURE") as raised:
        cur.execute(sql)
    assert raised.value.errno == 2
