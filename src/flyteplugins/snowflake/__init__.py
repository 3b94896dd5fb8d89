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

Importing this package registers the connector (task type `snowflake`) and the dataframe handlers; it
does not import pandas, polars or the Snowflake driver until they are needed.
"""

from .config import SnowflakeConfig
from .connector import SnowflakeConnector
from .metadata import SnowflakeJobMetadata
from .task import Snowflake

__all__ = ["Snowflake", "SnowflakeConfig", "SnowflakeConnector", "SnowflakeJobMetadata"]
