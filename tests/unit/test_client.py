"""_client.py without Snowflake: what it accepts from a server answer before using it."""

from __future__ import annotations

from typing import Any

import pytest

from flyteplugins.snowflake import _client
from flyteplugins.snowflake.errors import SnowflakeDriverError

PARENT = "01b2c3d4-0000-1a2b-0000-00010203abcd"
CHILD = "01b2c3d4-0000-1a2b-0000-00010203abce"


class _Rest:
    """The driver's REST client as `child_query_ids` uses it: one GET of the parent's result, answered as given.

    The local Snowflake only sends well-formed ids; a damaged or tampered answer is made here.
    """

    def __init__(self, result_ids: str) -> None:
        self.result_ids = result_ids

    def request(self, url: str, method: str) -> dict[str, Any]:
        assert (url, method) == (f"/queries/{PARENT}/result", "get")
        return {"data": {"resultIds": self.result_ids}}


class _Connection:
    def __init__(self, result_ids: str) -> None:
        self.rest = _Rest(result_ids)


def test_statement_ids_from_the_server_are_used_when_they_are_query_ids() -> None:
    conn: Any = _Connection(f"{CHILD}, {PARENT}")
    assert _client.child_query_ids(conn, PARENT) == [CHILD, PARENT]


@pytest.mark.parametrize("bad", ["../x", f"{CHILD}/../../x", "not-an-id", "%2e%2e%2fx"])
def test_a_statement_id_that_is_no_query_id_is_refused(bad: str) -> None:
    conn: Any = _Connection(f"{CHILD},{bad}")
    with pytest.raises(SnowflakeDriverError, match="not a query id") as info:
        _client.child_query_ids(conn, PARENT)
    assert info.value.query_id == PARENT and repr(bad) in str(info.value)
