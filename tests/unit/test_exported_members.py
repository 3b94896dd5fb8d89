"""The public surface: a sorted `__all__` that names everything public the package offers, and nothing else."""

from __future__ import annotations

import importlib
from importlib.metadata import version

import pytest
from packaging.specifiers import SpecifierSet

import flyteplugins.snowflake as package


def test_all_is_sorted_and_complete() -> None:
    assert package.__all__ == sorted(package.__all__)
    # Classes and functions of ours reachable from the package (not submodules, not typing helpers).
    ours = {
        name
        for name in dir(package)
        if not name.startswith(("_", "@"))
        and getattr(getattr(package, name), "__module__", "").startswith("flyteplugins.snowflake")
    }
    assert ours == set(package.__all__)


def test_every_exported_name_resolves() -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_the_seed_api_is_importable_as_documented() -> None:
    from flyteplugins.snowflake import Snowflake, SnowflakeConfig, SnowflakeConnector, SnowflakeJobMetadata

    assert SnowflakeConnector.task_type_name == "snowflake"
    assert SnowflakeConnector.task_type_version == 0
    assert SnowflakeConnector.metadata_type is SnowflakeJobMetadata
    assert Snowflake._TASK_TYPE == "snowflake"
    assert SnowflakeConfig.__dataclass_fields__["account"]


def test_the_connector_is_registered_and_discoverable_by_the_service() -> None:
    from importlib.metadata import entry_points

    from flyte.connectors import ConnectorRegistry

    from flyteplugins.snowflake import SnowflakeConnector

    assert isinstance(ConnectorRegistry.get_connector("snowflake", 0), SnowflakeConnector)
    (ep,) = [ep for ep in entry_points(group="flyte.connectors") if ep.name == "snowflake"]
    assert ep.load() is SnowflakeConnector


# The names code written for the public flyteplugins-snowflake imports, module by module.
PUBLIC_PLUGIN_NAMES = {
    "flyteplugins.snowflake": [
        "PandasToSnowflakeEncodingHandlers",
        "Snowflake",
        "SnowflakeConfig",
        "SnowflakeConnector",
        "SnowflakeToPandasDecodingHandler",
    ],
    "flyteplugins.snowflake.connector": ["SnowflakeConnector", "SnowflakeJobMetadata", "TASK_TYPE"],
    "flyteplugins.snowflake.dataframe": [
        "PROTOCOL_SEP",
        "PandasToSnowflakeEncodingHandlers",
        "SNOWFLAKE",
        "SnowflakeToPandasDecodingHandler",
    ],
    "flyteplugins.snowflake.task": ["Snowflake", "SnowflakeConfig"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC_PLUGIN_NAMES))
def test_the_public_plugins_names_import_from_the_same_modules(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in PUBLIC_PLUGIN_NAMES[module] if not hasattr(imported, name)]
    assert missing == []


@pytest.mark.parametrize("requirement", [">=2.12", ">=2.12.1", "~=2.12", "~=2.12.0", "==2.12.*", ">=2,<3"])
def test_the_version_meets_what_users_of_the_public_plugin_require(requirement: str) -> None:
    installed = version("flyteplugins-snowflake")
    assert SpecifierSet(requirement).contains(installed), (
        f"{installed} does not satisfy flyteplugins-snowflake{requirement} (after changing the version in "
        "pyproject.toml, reinstall: scripts/test does it)"
    )
