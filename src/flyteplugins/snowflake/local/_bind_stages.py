"""The driver's bind stages: where an `executemany` of many values uploads its binds before the INSERT reads them.

From CLIENT_STAGE_ARRAY_BINDING_THRESHOLD bind values on, Snowflake's driver runs `CREATE OR REPLACE TEMPORARY
STAGE SYSTEMBIND` (SNOWPARK_TEMP_STAGE_BIND with Snowpark's scoped temporary objects), uploads the rows as CSV
files with `PUT file://<n>.csv @SYSTEMBIND/<uuid>`, and sends the INSERT with `bindStage: @SYSTEMBIND/<uuid>`
instead of its binds. Here such a stage is a directory of the server's own (0700, under one temporary directory
made for the server and removed when it stops), one per session and stage, emptied when the stage is replaced and
removed when the session ends. A PUT into it answers as Snowflake answers for a stage of type LOCAL_FS, so the
driver (on the same machine, as the same user) writes the files there itself. Other PUTs and stages are not served.

Security: only the session that created a stage is told its directory; a stage path from a request is a relative
path of plain names (no `..`, no absolute path, no link) that must stay inside the stage's directory; files are
read only from there, never through a link, and at most `max_request_bytes` of them (as inline binds are bounded).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import re
import shutil
import tempfile
import threading
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv

#: the stages the driver uploads array binds to
BIND_STAGES = frozenset({"SYSTEMBIND", "SNOWPARK_TEMP_STAGE_BIND"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*")
_GZIP_MAGIC = b"\x1f\x8b"
_LEADING_NUMBER = re.compile(r"\d+")
# columns beyond this many would be named too: the CSV reader needs a type for each column it may meet
_MAX_COLUMNS = 4096


class StageError(Exception):
    """A Snowflake error about a bind stage: errno, sqlstate and message."""

    def __init__(self, errno: int, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.errno, self.sqlstate, self.message = errno, sqlstate, message


@dataclasses.dataclass(frozen=True)
class StageRef:
    """`@[db.][schema.]NAME[/path]` of a bind stage, its name resolved in the session's database and schema."""

    database: str | None
    schema: str | None
    name: str
    path: tuple[str, ...]

    @property
    def key(self) -> tuple[str | None, str | None, str]:
        return self.database, self.schema, self.name

    @property
    def qualified(self) -> str:
        return ".".join(part for part in self.key if part)


def parse_ref(text: str, database: str | None, schema: str | None) -> StageRef | None:
    """The bind stage a `@...` location names; None when it names another stage (or is no stage location).
    Raises StageError for a path that is not a plain relative path."""
    if not text.startswith("@"):
        return None
    location, _, path = text[1:].partition("/")
    parts = location.split(".")
    if len(parts) > 3 or not all(_NAME.fullmatch(part) for part in parts):
        return None  # quoted or otherwise unusual names are not the driver's bind stages
    parts = [part.upper() for part in parts]
    if parts[-1] not in BIND_STAGES:
        return None
    db = parts[-3] if len(parts) == 3 else database
    sc = parts[-2] if len(parts) >= 2 else schema
    return StageRef(db, sc, parts[-1], _path_parts(text, path))


def _plain(name: str) -> bool:
    """A file or directory name with no meaning to a path: letters, digits, '_', '.', '=', '-', not only dots."""
    return _PATH_PART.fullmatch(name) is not None and name.strip(".") != ""


def _path_parts(text: str, path: str) -> tuple[str, ...]:
    parts = tuple(part for part in path.split("/") if part)
    if not all(_plain(part) for part in parts):
        raise StageError(
            1003,
            "42000",
            f"SQL compilation error:\ninvalid stage location '{text}': a bind stage path is made of plain names "
            "(letters, digits, '_', '.', '=', '-'), without '..'",
        )
    return parts


class BindStages:
    """The bind stages of every session: directories under one private temporary directory of the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: str | None = None
        self._stages: dict[int, dict[tuple[str | None, str | None, str], str]] = {}

    def create(self, session_id: int, ref: StageRef) -> None:
        """After the session's CREATE [OR REPLACE] TEMPORARY STAGE of a bind stage: an empty directory for it."""
        with self._lock:
            stages = self._stages.setdefault(session_id, {})
            old = stages.pop(ref.key, None)
            stages[ref.key] = tempfile.mkdtemp(prefix="stage_", dir=self._root_dir())  # 0700
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def put(self, session_id: int, ref: StageRef, source: str, max_bytes: int) -> dict[str, Any]:
        """The answer to the driver's `PUT file://<source> @<bind stage>/<path>`: a LOCAL_FS stage location, the
        directory for that path (made here, 0700), where the driver writes the file itself."""
        stage = self._directory(session_id, ref)
        held = _bytes_under(stage)
        if held >= max_bytes:
            raise StageError(
                390400,
                "22000",
                f"The bind stage {ref.qualified} already holds {held:,} bytes, the local Snowflake's bound for one "
                f"request's binds (max_request_bytes is {max_bytes:,}). Raise it with --max-request-bytes N or "
                "LocalSnowflake.configure(max_request_bytes=N), or bind fewer rows per executemany call.",
            )
        target = _inside(stage, ref.path)
        os.makedirs(target, mode=0o700, exist_ok=True)
        name = os.path.basename(source.replace("\\", "/"))
        if not _plain(name):
            raise StageError(1003, "42000", f"SQL compilation error:\ninvalid file name '{source}' for a bind stage")
        return {
            "command": "UPLOAD",
            "src_locations": [name],
            "parallel": 1,
            "autoCompress": True,
            "sourceCompression": "auto_detect",
            "overwrite": False,
            "stageInfo": {"locationType": "LOCAL_FS", "location": target, "creds": {}},
            "encryptionMaterial": None,
        }

    def rows(self, session_id: int, ref: StageRef, max_bytes: int) -> list[tuple[str | None, ...]]:
        """The rows of the CSV files at the stage's path, in the order the driver wrote them: text values, None for
        an empty unquoted field (Snowflake's EMPTY_FIELD_AS_NULL), '' for `""`."""
        where = _inside(self._directory(session_id, ref), ref.path)
        files = _files(where)
        if not files:
            raise StageError(
                91016,
                "22000",
                f"Remote file '@{ref.qualified}/{'/'.join(ref.path)}' was not found: the bind stage has no files "
                "at that path.",
            )
        return _csv_rows(_read_all(files, max_bytes, ref))

    def hidden(self, session_id: int, key: tuple[str | None, str | None, str]) -> bool:
        """Whether a temporary bind stage listed by `SHOW STAGES` is another session's (and not this one's)."""
        with self._lock:
            return key[2] in BIND_STAGES and key not in self._stages.get(session_id, {})

    def end_session(self, session_id: int) -> list[tuple[str | None, str | None, str]]:
        """Remove a session's stages (its end); returns the stages no other session still has."""
        with self._lock:
            stages = self._stages.pop(session_id, {})
            held = {key for other in self._stages.values() for key in other}
        for directory in stages.values():
            shutil.rmtree(directory, ignore_errors=True)
        return [key for key in stages if key not in held]

    def close(self) -> None:
        """Remove every stage (the server stops)."""
        with self._lock:
            root, self._root, self._stages = self._root, None, {}
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def _root_dir(self) -> str:
        if self._root is None:
            self._root = tempfile.mkdtemp(prefix="flyte-snowflake-local-stages-")  # 0700: the server's only
        return self._root

    def _directory(self, session_id: int, ref: StageRef) -> str:
        with self._lock:
            directory = self._stages.get(session_id, {}).get(ref.key)
        if directory is None:
            raise StageError(
                2003, "02000", f"SQL compilation error:\nStage '{ref.qualified}' does not exist or not authorized."
            )
        return directory


def _inside(stage: str, path: tuple[str, ...]) -> str:
    """The directory of `path` in the stage's directory, checked to stay inside it (no link leads out)."""
    target = os.path.join(stage, *path)
    real_stage = os.path.realpath(stage)
    if os.path.commonpath([real_stage, os.path.realpath(target)]) != real_stage:
        raise StageError(1003, "42000", f"SQL compilation error:\ninvalid stage location '{'/'.join(path)}'")
    return target


def _bytes_under(directory: str) -> int:
    total = 0
    for folder, _, names in os.walk(directory):
        for name in names:
            total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _files(directory: str) -> list[str]:
    """The regular files of a directory (links are refused), in the driver's order: by their leading number."""
    if not os.path.isdir(directory) or os.path.islink(directory):
        return []
    entries = sorted(os.scandir(directory), key=_upload_order)
    links = [entry.name for entry in entries if entry.is_symlink()]
    if links:
        raise StageError(2, "0A000", f"The bind stage holds a link ({links[0]}); only uploaded files are read.")
    return [entry.path for entry in entries if entry.is_file(follow_symlinks=False)]


def _upload_order(entry: os.DirEntry[str]) -> tuple[int, str]:
    # the driver names each file by the number of rows uploaded up to its end: 65281.csv.gz, 130562.csv.gz...
    number = _LEADING_NUMBER.match(entry.name)
    return (int(number.group()) if number else -1, entry.name)


def _read_all(files: list[str], max_bytes: int, ref: StageRef) -> bytes:
    """The files' text, each inflated when gzip-compressed (as the driver sends them), together at most
    `max_bytes`."""
    out = io.BytesIO()
    for path in files:
        left = max_bytes - out.tell()
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream: Any = gzip.GzipFile(fileobj=raw) if compressed else raw
            try:
                data = stream.read(left + 1)
            except (OSError, EOFError) as exc:
                raise StageError(100069, "22000", f"Error while reading {os.path.basename(path)}: {exc}") from None
        if len(data) > left:
            raise StageError(
                390400,
                "22000",
                f"The binds staged at @{ref.qualified}/{'/'.join(ref.path)} are more than the local Snowflake reads "
                f"for one request ({max_bytes:,} bytes, max_request_bytes). Raise it with --max-request-bytes N or "
                "LocalSnowflake.configure(max_request_bytes=N), or bind fewer rows per executemany call.",
            )
        out.write(data)
    return out.getvalue()


def _csv_rows(data: bytes) -> list[tuple[str | None, ...]]:
    """Rows of the driver's CSV (`field_optionally_enclosed_by='"'`, quotes doubled inside quotes)."""
    types = {f"f{i}": pa.string() for i in range(_MAX_COLUMNS)}
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False, null_values=[""]
            ),
        )
    except pa.ArrowInvalid as exc:
        raise StageError(100080, "22000", f"The staged binds are not CSV rows of one width: {exc}") from None
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))
