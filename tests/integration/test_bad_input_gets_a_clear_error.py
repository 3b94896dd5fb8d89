"""Bad input gets a clear error, quickly, that names the problem and the fix, and never shows a secret.

Each case goes through the connector as the backend would call it. Failures Snowflake or our checks find
after the task was defined end as a FAILED phase whose message carries the explanation; mistakes in the
task definition itself raise when the task is defined.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake import SnowflakeConfig
from flyteplugins.snowflake.errors import SnowflakeConfigError, SnowflakeMetadataError, SnowflakeTransientError
from snowflake_harness import run

pytestmark = pytest.mark.integration

SECRET_WORDS = ("hunter2-sentinel", "pass-sentinel-77")


@pytest.fixture(autouse=True)
def _sentinel_password(local_snowflake_fresh) -> None:
    """The task's user logs in with "sentinel-pw-1" here, so that messages can be checked for it."""
    local_snowflake_fresh.add_user(local_snowflake_fresh.user, password="sentinel-pw-1")


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem(k: rsa.RSAPrivateKey, password: bytes | None = None) -> str:
        encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()

    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "plain": pem(key),
        "encrypted": pem(key, b"pass-sentinel-77"),
        "other": pem(other),
        "public": public.decode(),
    }


async def failed(connector, task, inputs=None, **secrets) -> str:
    """Run the task; it must fail (not hang, not crash the call) and we return the message the user sees."""
    started = time.monotonic()
    meta, resource = await run(connector, task, inputs or {}, secrets)
    assert resource.phase == TaskExecution.FAILED, resource.message
    assert time.monotonic() - started < 10
    message = resource.message or ""
    for value in [*SECRET_WORDS, *secrets.values()]:
        assert value not in message
        assert value not in repr(meta)
    return message


async def test_malformed_private_key(connector, make_task) -> None:
    task = make_task("SELECT 1", snowflake_password=None, snowflake_private_key="key")
    message = await failed(connector, task, snowflake_private_key="-----BEGIN PRIVATE KEY-----\nnot a key\n")
    assert "private key" in message.lower()


async def test_public_key_given_as_private_key(connector, make_task, keys) -> None:
    task = make_task("SELECT 1", snowflake_password=None, snowflake_private_key="key")
    message = await failed(connector, task, snowflake_private_key=keys["public"])
    assert "public key" in message.lower()


async def test_encrypted_key_without_passphrase(connector, make_task, keys) -> None:
    task = make_task("SELECT 1", snowflake_password=None, snowflake_private_key="key")
    message = await failed(connector, task, snowflake_private_key=keys["encrypted"])
    assert "snowflake_private_key_passphrase" in message


async def test_wrong_passphrase(connector, make_task, keys) -> None:
    task = make_task(
        "SELECT 1", snowflake_password=None, snowflake_private_key="key", snowflake_private_key_passphrase="pp"
    )
    message = await failed(
        connector, task, snowflake_private_key=keys["encrypted"], snowflake_private_key_passphrase="hunter2-sentinel"
    )
    assert "passphrase" in message.lower()


async def test_no_secret_at_all(connector, make_task) -> None:
    message = await failed(connector, make_task("SELECT 1", snowflake_password=None))
    assert "snowflake_private_key" in message and "secret" in message.lower()


async def test_key_not_registered_for_the_user(connector, make_task, keys, local_snowflake_fresh) -> None:
    local_snowflake_fresh.add_user("KEYUSER", public_key_pem=_public_of(keys["plain"]))
    config = dataclasses.replace(make_task("SELECT 1").plugin_config, user="KEYUSER")
    task = make_task("SELECT 1", plugin_config=config, snowflake_password=None, snowflake_private_key="key")
    message = await failed(connector, task, snowflake_private_key=keys["other"])
    assert "390144" in message


async def test_wrong_password(connector, make_task, local_snowflake_fresh) -> None:
    local_snowflake_fresh.add_user("PWUSER", password="right-password")
    config = dataclasses.replace(make_task("SELECT 1").plugin_config, user="PWUSER")
    message = await failed(
        connector, make_task("SELECT 1", plugin_config=config), snowflake_password="hunter2-sentinel"
    )
    assert "390100" in message


async def test_a_sql_error_carries_snowflakes_code_and_the_query_id(connector, make_task) -> None:
    message = await failed(connector, make_task("SELEC 1"), snowflake_password="sentinel-pw-1")
    assert "SQLSTATE 42000" in message or "syntax" in message.lower()
    assert "query" in message.lower()


async def test_a_missing_table_names_it(connector, make_task) -> None:
    message = await failed(connector, make_task("SELECT * FROM no_such_table_xyz"), snowflake_password="sentinel-pw-1")
    assert "2003" in message
    assert "NO_SUCH_TABLE_XYZ" in message.upper()


async def test_an_unsupported_input_type_names_the_input(connector, make_task) -> None:
    task = make_task("SELECT %(payload)s", inputs={"payload": dict})
    message = await failed(connector, task, {"payload": {"a": 1}}, snowflake_password="sentinel-pw-1")
    assert "payload" in message


async def test_a_placeholder_without_an_input_names_it(connector, make_task) -> None:
    message = await failed(connector, make_task("SELECT %(missing)s"), snowflake_password="sentinel-pw-1")
    assert "missing" in message


async def test_batch_lists_of_different_lengths(connector, make_task) -> None:
    task = make_task("INSERT INTO t (a, b) VALUES (%(a)s, %(b)s)", inputs={"a": list[int], "b": list[int]}, batch=True)
    message = await failed(connector, task, {"a": [1, 2, 3], "b": [1]}, snowflake_password="sentinel-pw-1")
    assert "a" in message and "b" in message and "3" in message


def test_missing_config_fields_are_named_when_the_task_is_defined() -> None:
    for field in ("account", "user", "warehouse", "database"):
        values = {"account": "org-acct", "database": "DB", "schema": "PUBLIC", "warehouse": "WH", "user": "U"}
        values[field] = ""
        with pytest.raises(SnowflakeConfigError, match=field):
            SnowflakeConfig(**values)


def test_a_password_in_connection_kwargs_is_refused_with_the_way_to_pass_it() -> None:
    with pytest.raises(SnowflakeConfigError) as raised:
        SnowflakeConfig("org-acct", "DB", "PUBLIC", "WH", "U", connection_kwargs={"password": "hunter2-sentinel"})
    assert "snowflake_password" in str(raised.value)
    assert "hunter2-sentinel" not in str(raised.value)


def test_an_unknown_account_form_is_refused_with_the_expected_forms() -> None:
    with pytest.raises(SnowflakeConfigError) as raised:
        SnowflakeConfig("not an account!", "DB", "PUBLIC", "WH", "U")
    assert "account" in str(raised.value)


async def test_an_unreachable_host_fails_fast_as_retryable(connector, make_task) -> None:
    import socket

    with socket.socket() as s:  # a port on loopback that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = dataclasses.replace(make_task("SELECT 1").plugin_config, port=port, login_timeout=2, network_timeout=2)
    task = make_task("SELECT 1", plugin_config=config)
    from snowflake_harness import serialize

    started = time.monotonic()
    with pytest.raises(SnowflakeTransientError) as raised:
        await connector.create(serialize(task), inputs={}, output_prefix="", snowflake_password="sentinel-pw-1")
    assert time.monotonic() - started < 15
    assert "pw" not in str(raised.value).split()


@pytest.mark.parametrize("template", ["", "  \n", "-- nothing to run yet\n/* TODO */"])
def test_an_empty_or_comment_only_query_is_refused_when_defined(make_task, template) -> None:
    with pytest.raises(SnowflakeConfigError, match=r"query_template is (empty|only comments): there is no statement"):
        make_task(template)


async def test_an_empty_query_from_elsewhere_fails_with_the_reason(connector, make_task) -> None:
    from snowflake_harness import PASSWORD, serialize, wait_done

    template = serialize(make_task("SELECT 1"))
    template.sql.statement = "-- nothing to run yet\n"
    meta = await connector.create(template, inputs={}, output_prefix="", **PASSWORD)
    resource = await wait_done(connector, meta)
    assert resource.phase == TaskExecution.FAILED
    assert "query_template is only comments: there is no statement" in (resource.message or "")


async def test_a_malformed_query_id_in_the_metadata_is_named(connector, make_task) -> None:
    secrets = {"snowflake_password": "sentinel-pw-1"}  # the task's user's password here (see `_sentinel_password`)
    meta, resource = await run(connector, make_task("SELECT 1"), {}, secrets)
    assert resource.phase == TaskExecution.SUCCEEDED
    edited = dataclasses.replace(meta, query_id="not-a-query-id")
    for call in (connector.get, connector.delete):
        with pytest.raises(SnowflakeMetadataError, match=r"SnowflakeJobMetadata\.query_id is not a Snowflake query id"):
            await call(edited, **secrets)


def _public_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
