"""The session's context as Snowflake reports it: who, where, and NULL for what the session has not chosen."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

CONTEXT = (
    "select current_user(), current_role(), current_warehouse(), current_database(), current_schema(), "
    "current_account(), current_account_name(), current_organization_name(), current_region()"
)


def test_context_functions_answer_for_the_session(sf: Any, connect: Any) -> None:
    cur = connect(account="myorg-myaccount").cursor()
    row = cur.execute(CONTEXT).fetchone()
    assert row == (
        sf.user,
        "PUBLIC",
        sf.warehouse,
        sf.database,
        sf.schema,
        "MYACCOUNT",
        "MYACCOUNT",
        "MYORG",
        "AWS_US_WEST_2",
    )
    assert cur.description[0].name == "CURRENT_USER()"
    assert cur.execute("select lower(current_account_name()) as a").fetchone() == ("myaccount",)


def test_without_a_schema_current_schema_is_null(connect: Any) -> None:
    cur = connect(schema=None).cursor()
    assert cur.execute("select current_database(), current_schema()").fetchone()[1] is None
    cur.execute("use schema public")
    assert cur.execute("select current_schema()").fetchone() == ("PUBLIC",)
    assert connect(database=None, schema=None).cursor().execute("select current_database()").fetchone() == (None,)
