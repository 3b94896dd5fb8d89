"""Background finishing jobs: one per key, collected once, forgotten when nobody collects them."""

from __future__ import annotations

import asyncio

import pytest

from flyteplugins.snowflake._finishing import DEFAULT_FINISH_WAIT_S, Finishing, finish_wait_from_env


async def test_checks_arriving_together_share_one_job_and_the_last_collects_it() -> None:
    finishing: Finishing[str] = Finishing()
    started = 0
    release = asyncio.Event()

    async def job() -> str:
        nonlocal started
        started += 1
        await release.wait()
        return "saved"

    answers = await asyncio.gather(*(finishing.run("q1", job, wait=0.01) for _ in range(5)))
    assert answers == [(False, None)] * 5
    assert started == 1 and len(finishing) == 1

    release.set()
    assert await finishing.run("q1", job, wait=1.0) == (True, "saved")
    assert len(finishing) == 0, "a collected job is forgotten"
    assert started == 1


async def test_a_job_that_ends_within_the_wait_answers_at_once() -> None:
    finishing: Finishing[int] = Finishing()

    async def job() -> int:
        await asyncio.sleep(0.01)
        return 7

    assert await finishing.run("q", job, wait=1.0) == (True, 7)


async def test_a_failed_job_raises_once_and_the_next_check_starts_afresh() -> None:
    finishing: Finishing[str] = Finishing()
    attempts = 0

    async def job() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("disk full")
        return "saved"

    with pytest.raises(OSError, match="disk full"):
        await finishing.run("q", job, wait=1.0)
    assert await finishing.run("q", job, wait=1.0) == (True, "saved")
    assert attempts == 2


async def test_a_job_nobody_collects_is_forgotten_without_an_unretrieved_error() -> None:
    finishing: Finishing[str] = Finishing(keep_s=0.05)

    async def failing() -> str:
        await asyncio.sleep(0.02)
        raise RuntimeError("never collected")

    async def other() -> str:
        return "ok"

    assert await finishing.run("orphan", failing, wait=0) == (False, None)
    await asyncio.sleep(0.1)  # the orphan ends, then stays uncollected past keep_s
    assert await finishing.run("other", other, wait=1.0) == (True, "ok")
    assert len(finishing) == 0, "the orphan was forgotten when the next job started"


async def test_a_caller_that_goes_away_leaves_the_job_running() -> None:
    finishing: Finishing[str] = Finishing()
    release = asyncio.Event()

    async def job() -> str:
        await release.wait()
        return "saved"

    caller = asyncio.ensure_future(finishing.run("q", job, wait=10))
    await asyncio.sleep(0.02)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    release.set()
    assert await finishing.run("q", job, wait=1.0) == (True, "saved")


@pytest.mark.parametrize(
    ("value", "expected"), [(None, DEFAULT_FINISH_WAIT_S), ("", DEFAULT_FINISH_WAIT_S), ("0", 0.0), (" 2.5 ", 2.5)]
)
def test_the_wait_comes_from_the_environment(value: str | None, expected: float) -> None:
    environ = {} if value is None else {"FLYTE_SNOWFLAKE_FINISH_WAIT": value}
    assert finish_wait_from_env(environ) == expected


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "inf"])
def test_a_bad_wait_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="FLYTE_SNOWFLAKE_FINISH_WAIT must be a number of seconds"):
        finish_wait_from_env({"FLYTE_SNOWFLAKE_FINISH_WAIT": value})
