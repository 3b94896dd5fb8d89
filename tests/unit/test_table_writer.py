"""_table_writer.py without Snowflake: the column types a new table gets, and how values bind."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest

from flyteplugins.snowflake import _table_writer
from flyteplugins.snowflake.errors import SnowflakeInputError


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
    assert _table_writer._snowflake_type(arrow_type) == snowflake_type


def test_nested_columns_are_refused_with_a_way_out() -> None:
    with pytest.raises(SnowflakeInputError, match="JSON"):
        _table_writer._snowflake_type(pa.list_(pa.int64()))


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
    rows = list(_table_writer._python_rows(batch))
    assert rows[0] == (
        "9999-12-31 23:59:59.999999",
        "2024-01-01 11:00:00+00:00",
        "0001-01-01",
        "01:02:03.000004",
        decimal.Decimal("1.25"),
    )
    assert rows[1] == (None, None, None, None, None)


class _Session:
    """What `_rows_per_request` reads of a driver connection: the session parameters sent at login."""

    def __init__(self, threshold: int) -> None:
        self._session_parameters = {"CLIENT_STAGE_ARRAY_BINDING_THRESHOLD": threshold}


@pytest.mark.parametrize(
    ("threshold", "columns", "rows"),
    [
        (65_280, 7, 9_325),  # 65,275 values: the most whole rows below the threshold
        (65_280, 2, 10_000),  # the chunk size when it is below the threshold anyway
        (65_280, 65_279, 1),
        (100, 3, 33),
        (0, 500, 10_000),  # stage binding off: chunks as asked
    ],
)
def test_requests_stay_below_the_stage_binding_threshold(threshold: int, columns: int, rows: int) -> None:
    assert _table_writer._rows_per_request(_Session(threshold), columns, 10_000) == rows
    if threshold:
        assert rows * columns < threshold


def test_a_row_wider_than_the_threshold_is_refused() -> None:
    with pytest.raises(SnowflakeInputError, match="CLIENT_STAGE_ARRAY_BINDING_THRESHOLD"):
        _table_writer._rows_per_request(_Session(100), 100, 10_000)
