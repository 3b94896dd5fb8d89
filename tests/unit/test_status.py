"""_status.describe over every QueryStatus member of the installed driver."""

from __future__ import annotations

import math

import pytest
from flyteidl2.core.execution_pb2 import TaskExecution
from snowflake.connector.constants import QueryStatus

from flyteplugins.snowflake._status import STATUS_TABLE, UNKNOWN_QUERY_GRACE_S, describe

# (phase, terminal, waiting) per member, written out here rather than read from the table under test.
# A member the driver adds later is missing here and fails test_expectations_cover_the_driver.
EXPECTED = {
    "RUNNING": (TaskExecution.RUNNING, False, False),
    "ABORTING": (TaskExecution.RUNNING, False, False),
    "SUCCESS": (TaskExecution.SUCCEEDED, True, False),
    "FAILED_WITH_ERROR": (TaskExecution.FAILED, True, False),
    "ABORTED": (TaskExecution.ABORTED, True, False),
    "QUEUED": (TaskExecution.QUEUED, False, True),
    "FAILED_WITH_INCIDENT": (TaskExecution.FAILED, True, False),
    "DISCONNECTED": (TaskExecution.RETRYABLE_FAILED, True, False),
    "RESUMING_WAREHOUSE": (TaskExecution.WAITING_FOR_RESOURCES, False, True),
    "QUEUED_REPARING_WAREHOUSE": (TaskExecution.WAITING_FOR_RESOURCES, False, True),
    "RESTARTED": (TaskExecution.RUNNING, False, False),
    "BLOCKED": (TaskExecution.WAITING_FOR_RESOURCES, False, True),
    "NO_DATA": (TaskExecution.QUEUED, False, True),
}


def test_expectations_cover_the_driver() -> None:
    assert {m.name for m in QueryStatus} == set(EXPECTED)
    assert set(STATUS_TABLE) == set(EXPECTED)


@pytest.mark.parametrize("member", list(QueryStatus), ids=lambda m: m.name)
def test_every_status_has_its_phase_and_a_message(member: QueryStatus) -> None:
    view = describe(member, warehouse="COMPUTE_WH", query_id="01b2-abc")
    assert (view.phase, view.terminal, view.waiting) == EXPECTED[member.name]
    assert view.status == member.name
    assert "01b2-abc" in view.message
    assert "{" not in view.message  # every placeholder filled


@pytest.mark.parametrize("member", list(QueryStatus), ids=lambda m: m.name)
def test_name_and_member_give_the_same_view(member: QueryStatus) -> None:
    assert describe(member.name, query_id="q") == describe(member, query_id="q")
    assert describe(member.name.lower(), query_id="q") == describe(member, query_id="q")


def test_no_status_right_after_submit_is_not_a_failure() -> None:
    view = describe("NO_DATA", query_id="q")
    assert view.phase not in (TaskExecution.FAILED, TaskExecution.RETRYABLE_FAILED)
    assert not view.terminal


@pytest.mark.parametrize("since_submit", [0.0, UNKNOWN_QUERY_GRACE_S - 1])
def test_no_status_within_the_grace_is_still_waiting(since_submit: float) -> None:
    view = describe("NO_DATA", query_id="q", since_submit=since_submit)
    assert (view.phase, view.terminal) == (TaskExecution.QUEUED, False)
    assert "waiting for Snowflake to report it" in view.message


@pytest.mark.parametrize("since_submit", [UNKNOWN_QUERY_GRACE_S + 1, math.inf])
def test_no_status_past_the_grace_fails_naming_the_query_and_the_likely_causes(since_submit: float) -> None:
    view = describe("NO_DATA", query_id="01b2-gone", since_submit=since_submit, account="myorg-acct", user="ETL")
    assert (view.phase, view.terminal, view.status) == (TaskExecution.FAILED, True, "NO_DATA")
    assert "Snowflake does not know query 01b2-gone" in view.message
    assert f"{UNKNOWN_QUERY_GRACE_S:g} s after its submit" in view.message
    assert "account myorg-acct, user ETL" in view.message and "restarted" in view.message


@pytest.mark.parametrize("status", ["QUEUED", "RUNNING", "BLOCKED"])
def test_only_no_status_is_judged_by_its_age(status: str) -> None:
    assert describe(status, query_id="q", since_submit=math.inf) == describe(status, query_id="q")


def test_resuming_warehouse_names_the_warehouse() -> None:
    assert describe("RESUMING_WAREHOUSE", warehouse="COMPUTE_WH", query_id="01b2").message == (
        "Warehouse COMPUTE_WH is resuming; query 01b2 will start"
    )
    assert "the warehouse" in describe("QUEUED", query_id="q").message


def test_unknown_status_keeps_following() -> None:
    view = describe("WAITING_FOR_A_MIRACLE", query_id="q9")
    assert view.phase == TaskExecution.RUNNING
    assert not view.terminal
    assert "WAITING_FOR_A_MIRACLE" in view.message and "q9" in view.message


def test_message_without_query_id() -> None:
    assert "(no id yet)" in describe("RUNNING").message
