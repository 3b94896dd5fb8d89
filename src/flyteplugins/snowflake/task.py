"""The Snowflake task: its interface, how it is serialized for the backend, and its local execution loop.

In a remote run the Flyte backend hands the serialized task to the connector service. In a local run the
task drives the very same `SnowflakeConnector` in-process, with its own loop: adaptive polling (first
checks within tens of milliseconds), no sleep after the final state, and a cancel when the run is aborted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from flyte.connectors import AsyncConnectorExecutorMixin, ConnectorRegistry, Resource
from flyte.extend import TaskTemplate
from flyte.models import NativeInterface, SerializationContext
from flyteidl2.core import tasks_pb2
from flyteidl2.core.execution_pb2 import TaskExecution

from ._auth import SECRET_KEYWORDS
from .config import SnowflakeConfig
from .errors import MissingSecretError, SnowflakeError

# A child of flyte's logger: it follows flyte's handlers and level, so progress is quiet by default.
logger = logging.getLogger("flyte.snowflake")

TASK_TYPE = "snowflake"

_TERMINAL = (TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.ABORTED, TaskExecution.RETRYABLE_FAILED)


class SnowflakeTaskFailed(SnowflakeError, RuntimeError):
    """A Snowflake task ended in failure; the message carries Snowflake's code, message and query id."""


class Snowflake(AsyncConnectorExecutorMixin, TaskTemplate):  # type: ignore[misc]
    """A task that runs SQL on Snowflake.

    Example:
        ```python
        from flyteplugins.snowflake import Snowflake, SnowflakeConfig

        top_customers = Snowflake(
            name="top_customers",
            query_template="SELECT name, total FROM customers WHERE region = %(region)s ORDER BY total DESC",
            plugin_config=SnowflakeConfig(account="myorg-myaccount", user="FLYTE", database="SALES",
                                          schema="PUBLIC", warehouse="COMPUTE_WH"),
            inputs={"region": str},
            output_dataframe_type=pd.DataFrame,
            snowflake_private_key="snowflake-private-key",
        )
        ```

    Args:
        name: The task's name.
        query_template: The SQL, sent as written. `%(name)s` marks an input; inputs are bound on the server,
            never pasted into the SQL text. Several statements separated by `;` run as one request.
        plugin_config: Where and as whom to run (`SnowflakeConfig`).
        inputs: Input names and their Python types.
        output_dataframe_type: Declares one output, `results`, holding the query's result as this dataframe type.
        secret_group: Optional group of the secrets below; the environment variable read in a local run is
            `{secret_group}_{key}`, upper-cased with `-` turned into `_`.
        snowflake_private_key: Secret key of the private key (key-pair authentication, recommended).
        snowflake_private_key_passphrase: Secret key of the private key's passphrase, if it is encrypted.
        snowflake_password: Secret key of a password.
        snowflake_pat: Secret key of a programmatic access token.
        snowflake_oauth_token: Secret key of an OAuth access token.
        batch: With list inputs, run the statement once per row through array binding (batch inserts).
    """

    _TASK_TYPE = TASK_TYPE

    def __init__(
        self,
        name: str,
        query_template: str,
        plugin_config: SnowflakeConfig,
        inputs: dict[str, type] | None = None,
        output_dataframe_type: type | None = None,
        secret_group: str | None = None,
        snowflake_private_key: str | None = None,
        snowflake_private_key_passphrase: str | None = None,
        batch: bool = False,
        *,
        snowflake_password: str | None = None,
        snowflake_pat: str | None = None,
        snowflake_oauth_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(plugin_config, SnowflakeConfig):
            raise TypeError(f"plugin_config must be a SnowflakeConfig, got {type(plugin_config).__name__}")
        outputs = {"results": output_dataframe_type} if output_dataframe_type is not None else {}
        super().__init__(
            name=name,
            interface=NativeInterface({k: (v, None) for k, v in (inputs or {}).items()}, outputs),
            task_type=self._TASK_TYPE,
            image=None,
            **kwargs,
        )
        self.query_template = query_template
        self.plugin_config = plugin_config
        self.output_dataframe_type = output_dataframe_type
        self.batch = batch
        self.secret_group = secret_group
        self.snowflake_private_key = snowflake_private_key
        self.snowflake_private_key_passphrase = snowflake_private_key_passphrase
        self.snowflake_password = snowflake_password
        self.snowflake_pat = snowflake_pat
        self.snowflake_oauth_token = snowflake_oauth_token

    def secret_refs(self) -> dict[str, str]:
        """Keyword -> secret reference (the name of the secret, never its value) for each secret given."""
        refs = {}
        for keyword in SECRET_KEYWORDS:
            key = getattr(self, keyword, None)
            if key is not None:
                refs[keyword] = self._to_env_var(key)
        return refs

    def _to_env_var(self, key: str) -> str:
        name = f"{self.secret_group}_{key}" if self.secret_group else key
        return name.replace("-", "_").upper()

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        custom = self.plugin_config.to_custom()
        if self.batch:
            custom["batch"] = True
        refs = self.secret_refs()
        if refs:
            custom["secrets"] = refs
        return custom

    def sql(self, sctx: SerializationContext) -> tasks_pb2.Sql:
        return tasks_pb2.Sql(statement=self.query_template, dialect=tasks_pb2.Sql.Dialect.ANSI)

    async def execute(self, **kwargs: Any) -> Any:
        """Run the query in-process through the connector, following it until it ends."""
        from flyte._context import internal_ctx

        ctx = internal_ctx()
        tctx = ctx.data.task_context
        if tctx is None:
            raise RuntimeError("Snowflake tasks run inside a Flyte run: use flyte.run(...) or call it from a task")
        template = _serialize(self, tctx)
        secrets = read_local_secrets(self.secret_refs())
        connector = ConnectorRegistry.get_connector(self.task_type, self.task_type_version)
        meta = await connector.create(
            task_template=template,
            output_prefix=ctx.raw_data.path,
            inputs=kwargs,
            task_execution_metadata=_execution_metadata(tctx),
            **secrets,
        )
        resource = await follow(connector, meta, secrets, self.plugin_config, name=self.name)
        if resource.outputs is None:
            return None
        return tuple(resource.outputs.values())


async def follow(
    connector: Any, meta: Any, secrets: Mapping[str, str], config: SnowflakeConfig, *, name: str
) -> Resource:
    """Poll until the query ends: quickly at first, then less often; cancel it if we are cancelled."""
    interval = config.poll_interval
    started = time.monotonic()
    last: tuple[int, str | None] | None = None
    linked = False
    try:
        while True:
            resource: Resource = await connector.get(resource_meta=meta, **secrets)
            if not linked and resource.log_links:
                linked = True
                for link in resource.log_links:
                    logger.info("%s: %s %s", name, link.name, link.uri)
            state = (int(resource.phase), resource.message)
            if state != last:
                last = state
                logger.info("%s: %s", name, resource.message or TaskExecution.Phase.Name(resource.phase))
            if resource.phase in _TERMINAL:
                break
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, config.max_poll_interval)
    except BaseException:
        # Ctrl-C, a timeout or a cancelled asyncio task: the query must not keep running in Snowflake.
        await _cancel(connector, meta, secrets, name)
        raise
    if resource.phase != TaskExecution.SUCCEEDED:
        raise SnowflakeTaskFailed(f"Snowflake task {name} failed: {resource.message}")
    logger.info("%s: done in %.2fs", name, time.monotonic() - started)
    return resource


async def _cancel(connector: Any, meta: Any, secrets: Mapping[str, str], name: str) -> None:
    logger.warning("%s: cancelling Snowflake query %s", name, getattr(meta, "query_id", ""))
    try:
        await asyncio.shield(connector.delete(resource_meta=meta, **secrets))
    except Exception as exc:  # the original interruption matters more than a failed cancel
        logger.error("%s: could not cancel the Snowflake query: %s", name, exc)


def read_local_secrets(refs: Mapping[str, str]) -> dict[str, str]:
    """In a local run, each secret reference names an environment variable."""
    values = {}
    for keyword, env_var in refs.items():
        value = os.environ.get(env_var)
        if value is None:
            raise MissingSecretError(
                f"secret {keyword} is read from the environment variable {env_var} in a local run, "
                f"and {env_var} is not set: export it (or change the task's {keyword}= / secret_group=)"
            )
        values[keyword] = value
    return values


def _serialize(task: Snowflake, tctx: Any) -> tasks_pb2.TaskTemplate:
    from flyte._initialize import get_init_config
    from flyte._internal.runtime.task_serde import get_proto_task

    sctx = SerializationContext(
        project=tctx.action.project,
        domain=tctx.action.domain,
        org=tctx.action.org,
        code_bundle=tctx.code_bundle,
        version=tctx.version,
        image_cache=tctx.compiled_image_cache,
        root_dir=get_init_config().root_dir,
    )
    template: tasks_pb2.TaskTemplate = get_proto_task(task, sctx, tctx)
    return template


def _execution_metadata(tctx: Any) -> Any:
    """Who runs this query, for the QUERY_TAG, in the shape the backend sends it."""
    from flyteidl2.connector.connector_pb2 import TaskExecutionMetadata
    from flyteidl2.core import identifier_pb2

    action = tctx.action
    run = identifier_pb2.WorkflowExecutionIdentifier(
        project=action.project or "", domain=action.domain or "", name=action.run_name or "", org=action.org or ""
    )
    node = identifier_pb2.NodeExecutionIdentifier(node_id=action.name or "", execution_id=run)
    return TaskExecutionMetadata(
        task_execution_id=identifier_pb2.TaskExecutionIdentifier(
            node_execution_id=node, retry_attempt=int(getattr(tctx, "attempt_number", 0) or 0)
        )
    )

