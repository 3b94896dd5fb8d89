"""dataframe.py without Snowflake: type mapping and binding for table writes, registration, the public face."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from flyteplugins.snowflake import _location, _materialize
from flyteplugins.snowflake import dataframe as sfdf
from flyteplugins.snowflake.errors import SnowflakeInputError

# flyte.io's File model uses a class-based pydantic config; importing it warns (not ours to fix).
pytestmark = pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning")


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


# --- the public face ---------------------------------------------------------------------------------------


def test_the_names_callers_import_from_dataframe_are_the_implementations() -> None:
    assert sfdf.SnowflakeLocation is _location.SnowflakeLocation
    assert (sfdf.result_reference, sfdf.table_uri) == (_location.result_reference, _location.table_uri)
    assert (sfdf.materialize, sfdf.Runner) == (_materialize.materialize, _materialize.Runner)
    assert (sfdf.MATERIALIZE, sfdf.REFERENCE) == ("materialize", "reference")
    assert all(getattr(sfdf, name) is not None for name in sfdf.__all__)


@pytest.mark.parametrize("module", ["dataframe", "_location", "_arrow", "_materialize"])
def test_importing_a_dataframe_module_imports_no_dataframe_library_nor_the_driver(
    module: str, modules_imported_by: Callable[[str], set[str]]
) -> None:
    assert modules_imported_by(module) & {"pandas", "polars", "pyarrow", "numpy", "snowflake"} == set()
