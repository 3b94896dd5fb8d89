"""5: logins with a master token, a close that really closes, expiry on demand, credential checks."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from snowflake.connector.errors import DatabaseError, ProgrammingError

pytestmark = pytest.mark.integration


def _rsa_pair() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public_pem.decode()


def _der(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_close_really_closes_the_session(sf: Any, connect: Any) -> None:
    conn = connect()
    token = conn.rest.token
    assert conn.rest.master_token, "the login must carry a master token"
    sessions_before = sf.stats()["sessions"]
    conn.close()
    assert sf.stats()["sessions"] == sessions_before - 1
    with pytest.raises(DatabaseError) as info:
        conn.cursor().execute("select 1")
    assert info.value.errno == 250002
    # the old token is dead on the server too
    request = urllib.request.Request(
        f"{sf.url}/queries/v1/query-request",
        data=json.dumps({"sqlText": "select 1"}).encode(),
        headers={"Authorization": f'Snowflake Token="{token}"', "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
    assert body["success"] is False and body["code"] == "390111"


def test_an_expired_session_is_renewed_with_the_master_token(sf: Any, connect: Any) -> None:
    conn = connect()
    old_token = conn.rest.token
    assert sf.expire_sessions() >= 1
    assert conn.cursor().execute("select 'still here'").fetchone() == ("still here",)
    assert conn.rest.token != old_token, "the driver renewed its session token"


def test_an_expired_master_token_needs_a_new_login(sf: Any, connect: Any) -> None:
    conn = connect()
    sf.expire_sessions(master=True)
    with pytest.raises(ProgrammingError) as info:
        conn.cursor().execute("select 1")
    assert info.value.errno == 390114
    assert connect().cursor().execute("select 1").fetchone() == (1,)


def test_password_users_are_checked(sf: Any, connect: Any) -> None:
    sf.add_user("ALICE", password="right")
    assert connect(user="alice", password="right").cursor().execute("select current_user()").fetchone()
    with pytest.raises(DatabaseError) as info:
        connect(user="alice", password="wrong")
    assert info.value.errno == 390100


def test_key_pair_jwt_is_verified_against_the_public_key(sf: Any, connect: Any) -> None:
    key, public_pem = _rsa_pair()
    other, _ = _rsa_pair()
    sf.add_user("KEYUSER", public_key_pem=public_pem)
    conn = connect(user="keyuser", password=None, authenticator="SNOWFLAKE_JWT", private_key=_der(key))
    assert conn.cursor().execute("select 1").fetchone() == (1,)
    with pytest.raises(DatabaseError) as info:
        connect(user="keyuser", password=None, authenticator="SNOWFLAKE_JWT", private_key=_der(other))
    assert info.value.errno == 390144


def test_pat_and_oauth_tokens_are_checked(sf: Any, connect: Any) -> None:
    sf.add_user("BOT", pat="pat-secret", oauth_token="oauth-secret")
    assert connect(user="bot", password=None, authenticator="PROGRAMMATIC_ACCESS_TOKEN", token="pat-secret")
    assert connect(user="bot", password=None, authenticator="oauth", token="oauth-secret")
    with pytest.raises(DatabaseError) as info:
        connect(user="bot", password=None, authenticator="oauth", token="stolen")
    assert info.value.errno == 390303
    with pytest.raises(DatabaseError) as info:
        connect(user="bot", password=None, authenticator="PROGRAMMATIC_ACCESS_TOKEN", token="stolen")
    assert info.value.errno == 390100


def test_unknown_users_and_wrong_passwords_are_refused_unless_logins_are_open(sf: Any, connect: Any) -> None:
    for user, password in (("anyone", "anything"), (sf.user, "not-the-password")):
        with pytest.raises(DatabaseError) as info:
            connect(user=user, password=password)
        assert (info.value.errno, info.value.sqlstate) == (390100, "28000")
        assert info.value.raw_msg.endswith("Incorrect username or password was specified.")
    assert connect(user=sf.user.lower(), password=sf.password)  # the start-up user; names are case-insensitive
    sf.configure(strict_users=False)
    assert connect(user="anyone", password="anything")


def test_the_start_up_user_stays_through_a_reset(sf: Any, connect: Any) -> None:
    sf.add_user("TEMPORARY", password="for-now")
    assert connect(user="temporary", password="for-now")
    sf.reset()
    assert connect(user=sf.user, password=sf.password)
    with pytest.raises(DatabaseError):
        connect(user="temporary", password="for-now")


def test_an_emulator_with_open_logins_accepts_anyone() -> None:
    import snowflake.connector

    from flyteplugins.snowflake.local import LocalSnowflake

    with LocalSnowflake(open_logins=True) as sf:
        kwargs = sf.connect_kwargs(user="whoever", password="whatever")
        with snowflake.connector.connect(**kwargs) as conn:
            assert conn.cursor().execute("select current_user()").fetchone() == ("WHOEVER",)


def test_login_rejection_knob(sf: Any, connect: Any) -> None:
    sf.configure(reject_logins=True)
    with pytest.raises(DatabaseError) as info:
        connect()
    assert info.value.errno == 390100
    sf.configure(reject_logins=False)
    assert connect()


def test_a_login_naming_a_database_or_schema_that_does_not_exist_creates_none(sf: Any, connect: Any) -> None:
    cur = connect(database="NO_SUCH_DB", schema="NO_SUCH_SCHEMA").cursor()
    assert cur.execute("select current_database(), current_schema()").fetchone() == (None, None)
    assert cur.connection.database is None and cur.connection.schema is None
    names = [row[1] for row in cur.execute("show databases").fetchall()]
    assert "NO_SUCH_DB" not in names and sf.database in names
    cur = connect(schema="NO_SUCH_SCHEMA").cursor()  # the database exists, the schema does not
    assert cur.execute("select current_database(), current_schema()").fetchone() == (sf.database, None)
    assert "NO_SUCH_SCHEMA" not in [row[1] for row in cur.execute(f"show schemas in database {sf.database}")]


def test_validate_default_parameters_refuses_a_context_that_does_not_exist(sf: Any, connect: Any) -> None:
    assert connect(validate_default_parameters=True).database == sf.database  # all of these exist
    for missing in ({"database": "NO_SUCH_DB"}, {"schema": "NO_SUCH_SCHEMA"}, {"warehouse": "NO_SUCH_WH"}):
        kind = next(iter(missing))
        with pytest.raises(DatabaseError, match=f"The requested {kind} does not exist or not authorized") as info:
            connect(validate_default_parameters=True, **missing)
        assert info.value.errno == 390201
    connect(warehouse="NO_SUCH_WH")  # without validation the login succeeds, with no warehouse


def test_a_created_database_has_a_public_schema_to_log_in_to(sf: Any, connect: Any) -> None:
    connect().cursor().execute("create database if not exists LOGIN_TARGET")
    cur = connect(database="LOGIN_TARGET", schema="PUBLIC", validate_default_parameters=True).cursor()
    assert cur.execute("select current_database(), current_schema()").fetchone() == ("LOGIN_TARGET", "PUBLIC")


def test_a_login_naming_a_role_that_does_not_exist_is_refused(sf: Any, connect: Any) -> None:
    with pytest.raises(
        DatabaseError, match="Role 'NO_SUCH_ROLE' specified in the connect string does not exist"
    ) as info:
        connect(role="no_such_role")
    assert info.value.errno == 390189
    assert connect(role="SYSADMIN").cursor().execute("select current_role()").fetchone() == ("SYSADMIN",)
    sf.add_role("REGISTERED_ROLE", warehouses=None, databases=None)
    assert connect(role="registered_role").cursor().execute("select current_role()").fetchone() == ("REGISTERED_ROLE",)
