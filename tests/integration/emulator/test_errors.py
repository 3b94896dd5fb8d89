"""10: errors carry Snowflake's errno / sqlstate / message, never a bare HTTP 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from snowflake.connector.constants import QueryStatus
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def test_bad_sql_is_a_syntax_error(connect: Any) -> None:
    with pytest.raises(ProgrammingError) as info:
        connect().cursor().execute("selec 1 frm")
    assert (info.value.errno, info.value.sqlstate) == (1003, "42000")
    assert info.value.sfqid


def test_a_missing_table_is_002003(connect: Any) -> None:
    with pytest.raises(ProgrammingError) as info:
        connect().cursor().execute("select * from nowhere_table")
    assert (info.value.errno, info.value.sqlstate) == (2003, "42S02")
    assert "NOWHERE_TABLE" in info.value.msg.upper()


def test_unknown_and_malformed_query_ids(connect: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    unknown = str(uuid.uuid4())
    assert conn.get_query_status(unknown) == QueryStatus.NO_DATA  # as Snowflake: nothing known yet
    with pytest.raises(ValueError):
        conn.get_query_status("not-a-uuid")  # the driver checks the form itself
    with pytest.raises(ProgrammingError) as info:
        cur.execute(f"select * from table(result_scan('{unknown}'))")
    assert info.value.errno == 709
    with pytest.raises(ProgrammingError) as info:
        cur.execute("select * from table(result_scan('garbage'))")
    assert info.value.errno == 2140
    with pytest.raises(ProgrammingError) as info:
        cur.query_result(unknown)
    assert info.value.errno == 709


def test_malformed_requests_get_a_snowflake_error_not_a_500(sf: Any, connect: Any) -> None:
    token = connect().rest.token
    request = urllib.request.Request(
        f"{sf.url}/queries/v1/query-request",
        data=b"{not json",
        headers={"Authorization": f'Snowflake Token="{token}"', "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        body = json.loads(response.read())
    assert body["success"] is False and body["code"] == "390400"


def test_a_request_without_a_session_is_refused(sf: Any) -> None:
    request = urllib.request.Request(f"{sf.url}/monitoring/queries/{uuid.uuid4()}")
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
    assert body["success"] is False and body["code"] == "390111"


def _error_of(connect: Any, *statements: str) -> ProgrammingError:
    cur = connect().cursor()
    for statement in statements[:-1]:
        cur.execute(statement)
    with pytest.raises(ProgrammingError) as info:
        cur.execute(statements[-1])
    return info.value


def test_syntax_errors_say_where_as_snowflake_does(connect: Any) -> None:
    error = _error_of(connect, "SELECT * FROOOM TEST")
    assert error.raw_msg == "SQL compilation error:\nsyntax error line 1 at position 16 unexpected 'TEST'."
    error = _error_of(connect, "select 123'")
    assert (error.errno, error.sqlstate) == (1003, "42000")
    assert error.raw_msg == "SQL compilation error:\nsyntax error line 1 at position 10 unexpected '''."


def test_missing_objects_functions_and_columns_in_snowflakes_words(connect: Any) -> None:
    error = _error_of(connect, "select * from nonexistent_table_x")
    assert (error.errno, error.sqlstate) == (2003, "42S02")
    assert error.raw_msg == "SQL compilation error:\nObject 'NONEXISTENT_TABLE_X' does not exist or not authorized."
    error = _error_of(connect, "drop table nonexistent_table_x")
    assert error.raw_msg == "SQL compilation error:\nTable 'NONEXISTENT_TABLE_X' does not exist or not authorized."
    error = _error_of(connect, "select no_such_function(1)")
    assert (error.errno, error.sqlstate) == (2140, "42601")
    assert error.raw_msg == "SQL compilation error:\nUnknown function NO_SUCH_FUNCTION."
    error = _error_of(connect, "call no_such_procedure()")
    assert (error.errno, error.raw_msg) == (
        2140,
        "SQL compilation error:\nUnknown user-defined function NO_SUCH_PROCEDURE.",
    )
    table = f"cols_{uuid.uuid4().hex[:8]}"
    error = _error_of(connect, f"create temp table {table} (a int)", f"select a,\n  nope from {table}")
    assert (error.errno, error.sqlstate) == (904, "42000")
    assert error.raw_msg == "SQL compilation error: error line 2 at position 2\ninvalid identifier 'NOPE'"


def test_a_null_into_a_not_null_column_is_an_integrity_error(connect: Any) -> None:
    from snowflake.connector.errors import IntegrityError

    table = f"nn_{uuid.uuid4().hex[:8]}"
    cur = connect().cursor()
    cur.execute(f"create temp table {table} (a varchar not null)")
    with pytest.raises(IntegrityError) as info:
        cur.execute(f"insert into {table} values (null)")
    assert (info.value.errno, info.value.sqlstate) == (100072, "22000")
    assert info.value.raw_msg == "NULL result in a non-nullable column"
