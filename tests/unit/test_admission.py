"""SubmitGate: submits wait their turn only while the event loop falls behind, first come first served."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from flyteplugins.snowflake._admission import DEFAULT_SLOW_TURN_S, SLOW_TURN_ENV, SubmitGate, slow_turn_from_env

FROZEN = 1e12  # a window no test outlives: the limit only changes when a test sets it


def _fixed(limit: int, ceiling: int = 4) -> SubmitGate:
    """A gate whose turns always count as quick and whose limit stays where the test puts it."""
    gate = SubmitGate(ceiling, slow_turn=10.0, window=FROZEN)
    gate.limit = limit
    return gate


async def _hold(gate: SubmitGate, release: asyncio.Event, order: list[int], n: int) -> None:
    async with gate:
        order.append(n)
        await release.wait()


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_under_normal_load_nothing_waits() -> None:
    async def main() -> None:
        gate = _fixed(8, ceiling=8)
        release, order = asyncio.Event(), []
        tasks = [asyncio.ensure_future(_hold(gate, release, order, n)) for n in range(8)]
        await _settle()
        assert (gate.inside, gate.waiting) == (8, 0)
        release.set()
        await asyncio.gather(*tasks)
        assert gate.inside == 0

    asyncio.run(main())


def test_past_the_limit_submits_wait_and_go_in_arrival_order() -> None:
    async def main() -> None:
        gate = _fixed(2, ceiling=8)
        releases = [asyncio.Event() for _ in range(5)]
        order: list[int] = []
        tasks = [asyncio.ensure_future(_hold(gate, releases[n], order, n)) for n in range(5)]
        await _settle()
        assert (gate.inside, gate.waiting, order) == (2, 3, [0, 1])
        releases[1].set()
        await _settle()
        assert (gate.inside, gate.waiting, order) == (2, 2, [0, 1, 2])
        for release in releases:
            release.set()
        await asyncio.gather(*tasks)
        assert (gate.inside, gate.waiting, order) == (0, 0, [0, 1, 2, 3, 4])

    asyncio.run(main())


def test_slow_turns_halve_the_limit_and_quick_turns_raise_it_by_one_per_window() -> None:
    gate = SubmitGate(32, slow_turn=0.002, window=0.05)
    gate.observe(0.010, now=1.0)
    assert gate.limit == 16
    gate.observe(0.010, now=1.01)  # within the window: no second change yet
    assert gate.limit == 16
    gate.observe(0.010, now=1.1)
    assert gate.limit == 8
    for step in range(60):  # the average comes down (halving twice more), then the limit climbs one at a time
        gate.observe(0.0001, now=2.0 + step * 0.1)
    assert gate.limit == 32
    assert gate.turn < 0.001


def test_the_limit_never_drops_below_one() -> None:
    gate = SubmitGate(4, slow_turn=0.001, window=0.0)
    for step in range(10):
        gate.observe(1.0, now=float(step))
    assert gate.limit == 1


def test_a_raised_limit_lets_waiting_submits_in() -> None:
    async def main() -> None:
        gate = SubmitGate(4, slow_turn=0.002, window=FROZEN)
        gate.limit = 1
        release, order = asyncio.Event(), []
        tasks = [asyncio.ensure_future(_hold(gate, release, order, n)) for n in range(3)]
        await _settle()
        assert (gate.inside, gate.waiting) == (1, 2)
        gate.window = 0.0
        gate.observe(0.0, now=asyncio.get_running_loop().time())
        await _settle()
        assert (gate.limit, gate.inside, gate.waiting) == (2, 2, 1)
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_a_cancelled_waiter_leaves_the_line_and_its_place_goes_on() -> None:
    async def main() -> None:
        gate = _fixed(1)
        release, order = asyncio.Event(), []
        first = asyncio.ensure_future(_hold(gate, release, order, 0))
        second = asyncio.ensure_future(_hold(gate, release, order, 1))
        third = asyncio.ensure_future(_hold(gate, release, order, 2))
        await _settle()
        second.cancel()
        await _settle()
        assert (gate.inside, gate.waiting) == (1, 1)
        release.set()
        await asyncio.gather(first, third)
        assert second.cancelled()
        assert (order, gate.inside, gate.waiting) == ([0, 2], 0, 0)

    asyncio.run(main())


def test_a_waiter_cancelled_as_it_is_admitted_hands_its_place_on() -> None:
    async def main() -> None:
        gate = _fixed(1)
        release, order = asyncio.Event(), []
        first = asyncio.ensure_future(_hold(gate, release, order, 0))
        await _settle()
        second = asyncio.ensure_future(_hold(gate, asyncio.Event(), order, 1))
        third = asyncio.ensure_future(_hold(gate, release, order, 2))
        await _settle()
        release.set()  # `first` leaves and admits `second`, which is cancelled before it runs again
        asyncio.get_running_loop().call_soon(second.cancel)
        await asyncio.gather(first, third)
        assert second.cancelled()
        assert (order, gate.inside, gate.waiting) == ([0, 2], 0, 0)

    asyncio.run(main())


def test_a_slow_turn_of_zero_admits_everything() -> None:
    async def main() -> None:
        gate = SubmitGate(1, slow_turn=0.0)
        release, order = asyncio.Event(), []
        tasks = [asyncio.ensure_future(_hold(gate, release, order, n)) for n in range(5)]
        await _settle()
        assert (gate.inside, gate.waiting, gate.turn) == (5, 0, 0.0)
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, DEFAULT_SLOW_TURN_S), ("", DEFAULT_SLOW_TURN_S), ("0", 0.0), (" 2.5 ", 0.0025)]
)
def test_slow_turn_setting(raw: str | None, seconds: float) -> None:
    env = {} if raw is None else {SLOW_TURN_ENV: raw}
    assert slow_turn_from_env(env) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", ["fast", "-1", "nan", "inf"])
def test_a_bad_slow_turn_setting_names_the_variable_and_the_fix(raw: str) -> None:
    with pytest.raises(ValueError, match=f"{SLOW_TURN_ENV} must be a number of milliseconds.*0 turns it off"):
        slow_turn_from_env({SLOW_TURN_ENV: raw})


def test_a_waiter_cancelled_while_the_line_moves_on_is_skipped() -> None:
    async def main() -> None:
        gate = _fixed(1)
        release, order = asyncio.Event(), []
        first = asyncio.ensure_future(_hold(gate, release, order, 0))
        await _settle()
        second = asyncio.ensure_future(_hold(gate, release, order, 1))
        third = asyncio.ensure_future(_hold(gate, release, order, 2))
        await _settle()
        release.set()  # `first` leaves before `second` learns it was cancelled: the line skips it
        second.cancel()
        await asyncio.gather(first, third)
        with pytest.raises(asyncio.CancelledError):
            await second
        assert (order, gate.inside, gate.waiting) == ([0, 2], 0, 0)

    asyncio.run(main())


def test_when_one_submit_at_a_time_is_still_too_many_they_are_spaced_out_then_let_go_again() -> None:
    gate = SubmitGate(4, slow_turn=0.002, window=0.05, max_spacing=0.016)
    now = 1.0
    seen = []
    for _ in range(8):
        gate.observe(0.010, now=now)
        seen.append((gate.limit, gate.spacing))
        now += 0.1
    assert seen == [
        (2, 0.0),
        (1, 0.0),
        (1, 0.001),
        (1, 0.002),
        (1, 0.004),
        (1, 0.008),
        (1, 0.016),
        (1, 0.016),  # never past max_spacing
    ]
    seen = []
    for _ in range(40):  # quick turns: the average comes down, spacing halves away, then the limit climbs
        gate.observe(0.0, now=now)
        seen.append((gate.limit, gate.spacing))
        now += 0.1
    spacings = [spacing for limit, spacing in seen if limit == 1]
    assert spacings == sorted(spacings, reverse=True) and spacings[-1] == 0.0
    assert seen[-1] == (4, 0.0)


def test_spaced_submits_go_in_one_per_spacing_even_with_nobody_inside() -> None:
    async def main() -> None:
        gate = SubmitGate(4, slow_turn=10.0, window=FROZEN)
        gate.limit, gate.spacing = 4, 0.05
        loop = asyncio.get_running_loop()
        entered: list[float] = []

        async def submit() -> None:
            async with gate:
                entered.append(loop.time())

        began = loop.time()
        await asyncio.wait_for(asyncio.gather(*(submit() for _ in range(4))), timeout=5)  # a lost timer hangs
        gaps = [later - earlier for earlier, later in itertools.pairwise(entered)]
        # The first goes in at once; each other one waits for the timer, with the gate empty meanwhile.
        assert entered[0] - began < 0.04
        assert len(gaps) == 3 and all(gap >= 0.045 for gap in gaps), gaps
        assert (gate.inside, gate.waiting, gate.spaced) == (0, 0, 4)

    asyncio.run(main())


def test_without_spacing_a_max_spacing_of_zero_keeps_the_limit_at_one() -> None:
    gate = SubmitGate(2, slow_turn=0.001, window=0.0, max_spacing=0.0)
    for step in range(10):
        gate.observe(1.0, now=float(step))
    assert (gate.limit, gate.spacing) == (1, 0.0)


def test_a_busy_process_counts_as_behind_even_with_quick_turns() -> None:
    gate = SubmitGate(8, slow_turn=0.002, window=0.05, busy_cpu=0.8)
    now, cpu, seen = 1.0, 10.0, []
    for _ in range(6):  # quick turns, but 0.95 CPU seconds per second
        gate.observe(0.0001, now=now, cpu=cpu)
        seen.append(gate.limit)
        now, cpu = now + 0.1, cpu + 0.095
    assert gate.cpu == pytest.approx(0.95)
    assert seen == [8, 4, 2, 1, 1, 1]
    assert gate.spacing > 0
    for _ in range(40):  # the same quick turns at 0.3 CPU seconds per second: spacing goes, the limit climbs
        gate.observe(0.0001, now=now, cpu=cpu)
        now, cpu = now + 0.1, cpu + 0.03
    assert gate.cpu == pytest.approx(0.3)
    assert (gate.limit, gate.spacing) == (8, 0.0)


def test_the_cpu_reading_spans_at_least_a_window() -> None:
    gate = SubmitGate(8, slow_turn=0.002, window=0.05)
    gate.observe(0.0001, now=1.0, cpu=5.0)
    gate.observe(0.0001, now=1.01, cpu=5.01)  # 10 ms later: too short to say, the reading stays
    assert gate.cpu == 0.0
    gate.observe(0.0001, now=1.06, cpu=5.0 + 0.045)  # 60 ms after the mark, 45 ms of CPU
    assert gate.cpu == pytest.approx(0.75)
    assert gate.limit == 8  # 0.75 is under the default 0.8


def test_the_gate_reads_the_process_cpu_clock_when_it_measures_a_turn() -> None:
    readings = iter([1.0, 1.5])

    async def main() -> SubmitGate:
        gate = SubmitGate(4, slow_turn=10.0, window=0.0, cpu_clock=lambda: next(readings))
        async with gate:
            await asyncio.sleep(0.02)
        async with gate:
            pass
        return gate

    gate = asyncio.run(main())
    assert gate.cpu > 0.8  # 0.5 CPU seconds in ~20 ms of loop time
    assert gate.limit == 2
