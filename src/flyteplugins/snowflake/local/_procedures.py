"""Stored procedures in Snowflake Scripting, the subset the local Snowflake emulates: `CREATE PROCEDURE`, `CALL`,
`DROP PROCEDURE`.

A procedure's body may be one `RETURN <expression>` (over its arguments, by name), or `RETURN TABLE(<name>)` of a
`DECLARE <name> RESULTSET DEFAULT (<query>)`:

    CREATE OR REPLACE TEMPORARY PROCEDURE greet(name VARCHAR) RETURNS VARCHAR LANGUAGE SQL AS
    BEGIN RETURN 'hello ' || name; END;

A `CALL` runs as one query: the arguments cast to their declared types, the returned expression (or the result set's
rows) cast to the return type, in a column named as the procedure. Anything else (other languages, statements
before the RETURN, variables, loops, branches, exceptions, argument defaults, overloads with as many arguments as
another) fails at CREATE with an error naming it. Overloads are told apart by their number of arguments.
Temporary procedures belong to their session; the others to the server, by database and schema. SHOW PROCEDURES
and DESCRIBE PROCEDURE are refused.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from . import _fakesnow as fs
from ._sessions import Session

_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)'
_CREATE = re.compile(
    rf"^\s*CREATE\s+(?P<replace>OR\s+REPLACE\s+)?(?:(?P<temporary>TEMP|TEMPORARY)\s+)?(?:SECURE\s+)?PROCEDURE\s+"
    rf"(?P<exists>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME}(?:\.{_NAME}){{0,2}})\s*\(",
    re.IGNORECASE,
)
_DROP = re.compile(
    rf"^\s*DROP\s+PROCEDURE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<name>{_NAME}(?:\.{_NAME}){{0,2}})\s*\(",
    re.IGNORECASE,
)
_LISTING = re.compile(r"^\s*(?:SHOW\s+(?:USER\s+)?PROCEDURES|DESC(?:RIBE)?\s+PROCEDURE)\b", re.IGNORECASE)
_CALL = re.compile(rf"^\s*CALL\s+(?P<name>{_NAME}(?:\.{_NAME}){{0,2}})\s*\(", re.IGNORECASE)
_RETURNS = re.compile(r"\s*RETURNS\s+(?:(?P<table>TABLE)\s*\(|(?P<type>[A-Za-z_]\w*(?:\s+\w+)*?)\s*(?=[(\s]|$))", re.I)
#: The clauses between RETURNS and AS that change nothing here (LANGUAGE is checked on its own).
_CLAUSES = re.compile(
    r"\s*(?P<clause>NOT\s+NULL|NULL|LANGUAGE\s+(?P<language>\w+)|CALLED\s+ON\s+NULL\s+INPUT|VOLATILE|IMMUTABLE"
    r"|COMMENT\s*=\s*'(?:[^']|'')*'|EXECUTE\s+AS\s+(?:OWNER|CALLER|RESTRICTED\s+CALLER)|(?P<as>AS)\b)",
    re.IGNORECASE,
)
_BODY = re.compile(
    r"^\s*(?:DECLARE\s+(?P<declare>.*?))?\bBEGIN\s+RETURN\s+(?P<returned>.*?)\s*;\s*END\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_RESULTSET = re.compile(
    rf"^\s*(?P<name>{_NAME})\s+RESULTSET\s+(?:DEFAULT|:=)\s*\((?P<query>.*)\)\s*$", re.IGNORECASE | re.DOTALL
)
_RETURN_TABLE = re.compile(rf"^TABLE\s*\(\s*(?P<name>{_NAME})\s*\)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Procedure:
    """One emulated procedure: its arguments and return type as declared, and the query a CALL runs."""

    name: str  # as Snowflake names it: upper case unless quoted
    arguments: tuple[tuple[str, str], ...]  # (name, type)
    returns: str | None  # the scalar type; None for RETURNS TABLE
    columns: tuple[tuple[str, str], ...]  # RETURNS TABLE's columns (name, type); () when none are declared
    not_null: bool
    returned: str  # the RETURN expression, or the result set's query

    def query(self, arguments: list[str]) -> str:
        """The query a CALL with these argument expressions (SQL text, binds kept in order) runs."""
        pairs = zip(arguments, self.arguments, strict=True)
        casts = [f"CAST({value} AS {kind}) AS {name}" for value, (name, kind) in pairs]
        args = f"(SELECT {', '.join(casts)}) AS _local_arguments" if casts else ""
        if self.returns is not None:
            scalar = f'SELECT CAST({self.returned} AS {self.returns}) AS "{self.name}"'
            return f"{scalar} FROM {args}" if args else scalar
        names = ", ".join(name for name, _ in self.columns)
        result = f"({self.returned}) AS _local_result" + (f"({names})" if names else "")
        picked = ", ".join(f"CAST(_local_result.{name} AS {kind}) AS {name}" for name, kind in self.columns)
        return f"SELECT {picked or '_local_result.*'} FROM {', '.join(filter(None, [args, result]))}"


def creates_procedure(sql: str) -> bool:
    """Whether `sql` is a CREATE PROCEDURE (one statement, whatever semicolons its body has)."""
    return _CREATE.match(sql) is not None


class Procedures:
    """The server's permanent procedures (by database, schema and name); temporary ones live on their session."""

    def __init__(self) -> None:
        self._permanent: dict[tuple[str, str, str], dict[int, Procedure]] = {}
        self._lock = threading.Lock()

    def answer(self, session: Session, conn: Any, sql: str, params: Any) -> fs.StatementResult | None:
        """Answer CREATE PROCEDURE, DROP PROCEDURE and a CALL of a known procedure; None for anything else."""
        if (match := _CREATE.match(sql)) is not None:
            return self._create(session, conn, sql, match)
        if (match := _DROP.match(sql)) is not None:
            return self._drop(session, conn, sql, match)
        if (match := _CALL.match(sql)) is not None:
            return self._call(session, conn, sql, match, params)
        if _LISTING.match(sql):  # fakesnow would answer no rows
            raise _not_emulated("SHOW PROCEDURES and DESCRIBE PROCEDURE", "call the procedure to check it exists")
        return None

    def _overloads(self, session: Session, conn: Any, name: str, temporary: bool) -> dict[int, Procedure]:
        """The overloads of a name (by their number of arguments), to add to."""
        with self._lock:
            store = _temporary(session) if temporary else self._permanent
            return store.setdefault(_key(conn, name), {})

    def _found(self, session: Session, conn: Any, name: str) -> list[dict[int, Procedure]]:
        """The overloads of a name: the session's temporary ones first, as Snowflake resolves names."""
        key = _key(conn, name)
        with self._lock:
            return [found for store in (_temporary(session), self._permanent) if (found := store.get(key))]

    def _create(self, session: Session, conn: Any, sql: str, match: re.Match[str]) -> fs.StatementResult:
        procedure = _parse_create(sql, match)
        fs.commit_open_transaction(conn)  # DDL, as in Snowflake
        overloads = self._overloads(session, conn, match.group("name"), bool(match.group("temporary")))
        count = len(procedure.arguments)
        with self._lock:
            existing = overloads.get(count)
            if existing is not None and match.group("exists"):
                return _status(f"{procedure.name} already exists, statement succeeded.")
            if existing is not None and not match.group("replace"):
                message = f"SQL compilation error:\nObject '{procedure.name}' already exists."
                raise fs.ProgrammingError(msg=message, errno=2002, sqlstate="42710")
            if existing is not None and _types(existing) != _types(procedure):
                raise _not_emulated(
                    f"a second overload of {procedure.name} with {count} argument(s)",
                    "give each overload another number of arguments",
                )
            overloads[count] = procedure
        return _status(f"Function {procedure.name} successfully created.")

    def _drop(self, session: Session, conn: Any, sql: str, match: re.Match[str]) -> fs.StatementResult:
        types = _split(sql[match.end() : _closing(sql, match.end() - 1)])
        name = match.group("name")
        fs.commit_open_transaction(conn)
        for overloads in self._found(session, conn, name):
            with self._lock:
                if overloads.pop(len(types), None) is not None:
                    return _status(f"{_display(name)} successfully dropped.")
        if match.group("exists"):
            return _status("Drop statement executed successfully (procedure already dropped).")
        raise fs.ProgrammingError(
            msg=f"SQL compilation error:\nProcedure '{_display(name)}({', '.join(types)})' does not exist or not "
            "authorized.",
            errno=2003,
            sqlstate="42S02",
        )

    def _call(
        self, session: Session, conn: Any, sql: str, match: re.Match[str], params: Any
    ) -> fs.StatementResult | None:
        end = _closing(sql, match.end() - 1)
        if sql[end + 1 :].strip().rstrip(";").strip():
            return None  # not a plain CALL (CALL ... INTO): left to the usual path, which fails
        arguments = _split(sql[match.end() : end])
        name = match.group("name")
        found = self._found(session, conn, name)
        if not found:
            return None  # an unknown procedure: the usual path answers Snowflake's error
        procedure = next((o[len(arguments)] for o in found if len(arguments) in o), None)
        if procedure is None:
            raise fs.ProgrammingError(
                msg=f"SQL compilation error:\nInvalid argument types for function '{_display(name)}': "
                f"({', '.join('?' for _ in arguments)})",
                errno=1044,
                sqlstate="42P13",
            )
        result = fs.execute(conn, procedure.query(arguments), params)
        returned = result.arrow.column(0) if result.arrow is not None and result.arrow.num_columns else None
        if procedure.not_null and returned is not None and returned.null_count:
            raise fs.ProgrammingError(msg="NULL result in a non-nullable column", errno=100072, sqlstate="22000")
        return result


def _temporary(session: Session) -> dict[tuple[str, str, str], dict[int, Procedure]]:
    store: dict[tuple[str, str, str], dict[int, Procedure]] = session.procedures
    return store


def _parse_create(sql: str, match: re.Match[str]) -> Procedure:
    end = _closing(sql, match.end() - 1)
    arguments = tuple(_argument(text) for text in _split(sql[match.end() : end]))
    returns = _RETURNS.match(sql, end + 1)
    if returns is None:
        raise _syntax(sql, end + 1)
    position, scalar, columns = _return_type(sql, returns)
    not_null, position = _clauses(sql, position)
    body = _body_text(sql[position:])
    found = _BODY.match(body)
    if found is None:
        raise _not_emulated(
            "a procedure body other than BEGIN RETURN <expression>; END (or RETURN TABLE(<result set>))",
            "keep the body to one RETURN",
        )
    returned = _returned(found.group("returned"), found.group("declare"), scalar is None)
    if re.search(r"(?<![\w:]):[A-Za-z_]|\?", returned):
        raise _not_emulated("variables (:name) and binds in a procedure body", "use the argument names directly")
    return Procedure(_display(match.group("name")), arguments, scalar, columns, not_null, returned)


def _argument(text: str) -> tuple[str, str]:
    parts = text.split(None, 1)
    if len(parts) != 2:
        raise fs.ProgrammingError(
            msg=f"SQL compilation error:\nsyntax error: argument '{text}' needs a name and a type",
            errno=1003,
            sqlstate="42000",
        )
    name, kind = parts
    if re.search(r"\bDEFAULT\b", kind, re.IGNORECASE):
        raise _not_emulated("argument defaults in a procedure", "pass every argument")
    return name, kind


def _return_type(sql: str, returns: re.Match[str]) -> tuple[int, str | None, tuple[tuple[str, str], ...]]:
    """Where RETURNS ends, the scalar type (None for TABLE) and the table's columns."""
    if returns.group("table"):
        close = _closing(sql, returns.end() - 1)
        return close + 1, None, tuple(_argument(text) for text in _split(sql[returns.end() : close]))
    position = returns.end()
    if sql[position : position + 1] == "(":
        position = _closing(sql, position) + 1
    return position, sql[returns.start("type") : position].strip(), ()


def _clauses(sql: str, position: int) -> tuple[bool, int]:
    """Read the clauses up to AS: whether the result is NOT NULL, and where the body starts."""
    not_null = False
    while (clause := _CLAUSES.match(sql, position)) is not None:
        position = clause.end()
        if clause.group("as"):
            return not_null, position
        language = clause.group("language")
        if language is not None and language.upper() != "SQL":
            raise _not_emulated(f"procedures in LANGUAGE {language.upper()}", "write it in Snowflake Scripting (SQL)")
        not_null = not_null or clause.group("clause").upper().startswith("NOT")
    rest = sql[position:].strip().split(None, 1)
    raise _not_emulated(f"the procedure clause {rest[0].upper() if rest else '(none)'}", "leave it out")


def _body_text(text: str) -> str:
    """The body after AS: between $$ ... $$, in a string literal, or as written."""
    text = text.strip()
    if text.startswith("$$"):
        return text[2:].rsplit("$$", 1)[0]
    if text.startswith("'"):
        return text[1:].rstrip().rstrip(";").rstrip()[:-1].replace("''", "'")
    return text


def _returned(returned: str, declare: str | None, table: bool) -> str:
    """The query a RETURN stands for: the expression, or the declared result set's query for RETURN TABLE(name)."""
    if not table:
        if declare is not None or _RETURN_TABLE.match(returned):
            raise _not_emulated("DECLARE or RETURN TABLE in a procedure that returns a value", "return one expression")
        return returned
    sets = dict(_resultset(text) for text in _split(declare or "", ";"))
    wanted = _RETURN_TABLE.match(returned)
    if wanted is None or wanted.group("name").upper() not in sets:
        raise _not_emulated("a RETURN other than TABLE(<declared result set>) in a procedure that returns a table", "")
    return sets[wanted.group("name").upper()]


def _resultset(text: str) -> tuple[str, str]:
    found = _RESULTSET.match(text)
    if found is None:
        raise _not_emulated(
            f"the declaration {text.strip()!r} (only <name> RESULTSET DEFAULT (<query>))", "declare result sets only"
        )
    return found.group("name").upper(), found.group("query")


def _types(procedure: Procedure) -> list[str]:
    return [re.sub(r"\s+", "", kind.upper()) for _, kind in procedure.arguments]


def _key(conn: Any, name: str) -> tuple[str, str, str]:
    parts = [_display(part) for part in re.findall(_NAME, name)]
    database, schema = fs.session_names(conn)
    while len(parts) < 3:
        parts.insert(0, (schema if len(parts) == 1 else database) or "")
    return parts[0], parts[1], parts[2]


def _display(name: str) -> str:
    """The procedure's own name as Snowflake writes it (upper case unless quoted), without database or schema."""
    last = str(re.findall(_NAME, name)[-1])
    return last[1:-1] if last.startswith('"') else last.upper()


def _outside_quotes(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, parenthesis depth after it) of each character of `text` from `start` outside quotes."""
    depth, quote = 0, ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            depth += (char == "(") - (char == ")")
            yield index, char, depth


def _closing(sql: str, opening: int) -> int:
    """The index of the parenthesis that closes the one at `opening` (quotes respected)."""
    for index, char, depth in _outside_quotes(sql, opening):
        if char == ")" and depth == 0:
            return index
    raise _syntax(sql, len(sql))


def _split(text: str, separator: str = ",") -> list[str]:
    """`text` split at the separators outside quotes and parentheses; blank parts left out."""
    parts, start = [], 0
    for index, char, depth in _outside_quotes(text):
        if char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _status(message: str) -> fs.StatementResult:
    return fs.result_from_arrow(pa.table({"status": pa.array([message], pa.string())}))


def _syntax(sql: str, position: int) -> fs.SnowflakeError:
    near = sql[position:].strip().split(None, 1)
    return fs.ProgrammingError(
        msg=f"SQL compilation error:\nsyntax error line 1 at position {position} unexpected "
        f"'{near[0] if near else '<EOF>'}'.",
        errno=1003,
        sqlstate="42000",
    )


def _not_emulated(what: str, instead: str) -> fs.SnowflakeError:
    hint = f"; {instead}" if instead else ""
    return fs.ProgrammingError(
        msg=f"Unsupported feature: {what} is not emulated by the local Snowflake (docs/local-snowflake.md){hint}",
        errno=2,
        sqlstate="0A000",
    )
