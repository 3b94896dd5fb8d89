"""The driver's telemetry: sent by default, as to Snowflake; the local Snowflake counts it and keeps nothing of it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_the_driver_sends_telemetry_by_default_and_it_is_counted(sf: Any, connect: Any) -> None:
    before = sf.stats()["telemetry_logs"]
    conn = connect()
    assert conn.telemetry_enabled
    conn.cursor().execute("select 1").fetchall()
    pending = len(conn._telemetry._log_batch)
    assert pending > 0
    conn.close()  # sends the batch
    assert sf.stats()["telemetry_logs"] - before >= pending


def test_a_session_with_telemetry_disabled_sends_none(sf: Any, connect: Any) -> None:
    before = sf.stats()["telemetry_logs"]
    conn = connect(session_parameters={"CLIENT_TELEMETRY_ENABLED": False})
    assert not conn.telemetry_enabled
    conn.cursor().execute("select 1").fetchall()
    conn.close()
    assert sf.stats()["telemetry_logs"] == before


def test_telemetry_without_a_session_is_refused(sf: Any) -> None:
    request = urllib.request.Request(
        f"{sf.url}/telemetry/send",
        data=json.dumps({"logs": [{"message": {}}]}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["success"] is False
    assert answer["code"] == "390111", answer  # no session
