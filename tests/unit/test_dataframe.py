"""dataframe.py without Snowflake: URIs, secrets, schema stability, Parquet parts, type mapping, registration."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flyteplugins.snowflake import dataframe as sfdf
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.errors import MissingSecretError, SnowflakeConfigError, SnowflakeInputError
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata

# flyte.io's File model uses a class-based pydantic config; importing it warns (not ours to fix).
pytestmark = pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning")

QID = "01b2c3d4-0000-1a2b-0000-00010203abcd"


def _config(**extra: object) -> SnowflakeConfig:
    return SnowflakeConfig("myorg-acct", "DB", "PUBLIC", "WH", "FLYTE", **extra)  # type: ignore[arg-type]


def _meta(config: SnowflakeConfig, secrets: dict[str, str] | None = None) -> SnowflakeJobMetadata:
    return SnowflakeJobMetadata(
        account=config.account,
        user=config.user,
        database=config.database,
        schema=config.schema,
        warehouse=config.warehouse,
        query_id=QID,
        has_output=True,
        config=config.to_custom(),
        secrets=secrets or {},
    )


# --- URIs --------------------------------------------------------------------------------------------------


def test_public_plugin_uri_still_parses() -> None:
    loc = sfdf.SnowflakeLocation.parse(f"snowflake://FLYTE/myorg-acct/WH/DB/PUBLIC/{QID}")
    assert (loc.user, loc.account, loc.warehouse, loc.database, loc.schema, loc.name) == (
        "FLYTE",
        "myorg-acct",
        "WH",
        "DB",
        "PUBLIC",
        QID,
    )
    assert loc.is_query and loc.settings == {} and loc.secrets == {}


def test_result_reference_carries_settings_and_secret_names_never_values() -> None:
    config = _config(role="ANALYST", host="127.0.0.1", port=8080, protocol="http", session_parameters={"TZ": "UTC"})
    meta = _meta(config, {"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"})
    df = sfdf.result_reference(meta, QID)
    assert df.uri is not None
    assert df.uri.startswith(f"snowflake://FLYTE/myorg-acct/WH/DB/PUBLIC/{QID}?")
    loc = sfdf.SnowflakeLocation.parse(df.uri)
    assert loc.settings == {"role": "ANALYST", "host": "127.0.0.1", "port": 8080, "protocol": "http",
                            "session_parameters": {"TZ": "UTC"}}  # fmt: skip
    assert loc.secrets == {"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"}
    rebuilt = loc.config()
    assert (rebuilt.role, rebuilt.port, rebuilt.host, rebuilt.protocol) == ("ANALYST", 8080, "127.0.0.1", "http")


def test_uri_round_trips_awkward_names() -> None:
    loc = sfdf.SnowflakeLocation("a.user@corp.com", "xy12345.us-east-1", "W H", "D/B?", "S&C", "My Table")
    assert sfdf.SnowflakeLocation.parse(loc.uri()) == loc
    assert not loc.is_query


@pytest.mark.parametrize(
    "uri",
    ["s3://bucket/x", "snowflake://u/a/w/d/s", "snowflake://u/a/w/d/s/t/extra", f"snowflake:///a/w/d/s/{QID}"],
)
def test_malformed_uris_say_what_the_shape_is(uri: str) -> None:
    with pytest.raises(SnowflakeConfigError):
        sfdf.SnowflakeLocation.parse(uri)


def test_table_uri_validates_mode_table_and_secret_keywords() -> None:
    uri = sfdf.table_uri(_config(), "EVENTS", mode="overwrite", secrets={"snowflake_password": "PW_VAR"})
    loc = sfdf.SnowflakeLocation.parse(uri)
    assert (loc.name, loc.mode, loc.secrets) == ("EVENTS", "overwrite", {"snowflake_password": "PW_VAR"})
    with pytest.raises(SnowflakeConfigError, match="mode"):
        sfdf.table_uri(_config(), "EVENTS", mode="upsert")
    with pytest.raises(SnowflakeConfigError, match="table"):
        sfdf.table_uri(_config(), "a/b")
    with pytest.raises(SnowflakeConfigError, match="snowflake_"):
        sfdf.table_uri(_config(), "EVENTS", secrets={"password": "PW_VAR"})


# --- secrets -----------------------------------------------------------------------------------------------


def test_secrets_come_from_the_named_variables() -> None:
    loc = sfdf.SnowflakeLocation("u", "a", "w", "d", "s", QID, secrets={"snowflake_pat": "MY_PAT"})
    assert loc.secret_values({"MY_PAT": "tok"}) == {"snowflake_pat": "tok"}


def test_missing_secret_names_the_variable_and_the_fix() -> None:
    loc = sfdf.SnowflakeLocation("u", "a", "w", "d", "s", QID, secrets={"snowflake_private_key": "SF_KEY_X"})
    with pytest.raises(MissingSecretError) as info:
        loc.secret_values({})
    message = str(info.value)
    assert "SF_KEY_X" in message and "snowflake_private_key" in message
    assert "flyte.Secret" in message and "materialize" in message


def test_legacy_uris_fall_back_to_the_public_plugins_variables() -> None:
    loc = sfdf.SnowflakeLocation.parse(f"snowflake://u/a/w/d/s/{QID}")
    env = {"SNOWFLAKE_PRIVATE_KEY": "pem", "UNRELATED": "x"}
    assert loc.secret_values(env) == {"snowflake_private_key": "pem"}
    assert loc.secret_values({}) == {}


# --- one schema per result ---------------------------------------------------------------------------------


def test_nanosecond_timestamps_become_microseconds_keeping_the_time_zone() -> None:
    schema = pa.schema([("a", pa.timestamp("ns", tz="UTC")), ("b", pa.timestamp("ns")), ("c", pa.time64("ns"))])
    stable = sfdf._stable_schema(schema)
    assert stable.types == [pa.timestamp("us", tz="UTC"), pa.timestamp("us"), pa.time64("us")]


def test_batches_of_either_unit_conform_to_the_first() -> None:
    # The driver sends microseconds for a batch holding a year past 2262 and nanoseconds otherwise.
    target = sfdf._stable_schema(pa.schema([("t", pa.timestamp("ns"))]))
    ns = pa.record_batch([pa.array([1_700_000_000_123_456_789], pa.timestamp("ns"))], names=["t"])
    us = pa.record_batch([pa.array([dt.datetime(2300, 1, 1)], pa.timestamp("us"))], names=["t"])
    assert sfdf._conform(ns, target).column(0).to_pylist() == [dt.datetime(2023, 11, 14, 22, 13, 20, 123456)]
    assert sfdf._conform(us, target).column(0).to_pylist() == [dt.datetime(2300, 1, 1)]


def test_conform_refuses_lossy_casts_other_than_sub_microseconds() -> None:
    target = pa.schema([("n", pa.int64())])
    big = pa.record_batch([pa.array([decimal.Decimal(2**70)], pa.decimal128(38, 0))], names=["n"])
    with pytest.raises(pa.ArrowInvalid):
        sfdf._conform(big, target)


# --- Parquet parts -----------------------------------------------------------------------------------------


def _batch(start: int, n: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(range(start, start + n), pa.int64()), pa.array(["x" * 10] * n)], names=["i", "s"])


def test_parts_roll_over_and_each_is_handed_on_when_finished(tmp_path: Path) -> None:
    done: list[str] = []
    writer = sfdf._PartWriter(str(tmp_path), lambda path, name: done.append(name), part_bytes=1000)
    for k in range(5):
        writer.write(_batch(k * 100, 100))
    writer.close(_batch(0, 0).schema)
    assert done == writer.parts and len(done) == 5
    assert pq.read_table(tmp_path).column("i").to_pylist() == list(range(500))


def test_an_empty_result_still_gets_a_part_with_its_schema(tmp_path: Path) -> None:
    writer = sfdf._PartWriter(str(tmp_path), lambda path, name: None)
    schema = pa.schema([("n", pa.decimal128(10, 2)), ("d", pa.date32())])
    writer.close(schema)
    table = pq.read_table(tmp_path)
    assert table.num_rows == 0 and table.schema.equals(schema)


def test_destination_is_below_the_output_prefix() -> None:
    meta = _meta(_config())
    meta.output_prefix = "s3://bucket/run/a0/"
    assert sfdf._destination(meta, QID) == f"s3://bucket/run/a0/snowflake-results/{QID}"


# --- writing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrow_type", "snowflake_type"),
    [
        (pa.int8(), "NUMBER(38,0)"),
        (pa.uint64(), "NUMBER(38,0)"),
        (pa.float32(), "FLOAT"),
        (pa.decimal128(12, 3), "NUMBER(12,3)"),
        (pa.string(), "VARCHAR"),
        (pa.large_string(), "VARCHAR"),
        (pa.binary(), "BINARY"),
        (pa.bool_(), "BOOLEAN"),
        (pa.date32(), "DATE"),
        (pa.time64("us"), "TIME"),
        (pa.timestamp("us"), "TIMESTAMP_NTZ"),
        (pa.timestamp("ns", tz="Europe/Paris"), "TIMESTAMP_TZ"),
        (pa.dictionary(pa.int32(), pa.string()), "VARCHAR"),
        (pa.null(), "VARCHAR"),
    ],
)
def test_new_tables_get_mapped_column_types(arrow_type: pa.DataType, snowflake_type: str) -> None:
    assert sfdf._snowflake_type(arrow_type) == snowflake_type


def test_nested_columns_are_refused_with_a_way_out() -> None:
    with pytest.raises(SnowflakeInputError, match="JSON"):
        sfdf._snowflake_type(pa.list_(pa.int64()))


def test_temporal_values_bind_as_iso_text() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    batch = pa.record_batch(
        [
            pa.array([dt.datetime(9999, 12, 31, 23, 59, 59, 999999), None], pa.timestamp("us")),
            pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=paris), None], pa.timestamp("us", tz="UTC")),
            pa.array([dt.date(1, 1, 1), None]),
            pa.array([dt.time(1, 2, 3, 4), None]),
            pa.array([decimal.Decimal("1.25"), None]),
        ],
        names=["ntz", "tz", "d", "t", "n"],
    )
    rows = list(sfdf._python_rows(batch))
    assert rows[0] == (
        "9999-12-31 23:59:59.999999",
        "2024-01-01 11:00:00+00:00",
        "0001-01-01",
        "01:02:03.000004",
        decimal.Decimal("1.25"),
    )
    assert rows[1] == (None, None, None, None, None)


def test_identifiers_are_quoted_as_given() -> None:
    loc = sfdf.SnowflakeLocation("u", "a", "w", "DB", "PUBLIC", 'my "odd" table')
    assert sfdf._table_name(loc) == '"DB"."PUBLIC"."my ""odd"" table"'


# --- import cost and registration --------------------------------------------------------------------------


def _run(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_registration_loads_no_dataframe_library_and_catches_each_on_import() -> None:
    result = _run(
        """
        import json, sys
        from flyteplugins.snowflake import dataframe as d
        loaded = lambda: sorted(m for m in ("pandas", "polars", "pyarrow") if d._is_loaded(m))
        before = loaded()
        first = sorted(d.register_handlers())
        after_register = loaded()
        import polars
        polars.DataFrame
        import pandas as pd
        pd.DataFrame
        from flyte.io.extend import DataFrameTransformerEngine as E
        decoders = sorted(f"{t.__module__.split('.')[0]}:{p}:{f}" for t, m in E.DECODERS.items() for p, fs in m.items()
                          for f in fs)
        print(json.dumps({"before": before, "first": first, "after_register": after_register,
                          "registered": sorted(d.register_handlers()), "decoders": decoders}))
        """
    )
    assert result["before"] == [] and result["first"] == [] and result["after_register"] == []
    assert result["registered"] == ["pandas", "polars", "pyarrow"]
    decoders = result["decoders"]
    assert isinstance(decoders, list)
    for entry in ("pandas:snowflake:", "pyarrow:snowflake:", "polars:snowflake:", "polars:fsspec:parquet"):
        assert entry in decoders


def test_register_handlers_is_idempotent() -> None:
    first = sfdf.register_handlers()
    assert sfdf.register_handlers() == first


def test_without_an_output_prefix_materializing_refuses_rather_than_losing_the_result() -> None:
    with pytest.raises(SnowflakeConfigError, match="results='reference'"):
        sfdf._destination(_meta(_config()), QID)


def test_polars_frames_round_trip_through_parquet(tmp_path: Path) -> None:
    import asyncio

    import polars as pl
    from flyte.io import DataFrame
    from flyte.io._dataframe.dataframe import flyte_dataset_transformer
    from flyteidl2.core import literals_pb2, types_pb2

    sfdf.register_handlers()
    frame = pl.DataFrame({"a": [1, None], "d": [decimal.Decimal("1.25"), None]})
    literal = asyncio.run(
        flyte_dataset_transformer.encode(
            DataFrame.wrap_df(frame, uri=str(tmp_path / "out")),
            pl.DataFrame,
            "file",
            "",
            types_pb2.StructuredDatasetType(),
        )
    )
    stored = literal.scalar.structured_dataset
    assert stored.metadata.structured_dataset_type.format == "parquet"
    back = asyncio.run(
        flyte_dataset_transformer.to_python_value(literals_pb2.Literal(scalar=literal.scalar), pl.DataFrame)
    )
    assert back.equals(frame)
