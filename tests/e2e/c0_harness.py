"""The connector service as the Flyte backend sees it: `c0` in a subprocess, driven over gRPC with flyteidl2.

`ConnectorService` starts flyte's `c0` command (our plugin found through its `flyte.connectors` entry point),
`Backend` makes the calls the backend makes (CreateTask with literal inputs and secrets in the connection,
GetTask until done, DeleteTask, GetTaskLogs, GetTaskMetrics), and `snowflake_task` builds a task template
with flyte's own serializer. The fixtures built on these
(`c0_emulator`, `emulator`, `service`, `start_service`) are in conftest.py; `benchmarks/service_load.py`
uses the classes too.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import snowflake.connector
from flyte._internal.runtime.convert import convert_from_native_to_inputs
from flyte._internal.runtime.task_serde import get_proto_task
from flyte.models import SerializationContext
from flyteidl2.connector import connector_pb2
from flyteidl2.connector.service_pb2_grpc import AsyncConnectorServiceStub, ConnectorMetadataServiceStub
from flyteidl2.core import tasks_pb2
from flyteidl2.core.execution_pb2 import TaskExecution
from flyteidl2.core.security_pb2 import Connection

from flyteplugins.snowflake import Snowflake
from flyteplugins.snowflake.local import LocalSnowflake

C0 = Path(sys.executable).with_name("c0")
PASSWORD = "local"  # the local Snowflake's start-up user's; a real secret would come from the backend
SECRETS = {"snowflake_password": PASSWORD}
CATEGORY = connector_pb2.TaskCategory(name="snowflake", version=0)
FINAL = (TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.ABORTED, TaskExecution.RETRYABLE_FAILED)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ConnectorService:
    """One `c0` replica on a free port of 127.0.0.1 (its gRPC server listens on every interface: flyte's choice)."""

    def __init__(self, workdir: Path, env: Mapping[str, str] | None = None, name: str = "c0") -> None:
        self.workdir = workdir
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.name = name
        self.port = 0
        self.prometheus_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None
        self.log = workdir / f"{name}.log"

    def start(self, timeout: float = 60.0) -> ConnectorService:
        self.port, self.prometheus_port = free_port(), free_port()
        cmd = [str(C0), "--port", str(self.port), "--prometheus_port", str(self.prometheus_port), "--worker", "10"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                cmd, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.metadata.ListConnectors(connector_pb2.ListConnectorsRequest(), timeout=2)
                return self
            except grpc.RpcError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"c0 did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.1)

    @property
    def tasks(self) -> AsyncConnectorServiceStub:
        assert self.channel is not None, "not started"
        return AsyncConnectorServiceStub(self.channel)

    @property
    def metadata(self) -> ConnectorMetadataServiceStub:
        assert self.channel is not None, "not started"
        return ConnectorMetadataServiceStub(self.channel)

    def prometheus(self) -> str:
        url = f"http://127.0.0.1:{self.prometheus_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, like a node lost under the pod."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._close_channel()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_channel()

    def _close_channel(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None


class Backend:
    """Makes the calls the Flyte backend makes, on one replica or round-robin over several."""

    def __init__(self, *replicas: ConnectorService, secrets: Mapping[str, str] = SECRETS) -> None:
        self.replicas = list(replicas)
        self.secrets = dict(secrets)
        self._next = itertools.cycle(range(len(self.replicas)))

    def _stub(self) -> AsyncConnectorServiceStub:
        return self.replicas[next(self._next)].tasks

    def create(self, template: tasks_pb2.TaskTemplate, inputs: Any = None, output_prefix: str = "/tmp/e2e") -> bytes:
        request = connector_pb2.CreateTaskRequest(
            template=template,
            inputs=inputs,
            output_prefix=output_prefix,
            connection=Connection(secrets=self.secrets),
        )
        return bytes(self._stub().CreateTask(request, timeout=60).resource_meta)

    def get(self, meta: bytes) -> connector_pb2.Resource:
        request = connector_pb2.GetTaskRequest(
            resource_meta=meta, task_category=CATEGORY, connection=Connection(secrets=self.secrets)
        )
        return self._stub().GetTask(request, timeout=60).resource

    def delete(self, meta: bytes) -> None:
        request = connector_pb2.DeleteTaskRequest(
            resource_meta=meta, task_category=CATEGORY, connection=Connection(secrets=self.secrets)
        )
        self._stub().DeleteTask(request, timeout=60)

    def wait(
        self, metas: Sequence[bytes], timeout: float = 60.0, interval: float = 0.1
    ) -> list[connector_pb2.Resource]:
        """Poll every query until each is final, as the backend does; returns the final resources, in order."""
        done: dict[int, connector_pb2.Resource] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(metas):
            for i, meta in enumerate(metas):
                if i not in done:
                    resource = self.get(meta)
                    if resource.phase in FINAL:
                        done[i] = resource
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(metas) - len(done)} queries not final after {timeout}s")
            time.sleep(interval)
        return [done[i] for i in range(len(metas))]

    def logs(self, meta: bytes) -> list[str]:
        request = connector_pb2.GetTaskLogsRequest(resource_meta=meta, task_category=CATEGORY)
        return [
            line.message for response in self._stub().GetTaskLogs(request, timeout=60) for line in response.body.lines
        ]

    def metrics(self, meta: bytes) -> dict[str, Any]:
        request = connector_pb2.GetTaskMetricsRequest(resource_meta=meta, task_category=CATEGORY)
        response = self._stub().GetTaskMetrics(request, timeout=60)
        from google.protobuf import json_format

        return {r.metric: json_format.MessageToDict(r.data) for r in response.results}


def snowflake_task(
    sf: LocalSnowflake, sql: str, inputs: Mapping[str, type] | None = None, *, name: str = "e2e_query", **task: Any
) -> Snowflake:
    """A Snowflake task pointed at the local Snowflake, with the password as a Flyte secret."""
    config = sf.config(login_timeout=10, network_timeout=10)
    return Snowflake(
        name=name,
        query_template=sql,
        plugin_config=config,
        inputs=dict(inputs or {}),
        snowflake_password="snowflake-password",
        **task,
    )


def template_of(task: Snowflake) -> tasks_pb2.TaskTemplate:
    """The TaskTemplate the backend would hold: flyte's own serializer."""
    return get_proto_task(task, SerializationContext(version="v1", project="p", domain="d", org="o"))


def literal_inputs(task: Snowflake, **values: Any) -> Any:
    """Native inputs -> flyteidl2 literals, the way flyte converts them for a run."""
    return asyncio.run(convert_from_native_to_inputs(task.native_interface, **values)).proto_inputs


def warm_history(sf: LocalSnowflake) -> None:
    """The emulator's first QUERY_HISTORY statement after start-up can fail with an internal error (reported);
    one throwaway look-up here keeps that out of the tests."""
    with snowflake.connector.connect(**sf.connect_kwargs()) as conn:
        for _ in range(2):
            try:
                conn.cursor().execute(
                    "SELECT QUERY_ID FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY()) LIMIT 1"
                ).fetchall()
                return
            except snowflake.connector.Error:
                continue
