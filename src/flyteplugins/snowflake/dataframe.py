"""Query results as dataframes: `snowflake://` references, readers and writers (work in progress)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .metadata import SnowflakeJobMetadata


def result_reference(meta: SnowflakeJobMetadata, query_id: str) -> Any:
    """A `flyte.io.DataFrame` pointing at a finished query's result in Snowflake."""
    from flyte.io import DataFrame

    uri = f"snowflake://{meta.user}/{meta.account}/{meta.warehouse}/{meta.database}/{meta.schema}/{query_id}"
    return DataFrame.from_existing_remote(uri)
