"""Preflight: check a workflow's Snowflake tasks against Snowflake before they run, without running them.

```python
from flyteplugins.snowflake.check import check

report = check("workflows/sales.py")          # a file, a module name, a module, or Snowflake tasks
print(report.text())
assert report.ok, report.text()
```

The same from a shell: `python -m flyteplugins.snowflake check workflows/sales.py [--task NAME ...] [--json]`
(exit status 0 when every check passes, 1 when one fails, 2 for a usage error).

Each task is checked in order, with the credentials a local run would use (the same environment variables):

1. **secrets**: each secret the task names is set and usable (a private key is read, its passphrase tried);
2. **login**: Snowflake accepts the credentials; the role, warehouse, database and schema the session really
   uses, and where they differ from the task's (Snowflake falls back silently);
3. **access**: the warehouse exists and the role may use it; the database and schema exist and are visible;
4. **sql**: every statement compiles (`EXPLAIN USING TABULAR`, inputs bound on the server as typed samples):
   the objects it reads and writes, and the partitions and bytes it would scan;
5. **writes**: for a batch INSERT, the target table's columns accept the declared input types.

Nothing is executed: the statements sent are `SELECT CURRENT_...()`, `SHOW`, `DESCRIBE` and `EXPLAIN`. One login
serves every task with the same settings and credentials.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import importlib
import importlib.util
import json
import re
import sys
import types
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._auth import Credentials
from ._sql import compile_batch, compile_query, split_statements
from .config import SnowflakeConfig
from .errors import SnowflakeError
from .task import Snowflake, read_local_secrets

__all__ = ["CHECKS", "CheckReport", "Outcome", "TaskReport", "UsageError", "check", "find_tasks"]

#: The checks, in the order they run; a task's later checks are skipped once one fails.
CHECKS = ("secrets", "login", "access", "sql", "writes")
_COMPILED = re.compile(r"(?:SELECT|WITH|INSERT|UPDATE|DELETE|MERGE|CREATE\b.*?\bAS\s*\(?\s*(?:SELECT|WITH))\b",
                       re.IGNORECASE | re.DOTALL)  # fmt: skip
_LEADING = re.compile(r"(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.DOTALL)
_CREATES = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:LOCAL\s+|GLOBAL\s+)?(?:TEMP|TEMPORARY|TRANSIENT)\s+)?"
                      r"TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w$.\"]+)", re.IGNORECASE)  # fmt: skip
_INSERT = re.compile(r"INSERT\s+(?:OVERWRITE\s+)?INTO\s+([\w$.\"]+)\s*(\(([^)]*)\))?\s*VALUES\s*\((.*)\)",
                     re.IGNORECASE | re.DOTALL)  # fmt: skip
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class UsageError(ValueError):
    """The target cannot be loaded, or a task asked for does not exist in it."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One check of one task: `ok`, what was found (`message`), and figures (`details`)."""

    check: str
    ok: bool
    message: str
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    skipped: bool = False

    def line(self, task: str, width: int) -> str:
        verdict = "skipped" if self.skipped else ("ok" if self.ok else "FAIL")
        text = f"{verdict}: {' '.join(self.message.split())}" if self.message else verdict  # one line
        return f"{task:<{width}}  {self.check:<7}  {text}"


@dataclasses.dataclass
class TaskReport:
    """Every check of one task, in order."""

    task: str
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        checks = [
            {"check": o.check, "ok": o.ok, "skipped": o.skipped, "message": o.message, **dict(o.details)}
            for o in self.outcomes
        ]
        return {"task": self.task, "ok": self.ok, "checks": checks}


@dataclasses.dataclass
class CheckReport:
    """The outcome of `check`: one `TaskReport` per task, and what the check cost (logins, statements)."""

    tasks: list[TaskReport]
    logins: int = 0
    statements: int = 0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tasks)

    def text(self) -> str:
        """One line per task per check, as the command prints it."""
        width = max((len(t.task) for t in self.tasks), default=4)
        lines = [o.line(t.task, width) for t in self.tasks for o in t.outcomes]
        failed = sum(not t.ok for t in self.tasks)
        lines.append(
            f"{len(self.tasks)} tasks checked, {failed} failed ({self.logins} logins, {self.statements} statements)"
        )
        return "\n".join(lines)

    def to_json(self) -> list[dict[str, Any]]:
        """One object per task with every check's outcome (what `--json` prints)."""
        return [t.to_dict() for t in self.tasks]


class _Failed(Exception):
    """A check failed: `message` says what, why, and how to fix it."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message, self.details = message, details


# --- finding tasks ------------------------------------------------------------------------------------------------


def find_tasks(target: str | types.ModuleType | Snowflake | Iterable[Snowflake]) -> dict[str, Snowflake]:
    """The Snowflake tasks of `target`, by name: those it defines, those in its TaskEnvironments, and those its
    Python tasks call.

    Raises:
        UsageError: a file or module that cannot be loaded.
    """
    if isinstance(target, Snowflake):
        return {target.name: target}
    if isinstance(target, (str, Path)):
        target = _load(str(target))
    found: dict[str, Snowflake] = {}
    values: Iterable[Any] = vars(target).values() if isinstance(target, types.ModuleType) else target
    seen: set[int] = set()
    for value in values:
        _collect(value, found, seen)
    return found


def _load(target: str) -> types.ModuleType:
    path = Path(target)
    try:
        if path.suffix == ".py" or path.exists():
            if not path.is_file():
                raise UsageError(f"{target}: no such file (give a Python file or a module path, as flyte run takes)")
            resolved = path.resolve()
            sys.path.insert(0, str(resolved.parent))
            spec = importlib.util.spec_from_file_location(resolved.stem, resolved)
            if spec is None or spec.loader is None:
                raise UsageError(f"{target}: not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault(resolved.stem, module)
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(target)
    except UsageError:
        raise
    except (ImportError, SyntaxError, OSError) as exc:
        raise UsageError(f"{target}: cannot be loaded: {type(exc).__name__}: {exc}") from exc


def _collect(value: Any, found: dict[str, Snowflake], seen: set[int]) -> None:
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, Snowflake):
        found.setdefault(value.name, value)
        return
    tasks = getattr(value, "tasks", None)
    if type(value).__name__ == "TaskEnvironment" and isinstance(tasks, Mapping):
        for task in tasks.values():
            _collect(task, found, seen)
        return
    func = getattr(value, "func", None)
    if callable(func) and hasattr(value, "native_interface"):
        for called in _referenced(func):
            _collect(called, found, seen)


def _referenced(func: Callable[..., Any]) -> Iterator[Any]:
    """Globals and closure values a Python task's function names (the tasks it may call)."""
    code = getattr(func, "__code__", None)
    if code is None:
        return
    names: set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    scope = getattr(func, "__globals__", {})
    yield from (scope[n] for n in names if n in scope)
    for cell in getattr(func, "__closure__", None) or ():
        try:
            yield cell.cell_contents
        except ValueError:  # an empty cell
            continue


# --- checking ------------------------------------------------------------------------------------------------------


def check(
    target: str | types.ModuleType | Snowflake | Iterable[Snowflake],
    *,
    tasks: Sequence[str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check the Snowflake tasks of `target` (see the module docstring) and return the report.

    Args:
        target: a Python file, a module name, a module, a Snowflake task or several.
        tasks: check only these tasks (by name).
        secrets: secret values by environment variable name, instead of the process environment.

    Raises:
        UsageError: the target cannot be loaded, or a task named in `tasks` is not in it.
    """
    found = find_tasks(target)
    if tasks:
        unknown = [name for name in tasks if name not in found]
        if unknown:
            known = ", ".join(sorted(found)) or "none"
            raise UsageError(f"no Snowflake task named {', '.join(unknown)} (tasks found: {known})")
        found = {name: found[name] for name in tasks}
    sessions = _Sessions()
    try:
        reports = [_check_task(task, sessions, secrets) for task in found.values()]
    finally:
        sessions.close()
    return CheckReport(reports, logins=sessions.logins, statements=sessions.statements)


def _check_task(task: Snowflake, sessions: _Sessions, secrets: Mapping[str, str] | None) -> TaskReport:
    report = TaskReport(task.name)
    context: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], tuple[str, dict[str, Any]]]]] = [
        ("secrets", lambda: _secrets(task, secrets, context)),
        ("login", lambda: _login(task, sessions, context)),
        ("access", lambda: _access(task, context)),
        ("sql", lambda: _compiles(task, context)),
        ("writes", lambda: _writes(task, context)),
    ]
    failed = False
    for name, step in steps:
        if failed:
            report.outcomes.append(Outcome(name, True, "an earlier check failed", skipped=True))
            continue
        try:
            message, details = step()
            report.outcomes.append(Outcome(name, True, message, details))
        except _Failed as exc:
            failed = True
            report.outcomes.append(Outcome(name, False, exc.message, exc.details))
    return report


def _secrets(task: Snowflake, given: Mapping[str, str] | None, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    refs = task.secret_refs()
    try:
        if given is None:
            values = read_local_secrets(refs)
        else:
            missing = [env for env in refs.values() if env not in given]
            if missing:
                raise _Failed(f"secret {', '.join(missing)} was not given: pass it in secrets= (or export it)")
            values = {keyword: given[env] for keyword, env in refs.items()}
        credentials = Credentials.from_kwargs(values)
        context["login_kwargs"] = credentials.driver_kwargs(task.plugin_config.authenticator)
    except SnowflakeError as exc:
        raise _Failed(str(exc)) from None
    context["credentials"] = credentials
    named = ", ".join(f"{keyword} from {env}" for keyword, env in refs.items()) or "none named"
    return named, {"secrets": sorted(refs.values())}


class _Sessions:
    """One login per task settings and credentials, and the count of statements sent."""

    def __init__(self) -> None:
        self._open: dict[str, Any] = {}
        self._facts: dict[tuple[str, str], Any] = {}
        self.logins = 0
        self.statements = 0

    def session(self, config: SnowflakeConfig, credentials: Credentials, login_kwargs: Mapping[str, Any]) -> Any:
        key = credentials.fingerprint(config.identity())
        if key not in self._open:
            from . import _client

            self.logins += 1
            self._open[key] = (key, _client.login({**config.driver_kwargs(), **login_kwargs}))
        return self._open[key]

    def run(self, session: Any, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a metadata statement as dicts, remembered per session (asked once for many tasks)."""
        key = (session[0], json.dumps([sql, list(params or ())], default=str))
        if key not in self._facts:
            from . import _client

            self.statements += 1
            self._facts[key] = _client.execute_named(session[1], sql, params)
        rows: list[dict[str, Any]] = self._facts[key]
        return rows

    def close(self) -> None:
        for _, conn in self._open.values():
            conn.close()
        self._open.clear()


def _login(task: Snowflake, sessions: _Sessions, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    config = task.plugin_config
    try:
        session = sessions.session(config, context["credentials"], context["login_kwargs"])
        (row,) = sessions.run(
            session, "SELECT CURRENT_ROLE() AS ROLE, CURRENT_WAREHOUSE() AS WAREHOUSE, "
            "CURRENT_DATABASE() AS DATABASE, CURRENT_SCHEMA() AS SCHEMA",
        )  # fmt: skip
    except SnowflakeError as exc:
        raise _Failed(f"cannot log in as {config.user} to {config.account}: {exc}") from None
    context.update(session=session, sessions=sessions, current=row)
    used = {k.lower(): row[k] for k in ("ROLE", "WAREHOUSE", "DATABASE", "SCHEMA")}
    wanted = {"role": config.role, "warehouse": config.warehouse, "database": config.database,
              "schema": config.schema or "PUBLIC"}  # fmt: skip
    fallbacks = [
        f"{what} {_name(want)} is not in use (the session has {used[what] or 'none'})"
        for what, want in wanted.items()
        if want and _name(want) != (used[what] or "")
    ]
    summary = ", ".join(f"{what} {value or '-'}" for what, value in used.items())
    message = summary + ("; " + "; ".join(fallbacks) + ": Snowflake fell back silently" if fallbacks else "")
    return message, {"session": used, "fallbacks": fallbacks}


def _name(identifier: str) -> str:
    """How Snowflake stores an identifier: upper case unless quoted."""
    identifier = identifier.strip()
    return identifier[1:-1] if identifier.startswith('"') and identifier.endswith('"') else identifier.upper()


def _like(name: str) -> str:
    """A SHOW ... LIKE pattern matching `name` (its own `_` and `%` escaped)."""
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%").replace("'", "''")


def _access(task: Snowflake, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    config, sessions, session = task.plugin_config, context["sessions"], context["session"]
    role = context["current"]["ROLE"]
    warehouse, database, schema = _name(config.warehouse), _name(config.database), _name(config.schema or "PUBLIC")
    try:
        warehouses = sessions.run(session, f"SHOW WAREHOUSES LIKE '{_like(warehouse)}'")
        if not any(row.get("name") == warehouse for row in warehouses):
            visible = [row.get("name") for row in sessions.run(session, "SHOW WAREHOUSES")]
            raise _Failed(
                f"warehouse {warehouse} does not exist or role {role} may not use it, so every query fails with "
                f"'No active warehouse selected': grant it (GRANT USAGE ON WAREHOUSE {warehouse} TO ROLE {role}) "
                f"or set warehouse= to one the role may use ({', '.join(map(str, visible)) or 'none'})"
            )
        databases = sessions.run(session, f"SHOW DATABASES LIKE '{_like(database)}'")
        if not any(row.get("name") == database for row in databases):
            raise _Failed(
                f"database {database} does not exist or role {role} may not see it: create it, grant the role "
                f"USAGE on it, or fix database= in the task's SnowflakeConfig"
            )
        schemas = sessions.run(session, f"SHOW SCHEMAS LIKE '{_like(schema)}' IN DATABASE {_quoted(database)}")
        if not any(row.get("name") == schema for row in schemas):
            raise _Failed(
                f"schema {database}.{schema} does not exist or role {role} may not see it: create it, grant the "
                f"role USAGE on it, or fix schema= in the task's SnowflakeConfig"
            )
    except SnowflakeError as exc:
        raise _Failed(f"cannot list what role {role} may use: {exc}") from None
    return f"warehouse {warehouse}, database {database}, schema {schema}", {}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- SQL --------------------------------------------------------------------------------------------------------------


def sample(annotation: Any) -> Any:
    """A typed sample value of an input type, for binding in EXPLAIN (a list holds one element).

    Raises:
        TypeError: a type this plugin cannot bind.
    """
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, Sequence):
        (item, *_) = typing.get_args(annotation) or (str,)
        return [sample(item)]
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return sample(options[0])
    samples: dict[Any, Any] = {
        bool: True,
        int: 1,
        float: 1.5,
        str: "x",
        bytes: b"x",
        decimal.Decimal: decimal.Decimal("1.5"),
        dt.date: dt.date(2024, 1, 31),
        dt.datetime: dt.datetime(2024, 1, 31, 12, 0, 0),
        dt.time: dt.time(12, 0, 0),
    }
    if annotation in samples:
        return samples[annotation]
    raise TypeError(f"no sample value for inputs of type {getattr(annotation, '__name__', annotation)!r}")


def _samples(task: Snowflake) -> dict[str, Any]:
    inputs = task.native_interface.inputs
    values = {}
    for name, (annotation, _) in inputs.items():
        try:
            values[name] = sample(annotation)
        except TypeError as exc:
            raise _Failed(f"input {name}: {exc}; this plugin binds bool, int, float, str, bytes, Decimal, "
                          "date, datetime, time and lists of them") from None  # fmt: skip
    return values


@dataclasses.dataclass
class _Compiled:
    """What EXPLAIN said of one statement (or why it was not compiled)."""

    statement: int
    reason: str = ""  # why it was not compiled; "" when it was
    reads: list[str] = dataclasses.field(default_factory=list)
    writes: list[str] = dataclasses.field(default_factory=list)
    partitions_total: int = 0
    partitions_assigned: int = 0
    bytes_assigned: int = 0

    @property
    def compiled(self) -> bool:
        return not self.reason


def _compiles(task: Snowflake, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    samples = _samples(task)
    created: set[str] = set()
    results: list[_Compiled] = []
    for number, statement in enumerate(split_statements(task.query_template), start=1):
        text = statement[_LEADING.match(statement).end() :]  # type: ignore[union-attr]
        results.append(_compile_one(task, context, number, statement, text, samples, created))
        made = _CREATES.match(text)
        if made:
            created.add(_name(made.group(1).split(".")[-1]))
    context["statements"] = results
    compiled = [r for r in results if r.compiled]
    reads = sorted({o for r in compiled for o in r.reads})
    writes = sorted({o for r in compiled for o in r.writes})
    assigned = sum(r.partitions_assigned for r in compiled)
    total = sum(r.partitions_total for r in compiled)
    scanned = sum(r.bytes_assigned for r in compiled)
    others = Counter(r.reason for r in results if not r.compiled)
    not_compiled = "".join(f"; {count} not compiled: {reason}" for reason, count in sorted(others.items()))
    message = (
        f"{len(compiled)} of {len(results)} statements compiled{not_compiled}; reads {', '.join(reads) or 'nothing'}"
        f"; writes {', '.join(writes) or 'nothing'}; would scan {assigned} of {total} partitions, {scanned} bytes"
    )
    return message, {"statements": [dataclasses.asdict(r) for r in results]}


def _compile_one(
    task: Snowflake,
    context: dict[str, Any],
    number: int,
    statement: str,
    text: str,
    samples: Mapping[str, Any],
    created: set[str],
) -> _Compiled:
    if not _COMPILED.match(text):
        return _Compiled(number, reason="not a query or DML")
    sql, params = _bound(task, statement, samples)
    try:
        rows = context["sessions"].run(context["session"], f"EXPLAIN USING TABULAR {sql}", params)
    except SnowflakeError as exc:
        missing = re.search(r"Object '\"?([^'\"]+)\"?' does not exist", str(exc))
        if missing and _name(missing.group(1).split(".")[-1]) in created:
            return _Compiled(number, reason="uses a table an earlier statement creates")
        raise _Failed(f"statement {number} does not compile: {exc}; fix the SQL, or the database, schema "
                      "and role it runs with", statement=number) from None  # fmt: skip
    return _plan_summary(number, rows)


def _bound(task: Snowflake, statement: str, samples: Mapping[str, Any]) -> tuple[str, list[Any]]:
    try:
        if task.batch:
            sql, rows = compile_batch(statement, samples)
            return sql, list(rows[0]) if rows else []
        bound = compile_query(statement, samples)
        return bound.sql, list(bound.params)
    except SnowflakeError as exc:
        raise _Failed(str(exc)) from None


def _plan_summary(number: int, rows: list[dict[str, Any]]) -> _Compiled:
    stats = next((r for r in rows if r.get("operation") == "GlobalStats"), {})
    reads: set[str] = set()
    writes: set[str] = set()
    for row in rows:
        objects = row.get("objects")
        if objects:
            (reads if row.get("operation") == "TableScan" else writes).add(str(objects))
    return _Compiled(
        number,
        reads=sorted(reads),
        writes=sorted(writes),
        partitions_total=int(stats.get("partitionsTotal") or 0),
        partitions_assigned=int(stats.get("partitionsAssigned") or 0),
        bytes_assigned=int(stats.get("bytesAssigned") or 0),
    )


# --- writes ---------------------------------------------------------------------------------------------------------

#: Snowflake column types (by their first word) that accept each Python input type.
_ACCEPTS: dict[type, tuple[str, ...]] = {
    bool: ("BOOLEAN", "VARCHAR", "TEXT", "STRING", "VARIANT"),
    int: ("NUMBER", "DECIMAL", "NUMERIC", "INT", "INTEGER", "BIGINT", "SMALLINT", "FLOAT", "DOUBLE", "REAL",
          "VARCHAR", "TEXT", "STRING", "VARIANT"),
    float: ("FLOAT", "DOUBLE", "REAL", "NUMBER", "DECIMAL", "NUMERIC", "VARCHAR", "TEXT", "STRING", "VARIANT"),
    decimal.Decimal: ("NUMBER", "DECIMAL", "NUMERIC", "FLOAT", "DOUBLE", "REAL", "VARCHAR", "TEXT", "STRING"),
    str: ("VARCHAR", "TEXT", "STRING", "CHAR", "CHARACTER", "VARIANT"),
    bytes: ("BINARY", "VARBINARY"),
    dt.date: ("DATE", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "TIMESTAMP", "DATETIME", "VARCHAR"),
    dt.datetime: ("TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "TIMESTAMP", "DATETIME", "VARCHAR"),
    dt.time: ("TIME", "VARCHAR"),
}  # fmt: skip


def _writes(task: Snowflake, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if not task.batch:
        written = sorted({o for r in context.get("statements", []) if r.compiled for o in r.writes})
        return ("writes " + ", ".join(written)) if written else "nothing to write", {}
    found = _INSERT.search(task.query_template)
    if found is None:
        raise _Failed("a batch task's SQL must be one INSERT INTO <table> [(columns)] VALUES (...)")
    table, _, listed, values = found.groups()
    sessions, session = context["sessions"], context["session"]
    try:
        described = sessions.run(session, f"DESCRIBE TABLE {table}")
    except SnowflakeError as exc:
        raise _Failed(f"table {table} cannot be described: {exc}; create it before the task runs") from None
    types_by_column = {str(row["name"]).upper(): str(row["type"]).upper() for row in described}
    columns = [_name(c) for c in listed.split(",")] if listed else list(types_by_column)
    cells = [c.strip() for c in values.split(",")]
    inputs = task.native_interface.inputs
    problems = []
    for column, cell in zip(columns, cells, strict=False):
        placeholder = _PLACEHOLDER.fullmatch(cell)
        if placeholder is None or placeholder.group(1) not in inputs:
            continue
        declared = _element_type(inputs[placeholder.group(1)][0])
        column_type = types_by_column.get(column)
        if column_type is None:
            problems.append(f"column {column} does not exist in {table}")
        elif declared in _ACCEPTS and column_type.split("(")[0] not in _ACCEPTS[declared]:
            problems.append(f"input {placeholder.group(1)} ({declared.__name__}) into {column} {column_type}")
    if problems:
        raise _Failed(f"{table} does not accept the inputs: {'; '.join(problems)}: change the column types or the "
                      "task's input types")  # fmt: skip
    return f"{table} accepts the inputs of every row", {"table": table}


def _element_type(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (list, tuple, Sequence) and args:
        return args[0]
    return annotation
