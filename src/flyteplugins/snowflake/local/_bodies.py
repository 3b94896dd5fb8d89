"""Request bodies of the local Snowflake: read with a bound on their size, gzip inflated piece by piece.

A gzip body expands up to ~1000 times: it is inflated a piece at a time and refused as soon as the output passes
the bound, so a "bomb" never takes more memory than the bound; a large one is inflated on a worker thread, so
the event loop keeps answering other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterable
from typing import Any

#: Output taken from the inflater at a time.
_PIECE = 1024 * 1024
#: Compressed bodies up to this size are inflated on the event loop (at most ~1000 times this comes out: a few ms);
#: larger ones on a worker thread.
_INLINE_GZIP = 4 * 1024


class BodyTooLarge(Exception):
    """A request body over `max_request_bytes` (as sent, or once inflated)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"Request body too large: the local Snowflake accepts at most {limit} bytes (after gzip decompression). "
            "Raise the max_request_bytes knob (--max-request-bytes, or LocalSnowflake.configure(max_request_bytes=N)) "
            "if a real client needs more."
        )


async def read_limited(chunks: AsyncIterable[bytes], declared: str | None, limit: int) -> bytes:
    """The body from its `chunks`, refused once it passes `limit` bytes (at once when `declared` says so)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """`data` (one or more gzip members) inflated; BodyTooLarge as soon as more than `limit` bytes come out."""
    parts: list[bytes] = []
    size = 0
    while data:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = data
        while not inflater.eof:
            piece = inflater.decompress(pending, _PIECE)
            pending = inflater.unconsumed_tail
            size += len(piece)
            if size > limit:
                raise BodyTooLarge(limit)
            parts.append(piece)
            if not piece and not pending:
                raise ValueError("the gzip body ends before its end")
        data = inflater.unused_data
    return b"".join(parts)


async def json_body(chunks: AsyncIterable[bytes], headers: Any, limit: int) -> dict[str, Any]:
    """A request's JSON object (gzip or not), `{}` for an empty body or anything but an object."""
    body = await read_limited(chunks, headers.get("Content-Length"), limit)
    if headers.get("Content-Encoding") == "gzip":
        if len(body) <= _INLINE_GZIP:
            body = gunzip_limited(body, limit)
        else:
            body = await asyncio.to_thread(gunzip_limited, body, limit)
    if not body:
        return {}
    parsed = json.loads(body)
    return parsed if isinstance(parsed, dict) else {}
