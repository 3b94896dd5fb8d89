"""A snowflake:// reference is untrusted input: it cannot choose where the reading task's credentials go.

A real listener on 127.0.0.1 stands in for a foreign host (directly, or as the proxy a URI names). The
reference is read the way a downstream task's input is, through flyte's dataframe engine and the real driver.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import pytest

from flyteplugins.snowflake import _client
from flyteplugins.snowflake import dataframe as sfdf
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.errors import SnowflakeConfigError, SnowflakeError
from snowflake_harness import decode_dataframe

pytestmark = [
    pytest.mark.integration,
    # flyte.io's File model uses a class-based pydantic config; importing it warns (not ours to fix).
    pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning"),
]

QID = "01b2c3d4-0000-1a2b-0000-00010203abcd"
MARKER = "not-a-snowflake-secret-7f3a"
FAST = {"login_timeout": "2", "network_timeout": "2"}


class Listener:
    """A TCP listener on 127.0.0.1 that records what each connection sends, then closes it."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port: int = self._server.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.5)
                data = b""
                try:
                    while chunk := conn.recv(65536):
                        data += chunk
                        if b"\r\n\r\n" in data and len(data) > 200:
                            break
                except (TimeoutError, OSError):
                    pass
                self.received.append(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    from flyte.io._dataframe import lazy_import_dataframe_handler

    lazy_import_dataframe_handler()
    sfdf.register_handlers()
    for name in (
        "FLYTE_SNOWFLAKE_URI_HOSTS",
        "FLYTE_SNOWFLAKE_URI_SECRET_VARIABLES",
        "FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MARKER)
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", MARKER)


def _reference(account: str = "myorg-acct", **params: Any) -> str:
    query = {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in params.items()}
    return f"snowflake://FLYTE/{account}/WH/DB/PUBLIC/{QID}?{urlencode(query)}"


def _read(uri: str) -> Any:
    return decode_dataframe(uri, "", pd.DataFrame)


def test_a_reference_cannot_send_another_variable_to_a_host_it_picks(listener: Listener) -> None:
    uri = _reference(
        host="127.0.0.1", port=listener.port, protocol="http", snowflake_password="AWS_SECRET_ACCESS_KEY", **FAST
    )
    with pytest.raises(SnowflakeConfigError, match=r"'AWS_SECRET_ACCESS_KEY'.*nothing was read or sent") as info:
        _read(uri)
    assert MARKER not in str(info.value)
    assert listener.received == []


def test_a_reference_cannot_send_credentials_to_a_foreign_host_through_a_proxy_it_picks(listener: Listener) -> None:
    proxy = {"proxy_host": "127.0.0.1", "proxy_port": str(listener.port)}
    uri = _reference(host="db.example.test", connection_kwargs=proxy, snowflake_password="SNOWFLAKE_PASSWORD", **FAST)
    with pytest.raises(SnowflakeConfigError, match="proxy_host, proxy_port, which a snowflake:// URI may not choose"):
        _read(uri)
    # the account's own host through the URI's proxy is refused too
    with pytest.raises(SnowflakeConfigError, match="FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS"):
        _read(_reference(connection_kwargs=proxy, snowflake_password="SNOWFLAKE_PASSWORD", **FAST))
    assert listener.received == []


def test_a_reference_cannot_pick_a_foreign_host(listener: Listener) -> None:
    with pytest.raises(SnowflakeConfigError, match=r"'db\.example\.test'.*FLYTE_SNOWFLAKE_URI_HOSTS"):
        _read(_reference(host="db.example.test", snowflake_password="SNOWFLAKE_PASSWORD", **FAST))
    with pytest.raises(SnowflakeConfigError, match="protocol='http'"):
        _read(_reference(protocol="http", port=listener.port, snowflake_password="SNOWFLAKE_PASSWORD", **FAST))
    assert listener.received == []


def test_the_reading_tasks_own_proxy_and_host_are_used(listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_SNOWFLAKE_URI_HOSTS", "db.example.test")
    monkeypatch.setenv(
        "FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS",
        json.dumps({"proxy_host": "127.0.0.1", "proxy_port": str(listener.port)}),
    )
    # the URI's own proxy is replaced by the reading task's
    uri = _reference(
        host="db.example.test",
        connection_kwargs={"proxy_host": "10.9.9.9", "proxy_port": "9"},
        snowflake_password="SNOWFLAKE_PASSWORD",
        **FAST,
    )
    with pytest.raises(SnowflakeError):  # the listener is no proxy: the login fails once it went through it
        _read(uri)
    assert listener.received and listener.received[0].startswith(b"CONNECT db.example.test:443 ")


def test_a_proxy_in_the_reading_tasks_environment_carries_the_login(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listener.port}")
    with pytest.raises(SnowflakeError):  # the listener is no proxy: the login fails once it went through it
        _read(_reference(snowflake_password="SNOWFLAKE_PASSWORD", **FAST))
    assert listener.received and listener.received[0].startswith(b"CONNECT myorg-acct.snowflakecomputing.com:443 ")


def test_our_own_reference_to_the_local_snowflake_still_reads(
    local_snowflake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sf = local_snowflake.connect_kwargs()
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", sf["password"])
    config = SnowflakeConfig(
        sf["account"], sf["database"], sf["schema"], sf["warehouse"], sf["user"],
        host=sf["host"], port=sf["port"], protocol="http", network_timeout=30,
        connection_kwargs={"client_prefetch_threads": 2},
    )  # fmt: skip
    conn = _client.login({**config.driver_kwargs(), "password": sf["password"]})
    try:
        query_id = _client.submit(conn, "SELECT 1 AS N UNION ALL SELECT 2", None, statement_params={})
    finally:
        conn.close()
    from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

    meta = SnowflakeJobMetadata(
        account=config.account, user=config.user, database=config.database, schema=config.schema,
        warehouse=config.warehouse, query_id=query_id, has_output=True, config=config.to_custom(),
        secrets={"snowflake_password": "SNOWFLAKE_PASSWORD"},
    )  # fmt: skip
    uri = sfdf.result_reference(meta, query_id).uri
    assert uri is not None
    assert sorted(_read(uri)["N"].tolist()) == [1, 2]
