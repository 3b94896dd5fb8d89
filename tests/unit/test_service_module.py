"""The connector service's entry point: the connector, with the start-up heap frozen; local runs are left alone."""

from __future__ import annotations

import subprocess
import sys

_LOAD_AS_C0_DOES = """
import gc
from importlib.metadata import entry_points
(point,) = [e for e in entry_points(group="flyte.connectors") if e.name == "snowflake"]
assert gc.get_freeze_count() == 0
loaded = point.load()
from flyte.connectors import ConnectorRegistry
from flyteplugins.snowflake.connector import SnowflakeConnector
assert loaded is SnowflakeConnector
assert isinstance(ConnectorRegistry.get_connector("snowflake", 0), SnowflakeConnector)
print(gc.get_freeze_count())
"""

_LOCAL_RUN_IMPORT = """
import gc
import flyteplugins.snowflake.connector
print(gc.get_freeze_count())
"""


def _run(code: str) -> int:
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def test_the_service_entry_point_registers_the_connector_and_freezes_the_start_up_heap() -> None:
    # flyte, gRPC, the driver and pandas: far more than any handful of objects
    assert _run(_LOAD_AS_C0_DOES) > 50_000


def test_importing_the_connector_in_a_local_run_freezes_nothing() -> None:
    assert _run(_LOCAL_RUN_IMPORT) == 0
