"""Credits per hour of every warehouse size and type, and the estimate from a query's execution time."""

from __future__ import annotations

import pytest

from flyteplugins.snowflake import _credits


@pytest.mark.parametrize(
    ("size", "rate"),
    [("X-Small", 1), ("Small", 2), ("Medium", 4), ("Large", 8), ("X-Large", 16), ("2X-Large", 32),
     ("3X-Large", 64), ("4X-Large", 128), ("5X-Large", 256), ("6X-Large", 512), ("XSMALL", 1), ("xlarge", 16)],
)  # fmt: skip
def test_standard_rates_by_size(size: str, rate: int) -> None:
    assert _credits.credits_per_hour(size) == rate
    assert _credits.credits_per_hour(size, "SNOWPARK-OPTIMIZED") == rate * 1.5


def test_an_estimate_is_execution_time_at_the_warehouse_rate() -> None:
    assert _credits.estimate(3_600_000, "Large") == 8
    assert _credits.estimate(60_000, "X-Small") == pytest.approx(1 / 60)
    assert _credits.estimate(1000, None) is None
    assert _credits.estimate(1000, "Enormous") is None
