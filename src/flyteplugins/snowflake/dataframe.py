"""Query results as dataframes: `snowflake://` references, Parquet materialization, readers and writers.

A Snowflake task's `results` output reaches the next task in one of two forms (`SnowflakeConfig.results`):

* **materialized** (default): the connector streams the result as Arrow batches into Parquet below the task's
  output prefix (`materialize`). Downstream tasks read plain Parquet with flyte's own readers: no Snowflake
  credentials, no 24 h result-cache expiry, and Flyte's cache can reuse it.
* **reference**: a `snowflake://{user}/{account}/{warehouse}/{database}/{schema}/{query_id}?...` URI
  (`result_reference`); the reader logs in from the downstream task and streams the result from Snowflake.
  The query string carries the non-secret connection settings and the *names* of the secrets, never a value:
  `?role=ANALYST&snowflake_private_key=SNOWFLAKE_PRIVATE_KEY`. The reader takes each secret from the
  environment variable so named (Flyte mounts secrets as environment variables). The URI is untrusted input:
  `_trust.UriPolicy` limits it to this plugin's variables, the account's own hosts or loopback, and harmless
  driver options, unless the reading task's own environment allows more (`FLYTE_SNOWFLAKE_URI_*`).

A task that returns a dataframe wrapped with a table URI writes it into Snowflake (`table_uri`), in one
transaction: `DataFrame.wrap_df(df, uri=table_uri(config, "EVENTS", mode="overwrite", secrets=...))`.

`register_handlers()` registers the readers and writers for pandas, pyarrow and polars. Importing this module
imports none of them: a library is registered when it has been imported, or as soon as it is.

Code written for the public `flyteplugins-snowflake` keeps working: `SNOWFLAKE` (the scheme), `PROTOCOL_SEP` (a
pattern that splits a `snowflake://` URI into its parts), and the pandas handlers under their public names,
`SnowflakeToPandasDecodingHandler` and `PandasToSnowflakeEncodingHandlers`. They are this module's pandas
reader and writer (the instances `register_handlers()` registers), so constructing or registering them gives
the same behaviour as every other reader here; they load pandas only when constructed.

This module is the public face: the handlers and their registration. URIs live in `_location`, reading a
result as Arrow in `_arrow`, Parquet materialization in `_materialize`, writing into a table in `_table_writer`.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._arrow import read_location
from ._location import SCHEME, SnowflakeLocation, result_reference, table_uri
from ._materialize import MARKER, RESULTS_DIR, materialize
from ._materialize import Runner as Runner
from ._table_writer import write_table as write_table
from .errors import SnowflakeConfigError, SnowflakeResultError

if TYPE_CHECKING:
    import pyarrow as pa
    from flyte.io import DataFrame
    from flyteidl2.core import literals_pb2, types_pb2

__all__ = [
    "MATERIALIZE",
    "PROTOCOL_SEP",
    "REFERENCE",
    "SNOWFLAKE",
    "PandasToSnowflakeEncodingHandlers",
    "SnowflakeLocation",
    "SnowflakeToPandasDecodingHandler",
    "materialize",
    "register_handlers",
    "result_reference",
    "table_uri",
]

logger = logging.getLogger("flyte.snowflake")

#: `SnowflakeConfig.results` values: write the result to Parquet, or hand over a `snowflake://` reference.
MATERIALIZE = "materialize"
REFERENCE = "reference"

#: The URI scheme of Snowflake results and tables (the public plugin's name for it).
SNOWFLAKE = SCHEME
#: A pattern that splits a `snowflake://` URI at its separators: `re.split(PROTOCOL_SEP, uri)` gives the scheme,
#: then user, account, warehouse, database, schema and query id (or table), as the public plugin's URIs have them.
PROTOCOL_SEP = r"\/|://|:"


# --- dataframe libraries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Library:
    """How one dataframe library converts from and to Arrow."""

    module: str
    type_name: str
    from_arrow: Callable[[pa.Table], Any]
    to_arrow: Callable[[Any], pa.Table]
    #: Class names of its `snowflake://` reader and writer (pandas keeps the public plugin's names).
    decoder_name: str
    encoder_name: str

    def python_type(self) -> type[Any]:
        """The library's frame type; imports the library (registration calls it once the library is loaded)."""
        module = sys.modules.get(self.module) or importlib.import_module(self.module)
        return getattr(module, self.type_name)  # type: ignore[no-any-return]


def _arrow_from_arrow(table: pa.Table) -> Any:
    return table


def _arrow_to_arrow(value: Any) -> pa.Table:
    import pyarrow as pa

    return value if isinstance(value, pa.Table) else pa.Table.from_batches([value])


def _pandas_from_arrow(table: pa.Table) -> Any:
    # self_destruct frees each Arrow column as soon as it is converted: peak memory ~1x the data, not 2x.
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _pandas_to_arrow(value: Any) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_pandas(value, preserve_index=False)


def _polars_from_arrow(table: pa.Table) -> Any:
    import polars as pl

    return pl.from_arrow(table, rechunk=False)


def _polars_to_arrow(value: Any) -> pa.Table:
    return value.to_arrow()  # type: ignore[no-any-return]


_PANDAS = _Library(
    "pandas",
    "DataFrame",
    _pandas_from_arrow,
    _pandas_to_arrow,
    "SnowflakeToPandasDecodingHandler",
    "PandasToSnowflakeEncodingHandlers",
)
_LIBRARIES = (
    _Library(
        "pyarrow", "Table", _arrow_from_arrow, _arrow_to_arrow, "SnowflakeToArrowDecoder", "ArrowToSnowflakeEncoder"
    ),
    _PANDAS,
    _Library(
        "polars",
        "DataFrame",
        _polars_from_arrow,
        _polars_to_arrow,
        "SnowflakeToPolarsDecoder",
        "PolarsToSnowflakeEncoder",
    ),
)


def _requested_columns(metadata: literals_pb2.StructuredDatasetMetadata | None) -> list[str]:
    if metadata is None or not metadata.HasField("structured_dataset_type"):
        return []
    return [c.name for c in metadata.structured_dataset_type.columns]


def _parquet_table(uri: str, columns: Sequence[str]) -> pa.Table:
    """A directory of Parquet parts (local or in an object store) as an Arrow table. A materialized result
    (`.../snowflake-results/<query id>`) is read from the parts its `_SUCCESS` lists, and refused without one."""
    import flyte.storage as storage
    import pyarrow.parquet as pq
    from flyte.storage._storage import strip_file_header
    from fsspec.core import strip_protocol

    remote = storage.is_remote(uri)
    filesystem = storage.get_underlying_filesystem(path=uri) if remote else None
    path = strip_protocol(uri) if remote else strip_file_header(uri)
    source: str | list[str] = path
    if _is_materialized_result(path):
        source = [f"{path.rstrip('/')}/{part}" for part in _listed_parts(uri, path, filesystem)]
    return pq.read_table(source, filesystem=filesystem, columns=list(columns) or None)


def _is_materialized_result(path: str) -> bool:
    parts = path.rstrip("/").split("/")
    return len(parts) >= 2 and parts[-2] == RESULTS_DIR


def _listed_parts(uri: str, path: str, filesystem: Any) -> list[str]:
    """The parts a materialized result's `_SUCCESS` lists (written last: parts without it are an unfinished write)."""
    import json

    import fsspec

    fs = filesystem or fsspec.filesystem("file")
    marker = f"{path.rstrip('/')}/{MARKER}"
    if not fs.exists(marker):
        raise SnowflakeResultError(
            f"the Snowflake result at {uri} is incomplete: it has no {MARKER} file, so writing it did not finish "
            "(its Parquet parts may be missing rows). Run the Snowflake task again."
        )
    with fs.open(marker, "rb") as fh:
        manifest = json.loads(fh.read())
    return [str(part) for part in manifest["parts"]]


@functools.cache
def _snowflake_classes(library: _Library) -> tuple[type[Any], type[Any]]:
    """The `snowflake://` reader and writer classes of `library` (made once; flyte's base classes load here)."""
    from flyte.io.extend import DataFrameDecoder, DataFrameEncoder
    from flyteidl2.core import literals_pb2

    class Decoder(DataFrameDecoder[Any]):
        """Reads a `snowflake://` query result or table (the URI's secrets come from environment variables)."""

        def __init__(self) -> None:
            super().__init__(library.python_type(), SCHEME, "")

        async def decode(
            self,
            flyte_value: literals_pb2.StructuredDataset,
            current_task_metadata: literals_pb2.StructuredDatasetMetadata,
        ) -> Any:
            location = SnowflakeLocation.parse(flyte_value.uri)
            columns = _requested_columns(current_task_metadata)
            table = await asyncio.to_thread(read_location, location, columns)
            return library.from_arrow(table)

    class Encoder(DataFrameEncoder[Any]):
        """Writes a frame into the Snowflake table its `snowflake://` URI names (see `table_uri`)."""

        def __init__(self) -> None:
            super().__init__(library.python_type(), SCHEME, "")

        async def encode(
            self,
            dataframe: DataFrame,
            structured_dataset_type: types_pb2.StructuredDatasetType,
        ) -> literals_pb2.StructuredDataset:
            if not dataframe.uri:
                raise SnowflakeConfigError("writing to Snowflake needs a table URI: see table_uri()")
            location = SnowflakeLocation.parse(dataframe.uri)
            if location.is_query:
                raise SnowflakeConfigError(f"{dataframe.uri} names a query result, which cannot be written to")
            await asyncio.to_thread(write_table, location, library.to_arrow(dataframe.val))
            return literals_pb2.StructuredDataset(
                uri=dataframe.uri,
                metadata=literals_pb2.StructuredDatasetMetadata(structured_dataset_type=structured_dataset_type),
            )

    for cls, name in ((Decoder, library.decoder_name), (Encoder, library.encoder_name)):
        cls.__name__ = cls.__qualname__ = name
    return Decoder, Encoder


def _handlers(library: _Library) -> list[Any]:
    """A `snowflake://` reader and writer for `library`, and a Parquet reader when flyte has none (polars)."""
    from flyte.io.extend import DataFrameDecoder, DataFrameEncoder
    from flyteidl2.core import literals_pb2

    python_type = library.python_type()
    decoder, encoder = _snowflake_classes(library)

    class ParquetDecoder(DataFrameDecoder[Any]):
        def __init__(self) -> None:
            super().__init__(python_type, None, "parquet")

        async def decode(
            self,
            flyte_value: literals_pb2.StructuredDataset,
            current_task_metadata: literals_pb2.StructuredDatasetMetadata,
        ) -> Any:
            columns = _requested_columns(current_task_metadata)
            table = await asyncio.to_thread(_parquet_table, flyte_value.uri, columns)
            return library.from_arrow(table)

    class ParquetEncoder(DataFrameEncoder[Any]):
        def __init__(self) -> None:
            super().__init__(python_type, None, "parquet")

        async def encode(
            self,
            dataframe: DataFrame,
            structured_dataset_type: types_pb2.StructuredDatasetType,
        ) -> literals_pb2.StructuredDataset:
            uri = dataframe.uri or _random_output_dir()
            await asyncio.to_thread(_write_parquet, uri, library.to_arrow(dataframe.val))
            structured_dataset_type.format = "parquet"
            return literals_pb2.StructuredDataset(
                uri=uri,
                metadata=literals_pb2.StructuredDatasetMetadata(structured_dataset_type=structured_dataset_type),
            )

    handlers: list[Any] = [decoder(), encoder()]
    if library.module == "polars":
        # flyte itself reads and writes Parquet for pandas and pyarrow only (polars needs flyteplugins-polars):
        # without these a task taking or returning a polars frame fails. Skipped when another plugin has them.
        handlers += [ParquetDecoder(), ParquetEncoder()]
    return handlers


def _random_output_dir() -> str:
    from flyte._context import internal_ctx

    return str(internal_ctx().raw_data.get_random_remote_path())


def _write_parquet(uri: str, table: pa.Table) -> None:
    """A dataframe as flyte's own Parquet writers lay it out: one file, `00000`, in the directory `uri`."""
    import flyte.storage as storage
    import pyarrow.parquet as pq
    from fsspec.core import strip_protocol

    path = storage.join(uri, "00000")
    if not storage.is_remote(uri):
        os.makedirs(strip_protocol(uri), exist_ok=True)
    pq.write_table(table, strip_protocol(path), filesystem=storage.get_underlying_filesystem(path=path))


# --- registration --------------------------------------------------------------------------------------------

_registered: set[str] = set()
_watching: set[str] = set()
_lock = threading.RLock()


def register_handlers() -> frozenset[str]:
    """Register the `snowflake://` readers and writers (and a polars Parquet reader) with flyte. Idempotent.

    Libraries already imported are registered now; installed ones not yet imported are registered the
    moment they are, so this never imports pandas, polars or pyarrow itself.

    Returns:
        The libraries registered so far.
    """
    with _lock:
        for library in _LIBRARIES:
            if library.module in _registered:
                continue
            if _is_loaded(library.module):
                _register(library)
            elif library.module not in _watching:
                _watch(library)
        return frozenset(_registered)


def _register(library: _Library) -> None:
    from flyte.io._dataframe.dataframe import DuplicateHandlerError
    from flyte.io.extend import DataFrameTransformerEngine

    with _lock:
        if library.module in _registered:
            return
        for handler in _handlers(library):
            try:
                DataFrameTransformerEngine.register(handler)
            except DuplicateHandlerError:  # another plugin (e.g. flyteplugins-polars) reads Parquet already
                logger.debug("%s: a handler is already registered", type(handler).__name__)
        _registered.add(library.module)
        if _ImportWatcher._instance is not None:
            _ImportWatcher._instance.libraries.pop(library.module, None)


def _is_loaded(module: str) -> bool:
    found = sys.modules.get(module)
    # flyte keeps pandas and pyarrow as lazy modules until first used; touching one would load it.
    return found is not None and type(found).__name__ != "_LazyModule"


def _watch(library: _Library) -> None:
    """Register `library` right after it is imported, without importing it now."""
    found = sys.modules.get(library.module)
    if found is not None:  # a lazy module (flyte's lazy_module): hook the load it defers
        spec = object.__getattribute__(found, "__dict__").get("__spec__")
        if spec is None or spec.loader is None:
            return
        spec.loader = _NotifyingLoader(spec.loader, library)
    elif importlib.util.find_spec(library.module) is None:
        return
    else:
        _ImportWatcher.install().libraries[library.module] = library
    _watching.add(library.module)


class _NotifyingLoader(importlib.abc.Loader):
    """Wraps a module's loader: runs the module, then registers the library's handlers."""

    def __init__(self, loader: Any, library: _Library) -> None:
        self._loader = loader
        self._library = library

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        module.__spec__.loader = self._loader  # type: ignore[union-attr]
        module.__loader__ = self._loader
        try:
            _register(self._library)
        except Exception as exc:  # never break the user's `import pandas` because of our handlers
            logger.warning("could not register Snowflake dataframe handlers for %s: %s", self._library.module, exc)


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of the libraries it watches so they register on import."""

    _instance: _ImportWatcher | None = None

    def __init__(self) -> None:
        self.libraries: dict[str, _Library] = {}

    @classmethod
    def install(cls) -> _ImportWatcher:
        if cls._instance is None:
            cls._instance = cls()
            sys.meta_path.insert(0, cls._instance)
        return cls._instance

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        # Not popped here: a probe (importlib.util.find_spec, as polars does for pandas) is not an import; the
        # library stays watched until it is registered.
        library = self.libraries.get(fullname)
        if library is None or library.module in _registered:
            return None
        for finder in _other_finders(self):
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _NotifyingLoader(spec.loader, library)
                return spec  # type: ignore[no-any-return]
        return None


def _other_finders(watcher: object) -> Iterable[Any]:
    return [f for f in sys.meta_path if f is not watcher and hasattr(f, "find_spec")]


# --- the public plugin's names -------------------------------------------------------------------------------

_PANDAS_HANDLERS = {_PANDAS.decoder_name: 0, _PANDAS.encoder_name: 1}
# Declared, not bound: the first access goes through __getattr__ below, which makes the classes.
SnowflakeToPandasDecodingHandler: type[Any]
PandasToSnowflakeEncodingHandlers: type[Any]


def __getattr__(name: str) -> Any:
    # Made on first use, so importing this module loads neither flyte's dataframe engine nor pandas.
    if name in _PANDAS_HANDLERS:
        return _snowflake_classes(_PANDAS)[_PANDAS_HANDLERS[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
