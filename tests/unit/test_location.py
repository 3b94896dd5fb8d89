"""_location.py: snowflake:// URIs (result references, table URIs), the secrets they name, quoted identifiers."""

from __future__ import annotations

import pytest

from flyteplugins.snowflake import _location
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.errors import MissingSecretError, SnowflakeConfigError
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

# flyte.io's File model uses a class-based pydantic config; importing it warns (not ours to fix).
pytestmark = pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning")

QID = "01b2c3d4-0000-1a2b-0000-00010203abcd"


def _config(**extra: object) -> SnowflakeConfig:
    return SnowflakeConfig("myorg-acct", "DB", "PUBLIC", "WH", "FLYTE", **extra)  # type: ignore[arg-type]


def _meta(config: SnowflakeConfig, secrets: dict[str, str] | None = None) -> SnowflakeJobMetadata:
    return SnowflakeJobMetadata(
        account=config.account,
        user=config.user,
        database=config.database,
        schema=config.schema,
        warehouse=config.warehouse,
        query_id=QID,
        has_output=True,
        config=config.to_custom(),
        secrets=secrets or {},
    )


# --- URIs --------------------------------------------------------------------------------------------------


def test_public_plugin_uri_still_parses() -> None:
    loc = _location.SnowflakeLocation.parse(f"snowflake://FLYTE/myorg-acct/WH/DB/PUBLIC/{QID}")
    assert (loc.user, loc.account, loc.warehouse, loc.database, loc.schema, loc.name) == (
        "FLYTE",
        "myorg-acct",
        "WH",
        "DB",
        "PUBLIC",
        QID,
    )
    assert loc.is_query and loc.settings == {} and loc.secrets == {}


def test_result_reference_carries_settings_and_secret_names_never_values() -> None:
    config = _config(role="ANALYST", host="127.0.0.1", port=8080, protocol="http", session_parameters={"TZ": "UTC"})
    meta = _meta(config, {"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"})
    df = _location.result_reference(meta, QID)
    assert df.uri is not None
    assert df.uri.startswith(f"snowflake://FLYTE/myorg-acct/WH/DB/PUBLIC/{QID}?")
    loc = _location.SnowflakeLocation.parse(df.uri)
    assert loc.settings == {"role": "ANALYST", "host": "127.0.0.1", "port": 8080, "protocol": "http",
                            "session_parameters": {"TZ": "UTC"}}  # fmt: skip
    assert loc.secrets == {"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"}
    rebuilt = loc.config()
    assert (rebuilt.role, rebuilt.port, rebuilt.host, rebuilt.protocol) == ("ANALYST", 8080, "127.0.0.1", "http")


def test_uri_round_trips_awkward_names() -> None:
    loc = _location.SnowflakeLocation("a.user@corp.com", "xy12345.us-east-1", "W H", "D/B?", "S&C", "My Table")
    assert _location.SnowflakeLocation.parse(loc.uri()) == loc
    assert not loc.is_query


@pytest.mark.parametrize(
    "uri",
    ["s3://bucket/x", "snowflake://u/a/w/d/s", "snowflake://u/a/w/d/s/t/extra", f"snowflake:///a/w/d/s/{QID}"],
)
def test_malformed_uris_say_what_the_shape_is(uri: str) -> None:
    with pytest.raises(SnowflakeConfigError):
        _location.SnowflakeLocation.parse(uri)


def test_table_uri_validates_mode_table_and_secret_keywords() -> None:
    uri = _location.table_uri(_config(), "EVENTS", mode="overwrite", secrets={"snowflake_password": "PW_VAR"})
    loc = _location.SnowflakeLocation.parse(uri)
    assert (loc.name, loc.mode, loc.secrets) == ("EVENTS", "overwrite", {"snowflake_password": "PW_VAR"})
    with pytest.raises(SnowflakeConfigError, match="mode"):
        _location.table_uri(_config(), "EVENTS", mode="upsert")
    with pytest.raises(SnowflakeConfigError, match="table"):
        _location.table_uri(_config(), "a/b")
    with pytest.raises(SnowflakeConfigError, match="snowflake_"):
        _location.table_uri(_config(), "EVENTS", secrets={"password": "PW_VAR"})


# --- secrets -----------------------------------------------------------------------------------------------


def test_secrets_come_from_the_named_variables() -> None:
    loc = _location.SnowflakeLocation("u", "a", "w", "d", "s", QID, secrets={"snowflake_pat": "MY_PAT"})
    assert loc.secret_values({"MY_PAT": "tok"}) == {"snowflake_pat": "tok"}


def test_missing_secret_names_the_variable_and_the_fix() -> None:
    loc = _location.SnowflakeLocation("u", "a", "w", "d", "s", QID, secrets={"snowflake_private_key": "SF_KEY_X"})
    with pytest.raises(MissingSecretError) as info:
        loc.secret_values({})
    message = str(info.value)
    assert "SF_KEY_X" in message and "snowflake_private_key" in message
    assert "flyte.Secret" in message and "materialize" in message


def test_legacy_uris_fall_back_to_the_public_plugins_variables() -> None:
    loc = _location.SnowflakeLocation.parse(f"snowflake://u/a/w/d/s/{QID}")
    env = {"SNOWFLAKE_PRIVATE_KEY": "pem", "UNRELATED": "x"}
    assert loc.secret_values(env) == {"snowflake_private_key": "pem"}
    assert loc.secret_values({}) == {}


def test_identifiers_are_quoted_as_given() -> None:
    loc = _location.SnowflakeLocation("u", "a", "w", "DB", "PUBLIC", 'my "odd" table')
    assert _location.table_name(loc) == '"DB"."PUBLIC"."my ""odd"" table"'
