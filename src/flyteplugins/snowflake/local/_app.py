"""The local Snowflake's HTTP app: the driver's wire protocol, fault injection, and the admin API under `/_local`.

Every wire-protocol answer is HTTP 200 with Snowflake's `code` / `message` / `data.sqlState` (never a bare 500),
except the faults a test asks for (HTTP 429/5xx bursts, dropped connections, added latency).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hmac
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import _fakesnow as fs
from ._access import DEFAULT_WAREHOUSE, Directory, Role
from ._admin_token import ADMIN_AUTH_SCHEME, ADMIN_TOKEN_ENV
from ._bodies import BodyTooLarge, json_body
from ._engine import Engine, QueryError, QueryRecord
from ._knobs import Knobs
from ._objects import Objects
from ._parameters import ParameterError
from ._sessions import MASTER_VALIDITY_S, SESSION_VALIDITY_S, LoginError, Session, SessionStore, User, verify_login

ADMIN_PREFIX = "/_local"
# Where result chunks are downloaded from (Snowflake's are presigned cloud-storage URLs): not under ADMIN_PREFIX,
# so faults apply to chunk downloads as to every driver request.
CHUNK_PREFIX = "/result-chunks"
# The headers Snowflake on AWS asks the driver to send with every chunk download (SSE-C: the result's key).
_SSE_C_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
_SSE_C_KEY = "x-amz-server-side-encryption-customer-key"
_TOKEN_RE = re.compile(r'Snowflake Token="([^"]*)"')
# Where the driver checks a query's status: answered before the router (see _StatusChecks).
_STATUS_CHECK_PREFIX = "/monitoring/queries/"
_ASYNC_MESSAGE = "Asynchronous execution in progress. Use provided query id to perform query monitoring and management."


class State:
    """Everything the app shares: knobs (replaced whole, so worker threads read a consistent copy), sessions,
    the engine. `initial_knobs` is what `reset` returns to; `admin_token` is what admin requests must carry."""

    def __init__(
        self,
        knobs: Knobs,
        admin_token: str,
        warehouses: Sequence[str] = (DEFAULT_WAREHOUSE,),
        users: Mapping[str, str] | None = None,
        databases: Sequence[tuple[str, str]] = (),
    ) -> None:
        if not admin_token:
            raise ValueError("the local Snowflake needs an admin token")
        self.admin_token = admin_token
        self.initial_knobs = knobs
        self.knobs = knobs
        self.sessions = SessionStore()
        #: the users of the start-up (name -> password): they log in from the start and stay through `reset`
        self.initial_users = {user.name: user for user in (User.build(n, password=p) for n, p in (users or {}).items())}
        self.sessions.users.update(self.initial_users)
        self.database = fs.Database()
        for database, schema in databases:  # what exists from the start (logins create nothing)
            self.database.create(database, schema)
        self.directory = Directory(warehouses)
        self.engine = Engine(self.database, lambda: self.knobs, objects=Objects(self.directory))
        self.started = time.time()
        #: telemetry entries the driver sent (`/telemetry/send`): counted, their contents neither kept nor passed on
        self.telemetry_logs = 0

    def take_drop(self, first_bytes: bytes) -> bool:
        """Whether to drop the connection carrying this request (a wire request while `drop_count` > 0)."""
        if self.knobs.drop_count <= 0 or f" {ADMIN_PREFIX}/".encode() in first_bytes[:64]:
            return False
        if not first_bytes[:8].split(b" ", 1)[0].isalpha():
            return False
        self.knobs = dataclasses.replace(self.knobs, drop_count=self.knobs.drop_count - 1)
        return True

    def close(self) -> None:
        self.engine.shutdown()
        for session in self.sessions.live():
            self.sessions.delete(session)
        self.database.close()


class _Json(JSONResponse):
    """Starlette's JSON response, byte for byte, from one encoder: `json.dumps` with options builds a new encoder
    per call, which cost more than encoding a status check's answer."""

    _encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))

    def render(self, content: Any) -> bytes:
        return self._encoder.encode(content).encode("utf-8")


def _ok(data: Any = None, **extra: Any) -> _Json:
    return _Json({"data": data, "code": None, "message": None, "success": True, **extra})


def _error(errno: int, message: str, sqlstate: str | None = None, query_id: str | None = None) -> _Json:
    code = f"{errno:06d}"
    data = {"errorCode": code, "sqlState": sqlstate, "queryId": query_id, "age": 0}
    return _Json({"data": data, "code": code, "message": message, "success": False, "headers": None})


async def _json_body(request: Request, state: State) -> dict[str, Any]:
    return await json_body(request.stream(), request.headers, state.knobs.max_request_bytes)


def _token(request: Request) -> str:
    match = _TOKEN_RE.search(request.headers.get("Authorization", ""))
    return match.group(1) if match else ""


# -------------------------------------------------------------------------------------------------------------------
# Wire protocol


def _login_context(
    directory: Directory, user: User | None, params: Mapping[str, str], monitor_roles: tuple[str, ...] = ()
) -> tuple[str, str | None, frozenset[str] | None]:
    """The session's role, warehouse (None when it is unknown or not the role's to use) and assumable roles.
    A role named in the login must exist (a system role, a registered or monitor role, or one the user has)."""
    asked = params.get("roleName")
    role = (asked or (user.default_role if user else None) or "PUBLIC").upper()
    roles = user.roles if user else None
    if asked and roles is not None and role not in roles and role != "PUBLIC":
        raise LoginError(390189, f"Role '{role}' specified in the connect string is not granted to this user.")
    own = set(roles or ())
    if user is not None and user.default_role:
        own.add(user.default_role.upper())
    if asked and role not in own and role not in monitor_roles and not directory.role_exists(role):
        raise LoginError(390189, f"Role '{role}' specified in the connect string does not exist or not authorized.")
    warehouse = params.get("warehouse") or (user.default_warehouse if user else None)
    return role, directory.usable_warehouse(role, warehouse), roles


def _validate_context(session: Session, params: Mapping[str, str]) -> None:
    """`validate_default_parameters=True`: a login naming a database, schema or warehouse that it does not get
    (it does not exist, or its role may not use it) fails, as in Snowflake; without it such a login succeeds
    without a current one."""
    for kind, asked, got in (
        ("database", params.get("databaseName"), session.database),
        ("schema", params.get("schemaName"), session.schema),
        ("warehouse", params.get("warehouse"), session.warehouse),
    ):
        if asked and not got:
            raise LoginError(390201, f"The requested {kind} does not exist or not authorized.")


def build_app(state: State) -> ASGIApp:
    """The ASGI app of one local Snowflake (`state` holds its in-memory database). Serve it with uvicorn."""

    def session_of(request: Request) -> Session:
        return state.sessions.lookup(_token(request))

    async def login(request: Request) -> Response:
        body = await _json_body(request, state)
        data: dict[str, Any] = body.get("data") or {}
        user_name = str(data.get("LOGIN_NAME") or "")
        if state.knobs.reject_logins:
            return _error(390100, "Incorrect username or password was specified.", "28000")
        user = state.sessions.users.get(user_name.upper())
        try:
            verify_login(data, user, state.knobs.strict_users)
            role, warehouse, roles = _login_context(
                state.directory, user, request.query_params, state.knobs.monitor_roles
            )
        except LoginError as exc:
            return _error(exc.errno, exc.message, "28000")
        params = request.query_params
        session_parameters: dict[str, Any] = data.get("SESSION_PARAMETERS") or {}
        autocommit = bool(session_parameters.get("AUTOCOMMIT", True))
        database, schema = params.get("databaseName"), params.get("schemaName")
        database = database.upper() if database and not database.startswith('"') else database
        if not state.directory.may_use_database(role, database):
            database, schema = None, None  # Snowflake: the login succeeds without a current database
        schema = schema.upper() if schema and not schema.startswith('"') else schema
        try:
            conn = await asyncio.to_thread(state.database.connect, database, schema, autocommit)
        except fs.SnowflakeError as exc:
            return _error(int(exc.errno or 390201), exc.msg or str(exc), exc.sqlstate or "08001")
        session = state.sessions.create(
            user=user_name.upper(),
            account=str(data.get("ACCOUNT_NAME") or ""),
            database=conn.database,
            schema=conn.schema,
            warehouse=warehouse,
            role=role,
            roles=roles,
            conn=conn,
        )
        session.client = (str(data.get("CLIENT_APP_ID") or ""), _version(data.get("CLIENT_APP_VERSION")))
        try:
            session.parameters.set_at_login(session_parameters)
            if session.parameters.get("CLIENT_VALIDATE_DEFAULT_PARAMETERS"):
                _validate_context(session, params)
        except (ParameterError, LoginError) as exc:
            state.sessions.delete(session)
            await asyncio.to_thread(fs.close, conn)
            if isinstance(exc, LoginError):
                return _error(exc.errno, exc.message, "08004")
            return _error(exc.errno, exc.message, exc.sqlstate)
        # the session's time zone on its connection now, not in its first statement's time
        await asyncio.to_thread(fs.apply_session, conn, session.parameters.time_zone, None)
        return _ok(
            {
                "token": session.token,
                "masterToken": session.master_token,
                "validityInSeconds": SESSION_VALIDITY_S,
                "masterValidityInSeconds": MASTER_VALIDITY_S,
                "sessionId": session.session_id,
                "serverVersion": fs.SERVER_VERSION,
                "parameters": session.parameters.wire(),
                "sessionInfo": {
                    "databaseName": session.database,
                    "schemaName": session.schema,
                    "warehouseName": session.warehouse,
                    "roleName": session.role,
                },
            }
        )

    async def token_request(request: Request) -> Response:
        body = await _json_body(request, state)
        try:
            session = state.sessions.renew(_token(request), str(body.get("oldSessionToken") or ""))
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08001")
        return _ok(
            {
                "sessionToken": session.token,
                "validityInSeconds": SESSION_VALIDITY_S,
                "masterToken": session.master_token,
                "masterValidityInSeconds": MASTER_VALIDITY_S,
            }
        )

    async def session_endpoint(request: Request) -> Response:
        try:
            session = session_of(request)
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08003")
        if request.query_params.get("delete") == "true":
            state.sessions.delete(session)

            def close_conn() -> None:
                with session.lock:
                    state.engine.end_session(session)
                    fs.close(session.conn)

            await asyncio.to_thread(close_conn)
        return _ok()

    async def heartbeat(request: Request) -> Response:
        try:
            session_of(request)
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08003")
        return _ok()

    async def query_request(request: Request) -> Response:
        try:
            session = session_of(request)
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08003")
        body = await _json_body(request, state)
        sql = str(body.get("sqlText") or "")
        record = state.engine.submit(
            session,
            sql,
            request_id=request.query_params.get("requestId", ""),
            asynchronous=bool(body.get("asyncExec")),
            bindings=body.get("bindings"),
            bind_stage=body.get("bindStage"),
            statement_params=body.get("parameters"),
            describe_only=bool(body.get("describeOnly")),
        )
        if record.asynchronous:
            data = {
                "queryId": record.query_id,
                "getResultUrl": f"/queries/{record.query_id}/result",
                "queryAbortsAfterSecs": 172800,
                "progressDesc": None,
            }
            return _Json({"data": data, "code": "333334", "message": _ASYNC_MESSAGE, "success": True})
        return await answer(record, str(request.base_url))

    async def answer(record: QueryRecord, base_url: str) -> Response:
        """The query's result if it ends within `result_wait_ms`, else "in progress" (the driver polls again)."""
        if not await state.engine.wait(record, state.knobs.result_wait_ms / 1000):
            data = {"queryId": record.query_id, "getResultUrl": f"/queries/{record.query_id}/result"}
            return _Json({"data": data, "code": "333333", "message": "Query execution in progress", "success": True})
        try:
            result = state.engine.result_of(record)
        except QueryError as exc:
            return _error(exc.errno, exc.message, exc.sqlstate, record.query_id)
        data = await asyncio.to_thread(_result_data, record, result, state.knobs, base_url)
        return _ok(data)

    async def query_result(request: Request) -> Response:
        try:
            session = session_of(request)
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08003")
        query_id = request.path_params["query_id"]
        record = state.engine.result_for(query_id, session)
        if record is None:
            return _error(709, f"Statement {query_id} not found", "02000", query_id)
        return await answer(record, str(request.base_url))

    async def result_chunk(request: Request) -> Response:
        """One chunk of a large result, as cloud storage serves it: an Arrow IPC stream, or an S3-like error."""
        record = state.engine.get(request.path_params["query_id"])
        signature = request.query_params.get("X-Amz-Signature", "")
        if record is None or not hmac.compare_digest(signature, record.chunk_signature):
            return _storage_error(403, "AccessDenied", "Request has expired or the signature does not match")
        sse_key = request.headers.get(_SSE_C_KEY, "")
        if not hmac.compare_digest(sse_key, record.chunk_key) or request.headers.get(_SSE_C_ALGORITHM) != "AES256":
            return _storage_error(400, "InvalidArgument", "The SSE-C key of the result is missing or wrong")
        result = record.result
        if result is None:  # evicted (TTL, count or byte cap): its files are gone
            return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
        offset, rows = request.path_params["offset"], request.path_params["rows"]
        if request.url.path.rpartition("/")[2].startswith("json_"):
            text = await asyncio.to_thread(_json_chunk, result, offset, rows)
            return Response(text.encode(), media_type="application/json")
        body = await asyncio.to_thread(result.ipc, offset, rows)
        return Response(body, media_type="application/octet-stream")

    async def monitoring(request: Request) -> Response:
        try:
            session = session_of(request)
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08003")
        record = state.engine.get(request.path_params["query_id"])
        if record is None or not state.engine.visible(record, session):  # another user's: as if unknown
            return _ok({"queries": []})
        data: dict[str, Any] = {"queries": [record.monitoring()]}
        if record.error is not None:
            data["sqlState"] = record.error.sqlstate
        return _ok(data)

    async def abort_request(request: Request) -> Response:
        """The driver's cancel of a running statement (timeout, Ctrl-C): found by the statement's request id."""
        try:
            session = session_of(request)
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08003")
        body = await _json_body(request, state)
        record = state.engine.by_request(session, str(body.get("requestId") or ""))
        if record is not None:
            state.engine.cancel(record.query_id)
        return _ok()

    async def abort_query(request: Request) -> Response:
        """`cursor.abort_query(qid)`: success is whether a running query (one the session may cancel) was cancelled."""
        try:
            session = session_of(request)
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08003")
        cancelled = state.engine.cancel(request.path_params["query_id"], by=session)
        return _Json({"data": None, "code": None, "message": None, "success": cancelled})

    async def telemetry(request: Request) -> Response:
        """The driver's telemetry batch (`{"logs": [...]}`), sent when a session has CLIENT_TELEMETRY_ENABLED (the
        default): accepted as Snowflake accepts it, counted, and dropped; nothing of it leaves this process."""
        try:
            session_of(request)
        except LoginError as exc:
            return _error(exc.errno, exc.message, "08003")
        logs = (await _json_body(request, state)).get("logs")
        state.telemetry_logs += len(logs) if isinstance(logs, list) else 0
        return _ok()

    def wire(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except BodyTooLarge as exc:
                return _error(390400, str(exc), "54000")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a malformed request
                return _error(390400, f"Bad request: {type(exc).__name__}: {exc}", "08000")
            except Exception as exc:  # a bug of ours: still a Snowflake error, never a bare HTTP 500
                return _error(603, f"SQL execution internal error: {type(exc).__name__}: {exc}", "XX000")

        return wrapped

    status_check = wire(monitoring)
    routes = [
        Route("/session/v1/login-request", wire(login), methods=["POST"]),
        Route("/session/token-request", wire(token_request), methods=["POST"]),
        Route("/session", wire(session_endpoint), methods=["POST"]),
        Route("/session/heartbeat", wire(heartbeat), methods=["POST"]),
        Route("/queries/v1/query-request", wire(query_request), methods=["POST"]),
        Route("/queries/v1/abort-request", wire(abort_request), methods=["POST"]),
        Route("/queries/{query_id}/result", wire(query_result), methods=["GET"]),
        Route("/queries/{query_id}/abort-request", wire(abort_query), methods=["POST"]),
        Route(f"{_STATUS_CHECK_PREFIX}{{query_id}}", status_check, methods=["GET"]),
        Route("/telemetry/send", wire(telemetry), methods=["POST"]),
        Route(f"{CHUNK_PREFIX}/{{query_id}}/data_{{offset:int}}_{{rows:int}}", result_chunk, methods=["GET"]),
        Route(f"{CHUNK_PREFIX}/{{query_id}}/json_{{offset:int}}_{{rows:int}}", result_chunk, methods=["GET"]),
        *_admin_routes(state),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(state.close)

    app = Starlette(routes=routes, lifespan=lifespan)
    # Browsers are turned away before anything else; then faults, so they meet status checks too; then status
    # checks, which skip Starlette altogether.
    return _RefuseBrowsers(_FaultMiddleware(_StatusChecks(app, status_check), state))


def _version(text: Any) -> tuple[int, ...]:
    """'4.8.1' -> (4, 8, 1); the leading numbers only ('2.9.0rc1' -> (2, 9, 0)); () when there are none."""
    numbers = re.findall(r"\d+", str(text or "").split("-")[0])
    return tuple(int(n) for n in numbers[:3])


def _storage_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status_code=status, media_type="application/xml")


def chunk_plan(result: fs.StatementResult, knobs: Knobs) -> list[tuple[int, int]]:
    """(offset, rows) of each part of a result: the first is sent inline, the others as chunks to download.

    As Snowflake does, the parts grow: the first is about `result_first_chunk_bytes` of Arrow data, each next one
    twice the one before, up to `result_chunk_bytes`; none holds more than `result_chunk_rows` rows. A small result
    is one inline part.
    """
    if result.total <= 0:
        return [(0, 0)]
    bytes_per_row = max(1, result.nbytes // result.total)
    target = min(knobs.result_first_chunk_bytes, knobs.result_chunk_bytes)
    plan: list[tuple[int, int]] = []
    offset = 0
    while offset < result.total:
        rows = max(1, min(knobs.result_chunk_rows, target // bytes_per_row, result.total - offset))
        plan.append((offset, rows))
        offset += rows
        target = min(target * 2, knobs.result_chunk_bytes)
    return plan


def _result_data(record: QueryRecord, result: fs.StatementResult, knobs: Knobs, base_url: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "parameters": record.session.parameters.wire(),
        "rowtype": result.rowtype,
        "total": result.total,
        "returned": result.total,
        "queryId": record.query_id,
        "statementTypeId": result.statement_type_id,
        "finalDatabaseName": result.database or record.session.database,
        "finalSchemaName": result.schema or record.session.schema,
        "finalWarehouseName": record.session.warehouse,
        "finalRoleName": record.session.role,
        "sendResultTime": int(time.time() * 1000),
    }
    if result.json_rowset is not None:
        data.update(queryResultFormat="json", rowset=result.json_rowset)
    else:
        # Snowflake's way for large results: the first part inline, the rest as chunks downloaded by URL (the
        # driver fetches a few ahead while the caller reads), so neither side holds the whole result encoded.
        (_, first), *rest = chunk_plan(result, knobs)
        as_json = record.session.parameters.json_results(record.statement_params)
        if as_json:
            data.update(queryResultFormat="json", rowset=fs.json_rowset(result, 0, first))
        else:
            inline = result.ipc(0, first)
            data.update(queryResultFormat="arrow", rowsetBase64=base64.b64encode(inline).decode())
            del inline
        if rest:
            data.update(_chunks(record, result, rest, base_url, "json" if as_json else "data"))
    if result.stats is not None:
        data["stats"] = result.stats
    if result.transfer is not None:
        data.update(result.transfer)
    if result.result_ids:
        data["resultIds"] = ",".join(result.result_ids)
        data["resultTypes"] = ",".join("4096" for _ in result.result_ids)
    if record.describe_only:
        data["numberOfBinds"] = record.sql.count("?")
        data["arrayBindSupported"] = result.statement_type_id == 0x3100
    return data


def _chunks(
    record: QueryRecord, result: fs.StatementResult, parts: list[tuple[int, int]], base_url: str, kind: str
) -> dict[str, Any]:
    """The chunk list of a result's `parts` (offset, rows), each served at `kind`_<offset>_<rows>.

    Their URLs are shaped as Snowflake's presigned cloud-storage URLs, the signature a query parameter: the driver
    masks `X-Amz-Signature=...` wherever it logs a URL, as it does for Snowflake's."""
    prefix = f"{base_url.rstrip('/')}{CHUNK_PREFIX}/{record.query_id}"
    query = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={record.chunk_signature}"
    chunks = []
    for offset, rows in parts:
        # a JSON chunk's size is announced as its Arrow size: encoding it twice to count would cost more than
        # the driver's use of the figure (a memory estimate) is worth
        nbytes = result.ipc_size(offset, rows)
        chunks.append(
            {
                "url": f"{prefix}/{kind}_{offset}_{rows}?{query}",
                "rowCount": rows,
                "uncompressedSize": nbytes,
                "compressedSize": nbytes,
            }
        )
    return {
        "chunks": chunks,
        "qrmk": record.chunk_key,
        "chunkHeaders": {_SSE_C_ALGORITHM: "AES256", _SSE_C_KEY: record.chunk_key},
    }


def _json_chunk(result: fs.StatementResult, offset: int, rows: int) -> str:
    """A JSON result chunk as Snowflake stores it: the rows' arrays joined by commas, without brackets."""
    return ",".join(json.dumps(row, ensure_ascii=False) for row in fs.json_rowset(result, offset, rows))


class _StatusChecks:
    """`GET /monitoring/queries/<id>` straight to the route's endpoint, before Starlette's middleware and router.

    Status checks are most of a busy connector's requests (hundreds a second), and the way through Starlette cost
    about as much as the answer. Every other request, that path with another method included, goes on to `app`."""

    def __init__(self, app: ASGIApp, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query_id = _status_check_id(scope)
        if query_id is None:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = {"query_id": query_id}
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def _status_check_id(scope: Scope) -> str | None:
    """The query id of a status check (what the router's `/monitoring/queries/{query_id}` GET matches), or None."""
    if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(_STATUS_CHECK_PREFIX):
        return None
    query_id: str = scope["path"][len(_STATUS_CHECK_PREFIX) :]
    return query_id if query_id and "/" not in query_id else None


class _RefuseBrowsers:
    """Refuses every request a web browser sends (it carries `Origin` or a `Sec-Fetch-*` header; the driver and
    the admin client send neither), so a web page open on this machine can neither reconfigure the emulator nor
    log in to it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(_browser_header(name) for name, _ in scope["headers"]):
            response = _Json({"ok": False, "success": False, "error": BROWSER_REFUSED}, status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


BROWSER_REFUSED = "requests from a web browser (Origin or Sec-Fetch-* headers) are refused by the local Snowflake"


def _browser_header(name: bytes) -> bool:
    return name == b"origin" or name.startswith(b"sec-fetch-")


class _FaultMiddleware:
    """Added latency and HTTP error bursts on wire-protocol requests (the admin API is never affected)."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        knobs = self.state.knobs
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if knobs.fail_http_count > 0 and scope["path"].startswith(knobs.fail_http_path):
            self.state.knobs = dataclasses.replace(
                self.state.knobs, fail_http_count=self.state.knobs.fail_http_count - 1
            )
            status = knobs.fail_http_status
            response = _Json(
                {"data": None, "code": None, "message": f"injected HTTP {status}", "success": False},
                status_code=status,
                headers={"Retry-After": "0"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# -------------------------------------------------------------------------------------------------------------------
# Admin API


def admin_refusal(request: Request, token: str) -> Response | None:
    """Why an admin request is refused (401 without the server's token, 415 for a POST that is not JSON), or None.

    The content type matters as much as the token: a web page may send a `text/plain` POST to any address
    without asking first, never an `application/json` one."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme != ADMIN_AUTH_SCHEME or not hmac.compare_digest(given.strip().encode(), token.encode()):
        error = (
            "the admin API needs the token the server printed at start-up (or was given in "
            f"{ADMIN_TOKEN_ENV}), sent as 'Authorization: {ADMIN_AUTH_SCHEME} <token>'"
        )
        return _Json({"ok": False, "error": error}, status_code=401)
    content_type = request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if request.method == "POST" and content_type != "application/json":
        error = f"admin POST requests must be application/json, not {content_type or 'without a content type'}"
        return _Json({"ok": False, "error": error}, status_code=415)
    return None


def _admin_routes(state: State) -> list[Route]:
    def admin(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            refusal = admin_refusal(request, state.admin_token)
            if refusal is not None:
                return refusal
            try:
                return _Json({"ok": True, "result": await handler(request)})
            except BodyTooLarge as exc:
                return _Json({"ok": False, "error": str(exc)}, status_code=413)
            except (ValueError, TypeError, KeyError) as exc:
                return _Json({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status_code=400)

        return wrapped

    async def health(_: Request) -> Any:
        return {"pid": os.getpid(), "uptime_s": time.time() - state.started}

    async def knobs(request: Request) -> Any:
        if request.method == "POST":
            state.knobs = state.knobs.updated(await _json_body(request, state))
        return state.knobs.to_dict()

    async def reset(_: Request) -> Any:
        state.knobs = state.initial_knobs
        state.sessions.users.clear()
        state.directory.reset()
        state.sessions.users.update(state.initial_users)
        return state.knobs.to_dict()

    async def expire(request: Request) -> Any:
        body = await _json_body(request, state)
        return {"expired": state.sessions.expire_all(master=bool(body.get("master")))}

    async def users(request: Request) -> Any:
        body = await _json_body(request, state)
        user = User.build(
            str(body["name"]),
            password=body.get("password"),
            public_key_pem=body.get("public_key_pem"),
            pat=body.get("pat"),
            oauth_token=body.get("oauth_token"),
            default_role=body.get("default_role"),
            default_warehouse=body.get("default_warehouse"),
            roles=body.get("roles"),
        )
        state.sessions.users[user.name] = user
        return {"name": user.name}

    async def roles(request: Request) -> Any:
        body = await _json_body(request, state)
        role = Role.build(str(body["name"]), body.get("warehouses"), body.get("databases"))
        state.directory.add_role(role)
        return {"name": role.name}

    async def warehouses(request: Request) -> Any:
        body = await _json_body(request, state)
        name = str(body["name"])
        state.directory.add_warehouse(name, str(body.get("size") or "X-Small"), str(body.get("type") or "STANDARD"))
        return {"name": name.upper()}

    async def queries(request: Request) -> Any:
        wanted = request.query_params.get("query_id")
        records = state.engine.records()
        rows = [r.history_row() for r in records if not wanted or r.query_id == wanted]
        for row in rows:
            for key in ("START_TIME", "END_TIME"):
                row[key] = row[key].timestamp() if row[key] else None
        by_id = {r.query_id: r for r in records}
        for row in rows:
            row["STATUS"] = by_id[row["QUERY_ID"]].status
        return rows

    async def stats(_: Request) -> Any:
        state.engine.results.sweep(state.knobs)
        return {
            "sessions": len(state.sessions.live()),
            "queries": len(state.engine.records()),
            "history_bytes": state.engine.history_bytes(),
            "rss_bytes": _rss_bytes(),
            "plans": len(fs.PLANS),
            "plan_bytes": fs.PLANS.nbytes,
            "plan_hits": fs.PLANS.hits,
            "telemetry_logs": state.telemetry_logs,
            **state.engine.results.stats(),
        }

    return [
        Route(f"{ADMIN_PREFIX}/health", admin(health), methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/knobs", admin(knobs), methods=["GET", "POST"]),
        Route(f"{ADMIN_PREFIX}/reset", admin(reset), methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/expire-sessions", admin(expire), methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/users", admin(users), methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/roles", admin(roles), methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/warehouses", admin(warehouses), methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/queries", admin(queries), methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/stats", admin(stats), methods=["GET"]),
    ]


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


__all__ = ["ADMIN_PREFIX", "State", "build_app"]
