"""Snowflake tasks for Flyte 2 (work in progress: the public API lands with the connector)."""

__all__: list[str] = []
