"""`SnowflakeConfig`: where a Snowflake task connects and how, validated when the task is defined.

A drop-in for the public plugin's `SnowflakeConfig(account, database, schema, warehouse, user,
connection_kwargs=None)`, plus typed keyword fields. It never holds a secret: credentials are Flyte secrets
named on the task (`snowflake_private_key=...`, `snowflake_password=...`), see `_auth.py`.

Rules worth knowing:

- `schema=""` means `PUBLIC` (what Snowflake itself picks for a database without a schema); so does a task
  whose custom config has no `schema` key, as the public plugin reads it.
- A setting may be given as a typed field or, for compatibility, in `connection_kwargs`
  (`connection_kwargs={"role": "ANALYST"}` still works and sets `role`). Giving it in both places with
  different values is an error; `session_parameters` from both places are merged key by key.
- `connection_kwargs` may not carry secrets, `paramstyle` (the plugin binds on the server), or anything
  that would open a browser.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from ._links import AccountIdentifier
from ._sql import user_query_tag
from ._trust import is_loopback
from .errors import SnowflakeConfigError

__all__ = ["DEFAULT_LOGIN_TIMEOUT", "DEFAULT_NETWORK_TIMEOUT", "SnowflakeConfig"]

#: Seconds a login may take, retries included, when `login_timeout` is not set.
DEFAULT_LOGIN_TIMEOUT = 30
#: Seconds one driver request may take, retries included, when `network_timeout` is not set. The driver's
#: own default is unbounded: an HTTP 500 would be retried for over ten minutes inside one call.
DEFAULT_NETWORK_TIMEOUT = 60
#: Snowflake's ceiling for STATEMENT_TIMEOUT_IN_SECONDS (7 days).
MAX_STATEMENT_TIMEOUT = 604800

_REQUIRED = ("account", "database", "warehouse", "user")
_PUBLIC_FIELDS = ("account", "database", "schema", "warehouse", "user")
#: The schema of a session that names none: Snowflake's default schema of every database.
DEFAULT_SCHEMA = "PUBLIC"
# Typed fields that the driver also accepts as connect() keywords (so they may come from connection_kwargs).
_DRIVER_FIELDS = ("role", "host", "port", "protocol", "authenticator", "login_timeout", "network_timeout")
_INT_FIELDS = ("port", "statement_timeout")

# Authenticators a headless service can use, and why the others are refused.
_AUTHENTICATORS = frozenset({"SNOWFLAKE", "SNOWFLAKE_JWT", "OAUTH", "PROGRAMMATIC_ACCESS_TOKEN", "WORKLOAD_IDENTITY"})
_REFUSED_AUTHENTICATORS = {
    "EXTERNALBROWSER": "it opens a web browser on the machine running the query, and nobody is there in a "
    "Flyte task or the connector service",
    "USERNAME_PASSWORD_MFA": "it waits for someone to approve a multi-factor prompt",
    "OAUTH_AUTHORIZATION_CODE": "it opens a web browser to sign in",
    "OAUTH_CLIENT_CREDENTIALS": "its client secret would have to live in the task config",
}
_AUTH_FIX = (
    "use key-pair authentication (snowflake_private_key), a programmatic access token (snowflake_pat), an OAuth "
    "token (snowflake_oauth_token) or a password (snowflake_password), given as Flyte secrets on the task"
)

# connection_kwargs keys that carry a secret -> the task keyword that carries it instead.
_SECRET_KWARGS = {
    "password": "snowflake_password",
    "passcode": None,
    "private_key": "snowflake_private_key",
    "private_key_file": "snowflake_private_key",
    "private_key_file_pwd": "snowflake_private_key_passphrase",
    "private_key_passphrase": "snowflake_private_key_passphrase",
    "token": "snowflake_pat (a programmatic access token) or snowflake_oauth_token",
    "token_file_path": "snowflake_pat or snowflake_oauth_token",
    "oauth_client_secret": None,
    "session_token": None,
    "master_token": None,
    "id_token": None,
    "mfa_token": None,
}
_SECRET_WORDS = ("password", "secret", "passphrase", "pwd", "passcode")
_FORBIDDEN_KWARGS = {
    "paramstyle": "the plugin binds inputs on the server (paramstyle 'numeric'); write %(name)s placeholders "
    "in query_template and it translates them",
    "auth_class": "it is a Python object and cannot be stored in the task; use a supported authenticator",
}


@dataclass
class SnowflakeConfig:
    """Connection settings of a Snowflake task.

    Example:
        ```python
        SnowflakeConfig(
            account="myorg-myaccount",
            database="ANALYTICS",
            schema="PUBLIC",
            warehouse="COMPUTE_WH",
            user="FLYTE",
            role="TRANSFORMER",
            query_tag={"team": "growth"},
            statement_timeout=3600,
        )
        ```
    """

    #: Account identifier: `orgname-account_name` (preferred), or a locator `xy12345`,
    #: `xy12345.us-east-1`, `xy12345.us-east-2.aws`, optionally ending in `.privatelink`. A pasted host or URL
    #: is stored as its identifier; a URL with a user name or password in it is refused.
    account: str
    #: Database the session uses.
    database: str
    #: Schema the session uses; "" means PUBLIC.
    schema: str
    #: Warehouse that runs the queries (it resumes by itself if auto-resume is on).
    warehouse: str
    #: Login name of the Snowflake user the task runs as.
    user: str
    #: Extra keyword arguments for `snowflake.connector.connect` (kept for compatibility; prefer the typed
    #: fields). Values may be nested dicts. Secrets are refused: pass them as Flyte secrets on the task.
    connection_kwargs: dict[str, Any] | None = None
    _: KW_ONLY
    #: Role to use; None means the user's default role.
    role: str | None = None
    #: Added to every statement's QUERY_TAG next to the Flyte run details: a dict (or a string holding a JSON
    #: object) is merged in, any other string goes under "user_tag". A QUERY_TAG in `session_parameters` is
    #: merged the same way. At most 1500 characters as JSON.
    query_tag: str | dict[str, Any] | None = None
    #: Seconds a statement may run before Snowflake cancels it (STATEMENT_TIMEOUT_IN_SECONDS, sent with
    #: the statement). None or 0: the account's or warehouse's setting applies.
    statement_timeout: int | None = None
    #: Session parameters set at login, e.g. {"TIMEZONE": "UTC"}. A QUERY_TAG here is also kept in every
    #: statement's QUERY_TAG (merged as `query_tag` is), which would otherwise replace it.
    session_parameters: dict[str, Any] | None = None
    #: Host to connect to instead of the one derived from `account` (a proxy, or the local Snowflake).
    host: str | None = None
    #: Port to connect to; None means 443 (or the driver's default for `protocol`).
    port: int | None = None
    #: "https" (default) or "http" (only with a loopback `host`: the local Snowflake; refused for any other).
    protocol: str | None = None
    #: How to log in when the secrets alone do not say it: "SNOWFLAKE_JWT", "OAUTH",
    #: "PROGRAMMATIC_ACCESS_TOKEN", "SNOWFLAKE" (password) or "WORKLOAD_IDENTITY". None: chosen from the
    #: secrets given. Interactive authenticators ("externalbrowser", MFA) are refused.
    authenticator: str | None = None
    #: Seconds a login may take, retries included. None means 30.
    login_timeout: float | None = None
    #: Seconds one driver request may take, retries included. None means 60.
    network_timeout: float | None = None
    #: Local runs: the shortest wait between two status checks, in seconds. The first check comes right after
    #: the submit; later ones wait 5% of the query's running time so far, between this and max_poll_interval.
    poll_interval: float = 0.05
    #: Local runs: the longest wait between two status checks, in seconds.
    max_poll_interval: float = 2.0
    #: How the `results` output reaches the next task. "materialize" (default) streams it into Parquet under
    #: the task's output prefix: durable, readable without Snowflake credentials, safe for Flyte's cache.
    #: "reference" passes a snowflake:// URI that readers fetch from Snowflake's ~24 h result cache.
    results: str = "materialize"
    # Typed fields whose value came from connection_kwargs (so to_custom does not write them twice).
    _from_kwargs: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    # The user's part of every statement's QUERY_TAG: the session's QUERY_TAG merged with query_tag.
    _user_tag: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_public_fields()
        self._check_connection_kwargs()
        self._adopt_connection_kwargs()
        self._check_typed_fields()

    # --- serialization ---------------------------------------------------------------------------------

    def to_custom(self) -> dict[str, Any]:
        """The JSON-able dict stored in `TaskTemplate.custom`: the public plugin's keys plus ours when set."""
        custom: dict[str, Any] = {name: getattr(self, name) for name in _PUBLIC_FIELDS}
        if self.connection_kwargs is not None:
            custom["connection_kwargs"] = dict(self.connection_kwargs)
        for f in _keyword_fields():
            value = getattr(self, f.name)
            if f.name == "session_parameters" and value:
                given = (self.connection_kwargs or {}).get("session_parameters") or {}
                value = {k: v for k, v in value.items() if k not in given} or None
            if value != f.default and f.name not in self._from_kwargs:
                custom[f.name] = value
        return custom

    @classmethod
    def from_custom(cls, custom: Mapping[str, Any]) -> SnowflakeConfig:
        """Rebuild a config from `to_custom()` output after a protobuf Struct round trip.

        Unknown keys (`secrets`, `batch`...) are ignored; numbers that came back as floats become ints again.
        A missing `schema` is `PUBLIC`, as the public plugin reads such a task.
        """
        if not isinstance(custom, Mapping):
            raise SnowflakeConfigError(f"task custom config must be a mapping, got {type(custom).__name__}")
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        values = {k: _restore_numbers(v) for k, v in custom.items() if k in known}
        values.setdefault("schema", DEFAULT_SCHEMA)
        missing = [name for name in _PUBLIC_FIELDS if name not in values]
        if missing:
            raise SnowflakeConfigError(f"task custom config lacks {', '.join(missing)}: was it made by this plugin?")
        return cls(**values)

    def driver_kwargs(self) -> dict[str, Any]:
        """Non-secret keyword arguments for `snowflake.connector.connect` (no `paramstyle`: the client sets it).

        Example:
            >>> SnowflakeConfig("myorg-acct", "DB", "", "WH", "ME").driver_kwargs()["schema"]
            'PUBLIC'
        """
        adopted = adopted_settings()
        kwargs: dict[str, Any] = {k: v for k, v in (self.connection_kwargs or {}).items() if k not in adopted}
        kwargs.update(
            account=AccountIdentifier.parse(self.account).identifier,
            user=self.user,
            database=self.database,
            schema=self.schema,
            warehouse=self.warehouse,
            login_timeout=self.login_timeout if self.login_timeout is not None else DEFAULT_LOGIN_TIMEOUT,
            network_timeout=self.network_timeout if self.network_timeout is not None else DEFAULT_NETWORK_TIMEOUT,
        )
        for name in ("role", "host", "port", "protocol", "authenticator", "session_parameters"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        return kwargs

    def user_query_tag(self) -> dict[str, Any]:
        """The fields every statement's QUERY_TAG carries besides the Flyte run details (a copy).

        The session parameter QUERY_TAG (from `session_parameters` or `connection_kwargs`) and `query_tag`,
        merged: a JSON-object string or a dict gives its keys, a plain string goes under "user_tag".

        Example:
            >>> SnowflakeConfig("a-b", "DB", "", "WH", "ME", session_parameters={"QUERY_TAG": "team-x"},
            ...                 query_tag={"job": "nightly"}).user_query_tag()
            {'user_tag': 'team-x', 'job': 'nightly'}
        """
        return dict(self._user_tag)

    def identity(self) -> str:
        """A stable string naming the session these settings open (no secrets): part of connection-pool keys.

        Two configs with the same identity can share a logged-in session; any difference in account, user,
        role, host, warehouse, database, schema or session settings gives a different identity.
        """
        # Whole floats as ints, so a config rebuilt from a protobuf Struct has the same identity.
        return json.dumps(_restore_numbers(self.driver_kwargs()), sort_keys=True, separators=(",", ":"), default=str)

    # --- validation ------------------------------------------------------------------------------------

    def _check_public_fields(self) -> None:
        for name in _PUBLIC_FIELDS:
            value = getattr(self, name)
            if value is None and name == "schema":
                value = ""
            if not isinstance(value, str):
                raise SnowflakeConfigError(f"{name} must be a string, got {type(value).__name__}")
            setattr(self, name, value.strip())
        for name in _REQUIRED:
            if not getattr(self, name):
                raise SnowflakeConfigError(f"{name} is required: set SnowflakeConfig({name}=...) ({_HINTS[name]})")
        if not self.schema:
            self.schema = DEFAULT_SCHEMA
        try:
            parsed = AccountIdentifier.parse(self.account)
        except SnowflakeConfigError as exc:
            raise SnowflakeConfigError(f"SnowflakeConfig.{exc.message}") from None
        if AccountIdentifier.is_written_as_url(self.account):
            # Stored as the identifier: the task spec, job metadata and result URIs never carry a pasted URL.
            self.account = parsed.identifier

    def _check_connection_kwargs(self) -> None:
        kwargs = self.connection_kwargs
        if kwargs is None:
            return
        if not isinstance(kwargs, Mapping):
            raise SnowflakeConfigError(
                f"connection_kwargs must be a dict of connect() settings, got {type(kwargs).__name__}"
            )
        self.connection_kwargs = dict(kwargs)
        for key, value in kwargs.items():
            check_connection_kwarg(key, value)

    def _adopt_connection_kwargs(self) -> None:
        """Settings given in connection_kwargs fill the typed fields (compatibility with the public plugin)."""
        kwargs = self.connection_kwargs or {}
        adopted: set[str] = set()
        for name in _PUBLIC_FIELDS:
            if name in kwargs and kwargs[name] != getattr(self, name):
                raise SnowflakeConfigError(
                    f"connection_kwargs[{name!r}] ({kwargs[name]!r}) contradicts {name}={getattr(self, name)!r}: "
                    f"set {name} once, as the SnowflakeConfig argument"
                )
        for name in _DRIVER_FIELDS:
            if name not in kwargs:
                continue
            current = getattr(self, name)
            if current is not None and current != kwargs[name]:
                raise SnowflakeConfigError(
                    f"{name} is set twice with different values: {name}={current!r} and "
                    f"connection_kwargs[{name!r}]={kwargs[name]!r}; keep one (prefer the {name}= field)"
                )
            if current is None:
                setattr(self, name, kwargs[name])
                adopted.add(name)
        if "session_parameters" in kwargs:
            # Merged; to_custom writes back only the keys that did not come from connection_kwargs.
            self.session_parameters = _merge_session_parameters(self.session_parameters, kwargs["session_parameters"])
        self._from_kwargs = frozenset(adopted)

    def _check_typed_fields(self) -> None:
        _check_optional_str("role", self.role)
        _check_optional_str("host", self.host)
        self._check_statement_timeout()
        self._check_session_parameters()
        self._check_query_tag()
        self._check_port_and_protocol()
        self._check_authenticator()
        for name in ("login_timeout", "network_timeout"):
            _check_seconds(name, getattr(self, name), allow_none=True)
        if self.results not in ("materialize", "reference"):
            raise SnowflakeConfigError(
                f"results must be 'materialize' (Parquet under the task's outputs) or 'reference' "
                f"(a snowflake:// URI to Snowflake's result cache), got {self.results!r}"
            )
        _check_seconds("poll_interval", self.poll_interval, allow_none=False)
        _check_seconds("max_poll_interval", self.max_poll_interval, allow_none=False)
        if self.max_poll_interval < self.poll_interval:
            raise SnowflakeConfigError(
                f"max_poll_interval ({self.max_poll_interval}) must be >= poll_interval ({self.poll_interval})"
            )

    def _check_query_tag(self) -> None:
        tag = self.query_tag
        if isinstance(tag, Mapping):
            self.query_tag = dict(tag)
            _check_json("query_tag", self.query_tag)
        elif tag is not None and not isinstance(tag, str):
            raise SnowflakeConfigError(f"query_tag must be a string or a dict, got {type(tag).__name__}")
        self._user_tag = user_query_tag(self._session_query_tag(), self.query_tag)

    def _session_query_tag(self) -> str | None:
        """The session parameter QUERY_TAG, if set (Snowflake's parameter names are case-insensitive)."""
        tags = [v for k, v in (self.session_parameters or {}).items() if k.upper() == "QUERY_TAG"]
        if len(tags) > 1:
            raise SnowflakeConfigError("session_parameters sets QUERY_TAG twice (in different cases); keep one")
        if tags and tags[0] is not None and not isinstance(tags[0], str):
            raise SnowflakeConfigError(
                f"session parameter QUERY_TAG must be a string, got {type(tags[0]).__name__}: for several "
                "fields, give a JSON object as a string, or use query_tag={...}"
            )
        return tags[0] if tags else None

    def _check_statement_timeout(self) -> None:
        value: Any = self.statement_timeout
        if value is None:
            return
        if isinstance(value, float) and value.is_integer():
            value = self.statement_timeout = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STATEMENT_TIMEOUT:
            raise SnowflakeConfigError(
                f"statement_timeout must be a whole number of seconds from 0 to {MAX_STATEMENT_TIMEOUT}, got {value!r}"
            )

    def _check_session_parameters(self) -> None:
        params = self.session_parameters
        if params is None:
            return
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise SnowflakeConfigError('session_parameters must be a dict like {"TIMEZONE": "UTC"}')
        self.session_parameters = dict(params)
        _check_json("session_parameters", self.session_parameters)

    def _check_port_and_protocol(self) -> None:
        port: Any = self.port
        if port is not None:
            if isinstance(port, float) and port.is_integer():
                port = self.port = int(port)
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise SnowflakeConfigError(f"port must be an integer from 1 to 65535, got {port!r}")
        if self.protocol is not None:
            if not isinstance(self.protocol, str) or self.protocol.strip().lower() not in ("https", "http"):
                raise SnowflakeConfigError(f"protocol must be 'https' or 'http', got {self.protocol!r}")
            self.protocol = self.protocol.strip().lower()
        if self.protocol == "http" and not is_loopback(self.host):
            where = f"host {self.host!r} is not" if self.host else "no host is set, so the account's own host would be"
            raise SnowflakeConfigError(
                f"protocol='http' sends passwords and tokens unencrypted; it is only for the local Snowflake on a "
                f"loopback host (127.0.0.1, ::1, localhost), and {where} one: use protocol='https' (the default)"
            )

    def _check_authenticator(self) -> None:
        if self.authenticator is None:
            return
        if not isinstance(self.authenticator, str) or not self.authenticator.strip():
            raise SnowflakeConfigError(f"authenticator must be a non-empty string, got {self.authenticator!r}")
        name = self.authenticator.strip().upper()
        if name in _REFUSED_AUTHENTICATORS:
            raise SnowflakeConfigError(
                f"authenticator {self.authenticator!r} cannot be used by a Flyte task: "
                f"{_REFUSED_AUTHENTICATORS[name]}; {_AUTH_FIX}"
            )
        if name not in _AUTHENTICATORS:
            allowed = ", ".join(sorted(_AUTHENTICATORS))
            raise SnowflakeConfigError(f"authenticator {self.authenticator!r} is not supported; use one of {allowed}")
        self.authenticator = name


_HINTS = {
    "account": "e.g. 'myorg-myaccount'",
    "database": "the database the queries run in",
    "warehouse": "the warehouse that runs the queries, e.g. 'COMPUTE_WH'",
    "user": "the Snowflake login name the task runs as",
}


def _keyword_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(SnowflakeConfig) if f.kw_only and f.init]


def adopted_settings() -> frozenset[str]:
    """The settings `SnowflakeConfig` takes out of `connection_kwargs` into its own fields (and checks)."""
    return frozenset((*_PUBLIC_FIELDS, *_DRIVER_FIELDS, "session_parameters"))


def check_connection_kwarg(key: Any, value: Any) -> None:
    """Refuse a `connection_kwargs` entry that is a secret, `paramstyle`, a Python object or not JSON."""
    if not isinstance(key, str) or not key:
        raise SnowflakeConfigError(f"connection_kwargs keys must be non-empty strings, got {key!r}")
    lowered = key.lower()
    if lowered in _SECRET_KWARGS or any(word in lowered for word in _SECRET_WORDS):
        raise SnowflakeConfigError(_secret_kwarg_message(key))
    if lowered in _FORBIDDEN_KWARGS:
        raise SnowflakeConfigError(f"connection_kwargs[{key!r}] is not allowed: {_FORBIDDEN_KWARGS[lowered]}")
    _check_json(f"connection_kwargs[{key!r}]", value)


def _secret_kwarg_message(key: str) -> str:
    keyword = _SECRET_KWARGS.get(key.lower())
    how = (
        f"pass it as a Flyte secret on the task instead: Snowflake(..., {keyword.split(' ')[0]}='<secret name>')"
        if keyword
        else f"this plugin does not take it at all; {_AUTH_FIX}"
    )
    return (
        f"connection_kwargs[{key!r}] is a secret and the task config is stored in plain text (the value is not "
        f"shown here); {how}"
    )


def _check_optional_str(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise SnowflakeConfigError(f"{name} must be a non-empty string or None, got {value!r}")


def _check_seconds(name: str, value: Any, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise SnowflakeConfigError(f"{name} must be a positive number of seconds, got {value!r}")


def _check_json(name: str, value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise SnowflakeConfigError(
            f"{name} must hold plain JSON values (str, int, float, bool, None, lists, dicts with string keys): "
            "it is stored in the task definition"
        ) from None


def _merge_session_parameters(typed: dict[str, Any] | None, given: Any) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise SnowflakeConfigError('connection_kwargs["session_parameters"] must be a dict like {"TIMEZONE": "UTC"}')
    merged = dict(typed or {})
    for key, value in given.items():
        if key in merged and merged[key] != value:
            raise SnowflakeConfigError(
                f"session parameter {key!r} is set twice with different values ({merged[key]!r} in "
                f"session_parameters, {value!r} in connection_kwargs); keep one"
            )
        merged[key] = value
    return merged


def _restore_numbers(value: Any) -> Any:
    """A protobuf Struct keeps every number as a double: 5 comes back as 5.0. Whole floats become ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _restore_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_numbers(v) for v in value]
    return value
