"""End-to-end fixtures: the local Snowflake, a task config pointing at it, and the secret a local run reads.

NOTE: this file was overwritten by mistake (the connector-service work created a conftest at the same
moment) and rebuilt from what `test_local_runs.py` uses; its author may want to restore details. The gRPC
service helpers live in `c0_harness.py`; their fixtures are at the end of this file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from c0_harness import ConnectorService, warm_history

from flyteplugins.snowflake import SnowflakeConfig
from flyteplugins.snowflake.local import LocalSnowflake, QueryHistoryEntry

#: The secret reference a local run reads as an environment variable (the local Snowflake accepts any value).
PASSWORD_SECRET = "sf_e2e_password"
os.environ.setdefault(PASSWORD_SECRET.upper(), "local")


@pytest.fixture(scope="session", autouse=True)
def _flyte_initialized() -> None:
    """Local runs need flyte's configuration, even without a backend."""
    import flyte

    flyte.init()


@pytest.fixture
def sf(local_snowflake: LocalSnowflake) -> Iterator[LocalSnowflake]:
    """The session's local Snowflake; knobs and users this test changes are reset after it."""
    yield local_snowflake
    local_snowflake.reset()


@pytest.fixture
def sf_config(sf: LocalSnowflake) -> SnowflakeConfig:
    """A task config that reaches the local Snowflake."""
    return sf.config()


@pytest.fixture
def table() -> str:
    """A table name no other test uses."""
    return f"E2E_{uuid.uuid4().hex[:10].upper()}"


@pytest.fixture
def history(sf: LocalSnowflake) -> Callable[[str], list[QueryHistoryEntry]]:
    """`history(text)`: the recorded queries whose SQL contains `text` (case-insensitive)."""

    def _matching(text: str) -> list[QueryHistoryEntry]:
        return [q for q in sf.query_history() if text.upper() in q.query_text.upper()]

    return _matching


@pytest.fixture
def subprocess_env(sf: LocalSnowflake) -> dict[str, str]:
    """Environment for a child process running a workflow against the same local Snowflake (local runs)."""
    kw = sf.connect_kwargs()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        {
            PASSWORD_SECRET.upper(): sf.password,
            "SF_E2E_HOST": str(kw["host"]),
            "SF_E2E_PORT": str(kw["port"]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# --- the connector service (c0) over gRPC: test_service_*.py ---------------------------------------------------


@pytest.fixture(scope="session")
def c0_emulator(local_snowflake: LocalSnowflake) -> LocalSnowflake:
    """The session's local Snowflake, warmed up for history look-ups."""
    warm_history(local_snowflake)
    return local_snowflake


@pytest.fixture
def emulator(c0_emulator: LocalSnowflake) -> Iterator[LocalSnowflake]:
    """The session's local Snowflake; knobs this test sets are reset after it."""
    yield c0_emulator
    c0_emulator.reset()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, c0_emulator: LocalSnowflake) -> Iterator[ConnectorService]:
    """One c0 replica shared by a module's tests (a module's faults, such as expired sessions, stay in it)."""
    replica = ConnectorService(tmp_path_factory.mktemp("c0")).start()
    yield replica
    replica.stop()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Any]:
    """`start_service(env=..., name=...)` starts an extra c0 replica for this test; all are stopped after it."""
    started: list[ConnectorService] = []

    def _start(env: Mapping[str, str] | None = None, name: str = "c0") -> ConnectorService:
        replica = ConnectorService(tmp_path, env=env, name=name).start()
        started.append(replica)
        return replica

    yield _start
    for replica in started:
        replica.stop()
