"""Text read into a typed column as Snowflake reads it, where DuckDB reads it otherwise.

Snowflake takes an integer string for a DATE or TIMESTAMP as a time since the epoch, in seconds, milliseconds,
microseconds or nanoseconds by its magnitude (the driver's staged binds send dates so); a TIMESTAMP_TZ/LTZ text
may carry its offset after a space (`2023-03-15 13:17:29.207 +05:00`), as `+0500`, `+05` or `Z` (DuckDB knows
only the offset written against the time); BINARY text is hexadecimal (BINARY_INPUT_FORMAT's default). Any other
text is left as it is, for DuckDB to cast.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_EPOCH = dt.datetime(1970, 1, 1)
_INTEGER = re.compile(r"[+-]?\d+")
# an ISO date and time, then an offset that DuckDB may not read: after blanks, without a colon, hours only, or Z
_OFFSET_TEXT = re.compile(
    r"(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)\s*"
    r"(?:(?P<zulu>[Zz])|(?P<sign>[+-])(?P<hours>\d{2})(?::?(?P<minutes>\d{2}))?)"
)
# Snowflake's magnitudes for an integer time: below the first, seconds; below the second, milliseconds; ...
_SECONDS_BELOW = 31_536_000_000
_MILLIS_BELOW = 31_536_000_000_000
_MICROS_BELOW = 31_536_000_000_000_000
#: DuckDB column types whose text input is read here; others are cast by DuckDB
TYPES = frozenset({"DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "BLOB"})


class TextInputError(ValueError):
    """A text that is no value of its column's type, in Snowflake's words."""


def coerce(text: str, duck_type: str) -> Any:
    """`text` bound into a column of DuckDB type `duck_type` (DATE, TIMESTAMP, TIMESTAMP WITH TIME ZONE, BLOB):
    the value Snowflake would store, or the text itself when DuckDB reads it as Snowflake does."""
    if duck_type == "BLOB":
        return _hex(text)
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        instant = epoch_instant(int(stripped))
        if duck_type == "DATE":
            return instant.date()
        if duck_type == "TIMESTAMP":
            return instant
        return instant.replace(tzinfo=dt.timezone.utc)
    if duck_type == "TIMESTAMP WITH TIME ZONE":
        return offset_text(text)
    return text


def epoch_instant(value: int) -> dt.datetime:
    """The UTC time of an integer since the epoch, its unit chosen by its magnitude as Snowflake does."""
    size = abs(value)
    if size < _SECONDS_BELOW:
        micros = value * 1_000_000
    elif size < _MILLIS_BELOW:
        micros = value * 1_000
    elif size < _MICROS_BELOW:
        micros = value
    else:
        micros = value // 1_000
    try:
        return _EPOCH + dt.timedelta(microseconds=micros)
    except OverflowError:
        raise TextInputError(f"Timestamp '{value}' is not recognized") from None


def offset_text(text: str) -> str:
    """A timestamp text whose offset DuckDB reads: `2023-03-15 13:17:29.207 +05:00` -> `...207+05:00`, `Z` ->
    `+00:00`; any other text as it is."""
    match = _OFFSET_TEXT.fullmatch(text.strip())
    if match is None:
        return text
    if match["zulu"]:
        return f"{match['stamp']}+00:00"
    return f"{match['stamp']}{match['sign']}{match['hours']}:{match['minutes'] or '00'}"


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise TextInputError(f"The following string is not a legal hex-encoded value: '{text}'") from None
