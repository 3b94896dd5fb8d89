"""Snowflake query status -> Flyte task phase and a human message: one total table.

Every `snowflake.connector.constants.QueryStatus` name has a row; a name the table does not know (a newer
driver) is followed as RUNNING with a message naming it, never an error. NO_DATA (Snowflake does not know the
query) is a query not yet reported for `UNKNOWN_QUERY_GRACE_S` after its submit, and then a failure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flyteidl2.core.execution_pb2 import TaskExecution

__all__ = ["STATUS_TABLE", "UNKNOWN_QUERY_GRACE_S", "StatusView", "describe"]

Phase = int  # a TaskExecution.Phase value


@dataclass(frozen=True)
class StatusView:
    """How one status looks to Flyte.

    Attributes:
        status: the Snowflake status name, as reported.
        phase: the `TaskExecution` phase to report.
        message: a sentence for the Flyte UI.
        terminal: the query will not change any more (our notion: RETRYABLE_FAILED is terminal here,
            although `flyte.connectors.utils.is_terminal_phase` only counts SUCCEEDED/ABORTED/FAILED).
        waiting: the query has not started running (queued, warehouse resuming, blocked on a lock).
    """

    status: str
    phase: Phase
    message: str
    terminal: bool
    waiting: bool


@dataclass(frozen=True)
class _Row:
    phase: Phase
    template: str  # formatted with {warehouse} and {query}
    terminal: bool = False
    waiting: bool = False


# Keys are QueryStatus member names (snowflake/connector/constants.py). Decisions worth knowing:
# - NO_DATA is what Snowflake says right after submit, before the query shows up: QUEUED, not a failure.
# - ABORTING is still running from Flyte's point of view; ABORTED follows.
# - DISCONNECTED: the session that ran the query went away and Snowflake aborts the query. Nothing in the
#   SQL is wrong, so a new attempt may succeed: RETRYABLE_FAILED.
# - FAILED_WITH_INCIDENT: an internal Snowflake incident. Final, like any failed statement: a retry would
#   re-run possibly non-idempotent SQL against a problem only Snowflake support can see.
STATUS_TABLE: dict[str, _Row] = {
    "NO_DATA": _Row(TaskExecution.QUEUED, "Query {query} submitted; waiting for Snowflake to report it", waiting=True),
    "QUEUED": _Row(TaskExecution.QUEUED, "Query {query} is queued on {warehouse}", waiting=True),
    "RESUMING_WAREHOUSE": _Row(
        TaskExecution.WAITING_FOR_RESOURCES, "{Warehouse} is resuming; query {query} will start", waiting=True
    ),
    "QUEUED_REPARING_WAREHOUSE": _Row(
        TaskExecution.WAITING_FOR_RESOURCES, "Query {query} is queued while Snowflake repairs {warehouse}", waiting=True
    ),
    "BLOCKED": _Row(
        TaskExecution.WAITING_FOR_RESOURCES,
        "Query {query} is blocked, waiting for a lock held by another transaction",
        waiting=True,
    ),
    "RUNNING": _Row(TaskExecution.RUNNING, "Query {query} is running on {warehouse}"),
    "RESTARTED": _Row(TaskExecution.RUNNING, "Snowflake restarted query {query}; it is running again"),
    "ABORTING": _Row(TaskExecution.RUNNING, "Query {query} is being aborted"),
    "SUCCESS": _Row(TaskExecution.SUCCEEDED, "Query {query} succeeded", terminal=True),
    "FAILED_WITH_ERROR": _Row(TaskExecution.FAILED, "Query {query} failed", terminal=True),
    "FAILED_WITH_INCIDENT": _Row(
        TaskExecution.FAILED,
        "Query {query} failed with an internal Snowflake incident; give Snowflake support the query id",
        terminal=True,
    ),
    "ABORTED": _Row(TaskExecution.ABORTED, "Query {query} was aborted", terminal=True),
    "DISCONNECTED": _Row(
        TaskExecution.RETRYABLE_FAILED,
        "The session running query {query} was disconnected and Snowflake aborted the query; it can be retried",
        terminal=True,
    ),
}

_UNKNOWN = _Row(TaskExecution.RUNNING, "Query {query} has status {status}, unknown to this plugin; still following it")

#: Seconds after its submit a query may stay unknown to Snowflake (NO_DATA) before the task fails. Snowflake
#: reports a query within a second or two of accepting it; the submit time is taken before the login and the
#: submit, so this also covers a slow login. Measured from the job metadata's `submitted_at`, so every replica
#: agrees; metadata without a submit time (hand-made, or the public plugin's) counts as past it.
UNKNOWN_QUERY_GRACE_S = 60.0

_NOT_FOUND = _Row(
    TaskExecution.FAILED,
    "Snowflake does not know query {query}: no status {grace:g} s after its submit, where a submitted query shows "
    "up within seconds. Likely causes: the job metadata names another account or user than the one that ran the "
    "query (account {account}, user {user}; Snowflake reports a query only to the user that ran it), the query id "
    "comes from another account, or Snowflake lost the query (a local Snowflake that was restarted)",
    terminal=True,
)


def describe(
    status: str | enum.Enum,
    *,
    warehouse: str | None = None,
    query_id: str | None = None,
    since_submit: float | None = None,
    account: str | None = None,
    user: str | None = None,
) -> StatusView:
    """Phase, message and flags for a Snowflake query status.

    Args:
        status: a `QueryStatus` member or its name (case-insensitive).
        warehouse: the warehouse name, for messages like "warehouse COMPUTE_WH is resuming".
        query_id: the query id, named in the message.
        since_submit: seconds since the query was submitted (`math.inf` when unknown); past
            `UNKNOWN_QUERY_GRACE_S`, NO_DATA means Snowflake does not know the query: FAILED. None: not judged.
        account, user: who the query was submitted as, named when Snowflake does not know it.

    Example:
        >>> describe("RESUMING_WAREHOUSE", warehouse="COMPUTE_WH", query_id="01b2").message
        'Warehouse COMPUTE_WH is resuming; query 01b2 will start'
    """
    name = (status.name if isinstance(status, enum.Enum) else str(status)).strip().upper()
    row = STATUS_TABLE.get(name, _UNKNOWN)
    if name == "NO_DATA" and since_submit is not None and since_submit > UNKNOWN_QUERY_GRACE_S:
        row = _NOT_FOUND
    wh = f"warehouse {warehouse}" if warehouse else "the warehouse"
    message = row.template.format(
        query=query_id or "(no id yet)",
        warehouse=wh,
        Warehouse=wh[0].upper() + wh[1:],
        status=name,
        grace=UNKNOWN_QUERY_GRACE_S,
        account=account or "(not given)",
        user=user or "(not given)",
    )
    return StatusView(status=name, phase=row.phase, message=message, terminal=row.terminal, waiting=row.waiting)
