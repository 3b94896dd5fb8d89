"""Writing an Arrow table into a Snowflake table in one transaction: the table is left as it was on failure."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._location import SnowflakeLocation, login, quote_identifier, table_name
from .errors import SnowflakeError, SnowflakeInputError, translate

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger("flyte.snowflake")

#: Rows per `executemany` request when writing a dataframe into a table, at most: fewer when the table is wide
#: (see `_rows_per_request`).
WRITE_CHUNK_ROWS = 10_000


def _snowflake_type(t: pa.DataType) -> str:
    """The column type a new table gets for an Arrow type."""
    import pyarrow as pa

    checks: list[tuple[Callable[[pa.DataType], bool], Callable[[pa.DataType], str]]] = [
        (pa.types.is_boolean, lambda _: "BOOLEAN"),
        (pa.types.is_integer, lambda _: "NUMBER(38,0)"),
        (pa.types.is_floating, lambda _: "FLOAT"),
        (pa.types.is_decimal, lambda d: f"NUMBER({min(d.precision, 38)},{d.scale})"),
        (lambda d: pa.types.is_string(d) or pa.types.is_large_string(d), lambda _: "VARCHAR"),
        (lambda d: pa.types.is_binary(d) or pa.types.is_large_binary(d), lambda _: "BINARY"),
        (pa.types.is_date, lambda _: "DATE"),
        (pa.types.is_time, lambda _: "TIME"),
        (pa.types.is_timestamp, lambda d: "TIMESTAMP_TZ" if d.tz else "TIMESTAMP_NTZ"),
        (pa.types.is_dictionary, lambda d: _snowflake_type(d.value_type)),
    ]
    for matches, name in checks:
        if matches(t):
            return name(t)
    if pa.types.is_null(t):
        return "VARCHAR"
    raise SnowflakeInputError(
        f"no Snowflake column type for Arrow type {t}: convert the column first (nested values, e.g. to a JSON "
        "string, which a VARIANT column can PARSE_JSON)"
    )


def _python_rows(batch: pa.RecordBatch) -> Iterator[tuple[Any, ...]]:
    columns = [_bind_values(column) for column in batch.columns]
    return zip(*columns, strict=True)


def _bind_values(column: pa.Array) -> list[Any]:
    import pyarrow as pa

    values: list[Any] = column.to_pylist()
    t = column.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        # ISO-8601 text, which Snowflake converts to the column's type on insert: every year from 1 to 9999 and
        # the UTC offset survive. (The driver array-binds temporal values as epoch numbers, which the local
        # Snowflake cannot read.)
        return [
            None if v is None else v.isoformat(sep=" ") if pa.types.is_timestamp(t) else v.isoformat() for v in values
        ]
    return values


def write_table(location: SnowflakeLocation, table: pa.Table, chunk_rows: int = WRITE_CHUNK_ROWS) -> int:
    """Write `table` into the table `location` names, in one transaction; returns the rows written.

    The table is created when missing (column types mapped from Arrow, names quoted as given). "overwrite"
    deletes the old rows in the same transaction. Rows go in chunks of at most `chunk_rows` through array binding
    (one `executemany` request per chunk), each chunk below the session's CLIENT_STAGE_ARRAY_BINDING_THRESHOLD
    bind values, so the driver never runs the CREATE TEMPORARY STAGE that would commit the transaction half-way.
    On any failure the transaction is rolled back, and a table this call created is dropped, so the table is
    left as it was.
    """
    conn = login(location)
    try:
        return _write(conn, location, table, chunk_rows)
    finally:
        conn.close()


def _write(conn: Any, location: SnowflakeLocation, table: pa.Table, chunk_rows: int) -> int:
    from . import _client

    name = table_name(location)
    types = [_snowflake_type(f.type) for f in table.schema]
    created = not _table_exists(conn, location)
    if created:
        # DDL commits any open transaction in Snowflake: create first, then write rows in a transaction.
        columns = ", ".join(f"{quote_identifier(f.name)} {t}" for f, t in zip(table.schema, types, strict=True))
        _client.execute(conn, f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
    insert = (
        f"INSERT INTO {name} ({', '.join(quote_identifier(c) for c in table.column_names)}) "
        f"VALUES ({', '.join(f':{i}' for i in range(1, table.num_columns + 1))})"
    )
    rows_per_request = _rows_per_request(conn, table.num_columns, chunk_rows)
    try:
        _client.execute(conn, "BEGIN")
        if location.mode == "overwrite" and not created:
            _client.execute(conn, f"DELETE FROM {name}")
        for batch in table.to_batches(max_chunksize=rows_per_request):
            rows = list(_python_rows(batch))
            if rows:
                _executemany(conn, insert, rows)
        _client.execute(conn, "COMMIT")
    except BaseException:
        _undo(conn, name, created)
        raise
    return int(table.num_rows)


def _rows_per_request(conn: Any, columns: int, chunk_rows: int) -> int:
    """Rows per `executemany`: at most `chunk_rows`, and fewer than the session's stage binding threshold in bind
    values. From the threshold on, the driver uploads the binds through a temporary stage, and its CREATE
    TEMPORARY STAGE is DDL, which Snowflake runs only after committing the open transaction: an overwrite's
    DELETE and the chunks before would stay even if a later chunk failed."""
    from . import _client

    threshold = _client.stage_binding_threshold(conn)
    if threshold <= 0:
        return chunk_rows
    if columns >= threshold:
        raise SnowflakeInputError(
            f"a table of {columns} columns cannot be written in one transaction: one row's values reach the "
            f"session's CLIENT_STAGE_ARRAY_BINDING_THRESHOLD ({threshold}); split the columns into several tables"
        )
    return max(1, min(chunk_rows, (threshold - 1) // max(columns, 1)))


def _executemany(conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    try:
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)
    except SnowflakeError:
        raise
    except Exception as exc:
        raise translate(exc) from exc


def _undo(conn: Any, name: str, created: bool) -> None:
    from . import _client

    for sql in ("ROLLBACK", f"DROP TABLE IF EXISTS {name}" if created else ""):
        if not sql:
            continue
        try:
            _client.execute(conn, sql)
        except SnowflakeError as exc:  # the write's own error is the one to report
            logger.warning("could not undo a failed write to %s (%s): %s", name, sql, exc)


def _table_exists(conn: Any, location: SnowflakeLocation) -> bool:
    from . import _client

    rows = _client.execute(
        conn,
        f"SELECT COUNT(*) FROM {quote_identifier(location.database)}.INFORMATION_SCHEMA.TABLES "
        "WHERE TABLE_SCHEMA = :1 AND TABLE_NAME = :2",
        [location.schema, location.name],
    )
    return bool(rows and rows[0][0])
