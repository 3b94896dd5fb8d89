"""The connector service (`c0` over gRPC) materializes a result into an S3-compatible object store through
flyte.storage, as in production, and a downstream task reads it; a write that fails halfway is never read.

The object store is moto's standalone S3 server on 127.0.0.1; flyte.storage reaches it through the variables a
deployment sets (FLYTE_AWS_ENDPOINT, FLYTE_AWS_ACCESS_KEY_ID, FLYTE_AWS_SECRET_ACCESS_KEY), in `c0` and here.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from c0_harness import Backend, snowflake_task, template_of
from flyteidl2.core.execution_pb2 import TaskExecution

pytestmark = pytest.mark.e2e

BUCKET = "flyte-outputs"
ROWS = 30_000


def _moto_server() -> Any:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # the dev extra installs it: only a hand-made environment lacks it
        pytest.skip(f"moto[server] is not installed ({exc}); pip install 'flyteplugins-snowflake[dev]'")
    return ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """moto's S3 server with one bucket; the variables that point flyte.storage (and pyarrow) at it."""
    server = _moto_server()
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "FLYTE_AWS_ENDPOINT": f"http://{host}:{port}",
        "FLYTE_AWS_ACCESS_KEY_ID": "moto-key",
        "FLYTE_AWS_SECRET_ACCESS_KEY": "moto-secret",
        "AWS_REGION": "us-east-1",
    }
    # flyte's own pyarrow Parquet reader (the downstream task) opens s3:// with pyarrow's S3 client, which reads
    # the AWS SDK's standard variables.
    env.update(
        AWS_ENDPOINT_URL=env["FLYTE_AWS_ENDPOINT"], AWS_ACCESS_KEY_ID="moto-key", AWS_SECRET_ACCESS_KEY="moto-secret"
    )
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=env["FLYTE_AWS_ENDPOINT"],
        aws_access_key_id="moto-key",
        aws_secret_access_key="moto-secret",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # this process is the downstream task: it reads through flyte.storage too
    try:
        yield env
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture(scope="module")
def s3_service(tmp_path_factory: pytest.TempPathFactory, c0_emulator: Any, s3_env: dict[str, str]) -> Iterator[Any]:
    from c0_harness import ConnectorService

    # Parts of 64 KiB: a result sent in chunks of 5,000 rows (~130 KB each) is uploaded as one part per chunk.
    env = {**s3_env, "FLYTE_SNOWFLAKE_RESULT_PART_BYTES": str(64 * 1024)}
    replica = ConnectorService(tmp_path_factory.mktemp("c0-s3"), env=env).start()
    yield replica
    replica.stop()


def _objects(prefix: str) -> list[str]:
    import flyte.storage as storage

    filesystem = storage.get_underlying_filesystem(path=prefix)
    return sorted(p.rsplit("/", 1)[-1] for p in filesystem.find(prefix.removeprefix("s3://")))


def _results_uri(resource: Any) -> str:
    (named,) = [n for n in resource.outputs.literals if n.name == "results"]
    return str(named.value.scalar.structured_dataset.uri)


def _read_downstream(uri: str, as_type: type[Any]) -> Any:
    """What a downstream task's input goes through: flyte's dataframe engine, from the output literal."""
    from flyte.io._dataframe import lazy_import_dataframe_handler
    from flyte.io._dataframe.dataframe import flyte_dataset_transformer
    from flyteidl2.core import literals_pb2, types_pb2

    from flyteplugins.snowflake import dataframe as sfdf

    lazy_import_dataframe_handler()
    sfdf.register_handlers()
    literal = literals_pb2.Literal(
        scalar=literals_pb2.Scalar(
            structured_dataset=literals_pb2.StructuredDataset(
                uri=uri,
                metadata=literals_pb2.StructuredDatasetMetadata(
                    structured_dataset_type=types_pb2.StructuredDatasetType(format="parquet")
                ),
            )
        )
    )
    return asyncio.run(flyte_dataset_transformer.to_python_value(literal, as_type))


SQL = (
    "SELECT SEQ4() AS N, UNIFORM(1, 1000000, RANDOM()) AS R, 'row ' || SEQ4() AS LABEL "
    "FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"
)


def test_a_result_lands_in_the_object_store_and_a_downstream_task_reads_it(s3_service: Any, emulator: Any) -> None:
    import polars as pl

    emulator.configure(result_chunk_rows=5_000, result_first_chunk_bytes=4 * 1024 * 1024)  # equal parts
    task = snowflake_task(emulator, SQL.format(rows=ROWS), output_dataframe_type=pa.Table)
    prefix = f"s3://{BUCKET}/runs/{uuid.uuid4().hex}"
    backend = Backend(s3_service)
    meta = backend.create(template_of(task), output_prefix=prefix)
    (done,) = backend.wait([meta], timeout=120)
    assert done.phase == TaskExecution.SUCCEEDED, done.message

    uri = _results_uri(done)
    query_id = json.loads(meta)["query_id"]
    assert uri == f"{prefix}/snowflake-results/{query_id}"
    names = _objects(uri)
    assert "_SUCCESS" in names and sum(n.endswith(".parquet") for n in names) == ROWS // 5_000, names

    table = _read_downstream(uri, pa.Table)  # flyte's own Parquet reader, through flyte.storage
    assert table.num_rows == ROWS and table.column_names == ["N", "R", "LABEL"]
    assert sorted(table.column("N").to_pylist()) == list(range(ROWS))
    frame = _read_downstream(uri, pl.DataFrame)  # the plugin's reader: the parts _SUCCESS lists
    assert frame.height == ROWS and frame["N"].sum() == sum(range(ROWS))


def test_a_write_that_fails_halfway_is_never_read_as_complete(
    tmp_path: Any, s3_env: dict[str, str], emulator: Any
) -> None:
    import polars as pl
    from c0_harness import ConnectorService

    from flyteplugins.snowflake.errors import SnowflakeResultError

    # A result of 30 chunks, each answer slowed down: the service is killed (a node lost) once the first Parquet
    # parts are in the object store, before the last part and `_SUCCESS`.
    emulator.configure(result_chunk_rows=1_000, latency_ms=300)
    task = snowflake_task(emulator, SQL.format(rows=ROWS), output_dataframe_type=pa.Table)
    prefix = f"s3://{BUCKET}/runs/{uuid.uuid4().hex}"
    replica = ConnectorService(tmp_path, env={**s3_env, "FLYTE_SNOWFLAKE_RESULT_PART_BYTES": "1024"}).start()
    try:
        backend = Backend(replica)
        meta = backend.create(template_of(task), output_prefix=prefix)
        directory = f"{prefix}/snowflake-results/{json.loads(meta)['query_id']}"
        deadline = time.monotonic() + 90
        while not any(n.endswith(".parquet") for n in _objects(directory)):
            assert time.monotonic() < deadline, "no Parquet part was uploaded"
            assert backend.get(meta).phase not in (TaskExecution.SUCCEEDED, TaskExecution.FAILED)
            time.sleep(0.1)
        replica.kill()
    finally:
        replica.stop()

    names = _objects(directory)
    assert "_SUCCESS" not in names and any(n.endswith(".parquet") for n in names), names
    with pytest.raises(SnowflakeResultError, match="incomplete: it has no _SUCCESS"):
        _read_downstream(directory, pl.DataFrame)
