"""_materialize.py without Snowflake: Parquet parts, and where a materialized result goes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flyteplugins.snowflake import _materialize
from flyteplugins.snowflake.errors import SnowflakeConfigError, SnowflakeDriverError
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

# flyte.io's File model uses a class-based pydantic config; importing it warns (not ours to fix).
pytestmark = pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning")

QID = "01b2c3d4-0000-1a2b-0000-00010203abcd"


def _meta(output_prefix: str = "") -> SnowflakeJobMetadata:
    return SnowflakeJobMetadata("myorg-acct", "FLYTE", "DB", "PUBLIC", "WH", QID, True, output_prefix=output_prefix)


# --- Parquet parts -----------------------------------------------------------------------------------------


def _batch(start: int, n: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(range(start, start + n), pa.int64()), pa.array(["x" * 10] * n)], names=["i", "s"])


def test_parts_roll_over_and_each_is_handed_on_when_finished(tmp_path: Path) -> None:
    done: list[str] = []
    writer = _materialize._PartWriter(str(tmp_path), lambda path, name: done.append(name), part_bytes=1000)
    for k in range(5):
        writer.write(_batch(k * 100, 100))
    writer.close(_batch(0, 0).schema)
    assert done == writer.parts and len(done) == 5
    assert pq.read_table(tmp_path).column("i").to_pylist() == list(range(500))


def test_an_empty_result_still_gets_a_part_with_its_schema(tmp_path: Path) -> None:
    writer = _materialize._PartWriter(str(tmp_path), lambda path, name: None)
    schema = pa.schema([("n", pa.decimal128(10, 2)), ("d", pa.date32())])
    writer.close(schema)
    table = pq.read_table(tmp_path)
    assert table.num_rows == 0 and table.schema.equals(schema)


def test_destination_is_below_the_output_prefix() -> None:
    assert _materialize._destination(_meta("s3://bucket/run/a0/"), QID) == f"s3://bucket/run/a0/snowflake-results/{QID}"


def test_without_an_output_prefix_materializing_refuses_rather_than_losing_the_result() -> None:
    with pytest.raises(SnowflakeConfigError, match="results='reference'"):
        _materialize._destination(_meta(), QID)


@pytest.mark.parametrize("query_id", ["../x", "../../etc", f"{QID}/../../x", "", f"{QID}\n"])
def test_only_a_query_id_names_a_result_directory(query_id: str) -> None:
    with pytest.raises(SnowflakeDriverError, match="not a Snowflake query id"):
        _materialize._destination(_meta("s3://bucket/run/a0/"), query_id)


def test_a_result_without_its_success_file_is_refused_and_stray_parts_are_not_read(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from flyteplugins.snowflake import dataframe as sfdf
    from flyteplugins.snowflake.errors import SnowflakeResultError

    directory = tmp_path / "snowflake-results" / "01b2c3d4-0000-0000-0000-000000000000"
    directory.mkdir(parents=True)
    pq.write_table(pa.table({"N": [1, 2]}), directory / "part-00000.parquet")
    pq.write_table(pa.table({"N": [3]}), directory / "part-00001.parquet")  # left by an earlier, broken write
    with pytest.raises(SnowflakeResultError, match="incomplete: it has no _SUCCESS"):
        sfdf._parquet_table(str(directory), [])
    (directory / "_SUCCESS").write_text(json.dumps({"query_id": "q", "rows": 2, "parts": ["part-00000.parquet"]}))
    assert sfdf._parquet_table(str(directory), []).column("N").to_pylist() == [1, 2]
    # any other directory of Parquet files reads whole, as before
    other = tmp_path / "plain"
    other.mkdir()
    pq.write_table(pa.table({"N": [5]}), other / "00000")
    assert sfdf._parquet_table(str(other), []).num_rows == 1
