"""Fails loudly when the driver / fakesnow pair stops working together (see the pin in pyproject.toml)."""

from __future__ import annotations

from typing import Any

import pytest
import snowflake.connector

pytestmark = pytest.mark.integration


def test_driver_major_version_is_4() -> None:
    major = int(snowflake.connector.__version__.split(".")[0])
    assert major == 4, (
        f"snowflake-connector-python {snowflake.connector.__version__} is installed, but the local Snowflake "
        "(fakesnow 0.12.1) needs the 4.x line: 5.x removed snowflake.connector.converter, which fakesnow imports, "
        "and a 5.x client cannot log in to it. Keep the pin `snowflake-connector-python>=4,<5`."
    )


def test_real_login_and_select_through_the_driver(connect: Any) -> None:
    conn = connect()
    assert conn.cursor().execute("select 1 as one, 'a' as letter").fetchall() == [(1, "a")]
    assert conn.session_id is not None
