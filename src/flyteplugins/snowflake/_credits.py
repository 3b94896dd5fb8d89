"""Credits a query used, estimated from its history row: execution time x its warehouse's credits per hour.

An estimate, labelled as such wherever it is shown: a warehouse bills by the second (60 s minimum per resume)
whether one query or twenty run on it, so a query that shared its warehouse is charged here as if it had it to
itself, and idle time is not counted. Snowflake's own attribution (`QUERY_ATTRIBUTION_HISTORY`, hours later)
splits the warehouse's credits among the queries that ran; `python -m flyteplugins.snowflake cost` prefers it.
"""

from __future__ import annotations

#: Credits per hour of one cluster of a standard warehouse, by size (Snowflake's published rates).
STANDARD_CREDITS_PER_HOUR = {
    "X-SMALL": 1,
    "SMALL": 2,
    "MEDIUM": 4,
    "LARGE": 8,
    "X-LARGE": 16,
    "2X-LARGE": 32,
    "3X-LARGE": 64,
    "4X-LARGE": 128,
    "5X-LARGE": 256,
    "6X-LARGE": 512,
}
#: Snowpark-optimized warehouses use 1.5 times the credits of a standard one of the same size.
SNOWPARK_OPTIMIZED_FACTOR = 1.5
_ALIASES = {"XSMALL": "X-SMALL", "XLARGE": "X-LARGE", "XXLARGE": "2X-LARGE", "XXXLARGE": "3X-LARGE"}


def credits_per_hour(size: str | None, warehouse_type: str | None = None) -> float | None:
    """Credits one cluster of this warehouse uses per hour; None when the size is unknown (no warehouse).

    A multi-cluster warehouse runs each query on one of its clusters, so a query's rate is one cluster's.

    Example:
        >>> credits_per_hour("Medium"), credits_per_hour("LARGE", "SNOWPARK-OPTIMIZED")
        (4.0, 12.0)
    """
    if not size:
        return None
    key = size.strip().upper().replace("_", "-")
    rate = STANDARD_CREDITS_PER_HOUR.get(_ALIASES.get(key.replace("-", ""), key))
    if rate is None:
        return None
    optimized = (warehouse_type or "").strip().upper().replace("_", "-") == "SNOWPARK-OPTIMIZED"
    return rate * (SNOWPARK_OPTIMIZED_FACTOR if optimized else 1.0)


def estimate(execution_ms: int, size: str | None, warehouse_type: str | None = None) -> float | None:
    """Estimated credits of a query that ran `execution_ms` on this warehouse; None without a known size.

    Example:
        >>> estimate(90_000, "X-Small")  # 90 s on an X-Small warehouse (1 credit per hour)
        0.025
    """
    rate = credits_per_hour(size, warehouse_type)
    if rate is None:
        return None
    return round(execution_ms / 3_600_000 * rate, 9)
