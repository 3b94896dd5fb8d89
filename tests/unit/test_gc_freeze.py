"""Importing the connector freezes the heap the imports left behind, unless FLYTE_SNOWFLAKE_GC_FREEZE=0.

Each case imports the plugin in a fresh interpreter, as the connector service does at start-up, so the freeze
is seen exactly as the service gets it (and this test process's heap is left alone).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from flyteplugins.snowflake.connector import GC_FREEZE_ENV

PROBE = "import gc; import flyteplugins.snowflake.connector; print(gc.get_freeze_count())"


def _import_with(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != GC_FREEZE_ENV}
    if value is not None:
        env[GC_FREEZE_ENV] = value
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value", [None, "1"])
def test_by_default_the_import_heap_is_frozen(value: str | None) -> None:
    done = _import_with(value)
    assert done.returncode == 0, done.stderr
    # flyte, gRPC, protobuf and the driver: far more than any interpreter holds on its own
    assert int(done.stdout.split()[-1]) > 50_000


def test_zero_leaves_the_collector_alone() -> None:
    done = _import_with("0")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == 0


def test_a_bad_value_is_reported_and_the_default_kept() -> None:
    done = _import_with("off")
    assert done.returncode == 0, done.stderr
    assert f"{GC_FREEZE_ENV} must be 0 or 1, got 'off'; keeping the default (1)" in done.stderr
    assert int(done.stdout.split()[-1]) > 50_000
