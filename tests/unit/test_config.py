"""SnowflakeConfig: compatibility, validation at definition time, custom round trips, driver kwargs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2

from flyteplugins.snowflake.config import DEFAULT_LOGIN_TIMEOUT, DEFAULT_NETWORK_TIMEOUT, SnowflakeConfig
from flyteplugins.snowflake.errors import SnowflakeConfigError

BASE: dict[str, Any] = {
    "account": "myorg-myaccount",
    "database": "ANALYTICS",
    "schema": "PUBLIC",
    "warehouse": "COMPUTE_WH",
    "user": "FLYTE",
}


def make(**overrides: Any) -> SnowflakeConfig:
    return SnowflakeConfig(**{**BASE, **overrides})


def through_struct(custom: dict[str, Any]) -> dict[str, Any]:
    """What TaskTemplate.custom gives back: a protobuf Struct, where every number is a double."""
    struct = struct_pb2.Struct()
    struct.update(custom)
    return json_format.MessageToDict(struct)


# --- compatibility with the public plugin --------------------------------------------------------------------


def test_positional_arguments_like_the_public_plugin() -> None:
    config = SnowflakeConfig("myorg-acct", "DB", "SCH", "WH", "ME", {"login_timeout": 5})
    assert (config.account, config.database, config.schema, config.warehouse, config.user) == (
        "myorg-acct",
        "DB",
        "SCH",
        "WH",
        "ME",
    )
    assert config.connection_kwargs == {"login_timeout": 5}


def test_to_custom_has_the_public_keys_only_when_nothing_else_is_set() -> None:
    assert make().to_custom() == BASE
    assert make(connection_kwargs={"client_prefetch_threads": 2}).to_custom() == {
        **BASE,
        "connection_kwargs": {"client_prefetch_threads": 2},
    }


def test_to_custom_adds_our_fields_when_set() -> None:
    config = make(role="R", query_tag={"team": "growth"}, statement_timeout=60, port=8080, poll_interval=0.1)
    assert config.to_custom() == {
        **BASE,
        "role": "R",
        "query_tag": {"team": "growth"},
        "statement_timeout": 60,
        "port": 8080,
        "poll_interval": 0.1,
    }


def test_nested_session_parameters_in_connection_kwargs_work() -> None:
    # The public plugin crashed here with "unhashable type: 'dict'".
    config = make(connection_kwargs={"session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "x"}})
    assert config.session_parameters == {"TIMEZONE": "UTC", "QUERY_TAG": "x"}
    assert config.driver_kwargs()["session_parameters"] == {"TIMEZONE": "UTC", "QUERY_TAG": "x"}
    hash(config.identity())
    assert "session_parameters" not in config.to_custom()  # stays where it was written


def test_settings_in_connection_kwargs_fill_the_typed_fields() -> None:
    config = make(connection_kwargs={"role": "ANALYST", "login_timeout": 5, "authenticator": "snowflake_jwt"})
    assert (config.role, config.login_timeout, config.authenticator) == ("ANALYST", 5, "SNOWFLAKE_JWT")
    # written once, where the user wrote it
    assert "role" not in config.to_custom()
    assert config.to_custom()["connection_kwargs"]["role"] == "ANALYST"


def test_same_setting_twice_with_different_values_is_an_error() -> None:
    with pytest.raises(SnowflakeConfigError, match=r"role is set twice.*'A'.*'B'"):
        make(role="A", connection_kwargs={"role": "B"})
    assert make(role="A", connection_kwargs={"role": "A"}).role == "A"
    with pytest.raises(SnowflakeConfigError, match="contradicts warehouse"):
        make(connection_kwargs={"warehouse": "OTHER_WH"})


def test_session_parameters_from_both_places_merge() -> None:
    config = make(session_parameters={"TIMEZONE": "UTC"}, connection_kwargs={"session_parameters": {"A": 1}})
    assert config.session_parameters == {"TIMEZONE": "UTC", "A": 1}
    with pytest.raises(SnowflakeConfigError, match="'TIMEZONE' is set twice"):
        make(session_parameters={"TIMEZONE": "UTC"}, connection_kwargs={"session_parameters": {"TIMEZONE": "X"}})


# --- validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["account", "database", "warehouse", "user"])
@pytest.mark.parametrize("value", ["", "   "])
def test_missing_required_field_is_named(name: str, value: str) -> None:
    with pytest.raises(SnowflakeConfigError, match=rf"^{name} is required: set SnowflakeConfig\({name}=\.\.\.\)"):
        make(**{name: value})


@pytest.mark.parametrize("name", ["account", "database", "schema", "warehouse", "user"])
def test_wrong_type_is_named(name: str) -> None:
    with pytest.raises(SnowflakeConfigError, match=rf"^{name} must be a string, got int"):
        make(**{name: 42})


def test_empty_schema_means_public() -> None:
    assert make(schema="").schema == "PUBLIC"
    assert make(schema=None).schema == "PUBLIC"


def test_values_are_stripped() -> None:
    assert make(warehouse="  COMPUTE_WH ").warehouse == "COMPUTE_WH"


def test_malformed_account_is_refused_with_the_forms() -> None:
    with pytest.raises(SnowflakeConfigError, match=r"^SnowflakeConfig\.account 'my org'.*orgname-account_name"):
        make(account="my org")


@pytest.mark.parametrize(
    ("key", "keyword"),
    [
        ("password", "snowflake_password"),
        ("PASSWORD", "snowflake_password"),
        ("private_key", "snowflake_private_key"),
        ("private_key_file", "snowflake_private_key"),
        ("private_key_file_pwd", "snowflake_private_key_passphrase"),
        ("token", "snowflake_pat"),
        ("oauth_client_secret", None),
        ("passcode", None),
        ("my_db_password_2", None),
    ],
)
def test_secret_in_connection_kwargs_is_refused_with_the_way_to_pass_it(key: str, keyword: str | None) -> None:
    sentinel = "s3cr3t-VALUE-never-shown"
    with pytest.raises(SnowflakeConfigError) as info:
        make(connection_kwargs={key: sentinel})
    message = str(info.value)
    assert sentinel not in message
    assert f"connection_kwargs[{key!r}] is a secret" in message
    if keyword:
        assert f"Snowflake(..., {keyword}='<secret name>')" in message
    else:
        assert "does not take it" in message


def test_paramstyle_is_refused() -> None:
    with pytest.raises(SnowflakeConfigError, match="binds inputs on the server"):
        make(connection_kwargs={"paramstyle": "pyformat"})


def test_non_json_connection_kwargs_are_refused() -> None:
    with pytest.raises(SnowflakeConfigError, match=r"connection_kwargs\['x'\] must hold plain JSON"):
        make(connection_kwargs={"x": object()})
    with pytest.raises(SnowflakeConfigError, match="must be a dict"):
        make(connection_kwargs=[("role", "R")])


@pytest.mark.parametrize(
    "name", ["externalbrowser", "EXTERNALBROWSER", "username_password_mfa", "oauth_client_credentials"]
)
def test_interactive_authenticators_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(SnowflakeConfigError, match=r"cannot be used by a Flyte task: .*snowflake_private_key"):
        make(authenticator=name)
    with pytest.raises(SnowflakeConfigError, match="cannot be used by a Flyte task"):
        make(connection_kwargs={"authenticator": name})


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("snowflake_jwt", "SNOWFLAKE_JWT"),
        ("oauth", "OAUTH"),
        ("programmatic_access_token", "PROGRAMMATIC_ACCESS_TOKEN"),
    ],
)
def test_authenticator_is_normalised(given: str, stored: str) -> None:
    assert make(authenticator=given).authenticator == stored


def test_unknown_authenticator() -> None:
    with pytest.raises(SnowflakeConfigError, match="not supported; use one of"):
        make(authenticator="magic")


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"statement_timeout": -1}, "statement_timeout must be a whole number"),
        ({"statement_timeout": 1.5}, "statement_timeout must be a whole number"),
        ({"statement_timeout": True}, "statement_timeout must be a whole number"),
        ({"statement_timeout": 10**7}, "statement_timeout must be a whole number"),
        ({"port": 0}, "port must be an integer"),
        ({"port": "443"}, "port must be an integer"),
        ({"protocol": "ftp"}, "protocol must be 'https' or 'http'"),
        ({"login_timeout": 0}, "login_timeout must be a positive number"),
        ({"network_timeout": float("inf")}, "network_timeout must be a positive number"),
        ({"poll_interval": -0.1}, "poll_interval must be a positive number"),
        ({"poll_interval": 3.0}, r"max_poll_interval \(2.0\) must be >= poll_interval \(3.0\)"),
        ({"role": ""}, "role must be a non-empty string"),
        ({"role": 5}, "role must be a non-empty string"),
        ({"query_tag": 5}, "query_tag must be a string or a dict"),
        ({"query_tag": {"a": object()}}, "query_tag must hold plain JSON"),
        ({"session_parameters": ["TIMEZONE"]}, "session_parameters must be a dict"),
    ],
)
def test_invalid_typed_fields(overrides: dict[str, Any], pattern: str) -> None:
    with pytest.raises(SnowflakeConfigError, match=pattern):
        make(**overrides)


@pytest.mark.parametrize("host", ["db.example.com", "10.0.0.7", None, "127.0.0.1.example.com"])
def test_plain_http_is_refused_for_any_host_but_loopback(host: str | None) -> None:
    with pytest.raises(SnowflakeConfigError, match=r"protocol='http' sends passwords and tokens unencrypted.*'https'"):
        make(host=host, protocol="http")
    with pytest.raises(SnowflakeConfigError, match="protocol='http'"):  # the public plugin's way of giving it
        make(connection_kwargs={"host": host, "protocol": "HTTP"} if host else {"protocol": "http"})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_plain_http_to_the_local_snowflake_on_loopback_is_fine(host: str) -> None:
    assert make(host=host, port=8080, protocol="http").protocol == "http"
    assert make(host="db.example.com", protocol="https").host == "db.example.com"


@pytest.mark.parametrize(
    "account",
    [
        "https://SVC:s3cr3t-value@org-acct.snowflakecomputing.com",
        "SVC:s3cr3t-value@org-acct.snowflakecomputing.com",
        "https://s3cr3t-value@example.com/",
    ],
)
def test_an_account_url_with_credentials_is_refused_without_repeating_them(account: str) -> None:
    with pytest.raises(SnowflakeConfigError, match="user name or password") as info:
        make(account=account)
    assert "s3cr3t-value" not in str(info.value) and "SVC" not in str(info.value)
    with pytest.raises(SnowflakeConfigError, match="user name or password"):
        SnowflakeConfig.from_custom({**BASE, "account": account})


def test_a_pasted_account_url_is_stored_as_its_identifier() -> None:
    config = make(account=" https://XY12345.us-east-2.aws.snowflakecomputing.com/ ")
    assert config.account == "xy12345.us-east-2.aws"
    assert config.to_custom()["account"] == "xy12345.us-east-2.aws"
    assert make(account="MyOrg-MyAccount").account == "MyOrg-MyAccount"  # an identifier stays as written


def test_config_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        make(user="")


# --- round trips -------------------------------------------------------------------------------------------


def test_from_custom_round_trips_through_a_protobuf_struct() -> None:
    config = make(
        role="R",
        query_tag={"team": "growth", "n": 3},
        statement_timeout=600,
        session_parameters={"TIMEZONE": "UTC", "WEEK_START": 1},
        host="127.0.0.1",
        port=8080,
        protocol="http",
        authenticator="SNOWFLAKE_JWT",
        login_timeout=5,
        network_timeout=7,
        poll_interval=0.2,
        max_poll_interval=1.5,
        connection_kwargs={"client_prefetch_threads": 4, "session_parameters": {"ABORT_DETACHED_QUERY": False}},
    )
    back = SnowflakeConfig.from_custom(through_struct(config.to_custom()))
    assert back == config
    assert back.to_custom() == config.to_custom()
    assert back.identity() == config.identity()
    assert isinstance(back.port, int) and isinstance(back.statement_timeout, int)
    assert back.session_parameters is not None and isinstance(back.session_parameters["WEEK_START"], int)


def test_from_custom_ignores_unknown_keys() -> None:
    custom = {**BASE, "secrets": {"snowflake_private_key": "K"}, "batch": True, "something_new": 1}
    assert SnowflakeConfig.from_custom(custom) == make()


def test_from_custom_requires_the_public_keys() -> None:
    with pytest.raises(SnowflakeConfigError, match="lacks warehouse"):
        SnowflakeConfig.from_custom({k: v for k, v in BASE.items() if k != "warehouse"})
    with pytest.raises(SnowflakeConfigError, match="must be a mapping"):
        SnowflakeConfig.from_custom("account=x")  # type: ignore[arg-type]


def test_from_custom_without_a_schema_uses_public() -> None:
    custom = {k: v for k, v in BASE.items() if k != "schema"}
    assert SnowflakeConfig.from_custom({**custom, "database": "SALES"}).schema == "PUBLIC"


def test_from_custom_of_a_public_plugin_task() -> None:
    custom = through_struct({**BASE, "connection_kwargs": {"role": "R", "login_timeout": 5}, "secrets": {}})
    config = SnowflakeConfig.from_custom(custom)
    assert config.role == "R" and config.login_timeout == 5


# --- driver kwargs and identity ----------------------------------------------------------------------------


def test_driver_kwargs_defaults() -> None:
    assert make().driver_kwargs() == {
        **BASE,
        "login_timeout": DEFAULT_LOGIN_TIMEOUT,
        "network_timeout": DEFAULT_NETWORK_TIMEOUT,
    }


def test_driver_kwargs_carries_typed_fields_and_extra_connection_kwargs() -> None:
    config = make(
        account=" https://XY12345.us-east-2.aws.snowflakecomputing.com/ ",
        role="R",
        host="127.0.0.1",
        port=8080,
        protocol="http",
        authenticator="oauth",
        connection_kwargs={"client_prefetch_threads": 2, "role": "R"},
    )
    kwargs = config.driver_kwargs()
    assert kwargs["account"] == "xy12345.us-east-2.aws"  # normalised for the driver
    assert {k: kwargs[k] for k in ("role", "host", "port", "protocol", "authenticator", "client_prefetch_threads")} == {
        "role": "R",
        "host": "127.0.0.1",
        "port": 8080,
        "protocol": "http",
        "authenticator": "OAUTH",
        "client_prefetch_threads": 2,
    }
    assert "paramstyle" not in kwargs
    assert "query_tag" not in kwargs and "statement_timeout" not in kwargs  # per statement, not per session


def test_identity_is_stable_and_tells_sessions_apart() -> None:
    assert make().identity() == make().identity()
    different = [make(role="R"), make(warehouse="OTHER"), make(schema="S2"), make(user="U2"), make(port=1)]
    identities = {c.identity() for c in [make(), *different]}
    assert len(identities) == 1 + len(different)
    # polling settings do not change the session
    assert make(poll_interval=0.5, max_poll_interval=5).identity() == make().identity()


def test_identity_is_the_same_in_another_process() -> None:
    code = (
        "from flyteplugins.snowflake.config import SnowflakeConfig as C;"
        "print(C('myorg-myaccount','ANALYTICS','PUBLIC','COMPUTE_WH','FLYTE', role='R').identity())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == make(role="R").identity()


def test_importing_config_stays_cheap(modules_imported_by: Callable[[str], set[str]]) -> None:
    heavy = {"snowflake", "cryptography", "pandas", "pyarrow", "polars", "flyte", "numpy"}
    assert modules_imported_by("config") & heavy == set()


# --- QUERY_TAG ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        {"session_parameters": {"QUERY_TAG": "team-x"}},
        {"connection_kwargs": {"session_parameters": {"QUERY_TAG": "team-x"}}},
        {"session_parameters": {"query_tag": "team-x"}},
    ],
    ids=["session_parameters", "connection_kwargs", "lower case"],
)
def test_a_session_query_tag_is_kept_in_the_statements_tag(where: dict[str, Any]) -> None:
    config = make(query_tag={"job": "nightly"}, **where)
    assert config.user_query_tag() == {"user_tag": "team-x", "job": "nightly"}
    assert SnowflakeConfig.from_custom(through_struct(config.to_custom())).user_query_tag() == config.user_query_tag()


def test_a_json_session_query_tag_merges_its_keys() -> None:
    config = make(session_parameters={"QUERY_TAG": '{"team": "x", "cost_center": 42}'})
    assert config.user_query_tag() == {"team": "x", "cost_center": 42}


@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        ({"session_parameters": {"QUERY_TAG": "a"}, "query_tag": "b"}, "query tag key 'user_tag' is set twice"),
        ({"session_parameters": {"QUERY_TAG": {"team": "x"}}}, "session parameter QUERY_TAG must be a string"),
        ({"session_parameters": {"QUERY_TAG": "a", "query_tag": "a"}}, "sets QUERY_TAG twice"),
        ({"query_tag": {f"k{i}": "v" for i in range(4000)}}, "characters as JSON; at most 1500 are allowed"),
        ({"query_tag": "x" * 1600}, "characters as JSON; at most 1500 are allowed"),
    ],
    ids=["twice", "not a string", "two cases", "thousands of keys", "long string"],
)
def test_query_tag_problems_are_refused_when_defined(fields: dict[str, Any], pattern: str) -> None:
    with pytest.raises(SnowflakeConfigError, match=pattern):
        make(**fields)
