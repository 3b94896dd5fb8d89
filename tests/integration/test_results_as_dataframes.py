"""A query's result reaches the next task as pandas, pyarrow, polars or flyte.io.DataFrame; dataframes go back in.

Real driver against the local Snowflake. Emulator gaps are marked `xfail(strict=True)` with the reason, so
they fail loudly the day the emulator is fixed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from flyteplugins.snowflake import _client, _table_writer
from flyteplugins.snowflake import dataframe as sfdf
from flyteplugins.snowflake.config import SnowflakeConfig
from flyteplugins.snowflake.errors import MissingSecretError, SnowflakeQueryError
from flyteplugins.snowflake.metadata import SnowflakeJobMetadata
from snowflake_harness import decode_dataframe

pytestmark = [
    pytest.mark.integration,
    # flyte.io's File model uses a class-based pydantic config; importing it warns (not ours to fix).
    pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning"),
]

PASSWORD_VAR = "SNOWFLAKE_TEST_DATAFRAME_PASSWORD"
TYPES_SQL = """
CREATE OR REPLACE TABLE "TYPES" (
  N NUMBER(10,2), BIG NUMBER(38,3), I NUMBER(38,0), S VARCHAR, NTZ TIMESTAMP_NTZ, TZ TIMESTAMP_TZ,
  LTZ TIMESTAMP_LTZ, D DATE, T TIME, B BINARY, BO BOOLEAN, V VARIANT, O OBJECT, A ARRAY, F FLOAT)
"""
TYPES_ROW = """
INSERT INTO "TYPES" SELECT 1.25, 12345678901234567890.123, 42, 'ü''"', '2024-02-29 23:59:59.123456'::TIMESTAMP_NTZ,
  '2024-01-02 03:04:05 +0000'::TIMESTAMP_TZ, '2024-01-02 03:04:05'::TIMESTAMP_LTZ, '9999-12-31'::DATE,
  '12:34:56.789'::TIME, TO_BINARY('ABCD', 'HEX'), TRUE, PARSE_JSON('{"a":[1,2]}'), OBJECT_CONSTRUCT('k', 1),
  ARRAY_CONSTRUCT(1, 2), 1.5
"""
EXPECTED = {
    "N": decimal.Decimal("1.25"),
    "BIG": decimal.Decimal("12345678901234567890.123"),
    "I": 42,
    "S": "ü'\"",
    "NTZ": dt.datetime(2024, 2, 29, 23, 59, 59, 123456),
    "TZ": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "LTZ": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "D": dt.date(9999, 12, 31),
    "T": dt.time(12, 34, 56, 789000),
    "B": b"\xab\xcd",
    "BO": True,
    "F": 1.5,
}
JSON_COLUMNS = {"V": {"a": [1, 2]}, "O": {"k": 1}, "A": [1, 2]}


@pytest.fixture(scope="module")
def sf(local_snowflake: Any) -> Iterator[dict[str, Any]]:
    kwargs = local_snowflake.connect_kwargs()
    os.environ[PASSWORD_VAR] = kwargs["password"]
    yield kwargs
    os.environ.pop(PASSWORD_VAR, None)


@pytest.fixture(scope="module")
def config(sf: dict[str, Any]) -> SnowflakeConfig:
    # A UTC session: the TIMESTAMP_LTZ text is read, and TZ/LTZ values come back, at offset 0 (Snowflake's
    # default session is in America/Los_Angeles).
    return SnowflakeConfig(
        sf["account"], sf["database"], sf["schema"], sf["warehouse"], sf["user"],
        host=sf["host"], port=sf["port"], protocol="http", network_timeout=30,
        session_parameters={"TIMEZONE": "UTC"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def conn(config: SnowflakeConfig, sf: dict[str, Any]) -> Iterator[Any]:
    connection = _client.login({**config.driver_kwargs(), "password": sf["password"]})
    _client.execute(connection, TYPES_SQL)
    _client.execute(connection, TYPES_ROW)
    _client.execute(connection, 'INSERT INTO "TYPES" (S) VALUES (NULL)')
    yield connection
    connection.close()


@pytest.fixture(autouse=True)
def handlers() -> None:
    from flyte.io._dataframe import lazy_import_dataframe_handler

    lazy_import_dataframe_handler()  # flyte's own Parquet readers, as in a task that imported pandas
    sfdf.register_handlers()


def _meta(config: SnowflakeConfig, query_id: str, output_prefix: str = "") -> SnowflakeJobMetadata:
    return SnowflakeJobMetadata(
        account=config.account, user=config.user, database=config.database, schema=config.schema,
        warehouse=config.warehouse, query_id=query_id, has_output=True, config=config.to_custom(),
        secrets={"snowflake_password": PASSWORD_VAR}, output_prefix=output_prefix,
    )  # fmt: skip


def _submit(conn: Any, sql: str) -> str:
    return _client.submit(conn, sql, None, statement_params={})


def _runner(conn: Any) -> sfdf.Runner:
    async def run(fn: Callable[[Any], Any]) -> Any:
        return await asyncio.to_thread(fn, conn)

    return run  # type: ignore[return-value]


def _rows(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, pd.DataFrame):
        return [{k: (None if v is pd.NaT else v) for k, v in r.items()} for r in value.to_dict("records")]
    if isinstance(value, pl.DataFrame):
        return value.to_dicts()
    return value.to_pylist()  # type: ignore[no-any-return]


# --- reading a result by reference -------------------------------------------------------------------------


@pytest.mark.parametrize("as_type", [pa.Table, pd.DataFrame, pl.DataFrame])
def test_reference_reads_into_each_library(conn: Any, config: SnowflakeConfig, as_type: type[Any]) -> None:
    qid = _submit(conn, "SELECT seq4() AS ID, 'x' || seq4() AS NAME FROM TABLE(GENERATOR(ROWCOUNT => 2500))")
    ref = sfdf.result_reference(_meta(config, qid), qid)
    assert ref.uri is not None
    value = decode_dataframe(ref.uri, "", as_type)
    assert isinstance(value, as_type)
    rows = _rows(value)
    assert len(rows) == 2500 and rows[7] == {"ID": 7, "NAME": "x7"}


def test_flyte_dataframe_opens_a_reference_as_any_library(conn: Any, config: SnowflakeConfig) -> None:
    from flyte.io import DataFrame

    qid = _submit(conn, "SELECT 1 AS X, 'a' AS Y")
    ref = sfdf.result_reference(_meta(config, qid), qid)
    assert ref.uri is not None
    fdf = decode_dataframe(ref.uri, "", DataFrame)
    assert isinstance(fdf, DataFrame)
    assert asyncio.run(fdf.open(pl.DataFrame).all()).to_dicts() == [{"X": 1, "Y": "a"}]
    assert asyncio.run(fdf.open(pa.Table).all()).to_pylist() == [{"X": 1, "Y": "a"}]


def test_a_reader_gets_only_the_columns_its_input_declares(conn: Any, config: SnowflakeConfig) -> None:
    qid = _submit(conn, "SELECT 1 AS X, 'a' AS Y, 2.5::FLOAT AS Z")
    ref = sfdf.result_reference(_meta(config, qid), qid)
    assert ref.uri is not None
    table = decode_dataframe(ref.uri, "", pa.Table, {"Z": float, "X": int})
    assert table.column_names == ["Z", "X"]


def test_a_reader_without_the_secret_is_told_which_variable_to_set(conn: Any, config: SnowflakeConfig) -> None:
    qid = _submit(conn, "SELECT 1 AS X")
    meta = _meta(config, qid)
    meta.secrets = {"snowflake_password": "SNOWFLAKE_TEST_VARIABLE_NOBODY_SET"}
    ref = sfdf.result_reference(meta, qid)
    assert ref.uri is not None
    with pytest.raises(MissingSecretError, match="SNOWFLAKE_TEST_VARIABLE_NOBODY_SET"):
        decode_dataframe(ref.uri, "", pa.Table)


# --- materialized results ----------------------------------------------------------------------------------


def test_materialized_result_reads_with_flyte_parquet_readers(
    conn: Any, config: SnowflakeConfig, tmp_path: Path
) -> None:
    qid = _submit(
        conn, "SELECT seq4() AS ID, (seq4() / 4)::NUMBER(12,2) AS AMOUNT FROM TABLE(GENERATOR(ROWCOUNT => 3000))"
    )
    df = asyncio.run(sfdf.materialize(_meta(config, qid, str(tmp_path)), qid, _runner(conn)))
    assert df.format == "parquet" and df.uri == str(tmp_path / "snowflake-results" / qid)
    manifest = json.loads((tmp_path / "snowflake-results" / qid / "_SUCCESS").read_text())
    assert manifest["rows"] == 3000
    for as_type in (pa.Table, pd.DataFrame, pl.DataFrame):
        rows = _rows(decode_dataframe(df.uri, "parquet", as_type))
        assert len(rows) == 3000 and rows[6] == {"ID": 6, "AMOUNT": decimal.Decimal("1.50")}


def test_materializing_again_reuses_the_written_result(conn: Any, config: SnowflakeConfig, tmp_path: Path) -> None:
    qid = _submit(conn, "SELECT 1 AS X")
    meta = _meta(config, qid, str(tmp_path))
    calls: list[int] = []

    async def counting(fn: Callable[[Any], Any]) -> Any:
        calls.append(1)
        return await asyncio.to_thread(fn, conn)

    first = asyncio.run(sfdf.materialize(meta, qid, counting))  # type: ignore[arg-type]
    second = asyncio.run(sfdf.materialize(meta, qid, counting))  # type: ignore[arg-type]
    assert first.uri == second.uri and len(calls) == 1


def test_parts_of_an_unfinished_earlier_write_are_removed(conn: Any, config: SnowflakeConfig, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    qid = _submit(conn, "SELECT 1 AS X")
    meta = _meta(config, qid, str(tmp_path))
    directory = tmp_path / "snowflake-results" / qid
    directory.mkdir(parents=True)
    pq.write_table(pa.table({"X": [9]}), directory / "part-00007.parquet")  # a longer write broke off earlier
    df = asyncio.run(sfdf.materialize(meta, qid, _runner(conn)))
    assert sorted(p.name for p in directory.iterdir()) == ["_SUCCESS", "part-00000.parquet"]
    assert decode_dataframe(df.uri, "parquet", pa.Table).to_pylist() == [{"X": 1}]  # reads every file


def test_large_results_are_split_into_parts(conn: Any, config: SnowflakeConfig, tmp_path: Path) -> None:
    qid = _submit(conn, "SELECT seq4() AS ID FROM TABLE(GENERATOR(ROWCOUNT => 20000))")
    # The local Snowflake sends a result as one batch; a small part size still splits between batches only,
    # so feed the writer through a table of several batches.
    df = asyncio.run(sfdf.materialize(_meta(config, qid, str(tmp_path)), qid, _runner(conn), part_bytes=1))
    assert df.uri is not None
    parts = sorted(p.name for p in Path(df.uri).glob("part-*.parquet"))
    assert parts and decode_dataframe(df.uri, "parquet", pa.Table).num_rows == 20000


def test_an_empty_result_materializes_with_its_columns(conn: Any, config: SnowflakeConfig, tmp_path: Path) -> None:
    qid = _submit(conn, 'SELECT N, D, S FROM "TYPES" WHERE 1 = 0')
    df = asyncio.run(sfdf.materialize(_meta(config, qid, str(tmp_path)), qid, _runner(conn)))
    assert df.uri is not None
    table = decode_dataframe(df.uri, "parquet", pa.Table)
    assert table.num_rows == 0 and table.column_names == ["N", "D", "S"]
    assert table.schema.field("N").type == pa.decimal128(10, 2)


def test_materialized_output_goes_through_flyte_storage(conn: Any, config: SnowflakeConfig, tmp_path: Path) -> None:
    # A "remote" prefix: parts are written to a scratch directory and handed to flyte.storage.put one by one.
    qid = _submit(conn, "SELECT seq4() AS ID FROM TABLE(GENERATOR(ROWCOUNT => 100))")
    prefix = f"memory://{tmp_path.name}/run"
    df = asyncio.run(sfdf.materialize(_meta(config, qid, prefix), qid, _runner(conn)))
    assert df.uri == f"{prefix}/snowflake-results/{qid}"
    import fsspec

    fs = fsspec.filesystem("memory")
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(df.uri, detail=False))
    assert names == ["_SUCCESS", "part-00000.parquet"]


# --- types -------------------------------------------------------------------------------------------------


def _check_types(rows: list[dict[str, Any]]) -> None:
    full, empty = rows
    for name, expected in EXPECTED.items():
        got = full[name]
        if isinstance(expected, dt.datetime) and expected.tzinfo is not None:
            assert got == expected and got.utcoffset() == dt.timedelta(0), name
        else:
            assert got == expected, name
            assert type(got) is type(expected) or isinstance(got, type(expected)), (name, type(got))
    for name, expected_json in JSON_COLUMNS.items():
        assert json.loads(full[name]) == expected_json, name
    assert all(v is None or (isinstance(v, float) and v != v) for k, v in empty.items() if k != "S")


@pytest.mark.parametrize("mode", ["reference", "materialize"])
def test_types_survive_into_arrow(conn: Any, config: SnowflakeConfig, tmp_path: Path, mode: str) -> None:
    qid = _submit(conn, 'SELECT * FROM "TYPES" ORDER BY S NULLS LAST')
    meta = _meta(config, qid, str(tmp_path))
    df = (
        sfdf.result_reference(meta, qid)
        if mode == "reference"
        else asyncio.run(sfdf.materialize(meta, qid, _runner(conn)))
    )
    assert df.uri is not None
    table = decode_dataframe(df.uri, df.format or "", pa.Table)
    assert table.schema.field("N").type == pa.decimal128(10, 2)
    assert table.schema.field("NTZ").type == pa.timestamp("us")
    assert table.schema.field("D").type == pa.date32()
    assert table.schema.field("B").type == pa.binary()
    _check_types(table.to_pylist())


def test_types_survive_into_pandas(conn: Any, config: SnowflakeConfig) -> None:
    qid = _submit(conn, 'SELECT * FROM "TYPES" ORDER BY S NULLS LAST')
    ref = sfdf.result_reference(_meta(config, qid), qid)
    assert ref.uri is not None
    frame = decode_dataframe(ref.uri, "", pd.DataFrame)
    assert str(frame["NTZ"].dtype) == "datetime64[us]"
    assert frame["N"][0] == decimal.Decimal("1.25") and frame["D"][0] == dt.date(9999, 12, 31)
    assert frame["NTZ"].isna()[1] and frame["N"].isna()[1]


def test_types_survive_into_polars(conn: Any, config: SnowflakeConfig) -> None:
    qid = _submit(conn, 'SELECT * FROM "TYPES" ORDER BY S NULLS LAST')
    ref = sfdf.result_reference(_meta(config, qid), qid)
    assert ref.uri is not None
    frame = decode_dataframe(ref.uri, "", pl.DataFrame)
    assert frame.schema["N"] == pl.Decimal(10, 2) and frame.schema["D"] == pl.Date
    _check_types(frame.to_dicts())


def test_timestamps_past_the_pandas_nanosecond_range(conn: Any, config: SnowflakeConfig) -> None:
    qid = _submit(
        conn, "SELECT '2300-01-02 03:04:05.123456'::TIMESTAMP_NTZ AS LATE, '0001-01-01'::TIMESTAMP_NTZ AS EARLY"
    )
    ref = sfdf.result_reference(_meta(config, qid), qid)
    assert ref.uri is not None
    frame = decode_dataframe(ref.uri, "", pd.DataFrame)
    assert frame["LATE"][0] == pd.Timestamp("2300-01-02 03:04:05.123456")
    assert frame["EARLY"][0] == pd.Timestamp("0001-01-01")


# --- writing -----------------------------------------------------------------------------------------------


def _count(conn: Any, table: str) -> int:
    return int(_client.execute(conn, f'SELECT COUNT(*) FROM "{table}"')[0][0])


def _source() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, None], pa.int64()),
            "amount": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")], pa.decimal128(10, 2)),
            "name": ["a", None, "ü'\""],
            "at": pa.array(
                [dt.datetime(2024, 1, 1, 1, 2, 3, 456789), None, dt.datetime(2200, 1, 1)], pa.timestamp("us")
            ),
            "day": [dt.date(2024, 1, 1), None, dt.date(9999, 12, 31)],
            "flag": [True, False, None],
            "score": [1.5, None, -0.25],
        }
    )


def _uri(config: SnowflakeConfig, table: str, mode: str = "append") -> str:
    return sfdf.table_uri(config, table, mode=mode, secrets={"snowflake_password": PASSWORD_VAR})


@pytest.mark.parametrize("library", ["pyarrow", "pandas", "polars"])
def test_a_dataframe_writes_into_a_new_table_and_reads_back(conn: Any, config: SnowflakeConfig, library: str) -> None:
    from flyte.io import DataFrame
    from flyte.io._dataframe.dataframe import flyte_dataset_transformer

    table_name = f"written_{library}"
    _client.execute(conn, f'DROP TABLE IF EXISTS "{table_name}"')
    source = _source()
    value: Any = {"pyarrow": source, "pandas": source.to_pandas(), "polars": pl.from_arrow(source)}[library]
    fdf = DataFrame.wrap_df(value, uri=_uri(config, table_name))
    asyncio.run(flyte_dataset_transformer.encode(fdf, type(value), "snowflake", "", _sdt()))
    back = decode_dataframe(_uri(config, table_name), "", pa.Table)
    assert back.column_names == source.column_names  # names kept exactly, lower case included
    rows = sorted(back.to_pylist(), key=lambda r: (r["id"] is None, r["id"]))
    assert rows[0] == {"id": 1, "amount": decimal.Decimal("1.25"), "name": "a",
                       "at": dt.datetime(2024, 1, 1, 1, 2, 3, 456789), "day": dt.date(2024, 1, 1), "flag": True,
                       "score": 1.5}  # fmt: skip
    assert rows[2]["day"] == dt.date(9999, 12, 31) and rows[2]["name"] == "ü'\""


def _sdt() -> Any:
    from flyteidl2.core import types_pb2

    return types_pb2.StructuredDatasetType()


def test_append_then_overwrite(conn: Any, config: SnowflakeConfig) -> None:
    _client.execute(conn, 'DROP TABLE IF EXISTS "modes"')
    loc = sfdf.SnowflakeLocation.parse(_uri(config, "modes"))
    sfdf.write_table(loc, _source())
    sfdf.write_table(loc, _source())
    assert _count(conn, "modes") == 6
    sfdf.write_table(sfdf.SnowflakeLocation.parse(_uri(config, "modes", "overwrite")), _source().slice(0, 1))
    assert _count(conn, "modes") == 1


def test_a_failed_write_leaves_the_table_as_it_was(conn: Any, config: SnowflakeConfig) -> None:
    _client.execute(conn, 'CREATE OR REPLACE TABLE "guarded" ("id" NUMBER(38,0), "v" NUMBER(38,0))')
    _client.execute(conn, 'INSERT INTO "guarded" VALUES (1, 1), (2, 2)')
    bad = pa.table({"id": list(range(10)), "v": ["1"] * 9 + ["not a number"]})  # the last chunk fails
    loc = sfdf.SnowflakeLocation.parse(_uri(config, "guarded", "overwrite"))
    with pytest.raises(SnowflakeQueryError):
        sfdf.write_table(loc, bad, chunk_rows=3)
    assert _client.execute(conn, 'SELECT "id", "v" FROM "guarded" ORDER BY 1') == [(1, 1), (2, 2)]


def test_a_failed_write_to_a_new_table_leaves_no_table(
    conn: Any, config: SnowflakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _client.execute(conn, 'DROP TABLE IF EXISTS "never"')
    bad = pa.table({"d": pa.array([dt.date(2024, 1, 1)]), "x": pa.array([1])})
    loc = sfdf.SnowflakeLocation.parse(_uri(config, "never"))
    original = _table_writer._bind_values
    # Every mapped type accepts its own values, so inject one Snowflake refuses (text for a NUMBER column).
    monkeypatch.setattr(_table_writer, "_bind_values", lambda c: ["oops"] if c.type == pa.int64() else original(c))
    with pytest.raises(SnowflakeQueryError):
        sfdf.write_table(loc, bad)
    assert not _table_writer._table_exists(conn, loc)


def test_binary_columns_write(conn: Any, config: SnowflakeConfig) -> None:
    _client.execute(conn, 'DROP TABLE IF EXISTS "bin"')
    sfdf.write_table(sfdf.SnowflakeLocation.parse(_uri(config, "bin")), pa.table({"b": [b"\xab\xcd"]}))
    assert _client.execute(conn, 'SELECT "b" FROM "bin"')[0][0] == b"\xab\xcd"


# --- the public plugin's handler names ---------------------------------------------------------------------


def test_the_public_plugins_pandas_handlers_write_and_read(conn: Any, config: SnowflakeConfig) -> None:
    from flyte.io import DataFrame
    from flyteidl2.core import literals_pb2

    from flyteplugins.snowflake.dataframe import PandasToSnowflakeEncodingHandlers, SnowflakeToPandasDecodingHandler

    _client.execute(conn, 'DROP TABLE IF EXISTS "public_names"')
    frame = pd.DataFrame({"id": [1, 2], "name": ["a", "b"]})
    written = asyncio.run(
        PandasToSnowflakeEncodingHandlers().encode(DataFrame.wrap_df(frame, uri=_uri(config, "public_names")), _sdt())
    )
    assert _count(conn, "public_names") == 2
    back = asyncio.run(SnowflakeToPandasDecodingHandler().decode(written, literals_pb2.StructuredDatasetMetadata()))
    assert sorted(_rows(back), key=lambda r: r["id"]) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    query_id = _submit(conn, 'SELECT "name" FROM "public_names" WHERE "id" = 2')
    result = literals_pb2.StructuredDataset(uri=sfdf.result_reference(_meta(config, query_id), query_id).uri)
    read = asyncio.run(SnowflakeToPandasDecodingHandler().decode(result, literals_pb2.StructuredDatasetMetadata()))
    assert _rows(read) == [{"name": "b"}]
