"""SQL templates -> server-side binds, batch rows, statement splitting and QUERY_TAG, with one SQL-aware scanner.

The scanner knows single-quoted strings (`''` and backslash escapes), double-quoted identifiers, `$$` strings,
`--` and `//` line comments and `/* */` comments. Outside them, `%(name)s` becomes a numeric bind (`:1`).
A template is always a %-template, with or without inputs: `%%` is `%` everywhere (literals and comments too,
as Python's `%` formatting of the public plugin's templates did), and a `%` followed by anything but `(` or `%`
is kept as it is. Everything else, comments and whitespace included, is sent as written.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import heapq
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import SnowflakeConfigError, SnowflakeInputError

__all__ = [
    "QUERY_TAG_LIMIT",
    "USER_TAG_LIMIT",
    "BoundStatement",
    "batch_statement",
    "build_query_tag",
    "check_template",
    "compile_batch",
    "compile_query",
    "has_placeholders",
    "marked_text",
    "split_statements",
    "statement_count",
    "user_query_tag",
]

#: Snowflake's limit on QUERY_TAG, in characters.
QUERY_TAG_LIMIT = 2000
#: The most characters the user's part of the QUERY_TAG may take as JSON; the rest of Snowflake's 2000 is
#: left to the Flyte run details, so that neither has to be cut.
USER_TAG_LIMIT = 1500
#: The key a plain-string tag goes under in the JSON QUERY_TAG.
PLAIN_TAG_KEY = "user_tag"

_SCALARS = (bool, int, float, decimal.Decimal, str, bytes, datetime.date, datetime.time, type(None))
_ALLOWED = "int, float, Decimal, str, bool, None, date, time, datetime, bytes"
# What may start a literal or comment; `$$` only when not inside an identifier (SYSTEM$$ is not a string).
_OPENERS = re.compile(r"'|\"|(?<![A-Za-z0-9_$])\$\$|--|//|/\*")
_PLACEHOLDER = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s|%%|%\(")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# The test the driver (snowflake-connector-python 4.x, `SnowflakeCursor.INSERT_SQL_RE`, after stripping
# " \t\n\r") applies before array-binding an `executemany`; any other statement runs once per row.
_ARRAY_BOUND = re.compile(r"insert\s+into", re.IGNORECASE)
_COMMENT_OPENERS = ("--", "//", "/*")


@dataclass(frozen=True)
class BoundStatement:
    """SQL with numeric binds (`:1`, `:2`...) and the values they bind, in order."""

    sql: str
    params: tuple[Any, ...]


# --- the scanner ---------------------------------------------------------------------------------------------


def _segments(sql: str) -> Iterator[tuple[bool, str]]:
    """Split `sql` into (is_code, text) pieces; literals and comments are the non-code pieces."""
    pos = 0
    while pos < len(sql):
        found = _OPENERS.search(sql, pos)
        if found is None:
            yield True, sql[pos:]
            return
        if found.start() > pos:
            yield True, sql[pos : found.start()]
        end = _literal_end(sql, found.start(), found.group())
        yield False, sql[found.start() : end]
        pos = end


def _literal_end(sql: str, start: int, opener: str) -> int:
    """Index just after the literal or comment that starts at `start` (the end of `sql` if unterminated)."""
    if opener in ("'", '"'):
        return _quoted_end(sql, start, opener)
    closer = {"$$": "$$", "--": "\n", "//": "\n", "/*": "*/"}[opener]
    found = sql.find(closer, start + len(opener))
    if found < 0:
        return len(sql)
    # A line comment stops before its newline, which stays code (it separates tokens).
    return found if closer == "\n" else found + len(closer)


def _quoted_end(sql: str, start: int, quote: str) -> int:
    pos = start + 1
    while pos < len(sql):
        char = sql[pos]
        if char == "\\" and quote == "'":
            pos += 2
        elif char == quote:
            if sql.startswith(quote, pos + 1):  # doubled quote: an escaped quote
                pos += 2
            else:
                return pos + 1
        else:
            pos += 1
    return len(sql)


def _rewrite(template: str, bind: Callable[[str], str]) -> str:
    """Replace placeholders in the code pieces, and `%%` by `%` everywhere; nothing else changes."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return bind(match.group(1))
        if match.group() == "%%":
            return "%"
        raise SnowflakeInputError(_malformed_message(match))

    return "".join(
        _PLACEHOLDER.sub(replace, text) if code else text.replace("%%", "%") for code, text in _pieces(template)
    )


def _malformed_message(match: re.Match[str]) -> str:
    return f"malformed placeholder near {_context(match)!r}: write inputs as %(name)s (and a literal % as %%)"


def _context(match: re.Match[str]) -> str:
    return match.string[match.start() : match.start() + 20]


@functools.lru_cache(maxsize=256)
def _pieces(template: str) -> tuple[tuple[bool, str], ...]:
    """`_segments` of a template, kept: a task's template is the same text for every run of it, and the
    connector service binds it once per CreateTask (scanning it was ~0.4 ms of Python on the event loop)."""
    return tuple(_segments(template))


@functools.lru_cache(maxsize=256)
def _placeholders(template: str) -> tuple[str, ...]:
    """Placeholder names outside literals and comments, in order of first use."""
    names: dict[str, None] = {}
    for code, text in _pieces(template):
        if code:
            names.update((m.group(1), None) for m in _PLACEHOLDER.finditer(text) if m.group(1))
    return tuple(names)


# --- binding -------------------------------------------------------------------------------------------------


def compile_query(template: str, inputs: Mapping[str, Any]) -> BoundStatement:
    """Translate a `%(name)s` template to numeric binds for the driver (`paramstyle="numeric"`).

    An input used twice binds once. A list or tuple input expands to one bind per element, for
    `IN (%(ids)s)`; an empty list binds a single NULL, so `x IN (NULL)` and `x NOT IN (NULL)` both match no
    row (the safe outcome for a DELETE). Inputs the template does not use are ignored. An aware `datetime`
    binds as TIMESTAMP_TZ (its instant and offset kept, whatever the session's TIMEZONE); a naive one as
    TIMESTAMP_NTZ.

    Example:
        >>> compile_query("SELECT * FROM t WHERE a = %(a)s AND b IN (%(b)s) AND c LIKE 'A%'", {"a": 1, "b": [5, 6]})
        BoundStatement(sql="SELECT * FROM t WHERE a = :1 AND b IN (:2, :3) AND c LIKE 'A%'", params=(1, 5, 6))

    Raises:
        SnowflakeInputError: a placeholder has no input, an input has a type that cannot be bound, or a `time`
            input carries a time zone.
    """
    names = _placeholders(template)
    if not names:
        return BoundStatement(_without_inputs(template), ())
    params: list[Any] = []
    binds: dict[str, str] = {}

    def bind(name: str) -> str:
        if name not in binds:
            values = _values_for(name, _input(inputs, name))
            first = len(params) + 1
            params.extend(values)
            binds[name] = ", ".join(f":{i}" for i in range(first, first + len(values)))
        return binds[name]

    return BoundStatement(_rewrite(template, bind), tuple(params))


@functools.lru_cache(maxsize=256)
def marked_text(template: str) -> str:
    """The statement as sent, with `:name` where an input binds: what lineage records and parses, never a value.

    Example:
        >>> marked_text("SELECT * FROM t WHERE a = %(a)s AND c LIKE 'A%%'")
        "SELECT * FROM t WHERE a = :a AND c LIKE 'A%'"
    """
    return _rewrite(template, lambda name: f":{name}")


def has_placeholders(template: str) -> bool:
    """Whether the template binds any input."""
    return bool(_placeholders(template))


@functools.lru_cache(maxsize=256)
def _without_inputs(template: str) -> str:
    """A template without placeholders as sent: only its `%%` change (a task without inputs runs it each time)."""
    return _rewrite(template, lambda name: name)


def compile_batch(template: str, inputs: Mapping[str, Any]) -> tuple[str, list[tuple[Any, ...]]]:
    """Translate a template for `executemany` (array binding): list inputs are columns, one row per element.

    A scalar input (a string too: it is never split into characters) repeats on every row. The statement is
    `batch_statement(template)`: one INSERT INTO, rewritten only in its placeholders and `%%`.

    Example:
        >>> compile_batch("INSERT INTO t VALUES (%(id)s, %(src)s)", {"id": [1, 2], "src": "x"})
        ('INSERT INTO t VALUES (:1, :2)', [(1, 'x'), (2, 'x')])

    Raises:
        SnowflakeConfigError: the template is not one INSERT INTO statement (see `batch_statement`).
        SnowflakeInputError: list inputs of different lengths (all named with their lengths), empty lists,
            a missing input, or a value that cannot be bound.
    """
    statement = batch_statement(template)
    names = _placeholders(statement)
    index = {name: i for i, name in enumerate(names, start=1)}
    columns = {name: _input(inputs, name) for name in names}
    sql = _rewrite(statement, lambda name: f":{index[name]}")
    count = _row_count(columns)
    rows = [tuple(_cell(name, value, row) for name, value in columns.items()) for row in range(count)]
    return sql, rows


def _input(inputs: Mapping[str, Any], name: str) -> Any:
    if name not in inputs:
        given = ", ".join(sorted(inputs)) or "none"
        raise SnowflakeInputError(f"the query uses %({name})s but no input named {name!r} was given (inputs: {given})")
    return inputs[name]


def _values_for(name: str, value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [_bindable(name, item, in_list=True) for item in value] if value else [None]
    return [_bindable(name, value, in_list=False)]


def _bindable(name: str, value: Any, *, in_list: bool) -> Any:
    """The value as the driver binds it; an error naming the input when it cannot be bound faithfully."""
    where = "an element of input" if in_list else "input"
    if not isinstance(value, _SCALARS):
        lists = "" if in_list else ", or a list/tuple of those (for IN (...))"
        raise SnowflakeInputError(
            f"{where} {name!r} has type {type(value).__name__}, which cannot be bound to SQL; "
            f"allowed: {_ALLOWED}{lists}"
        )
    if isinstance(value, datetime.datetime):
        offset = value.utcoffset()
        # The driver binds a bare datetime as TIMESTAMP_NTZ of its UTC time, which Snowflake then reads in the
        # session's TIMEZONE: hours off. TIMESTAMP_TZ keeps the instant and the offset. A fixed-offset zone
        # says the offset the value has, whatever the zone's rules.
        return value if offset is None else ("TIMESTAMP_TZ", value.astimezone(datetime.timezone(offset)))
    if isinstance(value, datetime.time) and value.tzinfo is not None:
        raise SnowflakeInputError(
            f"{where} {name!r} is a time with a time zone ({value.isoformat()}); Snowflake's TIME has none, so "
            "the zone would be dropped: pass a naive time in the zone you mean, or a datetime (an aware datetime "
            "binds as TIMESTAMP_TZ)"
        )
    return value


def _row_count(columns: Mapping[str, Any]) -> int:
    lengths = {name: len(value) for name, value in columns.items() if isinstance(value, (list, tuple))}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} ({length})" for name, length in lengths.items())
        raise SnowflakeInputError(f"batch inputs must be lists of the same length, got {listed}")
    if lengths and next(iter(lengths.values())) == 0:
        raise SnowflakeInputError(f"batch inputs {', '.join(lengths)} are empty: there is no row to send")
    return next(iter(lengths.values()), 1)


def _cell(name: str, value: Any, row: int) -> Any:
    cell = value[row] if isinstance(value, (list, tuple)) else value
    return _bindable(name, cell, in_list=isinstance(value, (list, tuple)))


# --- statements ----------------------------------------------------------------------------------------------


def split_statements(sql: str) -> list[str]:
    """Split a script at `;` outside literals, comments and Snowflake Scripting blocks.

    Each statement keeps its text as written (only the whitespace around it is trimmed); pieces holding only
    whitespace or comments are dropped. `BEGIN ... END` blocks (anonymous blocks, procedure bodies written
    without `$$`) stay one statement; `BEGIN;` / `BEGIN TRANSACTION` does not open a block.
    """
    statements: list[str] = []
    current: list[str] = []
    has_code = False
    blocks = _BlockDepth()
    for code, text in _segments(sql):
        if not code:
            current.append(text)
            # A string literal is content; a comment alone does not make a statement.
            has_code = has_code or not text.startswith(("--", "//", "/*"))
            continue
        pos = 0
        for cut in blocks.split_points(text):
            current.append(text[pos:cut])
            has_code = has_code or bool(text[pos:cut].strip())
            if has_code:
                statements.append("".join(current).strip())
            current, has_code, pos = [], False, cut + 1
        current.append(text[pos:])
        has_code = has_code or bool(text[pos:].strip())
    if has_code:
        statements.append("".join(current).strip())
    return statements


def statement_count(sql: str) -> int:
    """How many statements `split_statements` finds (the MULTI_STATEMENT_COUNT to send)."""
    return len(split_statements(sql))


def check_template(template: object) -> None:
    """Refuse, when the task is defined, a template that cannot run: not a string, no statement in it (empty,
    or only comments), or a malformed placeholder.

    Raises:
        SnowflakeConfigError: naming the problem and the fix.
    """
    if not isinstance(template, str):
        raise SnowflakeConfigError(f"query_template must be a string of SQL, got {type(template).__name__}")
    _check_text(template)


@functools.lru_cache(maxsize=256)
def _check_text(template: str) -> None:
    if not split_statements(template):
        what = "empty" if not template.strip() else "only comments"
        raise SnowflakeConfigError(
            f"query_template is {what}: there is no statement to send to Snowflake; write the SQL to run"
        )
    for code, text in _pieces(template):
        for match in _PLACEHOLDER.finditer(text) if code else ():
            if match.group() == "%(":
                raise SnowflakeConfigError(f"query_template has a {_malformed_message(match)}")


#: What a batch task can run, and what to do instead (the end of every refusal).
_BATCH_SHAPES = (
    "batch=True runs one INSERT INTO statement with all its rows bound at once, as one atomic query. Supported: "
    "a single `INSERT INTO <table> [(<columns>)] VALUES (%(a)s, %(b)s, ...)` (or `INSERT INTO <table> SELECT "
    "...` using the inputs), comments before it allowed. Snowflake's driver runs any other statement once per "
    "row, as separate queries that can fail halfway. For a per-row UPDATE, DELETE or MERGE, load the rows into "
    "a staging table with a batch INSERT task, then run one MERGE (or UPDATE ... FROM / DELETE ... USING) over "
    "it in a following task; for several statements, use one task each"
)


@functools.lru_cache(maxsize=256)
def batch_statement(template: str) -> str:
    """The statement a batch task sends: its one INSERT INTO, without the comments and whitespace before it
    (which would hide it from the driver's array binding) or the `;` after it.

    Example:
        >>> batch_statement("-- load\\nINSERT INTO t VALUES (%(a)s);")
        'INSERT INTO t VALUES (%(a)s)'

    Raises:
        SnowflakeConfigError: the template is anything else (several statements, UPDATE, MERGE, INSERT
            OVERWRITE...): the message says which shapes run as one query and what to do instead.
    """
    check_template(template)
    statements = split_statements(template)
    if len(statements) > 1:
        raise SnowflakeConfigError(f"this batch template has {len(statements)} statements. {_BATCH_SHAPES}")
    statement = _without_leading_comments(statements[0])
    if not _ARRAY_BOUND.match(statement):
        raise SnowflakeConfigError(f"this batch template {_how_it_starts(statement)}. {_BATCH_SHAPES}")
    return statement


def _how_it_starts(statement: str) -> str:
    words = [w.upper() for code, text in _segments(statement[:200]) if code for w in _WORD.findall(text)][:2]
    if words == ["INSERT", "INTO"]:
        return "has something between INSERT and INTO; the driver array-binds only text starting `INSERT INTO`"
    head = " ".join(words) if words[:1] == ["INSERT"] else (words or ["?"])[0]
    return f"starts with {head}, not INSERT INTO"


def _without_leading_comments(statement: str) -> str:
    """`statement` from its first token on: the comments and whitespace before it dropped, nothing else."""
    pos = 0
    for code, text in _segments(statement):
        if code and text.strip():
            return statement[pos + len(text) - len(text.lstrip()) :]
        if not code and not text.startswith(_COMMENT_OPENERS):
            return statement[pos:]  # a literal: code starts here
        pos += len(text)
    return ""


class _BlockDepth:
    """Tracks Snowflake Scripting nesting across code pieces, so `;` inside BEGIN ... END does not split.

    A block opens at DECLARE or BEGIN when it starts a statement, is nested in a block, or follows the AS
    of CREATE PROCEDURE/FUNCTION; BEGIN followed by `;`, TRANSACTION, WORK or NAME is a transaction. Inside a
    block, CASE ... END nests too, and END IF/FOR/LOOP/WHILE/REPEAT close nothing we count.
    """

    _TRANSACTION = frozenset({";", "TRANSACTION", "WORK", "NAME"})
    _END_OF = frozenset({"IF", "FOR", "LOOP", "WHILE", "REPEAT"})

    def __init__(self) -> None:
        self.depth = 0
        self.declared = 0  # DECLARE sections waiting for their BEGIN
        self.head = ""  # first word of the current statement
        self.routine = False  # the statement is CREATE ... PROCEDURE/FUNCTION
        self.previous = ""

    def split_points(self, code: str) -> list[int]:
        """Offsets of the `;` in `code` that end a statement."""
        tokens = [(m.start(), m.group().upper()) for m in re.finditer(r";|[A-Za-z_][A-Za-z0-9_$]*", code)]
        cuts: list[int] = []
        for i, (offset, token) in enumerate(tokens):
            following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
            if token == ";" and self.depth == 0:
                cuts.append(offset)
                self.head, self.routine = "", False
            elif token != ";":
                self._word(token, following)
            self.previous = token
        return cuts

    def _word(self, word: str, following: str) -> None:
        starts_statement = not self.head
        self.head = self.head or word
        self.routine = self.routine or (self.head == "CREATE" and word in ("PROCEDURE", "FUNCTION"))
        opens_here = starts_statement or self.depth > 0 or (self.routine and self.previous == "AS")
        if word == "DECLARE" and opens_here:
            self.depth += 1
            self.declared += 1
        elif word == "BEGIN" and opens_here and following not in self._TRANSACTION:
            if self.declared:
                self.declared -= 1
            else:
                self.depth += 1
        elif word == "CASE" and self.depth > 0 and self.previous != "END":
            self.depth += 1
        elif word == "END" and self.depth > 0 and following not in self._END_OF:
            self.depth -= 1


# --- QUERY_TAG -----------------------------------------------------------------------------------------------


def build_query_tag(user_tag: str | Mapping[str, Any] | None, flyte: Mapping[str, str]) -> str:
    """The QUERY_TAG for a statement: JSON of the Flyte context merged with the user's tag, at most 2000 chars.

    A dict tag (or a string holding a JSON object) merges in, its keys winning over Flyte's; any other string
    goes under `"user_tag"`. When too long, the longest values are shortened (ending in "…") and, if needed,
    dropped, so the result is always valid JSON. Linear in the tag's size.

    Example:
        >>> build_query_tag({"team": "growth"}, {"project": "p", "run": "r1"})
        '{"project":"p","run":"r1","team":"growth"}'
    """
    tag: dict[str, Any] = {k: v for k, v in flyte.items() if v not in (None, "")}
    tag.update(_parse_tag(user_tag))
    return _fit(tag)


def user_query_tag(session_tag: str | None, task_tag: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The user's part of every statement's QUERY_TAG: the session's QUERY_TAG merged with the task's `query_tag`.

    Each gives fields the same way: a dict or a string holding a JSON object gives its keys, any other non-empty
    string goes under "user_tag". A key both set to different values is an error (the plugin will not pick one
    silently), as is a merged tag longer than `USER_TAG_LIMIT` characters of JSON.

    Raises:
        SnowflakeConfigError: naming the key or the size, and the fix.
    """
    merged = _parse_tag(session_tag)
    for key, value in _parse_tag(task_tag).items():
        if key in merged and merged[key] != value:
            raise SnowflakeConfigError(
                f"query tag key {key!r} is set twice, to {_short(merged[key])} by the session parameter QUERY_TAG "
                f"and to {_short(value)} by query_tag; keep it in one place (a plain-string tag goes under "
                f"{PLAIN_TAG_KEY!r}: to keep two, give them as a dict with two keys)"
            )
        merged[key] = value
    size = len(_dump(merged))
    if size > USER_TAG_LIMIT:
        raise SnowflakeConfigError(
            f"query_tag (with the session's QUERY_TAG) is {size} characters as JSON; at most {USER_TAG_LIMIT} are "
            f"allowed, because Snowflake keeps {QUERY_TAG_LIMIT} characters of QUERY_TAG and the rest carries the "
            "Flyte run details (task, project, domain, run, action, attempt): keep a few short keys, such as a "
            "team or cost center, and look the rest up from the run"
        )
    return merged


def _parse_tag(tag: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A tag as JSON fields: a dict as it is, a string holding a JSON object parsed, any other non-empty string
    under `"user_tag"`."""
    if tag is None:
        return {}
    if isinstance(tag, Mapping):
        return {str(k): v for k, v in tag.items()}
    text = str(tag).strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {PLAIN_TAG_KEY: text} if text else {}


def _short(value: Any) -> str:
    text = _dump(value)
    return text if len(text) <= 40 else text[:39] + "…"


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def _dump(value: Any) -> str:
    return _ENCODER.encode(value)


def _fit(tag: dict[str, Any]) -> str:
    """`tag` as JSON of at most QUERY_TAG_LIMIT characters: the longest values cut (or dropped) first.

    Each entry's JSON length is worked out once and kept up to date, so the cost is linear in the tag's size
    (serializing the whole tag again after each cut made a tag of thousands of entries take seconds).
    """
    text = _dump(tag)
    if len(text) <= QUERY_TAG_LIMIT:
        return text
    keys = {key: len(_dump(key)) + 1 for key in tag}  # `"key":`
    values = {key: len(_dump(value)) for key, value in tag.items()}
    total = len(text)
    longest = [(-size, key) for key, size in values.items()]
    heapq.heapify(longest)
    while total > QUERY_TAG_LIMIT and longest:
        _, key = heapq.heappop(longest)
        value = tag[key] if isinstance(tag[key], str) else _dump(tag[key])
        # Cutting a character saves at least one in the JSON (more for an escaped one); "…" costs one.
        keep = len(value) - (total - QUERY_TAG_LIMIT) - 1
        if keep < 16:
            del tag[key]  # too little would be left to mean anything
            total -= keys.pop(key) + values.pop(key) + (1 if tag else 0)  # its comma too
            continue
        tag[key] = value[:keep] + "…"
        size = len(_dump(tag[key]))
        total -= values[key] - size
        values[key] = size
        heapq.heappush(longest, (-size, key))
    return _dump(tag)
