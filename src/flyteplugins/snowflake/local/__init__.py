"""The local Snowflake: an emulator on 127.0.0.1 that the official driver talks to, for tests without an account.

Three ways to start it:

```python
from flyteplugins.snowflake.local import LocalSnowflake

with LocalSnowflake(min_query_ms=100) as sf:          # a subprocess, stopped on exit
    conn = snowflake.connector.connect(**sf.connect_kwargs(paramstyle="qmark"))
```

`python -m flyteplugins.snowflake.local --port 0` (prints its admin token, then `READY 127.0.0.1:<port>`), and the
pytest fixtures `local_snowflake` / `snowflake_connect_kwargs` (a `pytest11` plugin). Built on fakesnow (DuckDB); see
docs/local-snowflake.md for what is emulated and how.

Importing this module imports neither fakesnow nor DuckDB: the server side loads in the subprocess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._knobs import FIRST_STATUSES, Knobs
from ._process import LocalSnowflake, LocalSnowflakeError, QueryHistoryEntry

if TYPE_CHECKING:
    from ._server import serve

__all__ = ["FIRST_STATUSES", "Knobs", "LocalSnowflake", "LocalSnowflakeError", "QueryHistoryEntry", "serve"]


def __getattr__(name: str) -> Any:
    # `serve` runs the emulator in this process; it imports fakesnow, so only on demand
    if name == "serve":
        from ._server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
