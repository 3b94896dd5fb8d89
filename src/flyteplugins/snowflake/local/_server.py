"""Serving the local Snowflake in this process with uvicorn (what the CLI and the subprocess run)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ._access import DEFAULT_WAREHOUSE
from ._app import State, build_app
from ._knobs import Knobs, check_loopback


def _dropping_protocol(state: State) -> type[Any]:
    """uvicorn's HTTP protocol, able to drop a connection unanswered (the `drop_count` knob).

    Dropping needs the transport, which ASGI never exposes, hence a protocol subclass."""

    class DroppingProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
        def data_received(self, data: bytes) -> None:
            if state.take_drop(data):
                self.transport.abort()
                return
            super().data_received(data)

    return DroppingProtocol


async def serve_async(
    host: str = "127.0.0.1",
    port: int = 0,
    knobs: Knobs | None = None,
    on_ready: Callable[[str, int], None] | None = None,
    *,
    admin_token: str,
    warehouses: Sequence[str] = (DEFAULT_WAREHOUSE,),
    users: Mapping[str, str] | None = None,
    databases: Sequence[tuple[str, str]] = (),
) -> None:
    """Serve until cancelled or signalled; `on_ready(host, port)` runs once connections are accepted. Admin
    requests must carry `admin_token`; `warehouses` exist from the start (and again after a reset); `users`
    (name -> password) log in from the start; `databases` ((database, schema) pairs) exist from the start."""
    check_loopback(host)
    state = State(knobs or Knobs(), admin_token, warehouses, users, databases)
    app = build_app(state)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        http=_dropping_protocol(state),
        # Loopback only, never behind a proxy: X-Forwarded-* headers must not rewrite the client or the scheme.
        proxy_headers=False,
        server_header=False,  # "server: uvicorn" on every answer: nothing reads it (Snowflake sends none)
        lifespan="on",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("the local Snowflake did not start")
        await asyncio.sleep(0.005)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    if on_ready is not None:
        on_ready(host, int(bound_port))
    await task


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    knobs: Knobs | None = None,
    on_ready: Callable[[str, int], None] | None = None,
    *,
    admin_token: str,
    warehouses: Sequence[str] = (DEFAULT_WAREHOUSE,),
    users: Mapping[str, str] | None = None,
    databases: Sequence[tuple[str, str]] = (),
) -> None:
    """Serve the local Snowflake in this process until interrupted (Ctrl-C / SIGTERM). `users` (name ->
    password) log in from the start and stay through `reset`; other users only once added at run time.

    Example:
        token = secrets.token_urlsafe(32)  # admin requests send `Authorization: Bearer <token>`
        serve(port=0, admin_token=token, on_ready=lambda host, port: print(f"READY {host}:{port}", flush=True))
    """
    serving = serve_async(
        host, port, knobs, on_ready, admin_token=admin_token, warehouses=warehouses, users=users, databases=databases
    )
    asyncio.run(serving)
