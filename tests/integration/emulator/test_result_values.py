"""11: values reach the driver exactly: timestamps of every year 1..9999, to the microsecond, in every fetch path."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

pytestmark = pytest.mark.integration

STAMPS = [
    "0001-01-01 00:00:00",
    "0001-01-01 00:00:00.000001",
    "1900-06-15 12:00:00.5",
    "1969-12-31 23:59:59.999999",
    "1970-01-01 00:00:00",
    "2024-02-29 23:59:59.123456",
    "2255-06-01 00:00:00.123457",
    "2262-04-11 23:47:16.854776",  # one microsecond past the pandas nanosecond range
    "2300-01-02 03:04:05.123456",
    "9999-12-31 23:59:59.999999",
]
EXPECTED = [dt.datetime.fromisoformat(s) for s in STAMPS]


def _sql(sf_type: str) -> str:
    rows = " UNION ALL ".join(f"SELECT {i} AS I, '{s}'::{sf_type} AS T" for i, s in enumerate(STAMPS))
    return f"SELECT * FROM ({rows}) ORDER BY I"


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is None else value.astimezone(dt.timezone.utc).replace(tzinfo=None)


@pytest.mark.parametrize("sf_type", ["TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ"])
def test_timestamps_of_every_year_round_trip_exactly(connect: Any, sf_type: str) -> None:
    # in UTC, so that the text of 9999-12-31 read as TIMESTAMP_LTZ stays in year 9999
    cur = connect(timezone="UTC").cursor()
    rows = cur.execute(_sql(sf_type)).fetchall()
    assert [_naive_utc(t) for _, t in rows] == EXPECTED
    if sf_type != "TIMESTAMP_NTZ":
        assert all(t.tzinfo is not None for _, t in rows)
    table = cur.execute(_sql(sf_type)).fetch_arrow_all()
    assert [_naive_utc(t) for t in table.column("T").to_pylist()] == EXPECTED


def test_a_null_timestamp_stays_null_beside_far_ones(connect: Any) -> None:
    cur = connect().cursor()
    sql = "SELECT '9999-12-31 23:59:59.999999'::TIMESTAMP_NTZ UNION ALL SELECT NULL::TIMESTAMP_NTZ ORDER BY 1"
    assert cur.execute(sql).fetchall() == [(dt.datetime(9999, 12, 31, 23, 59, 59, 999999),), (None,)]
