"""An aborted local run leaves nothing running in Snowflake: Ctrl-C, the task's timeout, asyncio cancellation."""

from __future__ import annotations

import asyncio
import datetime
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flyte
import flyte.errors
import pytest

from flyteplugins.snowflake import Snowflake, SnowflakeConfig

pytestmark = pytest.mark.e2e

PASSWORD_SECRET = "sf_e2e_password"
FLYTE_CLI = Path(sys.executable).parent / "flyte"
#: How Snowflake reports a cancelled query: status FAILED_WITH_ERROR, error 604 "SQL execution canceled".
CANCELLED = [("FAILED_WITH_ERROR", "000604")]
#: Seconds a child process may take to import flyte, the plugin and the driver and submit its query: a few on
#: an idle machine, over 40 on a loaded 2-core one (the `flyte` CLI imports the most).
CHILD_START_S = 180
#: Seconds a child may take to exit after Ctrl-C: an interrupted run may wait SUBMIT_GRACE + CANCEL_GRACE (30 s)
#: for its query to be cancelled.
EXIT_AFTER_CTRL_C_S = 60

#: A workflow module for child processes; the local Snowflake's address comes from the environment.
WORKFLOW = textwrap.dedent(
    """
    import os

    import flyte
    import pandas as pd
    from flyteplugins.snowflake import Snowflake, SnowflakeConfig

    config = SnowflakeConfig(
        account="local-test", database="FLYTE", schema="PUBLIC", warehouse="LOCAL_WH", user="FLYTE",
        host=os.environ["SF_E2E_HOST"], port=int(os.environ["SF_E2E_PORT"]), protocol="http",
    )
    # The marker names this run's query in the local Snowflake's history (inputs are bound, not in the text).
    MARKER = os.environ["SF_E2E_MARKER"]
    slow = Snowflake(
        name="slow", query_template=f"SELECT 1 AS one -- {MARKER}", plugin_config=config,
        snowflake_password="sf_e2e_password",
    )
    answer = Snowflake(
        name="answer", query_template=f"SELECT %(x)s + 1 AS y -- {MARKER}", plugin_config=config,
        inputs={"x": int}, output_dataframe_type=pd.DataFrame, snowflake_password="sf_e2e_password",
    )
    env = flyte.TaskEnvironment(name="e2e_child")


    @env.task
    async def wait_for_slow() -> str:
        await slow()
        return "finished"


    @env.task
    async def add_one(x: int) -> int:
        frame = await answer(x=x)
        return int(frame["Y"].iloc[0])


    if __name__ == "__main__":
        flyte.init()
        flyte.with_runcontext(mode="local").run(wait_for_slow)
    """
)


def _wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _running(history: Callable[[str], list[Any]], marker: str) -> Callable[[], Any]:
    return lambda: [q for q in history(marker) if q.status == "RUNNING"]


def _outcome(history: Callable[[str], list[Any]], marker: str) -> list[tuple[str, str | None]]:
    """Status and error code of each query carrying the marker."""
    return [(q.status, q.error_code) for q in history(marker)]


def _running_in(child: subprocess.Popen[str], history: Callable[[str], list[Any]], marker: str) -> Callable[[], Any]:
    """Like `_running`, but a child that exits first fails the wait at once, with its output."""
    running = _running(history, marker)

    def check() -> Any:
        if child.poll() is not None:
            raise AssertionError(
                f"the child exited ({child.returncode}) before its query ran:\n{child.communicate()[0]}"
            )
        return running()

    return check


def _slow_task(config: SnowflakeConfig, marker: str, **kwargs: Any) -> Snowflake:
    return Snowflake(
        name="slow_query",
        query_template=f"SELECT 1 AS one -- {marker}",
        plugin_config=config,
        snowflake_password=PASSWORD_SECRET,
        **kwargs,
    )


def test_timeout_cancels_the_query_and_raises_flytes_timeout(sf, sf_config: SnowflakeConfig, history) -> None:
    sf.configure(min_query_ms=30_000)
    marker = f"timeout-{uuid.uuid4().hex}"
    task = _slow_task(sf_config, marker, timeout=datetime.timedelta(seconds=1))
    started = time.monotonic()
    with pytest.raises(flyte.errors.MaxRuntimeExceededError, match="cancelled in Snowflake"):
        flyte.with_runcontext(mode="local").run(task)
    assert time.monotonic() - started < 10
    # cancelled before the run returned, not eventually
    assert _outcome(history, marker) == CANCELLED


async def test_cancelling_the_asyncio_task_cancels_the_query(sf, sf_config: SnowflakeConfig, history) -> None:
    sf.configure(min_query_ms=30_000)
    marker = f"asyncio-{uuid.uuid4().hex}"
    task = _slow_task(sf_config, marker)
    run = asyncio.ensure_future(flyte.with_runcontext(mode="local").run.aio(task))
    await asyncio.to_thread(_wait_for, _running(history, marker), 15, "the query to run")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    # flyte runs the task on its own event loop: the cancel reaches it there, a moment later
    await asyncio.to_thread(_wait_for, lambda: _outcome(history, marker) == CANCELLED, 10, "the query to be cancelled")


@pytest.mark.timeout(CHILD_START_S + EXIT_AFTER_CTRL_C_S + 60)
@pytest.mark.parametrize("how", ["python", "flyte run --local"])
def test_ctrl_c_cancels_the_query_before_the_process_exits(
    sf, history, subprocess_env: dict[str, str], tmp_path: Path, how: str
) -> None:
    sf.configure(min_query_ms=600_000)  # far beyond the test: only a cancel ends the query in time
    marker = f"sigint-{uuid.uuid4().hex}"
    (tmp_path / "workflow.py").write_text(WORKFLOW)
    if how == "python":
        command = [sys.executable, "workflow.py"]
    else:
        command = [str(FLYTE_CLI), "run", "--local", "workflow.py", "wait_for_slow"]
    child = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**subprocess_env, "SF_E2E_MARKER": marker},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(_running_in(child, history, marker), CHILD_START_S, "the child's query to run")
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=EXIT_AFTER_CTRL_C_S)
    except subprocess.TimeoutExpired:
        child.kill()
        output = child.communicate()[0]
        raise AssertionError(f"the child was still there {EXIT_AFTER_CTRL_C_S} s after Ctrl-C:\n{output}") from None
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode != 0, output
    # the process is gone, and so is its query: cancelled before the exit, not left to run for a minute
    assert _outcome(history, marker) == CANCELLED, output


def test_flyte_run_local_cli_runs_a_workflow(sf, history, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "workflow.py").write_text(WORKFLOW)
    marker = f"cli-{uuid.uuid4().hex}"
    done = subprocess.run(
        [str(FLYTE_CLI), "run", "--local", "workflow.py", "add_one", "--x", "41"],
        cwd=tmp_path,
        env={**subprocess_env, "SF_E2E_MARKER": marker},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "o0=42" in done.stdout
    assert [q.status for q in history(marker)] == ["SUCCESS"]
