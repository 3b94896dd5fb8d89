"""Sentinel secrets travel through a whole task life and appear in nothing that is stored, logged or raised."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flyteidl2.core.execution_pb2 import TaskExecution
from google.protobuf import json_format

from snowflake_harness import serialize, wait_done

pytestmark = pytest.mark.integration

PASSWORD = "SENTINEL-PASSWORD-5b1f"
PASSPHRASE = "SENTINEL-PASSPHRASE-93ac"


@pytest.fixture(scope="module")
def encrypted_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()


def leaks(text: str, secrets: list[str]) -> list[str]:
    found = [s for s in secrets if s in text]
    # a PEM body line is secret too: look for any 40-character run of it
    for secret in secrets:
        for line in secret.splitlines():
            if len(line) >= 40 and "-----" not in line and line in text:
                found.append("PEM line")
    return found


async def test_password_login_leaks_nothing(connector, make_task, caplog, local_snowflake_fresh) -> None:
    local_snowflake_fresh.add_user(local_snowflake_fresh.user, password=PASSWORD)  # the login must succeed
    caplog.set_level(logging.DEBUG)
    task = make_task("SELECT 1 AS x", output=pd.DataFrame, snowflake_password="sf-password")
    template = serialize(task)
    meta = await connector.create(template, inputs={}, output_prefix="", snowflake_password=PASSWORD)
    resource = await wait_done(connector, meta, {"snowflake_password": PASSWORD})
    await connector.delete(meta, snowflake_password=PASSWORD)
    assert resource.phase == TaskExecution.SUCCEEDED

    stored = [
        json_format.MessageToJson(template),
        meta.encode().decode(),
        repr(resource),
        str(resource.outputs["results"].uri),
        caplog.text,
    ]
    assert leaks("\n".join(stored), [PASSWORD]) == []


async def test_key_pair_failures_leak_nothing(connector, make_task, encrypted_key, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    task = make_task(
        "SELECT 1", snowflake_password=None, snowflake_private_key="k", snowflake_private_key_passphrase="p"
    )
    secrets = {"snowflake_private_key": encrypted_key, "snowflake_private_key_passphrase": PASSPHRASE + "-wrong"}
    meta = await connector.create(serialize(task), inputs={}, output_prefix="", **secrets)
    resource = await wait_done(connector, meta, secrets)
    assert resource.phase == TaskExecution.FAILED
    everything = "\n".join([meta.encode().decode(), repr(resource), caplog.text])
    assert leaks(everything, [encrypted_key, PASSPHRASE]) == []


async def test_key_pair_success_leaks_nothing(
    connector, make_task, encrypted_key, caplog, local_snowflake_fresh
) -> None:
    private = serialization.load_pem_private_key(encrypted_key.encode(), password=PASSPHRASE.encode())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    local_snowflake_fresh.add_user(local_snowflake_fresh.user, public_key_pem=public_pem.decode())  # it logs in
    caplog.set_level(logging.DEBUG)
    task = make_task(
        "SELECT 1", snowflake_password=None, snowflake_private_key="k", snowflake_private_key_passphrase="p"
    )
    secrets = {"snowflake_private_key": encrypted_key, "snowflake_private_key_passphrase": PASSPHRASE}
    meta = await connector.create(serialize(task), inputs={}, output_prefix="", **secrets)
    resource = await wait_done(connector, meta, secrets)
    assert resource.phase == TaskExecution.SUCCEEDED, resource.message
    pool_keys = " ".join(connector.pool._slots)
    everything = "\n".join([meta.encode().decode(), repr(resource), caplog.text, pool_keys])
    assert leaks(everything, [encrypted_key, PASSPHRASE]) == []
