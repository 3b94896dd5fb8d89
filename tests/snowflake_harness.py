"""Drive the connector the way the Flyte backend does, against the local Snowflake (shared by test folders)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from flyte.connectors import Resource
from flyteidl2.core import tasks_pb2
from flyteidl2.core.execution_pb2 import TaskExecution

from flyteplugins.snowflake import Snowflake, SnowflakeConnector, SnowflakeJobMetadata

#: the password of the local Snowflake's start-up user (`LocalSnowflake(password=...)`, "local" by default)
PASSWORD = {"snowflake_password": "local"}
TERMINAL = (TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.ABORTED, TaskExecution.RETRYABLE_FAILED)


def serialize(task: Snowflake) -> tasks_pb2.TaskTemplate:
    """The TaskTemplate the Flyte backend would hand to the connector service."""
    from flyte._internal.runtime.task_serde import get_proto_task
    from flyte.models import SerializationContext

    sctx = SerializationContext(version="v1", project="proj", domain="dev", org="org")
    template: tasks_pb2.TaskTemplate = get_proto_task(task, sctx)
    return template


async def wait_done(
    connector: SnowflakeConnector,
    meta: SnowflakeJobMetadata,
    secrets: dict[str, str] | None = None,
    timeout: float = 20,
) -> Resource:
    """Poll like the backend does (quickly) until the query ends."""
    secrets = PASSWORD if secrets is None else secrets
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        resource = await connector.get(meta, **secrets)
        if resource.phase in TERMINAL:
            return resource
        if loop.time() > deadline:
            raise AssertionError(f"query {meta.query_id} still {resource.phase} after {timeout}s: {resource.message}")
        await asyncio.sleep(0.02)


async def run(
    connector: SnowflakeConnector,
    task: Snowflake,
    inputs: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
) -> tuple[SnowflakeJobMetadata, Resource]:
    secrets = PASSWORD if secrets is None else secrets
    meta = await connector.create(serialize(task), inputs=inputs, output_prefix="", **secrets)
    return meta, await wait_done(connector, meta, secrets)


def unique_table(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def decode_dataframe(uri: str, fmt: str, as_type: type[Any], columns: dict[str, type[Any]] | None = None) -> Any:
    """What a downstream task's input goes through: flyte's dataframe engine, from the literal."""
    from flyte.io._dataframe.dataframe import flyte_dataset_transformer
    from flyteidl2.core import literals_pb2, types_pb2

    literal = literals_pb2.Literal(
        scalar=literals_pb2.Scalar(
            structured_dataset=literals_pb2.StructuredDataset(
                uri=uri,
                metadata=literals_pb2.StructuredDatasetMetadata(
                    structured_dataset_type=types_pb2.StructuredDatasetType(format=fmt)
                ),
            )
        )
    )
    if columns:
        from typing import Annotated

        return asyncio.run(flyte_dataset_transformer.to_python_value(literal, Annotated[as_type, columns]))
    return asyncio.run(flyte_dataset_transformer.to_python_value(literal, as_type))
