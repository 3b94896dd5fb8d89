"""The driver's requests skip the environment only when it holds nothing for them (`_client.login`).

`requests` reads every environment variable twice per request looking for a proxy, and a netrc file; our
logins turn that off when no proxy or CA-bundle variable is set and there is no netrc file. Each test logs in
with the real driver on the local Snowflake and runs a statement, then looks at the session's `requests`
sessions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flyteplugins.snowflake import _client

pytestmark = pytest.mark.integration


def _login_and_run(sf: Any) -> list[bool]:
    """Log in, run a statement (so the session's HTTP sessions exist), and return each one's `trust_env`."""
    conn = _client.login(sf.connect_kwargs(network_timeout=10, login_timeout=5))
    try:
        query_id = _client.submit(conn, "SELECT :1 AS n", [7], statement_params={})
        # Just submitted, the query may not be known to the monitoring endpoint yet (NO_DATA), as on Snowflake.
        assert _client.poll(conn, query_id).status in ("NO_DATA", "QUEUED", "RUNNING", "SUCCESS")
        manager = conn.rest.session_manager
        sessions = [
            session
            for pool in manager.sessions_map.values()
            for session in [*pool._idle_sessions, *pool._active_sessions]
        ]
        assert sessions, "the driver made no pooled session"
        return [session.trust_env for session in sessions]
    finally:
        conn.close()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No proxy, CA-bundle or netrc variable, and a home without a netrc file."""
    import os

    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name.upper() in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def test_nothing_in_the_environment_means_no_lookups(local_snowflake_fresh: Any, clean_environment: Any) -> None:
    trusted = _login_and_run(local_snowflake_fresh)
    assert not any(trusted), trusted


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HTTPS_PROXY", "http://127.0.0.1:9"),  # the emulator is http://: an https proxy is not used for it
        ("no_proxy", "example.com"),
        ("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem"),
    ],
)
def test_a_variable_requests_reads_keeps_the_lookups(
    local_snowflake_fresh: Any, clean_environment: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_environment.setenv(variable, value)  # each is read for https requests only; the emulator's are http
    assert all(_login_and_run(local_snowflake_fresh))


def test_a_netrc_file_keeps_the_lookups(local_snowflake_fresh: Any, clean_environment: Any, tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine example.com login someone password unused\n")
    assert all(_login_and_run(local_snowflake_fresh))
