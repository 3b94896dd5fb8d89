"""`snowflake://` URIs: parse and build them (query results and tables), log in as one says, quote what it names.

The URI format and its secret-name convention are described in `dataframe`'s module docstring.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from .errors import MissingSecretError, SnowflakeConfigError

if TYPE_CHECKING:
    from flyte.io import DataFrame

    from .config import SnowflakeConfig
    from .metadata import SnowflakeJobMetadata

SCHEME = "snowflake"

#: Settings a reader needs to log in as the task did, and how each travels in the URI query string.
_STR_SETTINGS = ("role", "host", "protocol", "authenticator")
_JSON_SETTINGS = ("port", "login_timeout", "network_timeout", "session_parameters", "connection_kwargs")
#: Secrets the public plugin's reader read from fixed variables; used for its old, parameterless URIs only.
_LEGACY_SECRET_ENV = {
    "snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY",
    "snowflake_private_key_passphrase": "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
}
_SECRET_PREFIX = "snowflake_"
_WRITE_MODES = ("append", "overwrite")
_QUERY_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def is_query_id(text: str) -> bool:
    """True when `text` has the form of a Snowflake query id (a UUID: 8-4-4-4-12 hexadecimal digits)."""
    return bool(_QUERY_ID.match(text))


@dataclass(frozen=True)
class SnowflakeLocation:
    """A parsed `snowflake://` URI: a query result (`name` is a query id) or a table (`name` is its name).

    Example:
        >>> loc = SnowflakeLocation.parse("snowflake://ME/acct/WH/DB/PUBLIC/01b2c3d4-0000-0000-0000-000000000001")
        >>> loc.is_query, loc.database
        (True, 'DB')
    """

    user: str
    account: str
    warehouse: str
    database: str
    schema: str
    name: str
    #: Non-secret connection settings (role, host, port, ...), typed as in `SnowflakeConfig`.
    settings: dict[str, Any] = field(default_factory=dict)
    #: Secret keyword (`snowflake_private_key`, ...) -> environment variable that holds it in the reading task.
    secrets: dict[str, str] = field(default_factory=dict)
    #: Writers only: "append" or "overwrite".
    mode: str = "append"

    @property
    def label(self) -> str:
        """How messages name this location: its scheme and last part (the query string is not repeated)."""
        return f"{SCHEME}://.../{self.name}"

    @property
    def is_query(self) -> bool:
        """True when `name` is a query id (a result to read), False when it names a table."""
        return is_query_id(self.name)

    @classmethod
    def parse(cls, uri: str) -> SnowflakeLocation:
        """Parse our URIs and the public plugin's (which have no query string)."""
        prefix = f"{SCHEME}://"
        if not uri.startswith(prefix):
            raise SnowflakeConfigError(f"not a {prefix} URI: {uri!r}")
        path, _, query = uri[len(prefix) :].partition("?")
        parts = [unquote(p) for p in path.split("/")]
        if len(parts) != 6 or not all(parts[:2]) or not parts[5]:
            raise SnowflakeConfigError(
                f"a {prefix} URI reads {prefix}<user>/<account>/<warehouse>/<database>/<schema>/<query id or table>"
                f", got {uri!r}"
            )
        settings: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        mode = "append"
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "mode":
                mode = _check_mode(value)
            elif key.startswith(_SECRET_PREFIX):
                secrets[key] = value
            elif key in _JSON_SETTINGS:
                settings[key] = json.loads(value)
            else:
                settings[key] = value
        user, account, warehouse, database, schema, name = parts
        return cls(user, account, warehouse, database, schema, name, settings, secrets, mode)

    def uri(self) -> str:
        """The URI; parsing it gives this location back."""
        path = "/".join(
            quote(p, safe="@.-_")
            for p in (self.user, self.account, self.warehouse, self.database, self.schema, self.name)
        )
        params: list[tuple[str, str]] = []
        for key, value in self.settings.items():
            if value is not None:
                params.append((key, json.dumps(value, sort_keys=True) if key in _JSON_SETTINGS else str(value)))
        params.extend(sorted(self.secrets.items()))
        if self.mode != "append":
            params.append(("mode", self.mode))
        query = urlencode(params)
        return f"{SCHEME}://{path}" + (f"?{query}" if query else "")

    def config(self) -> SnowflakeConfig:
        """The connection settings as a `SnowflakeConfig` (validated like the task's own)."""
        from .config import SnowflakeConfig

        known = {k: v for k, v in self.settings.items() if k in (*_STR_SETTINGS, *_JSON_SETTINGS)}
        return SnowflakeConfig.from_custom(
            {
                "account": self.account,
                "user": self.user,
                "warehouse": self.warehouse,
                "database": self.database,
                "schema": self.schema,
                **known,
            }
        )

    def secret_values(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """Each secret's value, from the environment variable the URI names for it.

        Raises:
            MissingSecretError: a variable is not set; the message names it and how to provide it.
        """
        env = os.environ if environ is None else environ
        if not self.secrets:
            # The public plugin's URIs name no secret: its reader always looked at these two variables.
            return {k: env[v] for k, v in _LEGACY_SECRET_ENV.items() if v in env}
        values: dict[str, str] = {}
        for keyword, variable in self.secrets.items():
            value = env.get(variable)
            if value is None:
                raise MissingSecretError(
                    f"reading {SCHEME}://.../{self.name} needs the secret {keyword} from the environment variable "
                    f"{variable}, which is not set in this task: request the same secret as the Snowflake task, "
                    f'e.g. flyte.TaskEnvironment(..., secrets=[flyte.Secret(key="<its key>", as_env_var="{variable}")])'
                    f" (locally: export {variable}=...), or set SnowflakeConfig(results='materialize') so that "
                    "readers need no Snowflake credentials"
                )
            values[keyword] = value
        return values


def _check_mode(mode: str) -> str:
    if mode not in _WRITE_MODES:
        raise SnowflakeConfigError(f"write mode must be one of {', '.join(_WRITE_MODES)}, got {mode!r}")
    return mode


def _settings_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The connection settings of a `SnowflakeConfig.to_custom()` dict that a reader needs (no secrets)."""
    return {k: config[k] for k in (*_STR_SETTINGS, *_JSON_SETTINGS) if config.get(k) is not None}


def result_reference(meta: SnowflakeJobMetadata, query_id: str) -> DataFrame:
    """A `flyte.io.DataFrame` pointing at a finished query's result in Snowflake (the "reference" mode).

    The URI keeps the public plugin's path, so its readers' URIs and ours read alike, and adds the settings
    and secret names a downstream reader needs to log in as the task did.
    """
    from flyte.io import DataFrame

    location = SnowflakeLocation(
        user=meta.user,
        account=meta.account,
        warehouse=meta.warehouse,
        database=meta.database,
        schema=meta.schema,
        name=query_id,
        settings=_settings_of(meta.config or {"connection_kwargs": meta.connection_kwargs}),
        secrets=dict(meta.secrets),
    )
    return DataFrame.from_existing_remote(location.uri())


def table_uri(
    config: SnowflakeConfig,
    table: str,
    *,
    mode: str = "append",
    secrets: Mapping[str, str] | None = None,
) -> str:
    """The `snowflake://` URI of a table, for writing a dataframe into it (or reading it whole).

    Args:
        config: Where and as whom to connect.
        table: Table name, used as written (quoted): `"EVENTS"` and `"events"` are different tables.
        mode: "append" adds rows; "overwrite" replaces the table's rows. Either creates a missing table.
        secrets: Secret keyword -> environment variable holding it in the writing task, e.g.
            `{"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"}`.

    Example:
        ```python
        @env.task
        def publish(df: pd.DataFrame) -> flyte.io.DataFrame:
            uri = table_uri(config, "DAILY_TOTALS", mode="overwrite",
                            secrets={"snowflake_private_key": "SNOWFLAKE_PRIVATE_KEY"})
            return flyte.io.DataFrame.wrap_df(df, uri=uri)
        ```
    """
    if not table or "/" in table:
        raise SnowflakeConfigError(f"table must be a non-empty name without '/', got {table!r}")
    bad = [k for k in (secrets or {}) if not k.startswith(_SECRET_PREFIX)]
    if bad:
        raise SnowflakeConfigError(f"secret keywords start with {_SECRET_PREFIX!r} (snowflake_private_key...): {bad}")
    return SnowflakeLocation(
        user=config.user,
        account=config.account,
        warehouse=config.warehouse,
        database=config.database,
        schema=config.schema,
        name=table,
        settings=_settings_of(config.to_custom()),
        secrets=dict(secrets or {}),
        mode=_check_mode(mode),
    ).uri()


def login(location: SnowflakeLocation) -> Any:
    """A driver connection for a downstream reader or writer, with the settings and secrets the URI names.

    The URI is untrusted input: `UriPolicy.vet` checks its host, options and secret variables against this
    task's own configuration before anything is read from the environment or sent.
    """
    from . import _client
    from ._auth import Credentials
    from ._trust import UriPolicy

    policy = UriPolicy.from_environ()
    config = policy.vet(location)
    credentials = Credentials.from_kwargs(location.secret_values())
    return _client.login({**policy.driver_kwargs(config), **credentials.driver_kwargs(config.authenticator)})


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def table_name(location: SnowflakeLocation) -> str:
    """The table `location` names, fully qualified and quoted as given: `"DB"."PUBLIC"."my table"`."""
    return ".".join(quote_identifier(p) for p in (location.database, location.schema, location.name))
