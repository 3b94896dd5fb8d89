"""SQL templates -> server-side binds, batch rows, statement splitting and QUERY_TAG, with one SQL-aware scanner.

The scanner knows single-quoted strings (`''` and backslash escapes), double-quoted identifiers, `$$` strings,
`--` and `//` line comments and `/* */` comments. Outside them, `%(name)s` becomes a numeric bind (`:1`) and
`%%` becomes `%` (as pyformat did); everything else, comments and whitespace included, is sent as written.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import SnowflakeInputError

__all__ = [
    "QUERY_TAG_LIMIT",
    "BoundStatement",
    "build_query_tag",
    "compile_batch",
    "compile_query",
    "split_statements",
    "statement_count",
]

#: Snowflake's limit on QUERY_TAG, in characters.
QUERY_TAG_LIMIT = 2000

_SCALARS = (bool, int, float, decimal.Decimal, str, bytes, datetime.date, datetime.time, type(None))
_ALLOWED = "int, float, Decimal, str, bool, None, date, time, datetime, bytes"
# What may start a literal or comment; `$$` only when not inside an identifier (SYSTEM$$ is not a string).
_OPENERS = re.compile(r"'|\"|(?<![A-Za-z0-9_$])\$\$|--|//|/\*")
_PLACEHOLDER = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s|%%|%\(")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


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


def _rewrite(template: str, bind: Callable[[str], str], percent: bool) -> str:
    """Replace placeholders (and `%%` when `percent`) in the code pieces; literals and comments untouched."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return bind(match.group(1))
        if match.group() == "%%":
            return "%" if percent else "%%"
        raise SnowflakeInputError(
            f"malformed placeholder near {_context(match)!r}: write inputs as %(name)s (and a literal % as %%)"
        )

    return "".join(_PLACEHOLDER.sub(replace, text) if code else text for code, text in _pieces(template))


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
    row (the safe outcome for a DELETE). Inputs the template does not use are ignored.

    Example:
        >>> compile_query("SELECT * FROM t WHERE a = %(a)s AND b IN (%(b)s) AND c LIKE 'A%'", {"a": 1, "b": [5, 6]})
        BoundStatement(sql="SELECT * FROM t WHERE a = :1 AND b IN (:2, :3) AND c LIKE 'A%'", params=(1, 5, 6))

    Raises:
        SnowflakeInputError: a placeholder has no input, or an input has a type that cannot be bound.
    """
    names = _placeholders(template)
    if not names and not inputs:
        return BoundStatement(template, ())
    params: list[Any] = []
    binds: dict[str, str] = {}

    def bind(name: str) -> str:
        if name not in binds:
            values = _values_for(name, _input(inputs, name))
            first = len(params) + 1
            params.extend(values)
            binds[name] = ", ".join(f":{i}" for i in range(first, first + len(values)))
        return binds[name]

    return BoundStatement(_rewrite(template, bind, percent=True), tuple(params))


def compile_batch(template: str, inputs: Mapping[str, Any]) -> tuple[str, list[tuple[Any, ...]]]:
    """Translate a template for `executemany` (array binding): list inputs are columns, one row per element.

    A scalar input (a string too: it is never split into characters) repeats on every row. The SQL is not
    rewritten beyond its placeholders.

    Example:
        >>> compile_batch("INSERT INTO t VALUES (%(id)s, %(src)s)", {"id": [1, 2], "src": "x"})
        ('INSERT INTO t VALUES (:1, :2)', [(1, 'x'), (2, 'x')])

    Raises:
        SnowflakeInputError: list inputs of different lengths (all named with their lengths), empty lists,
            a missing input, or a value that cannot be bound.
    """
    names = _placeholders(template)
    index = {name: i for i, name in enumerate(names, start=1)}
    columns = {name: _input(inputs, name) for name in names}
    sql = _rewrite(template, lambda name: f":{index[name]}", percent=True)
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
        for item in value:
            _check_scalar(name, item, in_list=True)
        return list(value) if value else [None]
    _check_scalar(name, value, in_list=False)
    return [value]


def _check_scalar(name: str, value: Any, *, in_list: bool) -> None:
    if not isinstance(value, _SCALARS):
        where = "an element of input" if in_list else "input"
        lists = "" if in_list else ", or a list/tuple of those (for IN (...))"
        raise SnowflakeInputError(
            f"{where} {name!r} has type {type(value).__name__}, which cannot be bound to SQL; "
            f"allowed: {_ALLOWED}{lists}"
        )


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
    _check_scalar(name, cell, in_list=isinstance(value, (list, tuple)))
    return cell


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
    dropped, so the result is always valid JSON.

    Example:
        >>> build_query_tag({"team": "growth"}, {"project": "p", "run": "r1"})
        '{"project":"p","run":"r1","team":"growth"}'
    """
    tag: dict[str, Any] = {k: v for k, v in flyte.items() if v not in (None, "")}
    tag.update(_user_tag(user_tag))
    return _fit(tag)


def _user_tag(user_tag: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if user_tag is None:
        return {}
    if isinstance(user_tag, Mapping):
        return {str(k): v for k, v in user_tag.items()}
    text = str(user_tag).strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {"user_tag": text} if text else {}


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _fit(tag: dict[str, Any]) -> str:
    text = _dump(tag)
    while len(text) > QUERY_TAG_LIMIT:
        key = max(tag, key=lambda k: len(_dump(tag[k])))
        value = tag[key] if isinstance(tag[key], str) else _dump(tag[key])
        keep = len(value) - (len(text) - QUERY_TAG_LIMIT) - 1
        if keep < 16:
            del tag[key]  # too little would be left to mean anything
        else:
            tag[key] = value[:keep] + "…"
        text = _dump(tag)
    return text
