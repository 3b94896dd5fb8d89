"""SnowflakeJobMetadata: what the Flyte backend stores for a running query. Identifiers only, never a secret."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from flyte.connectors import ResourceMeta

from .errors import SnowflakeMetadataError

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclass
class SnowflakeJobMetadata(ResourceMeta):
    """Identifies a submitted query so that any connector replica can follow, cancel or report on it.

    The backend stores this as JSON and sends it back on every call. The first seven fields are those of
    the public plugin, so a query submitted by it can still be followed after an upgrade.

    Attributes:
        account: Snowflake account identifier.
        user: Snowflake user that ran the query (results are readable by the same user and role).
        database: Database the query ran in.
        schema: Schema the query ran in.
        warehouse: Warehouse the query ran on.
        query_id: Snowflake query id; for a multi-statement request, the parent query.
        has_output: Whether the task declares a `results` output.
        connection_kwargs: Non-secret driver settings of the task (kept for compatibility).
        config: The task's `SnowflakeConfig` as stored in the task (no secrets: secrets are never in it).
        secrets: Keyword name -> secret *reference* (a name such as `SNOWFLAKE_PRIVATE_KEY`), never a value;
            downstream readers use it to find the same credentials.
        statement_count: Statements in the request (more than one: a multi-statement request).
        submitted_at: Unix time the query was submitted, for elapsed time.
        error: Set when the query failed before Snowflake accepted it (login, binding): code, sqlstate,
            message and kind, so `get` reports it as the task's failure.
        output_prefix: Where the task's outputs go (materialized results are written below it).
        lineage: When OpenLineage is configured: the query's OpenLineage job and run (names and dataset names
            parsed from the SQL, never a value), so that any replica sends its end event.
    """

    account: str
    user: str
    database: str
    schema: str
    warehouse: str
    query_id: str
    has_output: bool
    connection_kwargs: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    statement_count: int = 1
    submitted_at: float = 0.0
    error: dict[str, Any] | None = None
    output_prefix: str = ""
    lineage: dict[str, Any] | None = None

    def checked_query_id(self) -> str:
        """`query_id`, checked to be a Snowflake query id (`01b2c3d4-0000-1234-0000-0001abcd5678`).

        Raises:
            SnowflakeMetadataError: naming the field, when it holds anything else.
        """
        if not _QUERY_ID.fullmatch(self.query_id or ""):
            raise SnowflakeMetadataError(
                f"SnowflakeJobMetadata.query_id is not a Snowflake query id: {self.query_id[:80]!r} (expected 36 "
                "characters like '01b2c3d4-0000-1234-0000-0001abcd5678'); this metadata was not written by the "
                "connector's create, or was changed since: submit the task again"
            )
        return self.query_id

    # The service encodes this on every CreateTask and decodes it on every later call. The base class goes
    # through `dataclasses.asdict` (a deep copy) and flyte's generic dataclass reader; these write and read the
    # same JSON directly, which matters when hundreds of calls a second share one event loop.

    def encode(self) -> bytes:
        """The JSON the backend stores: the same document `ResourceMeta.encode` writes."""
        return _ENCODER.encode({name: getattr(self, name) for name in _FIELD_ORDER}).encode()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Read what `encode` (ours or the public plugin's) wrote; keys a newer version added are skipped."""
        values = json.loads(data)
        return cls(**{name: value for name, value in values.items() if name in _FIELDS})


# Snowflake's query ids are UUIDs in their canonical text form.
_QUERY_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_FIELD_ORDER = tuple(f.name for f in fields(SnowflakeJobMetadata))
_FIELDS = frozenset(_FIELD_ORDER)
_ENCODER = json.JSONEncoder()
