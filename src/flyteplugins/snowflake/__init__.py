"""Snowflake SQL as Flyte 2 tasks.

```python
from flyteplugins.snowflake import Snowflake, SnowflakeConfig

count_users = Snowflake(
    name="count_users",
    query_template="SELECT COUNT(*) AS n FROM users WHERE signup_date >= %(since)s",
    plugin_config=SnowflakeConfig(account="myorg-myaccount", user="FLYTE", database="ANALYTICS",
                                  schema="PUBLIC", warehouse="COMPUTE_WH"),
    inputs={"since": datetime.date},
    output_dataframe_type=pd.DataFrame,
    snowflake_private_key="snowflake-private-key",
)
```

Importing this package is cheap: it imports neither pandas, polars nor the Snowflake driver, nor flyte's
connector framework. The connector (task type `snowflake`) is registered with flyte's `ConnectorRegistry`
when a Snowflake task first runs locally, when `SnowflakeConnector` or `SnowflakeJobMetadata` is first used,
or, in the connector service, through the `flyte.connectors` entry point. The dataframe handlers are
registered here, without importing any dataframe library (each registers when it is imported).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import SnowflakeConfig
from .dataframe import register_handlers as _register_handlers
from .dataframe import table_uri
from .task import Snowflake

if TYPE_CHECKING:
    from .connector import SnowflakeConnector
    from .dataframe import PandasToSnowflakeEncodingHandlers, SnowflakeToPandasDecodingHandler
    from .metadata import SnowflakeJobMetadata

__all__ = [
    "PandasToSnowflakeEncodingHandlers",
    "Snowflake",
    "SnowflakeConfig",
    "SnowflakeConnector",
    "SnowflakeJobMetadata",
    "SnowflakeToPandasDecodingHandler",
    "table_uri",
]
# The public plugin's names for the pandas reader and writer, kept for code that imports them from here.
_DATAFRAME_NAMES = ("PandasToSnowflakeEncodingHandlers", "SnowflakeToPandasDecodingHandler")

# Results must decode in a process that only imported this package (a downstream Python task).
_register_handlers()


def __getattr__(name: str) -> Any:
    # Importing the connector registers it with flyte's ConnectorRegistry (it pulls in flyte.connectors).
    if name == "SnowflakeConnector":
        from .connector import SnowflakeConnector

        return SnowflakeConnector
    if name in _DATAFRAME_NAMES:
        from . import dataframe

        return getattr(dataframe, name)
    if name == "SnowflakeJobMetadata":
        from . import connector as _registers  # noqa: F401
        from .metadata import SnowflakeJobMetadata

        return SnowflakeJobMetadata
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
