"""_trust.py: what a snowflake:// URI may choose (hosts, secret variables, driver options) and how a task widens it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flyteplugins.snowflake import _location
from flyteplugins.snowflake._trust import UriPolicy, account_hosts, is_loopback
from flyteplugins.snowflake.errors import SnowflakeConfigError

QID = "01b2c3d4-0000-1a2b-0000-00010203abcd"
PASSWORD = {"snowflake_password": "SNOWFLAKE_PASSWORD"}


def _location_of(account: str = "myorg-acct", secrets: dict[str, str] | None = None, **settings: Any) -> Any:
    return _location.SnowflakeLocation(
        "FLYTE", account, "WH", "DB", "PUBLIC", QID, settings=settings, secrets=PASSWORD if secrets is None else secrets
    )


def _refusal(location: Any, policy: UriPolicy | None = None) -> str:
    with pytest.raises(SnowflakeConfigError) as info:
        (policy or UriPolicy()).vet(location)
    return str(info.value)


# --- loopback and the account's own hosts ------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST", "localhost."])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", [None, "", "10.0.0.1", "db.example.com", "127.0.0.1.example.com", "localhost.evil"])
def test_other_hosts_are_not_loopback(host: str | None) -> None:
    assert not is_loopback(host)


def test_an_accounts_hosts_are_its_public_and_privatelink_names() -> None:
    assert {"myorg-acct.snowflakecomputing.com", "myorg-acct.privatelink.snowflakecomputing.com"} <= account_hosts(
        "myorg-acct"
    )
    assert "xy12345.us-east-1.privatelink.snowflakecomputing.com" in account_hosts("xy12345.us-east-1")
    assert "xy12345.us-east-1.snowflakecomputing.com" in account_hosts("xy12345.us-east-1.privatelink")


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"host": "127.0.0.1", "port": 8080, "protocol": "http"},
        {"host": "MyOrg-Acct.snowflakecomputing.com"},
        {"host": "myorg-acct.privatelink.snowflakecomputing.com", "port": 443},
        {"connection_kwargs": {"host": "localhost", "port": 9000, "protocol": "http"}},
        {"role": "ANALYST", "login_timeout": 5, "network_timeout": 9, "session_parameters": {"TIMEZONE": "UTC"}},
        {"connection_kwargs": {"client_prefetch_threads": 2, "application": "me", "autocommit": True}},
        {"authenticator": "SNOWFLAKE"},
    ],
)
def test_what_our_own_tasks_write_passes(settings: dict[str, Any]) -> None:
    config = UriPolicy().vet(_location_of(**settings))
    assert config.account == "myorg-acct"


def test_a_foreign_host_is_refused_with_how_to_allow_it() -> None:
    message = _refusal(_location_of(host="db.example.com"))
    assert "'db.example.com'" in message and "myorg-acct.snowflakecomputing.com" in message
    assert "nothing was sent" in message and "FLYTE_SNOWFLAKE_URI_HOSTS" in message
    # another account's host is a foreign host too
    assert "FLYTE_SNOWFLAKE_URI_HOSTS" in _refusal(_location_of(host="other-acct.snowflakecomputing.com"))
    # the same through connection_kwargs, the public plugin's way of giving a host
    assert "FLYTE_SNOWFLAKE_URI_HOSTS" in _refusal(_location_of(connection_kwargs={"host": "db.example.com"}))


def test_the_reading_task_allows_a_host_of_its_own() -> None:
    policy = UriPolicy.from_environ({"FLYTE_SNOWFLAKE_URI_HOSTS": "sf.corp.example, DB.example.com."})
    assert policy.vet(_location_of(host="db.example.com")).host == "db.example.com"
    assert policy.vet(_location_of(host="sf.corp.example")).host == "sf.corp.example"


def test_plain_http_to_a_remote_host_is_refused_even_when_allowed() -> None:
    policy = UriPolicy.from_environ({"FLYTE_SNOWFLAKE_URI_HOSTS": "db.example.com"})
    message = _refusal(_location_of(host="db.example.com", protocol="http"), policy)
    assert message.startswith(f"snowflake://.../{QID} cannot be used: protocol='http'")
    assert "protocol='http'" in _refusal(_location_of(protocol="http"))  # the account's own host, in clear


# --- secret variables --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable", ["SNOWFLAKE_PASSWORD", "SNOWFLAKE_KEY", "PROD_SNOWFLAKE_PASSWORD", "MY_GROUP_SNOWFLAKE_PAT_2"]
)
def test_this_plugins_variables_may_be_named(variable: str) -> None:
    UriPolicy().vet(_location_of(secrets={"snowflake_password": variable}))


@pytest.mark.parametrize("variable", ["AWS_SECRET_ACCESS_KEY", "SF_PASSWORD", "SNOWFLAKE", "snowflake_password", "X"])
def test_any_other_variable_is_refused_before_it_is_read(variable: str) -> None:
    message = _refusal(_location_of(secrets={"snowflake_password": variable}))
    assert repr(variable) in message and "nothing was read or sent" in message
    assert "FLYTE_SNOWFLAKE_URI_SECRET_VARIABLES" in message


def test_the_reading_task_allows_a_variable_of_its_own() -> None:
    policy = UriPolicy.from_environ({"FLYTE_SNOWFLAKE_URI_SECRET_VARIABLES": "SF_PASSWORD,OTHER"})
    policy.vet(_location_of(secrets={"snowflake_password": "SF_PASSWORD"}))


def test_an_unknown_secret_keyword_is_refused() -> None:
    assert "does not use" in _refusal(_location_of(secrets={"snowflake_master_token": "SNOWFLAKE_X"}))


# --- driver options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"proxy_host": "127.0.0.1", "proxy_port": "3128"},
        {"insecure_mode": True},
        {"ocsp_fail_open": True},
        {"disable_ocsp_checks": True},
        {"region": "evil"},
        {"authenticator": "https://evil.okta.com"},
        {"enable_connection_diag": True, "connection_diag_allowlist_path": "/tmp/x"},
        {"workload_identity_provider": "AWS"},
        {"disable_saml_url_check": True},
    ],
)
def test_options_that_weaken_or_redirect_the_login_are_refused(options: dict[str, Any]) -> None:
    message = _refusal(_location_of(connection_kwargs=options))
    if "authenticator" in options:
        assert "cannot be used: authenticator" in message  # SnowflakeConfig's own check
        return
    assert all(key in message for key in options) and "nothing was sent" in message
    assert "FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS" in message
    assert "127.0.0.1" not in message and "/tmp/x" not in message  # the values are not repeated


def test_the_reading_tasks_own_options_replace_the_uris() -> None:
    own = {"proxy_host": "proxy.corp", "proxy_port": "3128"}
    policy = UriPolicy.from_environ({"FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS": json.dumps(own)})
    location = _location_of(connection_kwargs={"proxy_host": "127.0.0.1", "proxy_port": "9", "application": "x"})
    kwargs = policy.driver_kwargs(policy.vet(location))
    assert (kwargs["proxy_host"], kwargs["proxy_port"], kwargs["application"]) == ("proxy.corp", "3128", "x")
    # with no URI options at all, the reader's still apply
    assert (
        UriPolicy.from_environ({"FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS": json.dumps(own)})
        .driver_kwargs(policy.vet(_location_of()))
        .items()
        >= own.items()
    )


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("[1]", "JSON object"),
        ("{not json", "JSON object"),
        ('{"proxy_password": "hunter2"}', "is a secret"),
        ('{"host": "db.example.com"}', "FLYTE_SNOWFLAKE_URI_HOSTS"),
    ],
)
def test_the_reading_tasks_options_are_checked(value: str, complaint: str) -> None:
    with pytest.raises(SnowflakeConfigError, match=complaint) as info:
        UriPolicy.from_environ({"FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS": value})
    assert "hunter2" not in str(info.value)
