"""A query result as Arrow: batches with one stable schema, and a `snowflake://` location read into one table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ._location import SnowflakeLocation, login, quote_identifier, table_name

if TYPE_CHECKING:
    import pyarrow as pa


def _stable_type(t: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    # The driver picks nanoseconds or microseconds per batch, from the values in it (microseconds when a value
    # lies outside 1677-2262). One unit for the whole result keeps batches writable to one Parquet file and
    # years 1-9999 readable in pandas; digits below the microsecond are dropped.
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_time64(t) and t.unit == "ns":
        return pa.time64("us")
    return t


def _stable_schema(schema: pa.Schema, description: Sequence[Any] = ()) -> pa.Schema:
    import pyarrow as pa

    fields = [f.with_type(_stable_type(f.type)) for f in schema]
    if len(description) == len(fields):
        # The driver widens NUMBER(p,s) to decimal128(38,s): the column's own precision, as for an empty result.
        fields = [
            f.with_type(pa.decimal128(c.precision, f.type.scale))
            if pa.types.is_decimal128(f.type) and c.precision and c.precision >= f.type.scale
            else f
            for f, c in zip(fields, description, strict=True)
        ]
    return pa.schema(fields, metadata=schema.metadata)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with `schema`'s types (timestamps truncated to microseconds; anything lossy else raises)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.schema.equals(schema):
        return batch
    columns = []
    for column, target in zip(batch.columns, schema, strict=True):
        if column.type.equals(target.type):
            columns.append(column)
        else:
            options = pc.CastOptions(target.type, allow_time_truncate=True)
            columns.append(pc.cast(column, options=options))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class Batches:
    """A query result's batches, all with one schema (the first batch's, made stable)."""

    def __init__(self, cursor: Any, query_id: str) -> None:
        self._cursor = cursor
        self._query_id = query_id
        self.schema: pa.Schema | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        from . import _client

        for batch in _client.arrow_batches(self._cursor):
            if self.schema is None:
                self.schema = _stable_schema(batch.schema, self._cursor.description or ())
            yield _conform(batch, self.schema)
        if self.schema is None:
            self.schema = self._empty_schema()

    def _empty_schema(self) -> pa.Schema:
        # An empty result yields no batch. The driver's own empty table types NUMBER(p,s) as int64 and dates as
        # date64, unlike its batches: build the schema the batches would have had from the column metadata.
        import pyarrow as pa

        return pa.schema([(column.name, _arrow_type(column)) for column in self._cursor.description or ()])


def _arrow_type(column: Any) -> pa.DataType:
    """The Arrow type the driver's batches give a result column, from its metadata (`cursor.description`)."""
    import pyarrow as pa

    name = _WIRE_TYPES[column.type_code] if 0 <= column.type_code < len(_WIRE_TYPES) else "TEXT"
    if name == "FIXED":
        return pa.decimal128(column.precision or 38, column.scale) if column.scale else pa.int64()
    simple: dict[str, pa.DataType] = {
        "REAL": pa.float64(),
        "DATE": pa.date32(),
        "TIMESTAMP_NTZ": pa.timestamp("us"),
        "TIMESTAMP_LTZ": pa.timestamp("us", tz="UTC"),
        "TIMESTAMP_TZ": pa.timestamp("us", tz="UTC"),
        "TIME": pa.time64("us"),
        "BINARY": pa.binary(),
        "BOOLEAN": pa.bool_(),
    }
    return simple.get(name, pa.string())  # TEXT, and VARIANT/OBJECT/ARRAY as JSON text


#: Snowflake's column type ids, as `cursor.description[i].type_code` numbers them.
_WIRE_TYPES = (
    "FIXED", "REAL", "TEXT", "DATE", "TIMESTAMP_NTZ", "VARIANT", "TIMESTAMP_LTZ", "TIMESTAMP_TZ",
    "TIMESTAMP_NTZ", "OBJECT", "ARRAY", "BINARY", "TIME", "BOOLEAN",
)  # fmt: skip


def _read_table(conn: Any, query_id: str, columns: Sequence[str] = ()) -> pa.Table:
    """A finished query's whole result as one Arrow table, streamed batch by batch."""
    import pyarrow as pa

    from . import _client

    cursor = _client.open_result(conn, query_id)
    try:
        batches = Batches(cursor, query_id)
        collected = list(batches)
    finally:
        cursor.close()
    assert batches.schema is not None
    table = pa.Table.from_batches(collected, schema=batches.schema)
    return table.select(list(columns)) if columns else table


def read_location(location: SnowflakeLocation, columns: Sequence[str]) -> pa.Table:
    conn = login(location)
    try:
        if location.is_query:
            return _read_table(conn, location.name, columns)
        return _read_table(conn, _select_table(conn, location, columns))
    finally:
        conn.close()


def _select_table(conn: Any, location: SnowflakeLocation, columns: Sequence[str]) -> str:
    from . import _client

    projection = ", ".join(quote_identifier(c) for c in columns) if columns else "*"
    sql = f"SELECT {projection} FROM {table_name(location)}"
    query_id: str = _client.submit(conn, sql, None, statement_params={})
    return query_id
