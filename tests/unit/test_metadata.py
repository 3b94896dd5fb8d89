"""SnowflakeJobMetadata round-trips through the backend's JSON and reads what the public plugin stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flyteplugins.snowflake import SnowflakeJobMetadata
from flyteplugins.snowflake.errors import SnowflakeMetadataError


def _meta(**fields: Any) -> SnowflakeJobMetadata:
    """Metadata of one query on account org-acct; `fields` set or override the rest."""
    identity: dict[str, Any] = {
        "account": "org-acct",
        "user": "U",
        "database": "DB",
        "schema": "PUBLIC",
        "warehouse": "WH",
        "query_id": "01b2c3d4-0000-1111-2222-333344445555",
        "has_output": True,
    }
    return SnowflakeJobMetadata(**{**identity, **fields})


def test_round_trip_keeps_every_field() -> None:
    meta = _meta(
        config={"account": "org-acct", "port": 443, "session_parameters": {"TIMEZONE": "UTC"}},
        secrets={"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"},
        statement_count=3,
        submitted_at=1700000000.5,
        error={"errno": 2003, "sqlstate": "42S02", "message": "missing"},
        output_prefix="s3://bucket/prefix",
    )
    assert SnowflakeJobMetadata.decode(meta.encode()) == meta


def test_metadata_stored_by_the_public_plugin_decodes() -> None:
    stored = {
        "account": "org-acct",
        "user": "U",
        "database": "DB",
        "schema": "PUBLIC",
        "warehouse": "WH",
        "query_id": "01b2c3d4-0000-1111-2222-333344445555",
        "has_output": False,
        "connection_kwargs": {"role": "ANALYST"},
    }
    meta = SnowflakeJobMetadata.decode(json.dumps(stored).encode())
    assert meta.query_id == stored["query_id"]
    assert meta.connection_kwargs == {"role": "ANALYST"}
    assert meta.config == {}
    assert meta.statement_count == 1


def test_the_stored_document_is_the_one_flytes_base_class_writes() -> None:
    # Replicas of another version (and the backend's stored copies) read what this writes, and vice versa.
    from flyte.connectors import ResourceMeta

    meta = _meta(
        connection_kwargs={"role": "ANALYST", "ports": (1, 2)}, config={"session_parameters": {"QUERY_TAG": "t"}}
    )
    assert meta.encode() == ResourceMeta.encode(meta)
    assert SnowflakeJobMetadata.decode(ResourceMeta.encode(meta)) == SnowflakeJobMetadata.decode(meta.encode())


def test_a_field_written_by_a_newer_version_is_skipped() -> None:
    document = json.loads(_meta(query_id="q").encode())
    document["written_by_a_later_release"] = {"anything": 1}
    meta = SnowflakeJobMetadata.decode(json.dumps(document).encode())
    assert meta == _meta(query_id="q")
    assert "written_by_a_later_release" not in json.loads(meta.encode())


@pytest.mark.parametrize("query_id", ["", "not-a-query-id", "{01b2c3d4-0000-1111-2222-333344445555}", "01b2' OR 1=1"])
def test_a_malformed_query_id_is_named(query_id: str) -> None:
    with pytest.raises(SnowflakeMetadataError, match=r"SnowflakeJobMetadata\.query_id is not a Snowflake query id"):
        _meta(query_id=query_id).checked_query_id()
    assert _meta().checked_query_id() == "01b2c3d4-0000-1111-2222-333344445555"
