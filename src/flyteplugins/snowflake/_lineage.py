"""OpenLineage events for each query: START when it is submitted, COMPLETE, FAIL or ABORT when it ends.

Off, and nothing of OpenLineage imported, unless OpenLineage is configured the way its own client is
(`OPENLINEAGE_URL`, `OPENLINEAGE_CONFIG`, an `openlineage.yml` in the working directory or `~/.openlineage/`,
`OPENLINEAGE__TRANSPORT__*` variables; `OPENLINEAGE_DISABLED=true` turns it off). Then the client
(`openlineage-python`, the `lineage` extra) sends them through whatever transport it is configured with.

What an event says (README, "Lineage"):
- job: namespace `flyte/<project>/<domain>`, name the Flyte task's name; SQL facet (the statement with
  `:name` markers where inputs bind, never a value); job type QUERY;
- run: id `uuid5` of the Snowflake query id, so every replica and every poll names the same run; external
  query (the query id, source `snowflake://<account>`), parent (the Flyte run), processing engine (Flyte and this
  plugin's version), error message on FAIL;
- datasets: inputs and outputs parsed from the SQL by `openlineage-sql`, named `DATABASE.SCHEMA.TABLE` in
  namespace `snowflake://<account>` and resolved against the task's database and schema, as Airflow's Snowflake
  integration names them; on COMPLETE, the materialized Parquet result as an output too.

START is sent by `create` only, so a retried status check or another replica never sends a second one. The end
event is sent by the call that hands the backend the query's final phase, once per run id in a process; a
second one comes only when the backend asks again after a final answer (a lost reply), on another replica.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flyteidl2.core.execution_pb2 import TaskExecution

from ._lineage_send import Sender
from ._links import AccountIdentifier
from .errors import SnowflakeConfigError

if TYPE_CHECKING:
    from flyte.connectors import Resource
    from flyteidl2.connector.connector_pb2 import TaskExecutionMetadata

    from .metadata import SnowflakeJobMetadata

logger = logging.getLogger(__name__)

#: Names of the runs of queries: `uuid5(RUN_IDS, query_id)`.
RUN_IDS = uuid.UUID("6f1e2c55-3a0e-5d8b-9c61-5f0f8a4d2b17")
#: Names of Flyte runs (parents): `uuid5(FLYTE_RUN_IDS, "<project>/<domain>/<run>")`.
FLYTE_RUN_IDS = uuid.UUID("0c7d4a3e-98b1-5f62-a0d4-2e9b7c1f6a83")

#: Final phases and the event each one ends a run with.
_END_EVENTS = {
    TaskExecution.SUCCEEDED: "COMPLETE",
    TaskExecution.FAILED: "FAIL",
    TaskExecution.RETRYABLE_FAILED: "FAIL",
    TaskExecution.ABORTED: "ABORT",
}
#: Run ids whose end event this process has sent (a bounded memory: the oldest are forgotten).
_ENDED_KEPT = 10_000


def configured(environ: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None) -> bool:
    """Whether OpenLineage is configured for this process, judged as the client does, without importing it."""
    env = os.environ if environ is None else environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL") or env.get("OPENLINEAGE_CONFIG"):
        return True
    if any(key.startswith("OPENLINEAGE__TRANSPORT") for key in env):
        return True
    files = ((cwd or Path.cwd()) / "openlineage.yml", (home or Path.home()) / ".openlineage" / "openlineage.yml")
    return any(path.is_file() for path in files)


@dataclass(frozen=True)
class QueryJob:
    """What every event of one query repeats; kept in the job metadata (names only, never a value or secret)."""

    namespace: str
    name: str
    datasets: str  # the datasets' namespace, snowflake://<account>
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    parent: tuple[str, str, str] | None = None  # namespace, name, run id of the Flyte run
    binds: bool = False  # the statement binds inputs: quoted text in Snowflake's errors may be a value
    run_id: str = ""  # set at submit: `run_id_of(query_id)`

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> QueryJob:
        parent = values.get("parent")
        return cls(
            namespace=str(values["namespace"]),
            name=str(values["name"]),
            datasets=str(values["datasets"]),
            inputs=tuple(values.get("inputs") or ()),
            outputs=tuple(values.get("outputs") or ()),
            parent=(str(parent[0]), str(parent[1]), str(parent[2])) if parent else None,
            binds=bool(values.get("binds")),
            run_id=str(values.get("run_id") or ""),
        )


class Lineage:
    """Sends a query's events; one per connector (a service replica, or the process of a local run)."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self._ended: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def from_env(cls) -> Lineage | None:
        """A `Lineage` when OpenLineage is configured (see `configured`), else None."""
        if not configured():
            return None
        return cls(Sender(_make_client))

    def job(
        self,
        *,
        account: str,
        database: str,
        schema: str,
        task: str,
        statement: str,
        binds: bool,
        execution: TaskExecutionMetadata | None,
    ) -> QueryJob:
        """The job of a query about to be submitted: names from Flyte, datasets from its SQL (`statement`)."""
        project, domain, run = _flyte_run(execution)
        namespace = "/".join(part for part in ("flyte", project, domain) if part)
        inputs, outputs = dataset_names(statement, database, schema)
        parent = (namespace, run, str(uuid.uuid5(FLYTE_RUN_IDS, f"{project}/{domain}/{run}"))) if run else None
        return QueryJob(
            namespace, task or "snowflake_query", account_namespace(account), inputs, outputs, parent, binds
        )

    def started(self, meta: SnowflakeJobMetadata, job: QueryJob, statement: str) -> None:
        """START of the query's run (at submit), whose job is kept in `meta.lineage`; the SQL facet carries
        `statement`."""
        job = replace(job, run_id=run_id_of(meta.query_id))
        meta.lineage = job.to_dict()
        when = _iso(meta.submitted_at or time.time())
        self._sender.offer(functools.partial(_event, "START", when, job, meta.query_id, statement, None, None))

    def ended(self, meta: SnowflakeJobMetadata, resource: Resource) -> None:
        """COMPLETE, FAIL or ABORT for a final `resource`; nothing for other phases or a run already ended here."""
        kind = _END_EVENTS.get(resource.phase)
        stored = meta.lineage
        if kind is None or not stored:
            return
        job = QueryJob.from_dict(stored)
        if not self._first_end(job.run_id):
            return
        error = _shown_error(resource.message or "", job) if kind == "FAIL" else None
        result = _result_dataset(resource) if kind == "COMPLETE" else None
        event = functools.partial(_event, kind, _iso(time.time()), job, meta.query_id, None, error, result)
        self._sender.offer(event)

    def drain(self, timeout: float) -> bool:
        """Wait for the queued events to be sent (tests, benchmarks); True when none is left."""
        return self._sender.drain(timeout)

    def _first_end(self, run_id: str) -> bool:
        if run_id in self._ended:
            return False
        self._ended[run_id] = None
        if len(self._ended) > _ENDED_KEPT:
            self._ended.popitem(last=False)
        return True


def run_id_of(query_id: str) -> str:
    """The run id of a query: the same on every replica and every call (a rejected query without an id: random)."""
    return str(uuid.uuid5(RUN_IDS, query_id) if query_id else uuid.uuid4())


@functools.lru_cache(maxsize=256)
def account_namespace(account: str) -> str:
    """`snowflake://<account>` as OpenLineage names Snowflake: `org-account`, or `locator.region.cloud`.

    OpenLineage's naming writes a locator without region as `locator.us-west-1.aws` and a region without cloud
    as `region.aws`: a naming convention shared with Airflow's integration, not a statement about where it runs.
    """
    try:
        parsed = AccountIdentifier.parse(account)
    except SnowflakeConfigError:
        return f"snowflake://{account.strip().lower()}"
    if parsed.is_org_form:
        return f"snowflake://{parsed.org}-{parsed.name}"
    return f"snowflake://{parsed.locator}.{parsed.region or 'us-west-1'}.{parsed.cloud or 'aws'}"


@functools.lru_cache(maxsize=512)
def dataset_names(statement: str, database: str, schema: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Tables read and written by `statement` (one or more statements), as `DATABASE.SCHEMA.TABLE`.

    Unquoted names are upper case, as Snowflake resolves them; a name without database or schema takes the
    task's. What the parser cannot read yields fewer datasets, never a failed query.

    Example:
        >>> dataset_names("INSERT INTO out SELECT * FROM raw.src", "db", "public")
        (('DB.RAW.SRC',), ('DB.PUBLIC.OUT',))
    """
    import openlineage_sql

    try:
        meta = openlineage_sql.parse([statement], dialect="snowflake")
    except Exception as exc:  # the parser is a Rust extension: whatever it raises costs the datasets only
        logger.info("OpenLineage: the SQL could not be parsed for datasets (%s)", type(exc).__name__)
        return (), ()

    def names(tables: Any) -> tuple[str, ...]:
        found = (_qualified(table, database, schema) for table in tables)
        return tuple(dict.fromkeys(name for name in found if name))

    return names(meta.in_tables), names(meta.out_tables)


def _qualified(table: Any, database: str, schema: str) -> str:
    quotes = table.quote_style
    parts = (
        _identifier(table.database, quotes.database) if table.database else _identifier(database, None),
        _identifier(table.schema, quotes.schema) if table.schema else _identifier(schema or "PUBLIC", None),
        _identifier(table.name, quotes.name),
    )
    return ".".join(part for part in parts if part)


def _identifier(text: str, quote: str | None) -> str:
    """A name as Snowflake stores it: quoted names as written, others upper case."""
    if quote or (text.startswith('"') and text.endswith('"') and len(text) > 1):
        return text.strip('"')
    return text.upper()


def _flyte_run(execution: TaskExecutionMetadata | None) -> tuple[str, str, str]:
    if execution is None or not execution.HasField("task_execution_id"):
        return "", "", ""
    run = execution.task_execution_id.node_execution_id.execution_id
    return run.project, run.domain, run.name


_QUOTED = re.compile(r"'[^']*'")


def _shown_error(message: str, job: QueryJob) -> str:
    """Snowflake's error message; when the statement binds inputs, quoted text other than a table's name is
    hidden, because Snowflake quotes the offending value (`Numeric value 'abc' is not recognized`)."""
    if not job.binds:
        return message
    known = {name.upper() for dataset in (*job.inputs, *job.outputs) for name in (dataset, dataset.split(".")[-1])}

    def hide(match: re.Match[str]) -> str:
        return match.group() if match.group()[1:-1].upper() in known else "'?'"

    return _QUOTED.sub(hide, message)


def _result_dataset(resource: Resource) -> tuple[str, str] | None:
    """(namespace, name) of the materialized Parquet result; None for a reference into Snowflake or no result."""
    result = (resource.outputs or {}).get("results")
    uri = str(getattr(result, "uri", "") or "")
    if not uri or uri.startswith("snowflake://"):
        return None
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return "file", parts.path or uri
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


# --- on the sender's thread: the client's own classes ---------------------------------------------------------


def _make_client() -> Any:
    from openlineage.client import OpenLineageClient

    return OpenLineageClient()


def _event(
    kind: str,
    when: str,
    job: QueryJob,
    query_id: str,
    statement: str | None,
    error: str | None,
    result: tuple[str, str] | None,
) -> Any:
    """The `RunEvent`, built with the client's classes (they carry each facet's schema URL)."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

    producer = _producer()
    outputs = [OutputDataset(job.datasets, name) for name in job.outputs]
    if result is not None:
        outputs.append(OutputDataset(*result))
    return RunEvent(
        eventType=RunState[kind],
        eventTime=when,
        run=Run(runId=job.run_id, facets=_run_facets(job, query_id, error, producer)),
        job=Job(namespace=job.namespace, name=job.name, facets=_job_facets(statement, producer)),
        inputs=[InputDataset(job.datasets, name) for name in job.inputs],
        outputs=outputs,
        producer=producer,
    )


def _run_facets(job: QueryJob, query_id: str, error: str | None, producer: str) -> dict[str, Any]:
    from openlineage.client.facet_v2 import error_message_run, external_query_run, parent_run, processing_engine_run

    flyte_version, own_version = _versions()
    facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=flyte_version, name="Flyte", openlineageAdapterVersion=own_version, producer=producer
        ),
    }
    if query_id:
        facets["externalQuery"] = external_query_run.ExternalQueryRunFacet(
            externalQueryId=query_id, source=job.datasets, producer=producer
        )
    if job.parent is not None:
        namespace, name, parent_id = job.parent
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_id),
            job=parent_run.Job(namespace=namespace, name=name),
            producer=producer,
        )
    if error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="SQL", producer=producer
        )
    return facets


def _job_facets(statement: str | None, producer: str) -> dict[str, Any]:
    from openlineage.client.facet_v2 import job_type_job, sql_job

    facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="FLYTE", jobType="QUERY", producer=producer
        )
    }
    if statement is not None:
        facets["sql"] = sql_job.SQLJobFacet(query=statement, dialect="snowflake", producer=producer)
    return facets


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "unknown"

    return of("flyte"), of("flyteplugins-snowflake")


def _producer() -> str:
    return f"urn:flyteplugins-snowflake:{_versions()[1]}"
