"""Status checks (`GET /monitoring/queries/<id>`) take a short way past Starlette's router: same answers, same
session checks, same faults as every other wire request."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from snowflake.connector.constants import QueryStatus
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


# -- the short way and the router answer alike (in process: the driver cannot choose the way) -------------------


@pytest.fixture
async def app() -> AsyncIterator[Any]:
    """One local Snowflake's ASGI app in this process, with a session, a finished, a failed and a running query."""
    pytest.importorskip("fakesnow", reason="the local Snowflake needs fakesnow")
    from flyteplugins.snowflake.local._app import State, build_app
    from flyteplugins.snowflake.local._knobs import Knobs

    state = State(Knobs(), "test-admin-token-0123456789", users={"FLYTE": "local"}, databases=[("FLYTE", "PUBLIC")])
    front = build_app(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=front), base_url="http://local") as client:
        login = await client.post(
            "/session/v1/login-request?databaseName=FLYTE&schemaName=PUBLIC&warehouse=COMPUTE_WH",
            json={"data": {"LOGIN_NAME": "flyte", "PASSWORD": "local", "ACCOUNT_NAME": "local-test"}},
        )
        token = login.json()["data"]["token"]
        auth = {"Authorization": f'Snowflake Token="{token}"'}

        async def submit(sql: str) -> str:
            answer = await client.post(
                "/queries/v1/query-request", json={"sqlText": sql, "asyncExec": True}, headers=auth
            )
            query_id: str = answer.json()["data"]["queryId"]
            return query_id

        finished, failed = await submit("select 1"), await submit("select * from nowhere_table")
        state.knobs = state.knobs.updated({"min_query_ms": 60_000})
        running = await submit("select 2")
        for query_id, status in ((finished, "SUCCESS"), (failed, "FAILED_WITH_ERROR"), (running, "RUNNING")):
            record = state.engine.get(query_id)
            assert record is not None
            await asyncio.wait_for(_until(lambda r=record, s=status: r.status == s), 10)  # type: ignore[misc]
        # The router alone: the Starlette app behind the browser guard, the fault middleware and the status-check
        # shortcut.
        router = front.app.app.app  # type: ignore[attr-defined]
        yield {"front": front, "router": router, "auth": auth, "ids": (finished, failed, running), "state": state}
        state.engine.cancel(running)
    state.close()


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


async def _answer(asgi_app: Any, method: str, path: str, headers: dict[str, str]) -> tuple[int, list[Any], Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi_app), base_url="http://local") as client:
        response = await client.request(method, path, headers=headers)
    body: Any = response.content
    headers = sorted(response.headers.multi_items())
    if body and response.headers.get("content-type") == "application/json":  # HEAD: the headers only
        body = json.loads(body)
        for query in (body.get("data") or {}).get("queries", []):
            # A running query's grows between the two requests, and may gain a digit (99 -> 100 ms): the
            # length compared is the body's without it.
            digits = len(str(query.pop("totalDuration")))
            headers = [
                (name, str(int(value) - digits) if name == "content-length" else value) for name, value in headers
            ]
    return response.status_code, headers, body


# fakesnow warns on every query it runs; in this process pytest would make the warning fail the query
@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
@pytest.mark.parametrize(
    ("method", "which", "token"),
    [
        ("GET", "finished", "good"),
        ("GET", "failed", "good"),
        ("GET", "running", "good"),
        ("GET", "unknown", "good"),
        ("GET", "malformed", "good"),
        ("GET", "finished", "bad"),
        ("GET", "finished", "none"),
        ("GET", "finished", "expired"),
        ("HEAD", "finished", "good"),
        ("POST", "finished", "good"),
        ("GET", "trailing slash", "good"),
        ("GET", "no id", "good"),
        ("GET", "deeper path", "good"),
    ],
)
async def test_the_short_way_answers_as_the_router(app: Any, method: str, which: str, token: str) -> None:
    finished, failed, running = app["ids"]
    path = {
        "finished": f"/monitoring/queries/{finished}",
        "failed": f"/monitoring/queries/{failed}",
        "running": f"/monitoring/queries/{running}",
        "unknown": f"/monitoring/queries/{uuid.uuid4()}",
        "malformed": "/monitoring/queries/not-a-query-id",
        "trailing slash": f"/monitoring/queries/{finished}/",
        "no id": "/monitoring/queries/",
        "deeper path": f"/monitoring/queries/{finished}/result",
    }[which]
    headers = {"good": app["auth"], "bad": {"Authorization": 'Snowflake Token="forged"'}, "none": {}}.get(token)
    if token == "expired":
        headers = app["auth"]
        app["state"].sessions.expire_all()
    assert headers is not None

    short = await _answer(app["front"], method, path, headers)
    routed = await _answer(app["router"], method, path, headers)
    assert short == routed
    if (method, which, token) == ("GET", "failed", "good"):
        assert short[2]["data"]["queries"][0]["status"] == "FAILED_WITH_ERROR"
        assert short[2]["data"]["sqlState"] == "42S02"
    if token == "expired":
        assert short[2]["code"] == "390112"


def test_answers_are_encoded_as_starlette_encodes_them() -> None:
    pytest.importorskip("fakesnow", reason="the local Snowflake needs fakesnow")
    from starlette.responses import JSONResponse

    from flyteplugins.snowflake.local._app import _Json

    content = {"data": {"sqlText": "select 'é' -- ✓", "n": [1, 2.5, None, True]}, "code": None, "message": '"q"'}
    assert _Json(content).body == JSONResponse(content).body
    assert _Json(content, status_code=503).raw_headers == JSONResponse(content, status_code=503).raw_headers


# -- through the real driver ------------------------------------------------------------------------------------


def test_a_status_check_renews_an_expired_session(sf: Any, connect: Any, wait_done: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    old_token = conn.rest.token
    assert sf.expire_sessions() >= 1
    assert wait_done(conn, cur.sfqid)[-1] == QueryStatus.SUCCESS
    assert conn.rest.token != old_token, "the status check met 390112 and the driver renewed its token"


def test_a_status_check_with_an_expired_master_token_needs_a_new_login(sf: Any, connect: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    sf.expire_sessions(master=True)
    with pytest.raises(ProgrammingError) as info:
        conn.get_query_status(cur.sfqid)
    assert info.value.errno == 390114
    assert connect().get_query_status(cur.sfqid) in (QueryStatus.RUNNING, QueryStatus.SUCCESS)


def test_dropped_status_checks_are_retried_by_the_driver(sf: Any, connect: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    sf.configure(drop_next=2)
    assert conn.get_query_status(cur.sfqid) in (QueryStatus.RUNNING, QueryStatus.SUCCESS)
    assert sf.knobs()["drop_count"] == 0


def test_added_latency_holds_status_checks(sf: Any, connect: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async("select 1")
    sf.configure(latency_ms=200)
    started = time.monotonic()
    conn.get_query_status(cur.sfqid)
    assert time.monotonic() - started >= 0.2


def test_an_injected_failure_of_a_status_check_is_the_usual_envelope(sf: Any, connect: Any) -> None:
    token = connect().rest.token
    sf.configure(fail_next_http=(503, 1), fail_http_path="/monitoring/")
    request = urllib.request.Request(
        f"{sf.url}/monitoring/queries/{uuid.uuid4()}", headers={"Authorization": f'Snowflake Token="{token}"'}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    with info.value as error:
        assert (error.code, error.headers["Retry-After"]) == (503, "0")
        body = json.loads(error.read())
    assert body == {"data": None, "code": None, "message": "injected HTTP 503", "success": False}
    with urllib.request.urlopen(request, timeout=5) as response:  # the burst is spent: answered again
        assert json.loads(response.read()) == {"data": {"queries": []}, "code": None, "message": None, "success": True}


def test_the_server_parses_http_with_httptools() -> None:
    """The `local` extra brings httptools; without it uvicorn falls back to h11, at twice the CPU per request."""
    pytest.importorskip("fakesnow", reason="the local Snowflake needs fakesnow")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from flyteplugins.snowflake.local._app import State
    from flyteplugins.snowflake.local._knobs import Knobs
    from flyteplugins.snowflake.local._server import _dropping_protocol

    state = State(Knobs(), "test-admin-token-0123456789")
    try:
        assert issubclass(_dropping_protocol(state), HttpToolsProtocol)
    finally:
        state.close()
