"""Pytest fixtures for the local Snowflake, registered through the `pytest11` entry point.

```python
import snowflake.connector

def test_my_query(snowflake_connect_kwargs):
    with snowflake.connector.connect(**snowflake_connect_kwargs) as conn:
        assert conn.cursor().execute("select 1").fetchone() == (1,)
```

* `local_snowflake` (session scope): one emulator subprocess for the whole test session.
* `local_snowflake_fresh`: the same emulator, with knobs and users added by the test reset after it.
* `snowflake_connect_kwargs`: `connect_kwargs()` of the fresh emulator.

The fixtures send the emulator's admin token by themselves. Knobs changed by a test are reset after it in any
case (a `pytest_runtest_teardown` hook), so tests never see each other's knobs. Without fakesnow installed the
fixtures skip the test, saying what to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._process import LocalSnowflake

_STARTED: list[LocalSnowflake] = []


@pytest.fixture(scope="session")
def local_snowflake() -> Iterator[LocalSnowflake]:
    """One local Snowflake (subprocess on 127.0.0.1) shared by the whole test session."""
    if importlib.util.find_spec("fakesnow") is None:
        pytest.skip("the local Snowflake needs fakesnow: pip install 'flyteplugins-snowflake[local]'")
    from ._process import LocalSnowflake

    emulator = LocalSnowflake().start()
    _STARTED.append(emulator)
    try:
        yield emulator
    finally:
        _STARTED.remove(emulator)
        emulator.stop()


@pytest.fixture
def local_snowflake_fresh(local_snowflake: LocalSnowflake) -> Iterator[LocalSnowflake]:
    """The shared local Snowflake; knobs and users this test changes are reset after it."""
    yield local_snowflake
    if local_snowflake.dirty:
        local_snowflake.reset()


@pytest.fixture
def snowflake_connect_kwargs(local_snowflake_fresh: LocalSnowflake) -> dict[str, Any]:
    """`snowflake.connector.connect(**snowflake_connect_kwargs)` reaches the local Snowflake."""
    return local_snowflake_fresh.connect_kwargs()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # a test that used `local_snowflake` directly and changed knobs must not leak them to the next test
    for emulator in _STARTED:
        if emulator.dirty and emulator.running:
            emulator.reset()
