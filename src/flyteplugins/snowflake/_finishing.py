"""Work that follows a query's end (saving its result, reading its figures), run once in the background.

A status check must answer quickly: the Flyte backend asks about every running task every few seconds with a
bounded number of workers, and a check that saves a large result or waits for the query history would hold
one of them. So the first check that sees a query finished starts its finishing job here, waits a moment for
it, and else answers "still running"; a later check collects the final answer. Jobs are keyed by query id, so
checks arriving together share one job. A replica that never sees the next check (the backend moved to
another replica) forgets the job after `KEEP_S`; the other replica starts its own, and the work is idempotent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ._env import non_negative

T = TypeVar("T")

#: `FLYTE_SNOWFLAKE_FINISH_WAIT`: seconds a status check waits for a finished query's job before answering
#: "still running". Small by default so that no check holds a backend worker; raise it to save polls when
#: Snowflake is close and results are small.
FINISH_WAIT_ENV = "FLYTE_SNOWFLAKE_FINISH_WAIT"
DEFAULT_FINISH_WAIT_S = 0.04

#: Seconds a finished job waits to be collected before it is forgotten.
KEEP_S = 600.0


def finish_wait_from_env(environ: dict[str, str] | None = None) -> float:
    """`FLYTE_SNOWFLAKE_FINISH_WAIT` in seconds (0 or more); unset or empty keeps the default.

    Raises:
        ValueError: the variable is set to something that is not a number of seconds.
    """
    value = non_negative(FINISH_WAIT_ENV, "a number of seconds (0 or more)", environ)
    return DEFAULT_FINISH_WAIT_S if value is None else value


class Finishing(Generic[T]):
    """Background jobs by key: started once, collected once, forgotten when nobody collects them."""

    def __init__(self, keep_s: float = KEEP_S) -> None:
        self._jobs: dict[str, asyncio.Task[T]] = {}
        self._done_at: dict[str, float] = {}
        self._keep_s = keep_s

    def __len__(self) -> int:
        return len(self._jobs)

    async def run(self, key: str, make: Callable[[], Awaitable[T]], wait: float) -> tuple[bool, T | None]:
        """Start the job for `key` unless one is running or waiting, and wait up to `wait` seconds for it.

        Returns (True, result) when it is done, which also forgets it (the next call starts afresh), or
        (False, None) while it goes on. An exception of the job is raised here, once.
        """
        self._forget_stale()
        job = self._jobs.get(key)
        if job is None:
            job = asyncio.ensure_future(make())
            self._jobs[key] = job
            job.add_done_callback(lambda _: self._done_at.__setitem__(key, time.monotonic()))
        if not job.done() and wait > 0:
            # asyncio.wait never cancels what it waits for: a caller that goes away (a cancelled gRPC call)
            # leaves the job running for the next one.
            await asyncio.wait({job}, timeout=wait)
        if not job.done():
            return False, None
        if self._jobs.get(key) is job:
            del self._jobs[key]
            self._done_at.pop(key, None)
        return True, job.result()

    def _forget_stale(self) -> None:
        if not self._done_at:
            return
        now = time.monotonic()
        for key, done_at in list(self._done_at.items()):
            if now - done_at >= self._keep_s:
                job = self._jobs.pop(key, None)
                del self._done_at[key]
                if job is not None and not job.cancelled():
                    job.exception()  # seen: no "exception was never retrieved" for a job nobody collected
