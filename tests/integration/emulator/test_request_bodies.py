"""Request bodies are bounded: a gzip bomb is refused after inflating no more than the bound, off the event loop."""

from __future__ import annotations

import gzip
import http.client
import json
import sys
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import snowflake.connector

from flyteplugins.snowflake.local import LocalSnowflake
from flyteplugins.snowflake.local._bodies import BodyTooLarge, gunzip_limited

pytestmark = pytest.mark.integration

_MIB = 1024 * 1024


def _bomb(inflated_mib: int) -> bytes:
    """A gzip body of `inflated_mib` MiB of JSON-looking zeros, about a thousandth of that size (built piecewise)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"0" * _MIB
    parts = [deflater.compress(b'{"sqlText": "')]
    parts += [deflater.compress(zeros) for _ in range(inflated_mib)]
    parts.append(deflater.compress(b'"}') + deflater.flush())
    return b"".join(parts)


def _post(sf: LocalSnowflake, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(sf.host, sf.port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def own_emulator() -> Iterator[LocalSnowflake]:
    """An emulator of this test's own: its peak RSS says what this test made it allocate."""
    pytest.importorskip("fakesnow", reason="the local Snowflake needs fakesnow")
    with LocalSnowflake() as sf:
        yield sf


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's peak RSS from /proc")
def test_a_gzip_bomb_is_refused_without_inflating_it_and_others_are_answered(own_emulator: LocalSnowflake) -> None:
    sf = own_emulator
    conn = snowflake.connector.connect(**sf.connect_kwargs())
    token = conn.rest.token
    bomb = _bomb(1024)  # 1 GiB once inflated, ~1 MiB sent
    assert len(bomb) < 2 * _MIB
    peak_before = _peak_rss(sf.pid or 0)
    answers: list[tuple[int, dict[str, Any]]] = []
    headers = {"Content-Encoding": "gzip", "Authorization": f'Snowflake Token="{token}"'}
    senders = [
        threading.Thread(target=lambda: answers.append(_post(sf, "/queries/v1/query-request", bomb, headers)))
        for _ in range(2)
    ]
    for sender in senders:
        sender.start()
    # other clients are answered while the bombs are being refused
    other = [conn.cursor().execute(f"select {i}").fetchone() for i in range(20)]
    for sender in senders:
        sender.join(60)
    assert other == [(i,) for i in range(20)]
    assert len(answers) == 2
    for status, answer in answers:
        assert status == 200 and answer["success"] is False and answer["code"] == "390400"
        assert "at most 134217728 bytes" in answer["message"] and "max_request_bytes" in answer["message"]
    grown = _peak_rss(sf.pid or 0) - peak_before
    # inflating it whole took over 2 GB (the body, then its copy); the bound lets at most 128 MiB come out each
    assert grown < 2 * 128 * _MIB + 128 * _MIB, f"peak RSS grew {grown / _MIB:.0f} MiB"
    assert sf.stats()["queries"] == 20, "the refused requests ran nothing"
    conn.close()


def test_a_body_over_the_bound_is_refused_as_sent_and_gzipped(sf: Any, connect: Any) -> None:
    sf.configure(max_request_bytes=64 * 1024)
    cur = connect(paramstyle="numeric").cursor()
    assert cur.execute("select :1", ("x" * 1000,)).fetchone() == ("x" * 1000,)
    with pytest.raises(snowflake.connector.errors.DatabaseError) as info:
        cur.execute("select :1", ("x" * 100_000,))  # the driver gzips it: the inflated size counts
    assert info.value.errno == 390400 and "65536" in str(info.value.msg)
    plain = json.dumps({"data": {"LOGIN_NAME": "u", "PASSWORD": "p" * 100_000}}).encode()
    status, answer = _post(sf, "/session/v1/login-request", plain, {})
    assert status == 200 and answer["code"] == "390400"


def test_gunzip_limited_inflates_every_member_and_stops_at_the_bound() -> None:
    two_members = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 1000)
    assert gunzip_limited(two_members, 2000) == b"a" * 1000 + b"b" * 1000
    with pytest.raises(BodyTooLarge):
        gunzip_limited(two_members, 1999)
    with pytest.raises(ValueError, match="ends before its end"):
        gunzip_limited(gzip.compress(b"c" * 5000)[:-12], 10_000)
