"""Session parameters of the local Snowflake: the ones it knows, their defaults, and the statements about them.

`ALTER SESSION SET/UNSET`, a login's session parameters and `SHOW PARAMETERS` go through here. A parameter is
known only when the emulator acts on it (TIMEZONE, MULTI_STATEMENT_COUNT, ...) or when what it controls lives in
the client (the driver reads CLIENT_* and the output formats from every answer) or does not exist here; anything
else is refused with Snowflake's error, never accepted and ignored. Standard library only.
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from typing import Any


class ParameterError(Exception):
    """A Snowflake error about a session parameter (errno, sqlstate, message)."""

    def __init__(self, errno: int, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.errno = errno
        self.sqlstate = sqlstate
        self.message = message


def _unknown(name: str) -> ParameterError:
    return ParameterError(1006, "42601", f"SQL compilation error:\ninvalid parameter '{name}'")


def _bad_value(name: str, value: Any) -> ParameterError:
    return ParameterError(1008, "22023", f"SQL compilation error:\ninvalid value [{value}] for parameter '{name}'")


def _boolean(value: Any) -> bool:
    text = str(value).strip().upper()
    if text in ("TRUE", "ON", "YES", "1"):
        return True
    if text in ("FALSE", "OFF", "NO", "0"):
        return False
    raise ValueError(value)


def _number(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    return int(str(value).strip())


def _string(value: Any) -> str:
    return str(value)


def _time_zone(value: Any) -> str:
    text = str(value)
    if text.upper() in ("UTC", "GMT", "Z"):
        return "UTC"
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(value) from None
    return text


def _one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value).strip().upper()
        if text not in choices:
            raise ValueError(value)
        return text

    return check


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One session parameter: its default, how a value is checked, and whether answers carry it to the driver."""

    name: str
    default: Any
    kind: str  # BOOLEAN, NUMBER or STRING, as SHOW PARAMETERS reports it
    check: Callable[[Any], Any]
    description: str
    #: sent in the login answer and every query answer (the driver reads these: formats, TIMEZONE, CLIENT_*)
    wire: bool = False


def _p(name: str, default: Any, check: Callable[[Any], Any], description: str, wire: bool = False) -> Parameter:
    kind = "BOOLEAN" if check is _boolean else "NUMBER" if check is _number else "STRING"
    return Parameter(name, default, kind, check, description, wire)


_TIMESTAMP_TYPES = ("TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ")
_RESULT_FORMATS = ("JSON", "ARROW", "ARROW_FORCE")

PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        # acted on by the emulator
        _p("TIMEZONE", "America/Los_Angeles", _time_zone, "time zone of TIMESTAMP_LTZ values and conversions", True),
        _p("AUTOCOMMIT", True, _boolean, "each statement commits on its own", True),
        _p("MULTI_STATEMENT_COUNT", 1, _number, "statements a request must hold (0: any number)", True),
        _p("STATEMENT_TIMEOUT_IN_SECONDS", 172800, _number, "a statement running longer is cancelled"),
        _p("QUERY_TAG", "", _string, "tag recorded with each query in its history"),
        _p("QUERY_RESULT_FORMAT", "ARROW", _one_of(*_RESULT_FORMATS), "format of query results (JSON or Arrow)"),
        _p(
            "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT",
            "ARROW",
            _one_of(*_RESULT_FORMATS),
            "format of query results for the Python driver (JSON or Arrow)",
        ),
        # read by the driver from every answer (formats of its string conversions, its own settings)
        _p("TIMESTAMP_OUTPUT_FORMAT", "YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM", _string, "timestamp output format", True),
        _p("TIMESTAMP_NTZ_OUTPUT_FORMAT", "", _string, "TIMESTAMP_NTZ output format", True),
        _p("TIMESTAMP_LTZ_OUTPUT_FORMAT", "", _string, "TIMESTAMP_LTZ output format", True),
        _p("TIMESTAMP_TZ_OUTPUT_FORMAT", "", _string, "TIMESTAMP_TZ output format", True),
        _p("DATE_OUTPUT_FORMAT", "YYYY-MM-DD", _string, "date output format", True),
        _p("TIME_OUTPUT_FORMAT", "HH24:MI:SS", _string, "time output format", True),
        _p("BINARY_OUTPUT_FORMAT", "HEX", _one_of("HEX", "BASE64", "UTF8", "UTF-8"), "binary output format", True),
        _p(
            "CLIENT_TIMESTAMP_TYPE_MAPPING",
            "TIMESTAMP_LTZ",
            _one_of(*_TIMESTAMP_TYPES),
            "type of a bound Python datetime",
            True,
        ),
        _p("CLIENT_PREFETCH_THREADS", 4, _number, "threads the driver downloads result chunks with", True),
        _p("CLIENT_RESULT_CHUNK_SIZE", 160, _number, "result chunk size (MB) the driver is told", True),
        _p("CLIENT_SESSION_KEEP_ALIVE", False, _boolean, "the driver keeps the session alive", True),
        _p("CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY", 3600, _number, "seconds between heartbeats", True),
        # Snowflake's default: the driver sends its telemetry (to /telemetry/send, which counts and drops it)
        _p("CLIENT_TELEMETRY_ENABLED", True, _boolean, "the driver sends telemetry", True),
        # Snowflake's default: from this many bind values on, the driver tries a stage, which the emulator does not
        # serve; it refuses such a request loudly (_engine.py). 0 keeps every array binding inline.
        _p("CLIENT_STAGE_ARRAY_BINDING_THRESHOLD", 65_280, _number, "bind values from which the driver stages", True),
        _p("CLIENT_RESULT_COLUMN_CASE_INSENSITIVE", False, _boolean, "the driver matches column names", True),
        _p("CLIENT_VALIDATE_DEFAULT_PARAMETERS", False, _boolean, "the driver checks database/schema", True),
        _p("JSON_INDENT", 2, _number, "indentation of VARIANT text", True),
        # what they control does not exist here: no result cache, no incident dumps
        _p("USE_CACHED_RESULT", True, _boolean, "reuse earlier results (the emulator keeps no result cache)"),
        _p("SUPPRESS_INCIDENT_DUMPS", False, _boolean, "no incident dumps (the emulator makes none)"),
    )
}
_SHOW_LEVEL_DEFAULT = ""

# Parameters Snowflake has that change results here in ways not emulated: refused with a clear message.
NOT_EMULATED = frozenset(
    {
        "TIMESTAMP_TYPE_MAPPING",
        "TIMESTAMP_INPUT_FORMAT",
        "DATE_INPUT_FORMAT",
        "TIME_INPUT_FORMAT",
        "BINARY_INPUT_FORMAT",
        "WEEK_START",
        "WEEK_OF_YEAR_POLICY",
        "QUOTED_IDENTIFIERS_IGNORE_CASE",
        "ROWS_PER_RESULTSET",
        "TRANSACTION_DEFAULT_ISOLATION_LEVEL",
        "LOCK_TIMEOUT",
        "ERROR_ON_NONDETERMINISTIC_MERGE",
        "ERROR_ON_NONDETERMINISTIC_UPDATE",
        "TIMESTAMP_DAY_IS_ALWAYS_24H",
        "TWO_DIGIT_CENTURY_START",
    }
)
# The defaults of NOT_EMULATED parameters are what the emulator does: setting one to it is not a difference.
NOT_EMULATED_DEFAULTS = {
    "TIMESTAMP_TYPE_MAPPING": "TIMESTAMP_NTZ",
    "TIMESTAMP_INPUT_FORMAT": "AUTO",
    "DATE_INPUT_FORMAT": "AUTO",
    "TIME_INPUT_FORMAT": "AUTO",
    "QUOTED_IDENTIFIERS_IGNORE_CASE": "FALSE",
}
# Parameters the emulator acts on at their default only: another value is refused (BINARY_OUTPUT_FORMAT: the
# server writes BINARY cast to text in hex).
DEFAULT_ONLY = frozenset({"BINARY_OUTPUT_FORMAT"})


def _not_emulated(name: str) -> ParameterError:
    return ParameterError(
        2,
        "0A000",
        f"Unsupported feature: session parameter '{name}' is not emulated by the local Snowflake "
        "(docs/local-snowflake.md); leave it at its default",
    )


class SessionParameters:
    """The values a session set (by login or ALTER SESSION); everything else reads as its default.

    Answers carry a value in its JSON type, as Snowflake's do: a NUMBER or BOOLEAN parameter as a number or
    boolean (the driver compares `4` with its ints), a STRING one as the statement or login spelled it (the
    driver keeps what it is sent)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}  # name -> typed value
        self._wire: dict[str, Any] = {}  # name -> value as sent back to the driver

    def get(self, name: str) -> Any:
        return self._values.get(name, PARAMETERS[name].default)

    @property
    def time_zone(self) -> str:
        return str(self.get("TIMEZONE"))

    def json_results(self, statement: Mapping[str, Any] | None = None) -> bool:
        """JSON unless Arrow: ARROW_FORCE in either parameter forces Arrow; the Python driver's own parameter,
        when set, wins over QUERY_RESULT_FORMAT. `statement`: a request's own parameters, which win over the
        session's for that statement."""
        own = {str(k).upper(): str(v).upper() for k, v in (statement or {}).items()}
        names = ("QUERY_RESULT_FORMAT", "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT")
        general, python = (own.get(name, self.get(name)) for name in names)
        if "ARROW_FORCE" in (general, python):
            return False
        chosen = python if names[1] in own or names[1] in self._values else general
        return bool(chosen == "JSON")

    def set(self, name: str, value: Any, spelled: Any = None) -> Any:
        """Check and keep one value; returns it typed. Raises ParameterError naming the problem."""
        name = name.upper()
        if name in NOT_EMULATED:
            if str(value).upper() == NOT_EMULATED_DEFAULTS.get(name, "\0"):
                return value
            raise _not_emulated(name)
        parameter = PARAMETERS.get(name)
        if parameter is None:
            raise _unknown(name)
        try:
            typed = parameter.check(value)
        except ValueError:
            raise _bad_value(name, value) from None
        if name in DEFAULT_ONLY and typed != parameter.default:
            raise _not_emulated(name)
        self._values[name] = typed
        self._wire[name] = spelled if spelled is not None and parameter.kind == "STRING" else typed
        return typed

    def set_at_login(self, values: dict[str, Any]) -> None:
        """A login's session parameters, kept as the driver sent them. The driver's own settings for its login
        flows (CLIENT_STORE_TEMPORARY_CREDENTIAL, CLIENT_REQUEST_MFA_TOKEN...) need nothing here."""
        for name, value in values.items():
            if name.upper().startswith("CLIENT_") and name.upper() not in PARAMETERS:
                continue
            self.set(name, value, spelled=value)

    def unset(self, name: str) -> Any:
        """Back to the default; returns it."""
        name = name.upper()
        if name in NOT_EMULATED:
            return NOT_EMULATED_DEFAULTS.get(name)
        if name not in PARAMETERS:
            raise _unknown(name)
        self._values.pop(name, None)
        self._wire.pop(name, None)
        return PARAMETERS[name].default

    def wire(self) -> list[dict[str, Any]]:
        """The `parameters` of a login or query answer: each one the driver reads, with its value here."""
        return [{"name": p.name, "value": self._wire.get(p.name, p.default)} for p in PARAMETERS.values() if p.wire]

    def show_rows(self, like: str | None) -> list[dict[str, Any]]:
        """SHOW PARAMETERS: key, value, default, level, description, type (LIKE matched case-insensitively)."""
        pattern = _like(like) if like is not None else None
        rows = []
        for p in sorted(PARAMETERS.values(), key=lambda p: p.name):
            if pattern is not None and not pattern.fullmatch(p.name):
                continue
            is_set = p.name in self._values
            rows.append(
                {
                    "key": p.name,
                    "value": _shown(self.get(p.name)),
                    "default": _shown(p.default),
                    "level": "SESSION" if is_set else _SHOW_LEVEL_DEFAULT,
                    "description": p.description,
                    "type": p.kind,
                }
            )
        return rows


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _like(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


# ---------------------------------------------------------------------------------------------------------------
# Statements about session parameters


@dataclasses.dataclass(frozen=True)
class ParameterStatement:
    """`ALTER SESSION SET a = 1, b = 'x'` (action "set"), `ALTER SESSION UNSET a, b` ("unset") or
    `SHOW PARAMETERS [LIKE '...'] [IN SESSION]` ("show"), or one that starts so but does not parse ("invalid").
    `items`: (name, value as written) pairs; a value of None (or DEFAULT) unsets."""

    action: str
    items: tuple[tuple[str, Any], ...] = ()
    like: str | None = None
    text: str = ""

    def syntax_error(self) -> ParameterError:
        return ParameterError(1003, "42000", f"SQL compilation error:\nsyntax error in '{self.text[:200]}'")


_TOKEN = re.compile(
    r"""\s+|--[^\n]*|//[^\n]*|/\*.*?\*/
    |(?P<string>'(?:[^'\\]|\\.|'')*')
    |(?P<number>[+-]?\d+(?:\.\d*)?)
    |(?P<word>"[^"]+"|[A-Za-z_][A-Za-z0-9_$.]*)
    |(?P<punct>[=,;()])""",
    re.VERBOSE | re.DOTALL,
)
_HEAD = re.compile(
    r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(ALTER\s+SESSION|SHOW\s+PARAMETERS)\b", re.IGNORECASE | re.DOTALL
)


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        if match is None:
            raise ValueError(sql[position:])
        position = match.end()
        kind = match.lastgroup
        if kind is not None:
            yield kind, match.group(kind)


def _value(kind: str, text: str) -> Any:
    if kind == "string":
        return text[1:-1].replace("''", "'").replace("\\'", "'")
    if kind == "word" and text.upper() == "DEFAULT":
        return None
    return text


def parse(sql: str) -> ParameterStatement | None:
    """The statement when `sql` is one about session parameters, else None."""
    head = _HEAD.match(sql)
    if head is None:
        return None
    try:
        tokens = list(_tokens(sql[head.end() :]))
        if ("punct", ";") in tokens:
            end = tokens.index(("punct", ";"))
            if any(t != ("punct", ";") for t in tokens[end:]):
                return None  # more statements follow: a multi-statement request, split and counted as such
            tokens = tokens[:end]
        if head.group(1).upper().startswith("SHOW"):
            return _show(tokens)
        return _alter(tokens)
    except (ValueError, IndexError):
        return ParameterStatement("invalid", text=sql.strip())


def _show(tokens: list[tuple[str, str]]) -> ParameterStatement:
    like = None
    if tokens and tokens[0][1].upper() == "LIKE":
        kind, text = tokens[1]
        if kind != "string":
            raise ValueError(text)
        like, tokens = _value(kind, text), tokens[2:]
    words = [text.upper() for _, text in tokens]
    if words not in ([], ["IN", "SESSION"], ["FOR", "SESSION"]):
        raise ValueError(" ".join(words))
    return ParameterStatement("show", like=like)


def _alter(tokens: list[tuple[str, str]]) -> ParameterStatement:
    action = tokens[0][1].upper()
    rest = [t for t in tokens[1:] if t != ("punct", ",")]
    if action == "UNSET":
        if not rest or any(kind != "word" for kind, _ in rest):
            raise ValueError(rest)
        return ParameterStatement("unset", tuple((text.upper(), None) for _, text in rest))
    if action != "SET" or not rest:
        raise ValueError(action)
    items = []
    while rest:
        (name_kind, name), (_, equals), (kind, text) = rest[0], rest[1], rest[2]
        if name_kind != "word" or equals != "=" or kind == "punct":
            raise ValueError(name)
        items.append((name.upper(), _value(kind, text)))
        rest = rest[3:]
    return ParameterStatement("set", tuple(items))
