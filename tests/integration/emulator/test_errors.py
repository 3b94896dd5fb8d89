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
