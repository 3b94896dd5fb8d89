"""What flyte's connector service (`c0`) loads through the `flyte.connectors` entry point: the connector, plus one
setting for a long-running server process.

Importing the connector brings in flyte, gRPC, the driver and pandas: hundreds of thousands of objects that live
as long as the process. Python's full garbage collections walk all of them, and on the benchmark machine one
such collection during a burst of calls took 160 ms, with every call in flight waiting. `gc.freeze()` moves
what exists now out of the collector's view (these objects are still freed when unreferenced; only reference
cycles among them are never collected), so later full collections walk the service's own working set only:
4-14 ms instead. Only the service loads this module; a local run imports `connector` directly and leaves the
user's process alone.
"""

from __future__ import annotations

import gc

from .connector import SnowflakeConnector

gc.freeze()

__all__ = ["SnowflakeConnector"]
