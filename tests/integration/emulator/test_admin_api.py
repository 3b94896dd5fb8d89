"""The admin API answers only its own client: the server's token, a JSON body, no browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from flyteplugins.snowflake.local._admin_token import ADMIN_TOKEN_ENV

pytestmark = pytest.mark.integration

_FORGED = {"strict_users": False, "reject_logins": True, "latency_ms": 999}  # would open logins to anyone


def _send(url: str, body: bytes | None, headers: dict[str, str], method: str = "POST") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"{}")


def _knobs_url(sf: Any) -> str:
    return f"{sf.url}/_local/knobs"


def _auth(sf: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {sf.admin_token}"}


_JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("case", "with_token", "headers", "status"),
    [
        ("no token", False, _JSON, 401),
        ("a wrong token", False, {**_JSON, "Authorization": "Bearer not-the-token"}, 401),
        # with the right token: the content type or the browser's headers alone refuse these
        ("text/plain", True, {"Content-Type": "text/plain"}, 415),
        ("a form", True, {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("an Origin header", True, {**_JSON, "Origin": "http://evil.example"}, 403),
        ("Sec-Fetch-Site", True, {**_JSON, "Sec-Fetch-Site": "cross-site"}, 403),
    ],
)
def test_an_admin_post_that_is_not_from_its_client_is_refused_and_changes_nothing(
    sf: Any, case: str, with_token: bool, headers: dict[str, str], status: int
) -> None:
    before = sf.knobs()
    sent = {**(_auth(sf) if with_token else {}), **headers}
    answer = _send(_knobs_url(sf), json.dumps(_FORGED).encode(), sent)
    assert answer[0] == status, (case, answer)
    assert answer[1]["ok"] is False and answer[1]["error"], case
    assert sf.knobs() == before, case
    assert sf.knobs()["strict_users"] is True


def test_other_admin_endpoints_need_the_token_too(sf: Any, connect: Any) -> None:
    sf.configure(latency_ms=5)
    for path, body in (("reset", {}), ("users", {"name": "intruder", "password": "x"}), ("expire-sessions", {})):
        code, _ = _send(f"{sf.url}/_local/{path}", json.dumps(body).encode(), _JSON)
        assert code == 401, path
    for path in ("stats", "queries", "knobs", "health"):
        assert _send(f"{sf.url}/_local/{path}", None, {}, method="GET")[0] == 401, path
    assert sf.knobs()["latency_ms"] == 5  # the reset was refused
    with pytest.raises(Exception, match="390100"):
        connect(user="intruder", password="x")  # the user was not added


def test_the_admin_client_passes_its_token(sf: Any) -> None:
    assert len(sf.admin_token) >= 32
    code, answer = _send(_knobs_url(sf), json.dumps({"latency_ms": 7}).encode(), {**_JSON, **_auth(sf)})
    assert code == 200 and answer["result"]["latency_ms"] == 7
    sf.dirty = True
    assert sf.configure(latency_ms=0)["latency_ms"] == 0


def test_a_browser_cannot_log_in_either(sf: Any) -> None:
    sessions = sf.stats()["sessions"]
    body = json.dumps({"data": {"LOGIN_NAME": "u", "PASSWORD": "p"}}).encode()
    url = f"{sf.url}/session/v1/login-request"
    code, answer = _send(url, body, {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert code == 403 and "browser" in answer["error"]
    assert sf.stats()["sessions"] == sessions


def _serve(env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "flyteplugins.snowflake.local", "--port", "0"]
    env = {**env, "FLYTE_SNOWFLAKE_LOCAL_PASSWORD": "given"}  # else a made-up password is printed before READY
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_server_started_by_hand_prints_its_token_or_takes_it_from_the_environment() -> None:
    base = {k: v for k, v in os.environ.items() if k != ADMIN_TOKEN_ENV}
    with _serve(base) as proc:
        try:
            assert proc.stdout is not None
            printed = proc.stdout.readline().split()
            assert printed[0] == "ADMIN_TOKEN" and len(printed[1]) >= 32
            url = "http://" + proc.stdout.readline().split()[1]
            assert _send(f"{url}/_local/stats", None, {}, method="GET")[0] == 401
            assert _send(f"{url}/_local/stats", None, {"Authorization": f"Bearer {printed[1]}"}, "GET")[0] == 200
        finally:
            proc.terminate()
            proc.communicate(timeout=10)

    chosen = "a-token-the-user-chose-0123456789"
    with _serve({**base, ADMIN_TOKEN_ENV: chosen}) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("READY "), "a token given in the environment is not printed"
            url = "http://" + line.split()[1]
            assert _send(f"{url}/_local/stats", None, {"Authorization": f"Bearer {chosen}"}, "GET")[0] == 200
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


def test_a_short_token_in_the_environment_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flyteplugins.snowflake.local", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, ADMIN_TOKEN_ENV: "short"},
    )
    assert proc.returncode != 0 and proc.stdout == ""
    assert ADMIN_TOKEN_ENV in proc.stderr and "at least 16" in proc.stderr
