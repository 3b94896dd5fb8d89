"""Admission of submits: fewer at a time while the event loop falls behind, so status checks stay quick.

One replica's event loop also runs gRPC's intake: it takes in one call at a time, a couple of loop turns each.
When a burst of CreateTasks keeps the process busy (each submit is a few milliseconds of driver work on a
thread, competing for the GIL), loop turns grow from well under a millisecond to several, calls queue inside
gRPC before any handler sees them, and a status check waits behind dozens of creates. Letting fewer submits run
at once moves that queue here, where waiting costs nothing: the creates are taken in promptly and wait their
turn, and a GetTask arriving meanwhile does not wait behind them.

The measure is the loop's turn: how long `await asyncio.sleep(0)` takes. A create measures one turn when it
arrives, and one when it leaves while others wait (no background task). While turns are slow the limit halves,
at most once per `window`; while they are quick it grows by one, up to `ceiling`. Under normal load the limit
stays at the ceiling and nothing waits.

Quick turns do not prove the process keeps up: with gRPC's intake, its handlers and the driver's threads all
running, a 2-core benchmark machine showed turns of 0.2-0.7 ms on average while c0 used 0.85-1.0 CPU seconds per
second and status checks waited 100-350 ms. So the process's own CPU use counts too: above `busy_cpu` (0.8 CPU
seconds per second, measured over each window between two creates' readings) it is behind whatever its turns.

One submit at a time can still be too many: a local submit takes ~3 ms, so ~300 creates a second would pass,
and each costs the process ~5 ms of CPU around the submit (gRPC, flyte's input conversion). So once the limit
is 1 and the process is still behind, submits are also spaced out: 1 ms apart, doubling per window up to
`max_spacing` (20 ms: 50 a second). Once it keeps up, the spacing halves away before the limit climbs again.
With a distant Snowflake, submits wait on the network, turns stay quick, the process is seldom that busy, and
little of this happens (8 spaced submits in 500 with 50 ms added to every request).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from ._env import non_negative

#: `FLYTE_SNOWFLAKE_SLOW_TURN_MS`: a loop turn longer than this (milliseconds, on average) counts as behind;
#: 0 turns admission off.
SLOW_TURN_ENV = "FLYTE_SNOWFLAKE_SLOW_TURN_MS"
DEFAULT_SLOW_TURN_S = 0.001
#: The longest wait between two submits let in while the process stays behind with one submit at a time.
DEFAULT_MAX_SPACING_S = 0.02
#: The first spacing once one submit at a time is not enough; it doubles per window while the process is behind.
MIN_SPACING_S = 0.001
#: CPU seconds per second (all the process's threads) above which the process counts as behind even while
#: its loop turns are quick: gRPC's intake then queues calls although each turn is short.
DEFAULT_BUSY_CPU = 0.8


def slow_turn_from_env(env: dict[str, str] | None = None) -> float:
    """`FLYTE_SNOWFLAKE_SLOW_TURN_MS` in seconds (0: admission off); unset or empty keeps the default.

    Raises:
        ValueError: the variable is set to something that is not a number of milliseconds (0 or more).
    """
    value = non_negative(SLOW_TURN_ENV, "a number of milliseconds (0 or more; 0 turns it off)", env)
    return DEFAULT_SLOW_TURN_S if value is None else value / 1000


class SubmitGate:
    """An async context manager: at most `limit` submits inside at once, `limit` following the loop's turns.

    Args:
        ceiling: the most submits at once (the limit under normal load).
        slow_turn: seconds; a turn average above this lowers the limit. 0 admits everything.
        window: seconds between two changes of the limit (or of the spacing).
        max_spacing: the longest wait between two admissions once the limit is 1; 0 never spaces them.
        busy_cpu: CPU seconds per second of the whole process above which it counts as behind.
        cpu_clock: the process's CPU seconds so far (`time.process_time`).
    """

    def __init__(
        self,
        ceiling: int,
        *,
        slow_turn: float = DEFAULT_SLOW_TURN_S,
        window: float = 0.05,
        max_spacing: float = DEFAULT_MAX_SPACING_S,
        busy_cpu: float = DEFAULT_BUSY_CPU,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.slow_turn = slow_turn
        self.window = window
        self.turn = 0.0  # moving average of measured turns, seconds
        self.spacing = 0.0  # seconds between two admissions while the limit is 1 and the process stays behind
        self.max_spacing = max_spacing
        self.spaced = 0  # submits let in while spacing was on
        self.busy_cpu = busy_cpu
        self.cpu = 0.0  # the process's CPU use between the last two readings, CPU seconds per second
        self._cpu_clock = cpu_clock
        self._cpu_mark: tuple[float, float] | None = None  # (loop time, CPU seconds) of the last reading
        self._inside = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._changed_at = 0.0
        self._next_at = 0.0  # loop time before which no waiting submit is let in (while spacing > 0)
        self._timer: asyncio.TimerHandle | None = None  # lets the next waiter in once spacing allows
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    @property
    def inside(self) -> int:
        return self._inside

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def __aenter__(self) -> None:
        if self.slow_turn <= 0:
            self._inside += 1
            return
        await self._measure_turn()
        if self._inside < self.limit and not self._waiting and self._spaced():
            self._inside += 1
            return
        admitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(admitted)
        self._admit()  # sets the timer when only spacing holds it back
        try:
            await admitted
        except asyncio.CancelledError:
            if admitted.done() and not admitted.cancelled():
                # Admitted just as the caller gave up: the place goes to the next in line.
                self._inside -= 1
                self._admit()
            elif admitted in self._waiting:  # else the line has already moved past it
                self._waiting.remove(admitted)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._inside -= 1
        self._admit()
        if self.slow_turn > 0 and self._waiting:
            # Creates waiting here bring no new measurements: the ones leaving take them.
            await self._measure_turn()

    async def _measure_turn(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0)
        now = loop.time()
        self.observe(now - started, now, self._cpu_clock())

    def observe(self, turn: float, now: float, cpu: float | None = None) -> None:
        """Take in one measured loop turn (seconds) at loop time `now`, and the process's CPU seconds so far.

        The limit (or the spacing) changes at most once a window. The process counts as behind when its turns
        average more than `slow_turn` or, over the last window at least, it used more than `busy_cpu`.
        """
        self.turn = turn if self.turn == 0.0 else 0.8 * self.turn + 0.2 * turn
        if cpu is not None:
            if self._cpu_mark is None:
                self._cpu_mark = (now, cpu)
            elif now - self._cpu_mark[0] >= max(self.window, 0.01):
                self.cpu = (cpu - self._cpu_mark[1]) / (now - self._cpu_mark[0])
                self._cpu_mark = (now, cpu)
        if now - self._changed_at < self.window:
            return
        busy = self.cpu > self.busy_cpu
        if self.turn > self.slow_turn or busy:
            if self.limit > 1:
                self.limit = max(1, self.limit // 2)
                self._changed_at = now
            elif self.spacing < self.max_spacing:
                self.spacing = min(self.max_spacing, max(MIN_SPACING_S, self.spacing * 2))
                self._changed_at = now
        elif self.turn < self.slow_turn / 2:  # and not busy
            if self.spacing > 0:
                self.spacing = 0.0 if self.spacing <= MIN_SPACING_S else self.spacing / 2
                self._changed_at = now
                self._admit()
            elif self.limit < self.ceiling:
                self.limit += 1
                self._changed_at = now
                self._admit()

    def _spaced(self) -> bool:
        """Whether a submit may go in now as far as spacing goes; if so, the next one waits `spacing` from now."""
        if self.spacing <= 0:
            return True
        now = asyncio.get_running_loop().time()
        if now < self._next_at:
            return False
        self._next_at = now + self.spacing
        self.spaced += 1
        return True

    def _on_timer(self) -> None:
        self._timer = None
        self._admit()

    def _admit(self) -> None:
        while self._waiting and self._inside < self.limit:
            if not self._spaced():
                loop = asyncio.get_running_loop()
                if self._timer is None or self._timer_loop is not loop:  # a timer of an old loop never fires
                    self._timer, self._timer_loop = loop.call_at(self._next_at, self._on_timer), loop
                return
            admitted = self._waiting.popleft()
            if not admitted.done():
                admitted.set_result(None)
                self._inside += 1
