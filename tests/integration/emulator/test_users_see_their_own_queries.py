"""18: users see, read and cancel their own queries only; a monitoring role sees and cancels all, reads none."""

from __future__ import annotations

from typing import Any

import pytest
import snowflake.connector.cursor
from snowflake.connector.constants import QueryStatus
from snowflake.connector.errors import DatabaseError, ProgrammingError

pytestmark = pytest.mark.integration

_SECRET_SQL = "select 'alice-private-text' as x"


@pytest.fixture(autouse=True)
def _users(sf: Any) -> None:
    for name, password in (("alice", "a"), ("bob", "b"), ("carol", "c"), ("flyte_monitor", "m")):
        sf.add_user(name, password=password)


@pytest.fixture
def alice(connect: Any) -> Any:
    """ALICE's session, with one finished query (`done`) and one held RUNNING (`running`)."""
    conn = connect(user="alice", password="a")
    cur = conn.cursor()
    cur.execute(_SECRET_SQL)
    conn.done = cur.sfqid
    return conn


def _running(sf: Any, conn: Any) -> str:
    """A query of `conn`'s user held RUNNING (the knob stays for the test: a query reads it when it starts)."""
    sf.configure(min_query_ms=60_000)
    cur = conn.cursor()
    cur.execute_async("select 42")
    query_id: str = cur.sfqid
    return query_id


def _history_texts(conn: Any) -> list[str]:
    rows: list[str] = []
    for function in ("QUERY_HISTORY()", "QUERY_HISTORY_BY_USER(USER_NAME => 'ALICE')", "QUERY_HISTORY_BY_USER()"):
        sql = f"select query_text from table(information_schema.{function})"
        rows += [row[0] for row in conn.cursor().execute(sql).fetchall()]
    return rows


def test_another_user_cannot_read_see_or_cancel_a_users_queries(
    sf: Any, connect: Any, alice: Any, assert_cancelled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = _running(sf, alice)
    bob = connect(user="bob", password="b")
    cur = bob.cursor()

    # The driver waits out a query with no status as it does an unknown id (24 tries, ~100 s): give up at once.
    monkeypatch.setattr(snowflake.connector.cursor, "ASYNC_NO_DATA_MAX_RETRY", 0)
    monkeypatch.setattr(snowflake.connector.cursor, "ASYNC_RETRY_PATTERN", [0])
    with pytest.raises(DatabaseError, match="Cannot retrieve data on the status of this query"):
        cur.get_results_from_sfqid(alice.done)
        cur.fetchall()  # the driver waits for the query when its rows are first asked for
    with pytest.raises(ProgrammingError) as info:
        cur.execute(f"select * from table(result_scan('{alice.done}'))")
    assert info.value.errno == 709
    assert bob.get_query_status(alice.done) == QueryStatus.NO_DATA  # as an unknown id: no status, no SQL text
    assert not any("alice-private-text" in text for text in _history_texts(bob))

    answer = cur.execute(f"select system$cancel_query('{running}')").fetchone()
    assert answer == ("Identified SQL statement is not currently executing.",)
    assert cur.abort_query(running) is False
    assert alice.get_query_status(running) == QueryStatus.RUNNING, "bob's cancels changed nothing"

    # alice herself reads, sees and cancels them
    mine = alice.cursor()
    mine.get_results_from_sfqid(alice.done)
    assert mine.fetchall() == [("alice-private-text",)]
    assert any("alice-private-text" in text for text in _history_texts(alice))
    assert mine.execute(f"select system$cancel_query('{running}')").fetchone() == (f"query [{running}] terminated.",)
    assert_cancelled(alice, running)


def test_a_monitoring_role_sees_and_cancels_every_query_but_reads_no_other_users_result(
    sf: Any, connect: Any, alice: Any, assert_cancelled: Any
) -> None:
    running = _running(sf, alice)
    admin = connect(user="carol", password="c", role="ACCOUNTADMIN")
    assert any("alice-private-text" in text for text in _history_texts(admin))
    assert admin.get_query_status(alice.done) == QueryStatus.SUCCESS
    cur = admin.cursor()
    with pytest.raises(ProgrammingError) as info:  # Snowflake: not even ACCOUNTADMIN reads another user's result
        cur.execute(f"select * from table(result_scan('{alice.done}'))")
    assert info.value.errno == 709
    assert cur.abort_query(running) is True
    assert_cancelled(alice, running)


def test_monitor_roles_names_the_roles_that_see_all(sf: Any, connect: Any, alice: Any) -> None:
    sf.add_role("FLYTE_MONITOR")  # a login names a role that exists, as in Snowflake
    monitor = connect(user="flyte_monitor", password="m", role="FLYTE_MONITOR")
    assert not any("alice-private-text" in text for text in _history_texts(monitor))
    assert sf.configure(monitor_roles=["ACCOUNTADMIN", "flyte_monitor"])["monitor_roles"] == [
        "ACCOUNTADMIN",
        "FLYTE_MONITOR",
    ]
    assert any("alice-private-text" in text for text in _history_texts(monitor))
    sf.reset()
    assert sf.knobs()["monitor_roles"] == ["ACCOUNTADMIN"]
    assert not any("alice-private-text" in text for text in _history_texts(monitor))
