"""Pytest fixtures for the local Snowflake (work in progress)."""
