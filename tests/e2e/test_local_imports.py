"""Importing the plugin is cheap, registers what it must, and the examples stay importable."""

from __future__ import annotations

import json
import py_compile
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: Modules a bare `import flyteplugins.snowflake` must leave alone (each costs from 0.2 s to seconds).
HEAVY = ("pandas", "polars", "numpy", "pyarrow", "snowflake.connector", "flyte.connectors", "flyte.io")


def _fresh(code: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter; it prints one JSON object as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


#: Prints which HEAVY modules are loaded; flyte keeps some libraries as lazy modules until first touched.
REPORT_LOADED = (
    "import json, sys\n"
    "real = lambda m: m in sys.modules and type(sys.modules[m]).__name__ != '_LazyModule'\n"
    f"print(json.dumps({{'loaded': [m for m in {HEAVY!r} if real(m)]}}))\n"
)


@pytest.mark.parametrize(
    "statement", ["import flyteplugins.snowflake", "from flyteplugins.snowflake import Snowflake, SnowflakeConfig"]
)
def test_import_loads_no_dataframe_library_nor_the_driver(statement: str) -> None:
    assert _fresh(f"{statement}\n{REPORT_LOADED}") == {"loaded": []}


def test_the_import_check_sees_a_loaded_library() -> None:
    assert "pandas" in _fresh(f"import flyteplugins.snowflake, pandas\n{REPORT_LOADED}")["loaded"]


def test_connector_registers_when_the_names_are_used() -> None:
    result = _fresh(
        """
        import json
        from flyteplugins.snowflake import SnowflakeConnector, SnowflakeJobMetadata
        from flyte.connectors import ConnectorRegistry, ResourceMeta

        connector = ConnectorRegistry.get_connector("snowflake", 0)
        print(json.dumps({
            "type": type(connector).__name__,
            "is_class": isinstance(connector, SnowflakeConnector),
            "meta": issubclass(SnowflakeJobMetadata, ResourceMeta),
        }))
        """
    )
    assert result == {"type": "SnowflakeConnector", "is_class": True, "meta": True}


def test_connector_service_finds_it_through_the_entry_point() -> None:
    result = _fresh(
        """
        import json
        from importlib.metadata import entry_points
        from flyte.connectors import ConnectorRegistry

        for ep in entry_points(group="flyte.connectors"):
            if ep.name == "snowflake":
                ep.load()  # what `flyte.connectors.utils._load_connectors` does in the service
        print(json.dumps({"type": type(ConnectorRegistry.get_connector("snowflake", 0)).__name__}))
        """
    )
    assert result == {"type": "SnowflakeConnector"}


def test_public_names_are_all_reachable() -> None:
    import flyteplugins.snowflake as plugin

    assert plugin.__all__ == sorted(plugin.__all__)
    for name in plugin.__all__:
        assert getattr(plugin, name).__name__ == name
        assert name in dir(plugin)
    with pytest.raises(AttributeError):
        _ = plugin.NotAThing  # type: ignore[attr-defined]


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_compile(example: Path) -> None:
    py_compile.compile(str(example), doraise=True)


def test_real_account_example_defines_its_workflow_without_an_account() -> None:
    result = _fresh(
        """
        import json, runpy
        names = runpy.run_path("examples/real_account.py", run_name="example")
        task = names["daily_signups"]
        print(json.dumps({"account": task.plugin_config.account, "secrets": task.secret_refs()}))
        """
    )
    assert result == {"account": "myorg-myaccount", "secrets": {"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"}}
