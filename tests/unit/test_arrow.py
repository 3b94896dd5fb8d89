"""_arrow.py without Snowflake: one stable schema per result, whatever unit the driver picks per batch."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest

from flyteplugins.snowflake import _arrow

# --- one schema per result ---------------------------------------------------------------------------------


def test_nanosecond_timestamps_become_microseconds_keeping_the_time_zone() -> None:
    schema = pa.schema([("a", pa.timestamp("ns", tz="UTC")), ("b", pa.timestamp("ns")), ("c", pa.time64("ns"))])
    stable = _arrow._stable_schema(schema)
    assert stable.types == [pa.timestamp("us", tz="UTC"), pa.timestamp("us"), pa.time64("us")]


def test_batches_of_either_unit_conform_to_the_first() -> None:
    # The driver sends microseconds for a batch holding a year past 2262 and nanoseconds otherwise.
    target = _arrow._stable_schema(pa.schema([("t", pa.timestamp("ns"))]))
    ns = pa.record_batch([pa.array([1_700_000_000_123_456_789], pa.timestamp("ns"))], names=["t"])
    us = pa.record_batch([pa.array([dt.datetime(2300, 1, 1)], pa.timestamp("us"))], names=["t"])
    assert _arrow._conform(ns, target).column(0).to_pylist() == [dt.datetime(2023, 11, 14, 22, 13, 20, 123456)]
    assert _arrow._conform(us, target).column(0).to_pylist() == [dt.datetime(2300, 1, 1)]


def test_conform_refuses_lossy_casts_other_than_sub_microseconds() -> None:
    target = pa.schema([("n", pa.int64())])
    big = pa.record_batch([pa.array([decimal.Decimal(2**70)], pa.decimal128(38, 0))], names=["n"])
    with pytest.raises(pa.ArrowInvalid):
        _arrow._conform(big, target)
