"""dataframe.py without Snowflake: registration of the handlers, polars Parquet, the public face."""

from __future__ import annotations

import decimal
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from flyteplugins.snowflake import _location, _materialize, _table_writer
from flyteplugins.snowflake import dataframe as sfdf

# flyte.io's File model uses a class-based pydantic config; importing it warns (not ours to fix).
pytestmark = pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning")


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
    assert sfdf.write_table is _table_writer.write_table
    assert (sfdf.MATERIALIZE, sfdf.REFERENCE) == ("materialize", "reference")
    assert all(getattr(sfdf, name) is not None for name in sfdf.__all__)


@pytest.mark.parametrize("module", ["dataframe", "_location", "_arrow", "_materialize", "_table_writer"])
def test_importing_a_dataframe_module_imports_no_dataframe_library_nor_the_driver(
    module: str, modules_imported_by: Callable[[str], set[str]]
) -> None:
    assert modules_imported_by(module) & {"pandas", "polars", "pyarrow", "numpy", "snowflake"} == set()


# --- the public plugin's names -----------------------------------------------------------------------------


def test_the_public_plugins_names_import_without_loading_pandas() -> None:
    result = _run(
        """
        import json, sys
        from flyteplugins.snowflake.dataframe import (
            PROTOCOL_SEP, SNOWFLAKE, PandasToSnowflakeEncodingHandlers, SnowflakeToPandasDecodingHandler)
        from flyteplugins.snowflake import dataframe as d
        print(json.dumps({"pandas_loaded": d._is_loaded("pandas"), "scheme": SNOWFLAKE,
                          "names": [PandasToSnowflakeEncodingHandlers.__name__,
                                    SnowflakeToPandasDecodingHandler.__name__]}))
        """
    )
    assert result == {
        "pandas_loaded": False,
        "scheme": "snowflake",
        "names": ["PandasToSnowflakeEncodingHandlers", "SnowflakeToPandasDecodingHandler"],
    }


def test_the_public_pandas_handlers_are_the_registered_pandas_handlers() -> None:
    import pandas as pd
    from flyte.io.extend import DataFrameDecoder, DataFrameEncoder, DataFrameTransformerEngine

    sfdf.register_handlers()
    decoder, encoder = sfdf.SnowflakeToPandasDecodingHandler(), sfdf.PandasToSnowflakeEncodingHandlers()
    assert isinstance(decoder, DataFrameDecoder) and isinstance(encoder, DataFrameEncoder)
    for handler in (decoder, encoder):
        assert (handler.python_type, handler.protocol, handler.supported_format) == (pd.DataFrame, "snowflake", "")
    assert isinstance(DataFrameTransformerEngine.DECODERS[pd.DataFrame]["snowflake"][""], type(decoder))
    assert isinstance(DataFrameTransformerEngine.ENCODERS[pd.DataFrame]["snowflake"][""], type(encoder))
    # Code written for the public plugin registers them itself, replacing the registered ones.
    DataFrameTransformerEngine.register(decoder, override=True)
    DataFrameTransformerEngine.register(encoder, override=True)
    assert DataFrameTransformerEngine.DECODERS[pd.DataFrame]["snowflake"][""] is decoder


def test_protocol_sep_splits_a_snowflake_uri_into_its_parts() -> None:
    import re

    uri = f"{sfdf.SNOWFLAKE}://ME/myorg-acct/WH/DB/SCHEMA/01b2c3d4-0000-1111-0000-000000000001"
    assert re.split(sfdf.PROTOCOL_SEP, uri) == [
        "snowflake", "ME", "myorg-acct", "WH", "DB", "SCHEMA", "01b2c3d4-0000-1111-0000-000000000001"
    ]  # fmt: skip
