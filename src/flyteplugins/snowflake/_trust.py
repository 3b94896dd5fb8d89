"""Where credentials may go: loopback hosts, an account's own hosts, and what a `snowflake://` URI may choose.

A `snowflake://` URI reaches a task as an input: written by another task, project or user, it is untrusted.
Before a reader or writer logs in from one, `UriPolicy.vet` checks, without connecting, that it

- names only this plugin's secret variables (`SNOWFLAKE_*` and `{GROUP}_SNOWFLAKE_*`, what a secret key named
  `snowflake-...` becomes), so no other variable of the reading task is ever sent;
- connects only to the account's own host (`<account>.snowflakecomputing.com`, its `.privatelink` form) or to
  loopback (the local Snowflake);
- carries only driver options that cannot change where the credentials go or how the connection is secured.

The reading task widens this in its own configuration (environment variables its `TaskEnvironment` sets; a
URI cannot set them): `FLYTE_SNOWFLAKE_URI_HOSTS` (more hosts), `FLYTE_SNOWFLAKE_URI_SECRET_VARIABLES` (more
variable names) and `FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS` (driver options such as a proxy, used for every
URI it reads instead of the URI's own).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SnowflakeConfigError

if TYPE_CHECKING:
    from ._location import SnowflakeLocation
    from .config import SnowflakeConfig

__all__ = ["CONNECTION_KWARGS_ENV", "HOSTS_ENV", "SECRET_VARIABLES_ENV", "UriPolicy", "is_loopback"]

HOSTS_ENV = "FLYTE_SNOWFLAKE_URI_HOSTS"
SECRET_VARIABLES_ENV = "FLYTE_SNOWFLAKE_URI_SECRET_VARIABLES"
CONNECTION_KWARGS_ENV = "FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS"

#: Driver options a URI may carry: how results are fetched and how the session names itself, never where the
#: credentials go or how the connection is secured (proxies, OCSP and certificate checks, authenticator URLs,
#: regions, diagnostics endpoints stay out). Settings `SnowflakeConfig` adopts and checks itself are also let
#: through (`role`, `host`, `port`...): the host is checked here once the config is built.
URI_OPTIONS = frozenset(
    {
        "application",
        "arrow_number_to_decimal",
        "autocommit",
        "client_fetch_threads",
        "client_prefetch_threads",
        "client_session_keep_alive",
        "client_session_keep_alive_heartbeat_frequency",
        "disable_query_context_cache",
        "disable_request_pooling",
        "enable_retry_reason_in_query_response",
        "internal_application_name",
        "internal_application_version",
        "json_result_force_utf8_decoding",
        "log_max_query_length",
        "reuse_results",
        "server_session_keep_alive",
        "socket_timeout",
        "support_negative_year",
        "timezone",
        "validate_default_parameters",
    }
)
# A secret key `snowflake-...` (with or without a secret group) becomes one of these variables in a task.
_PLUGIN_VARIABLE = re.compile(r"(?:[A-Z0-9][A-Z0-9_]*_)?SNOWFLAKE_[A-Z0-9_]+")


def is_loopback(host: str | None) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (brackets and a trailing dot allowed): this machine only."""
    if not host:
        return False
    name = _host_name(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def account_hosts(account: str) -> frozenset[str]:
    """The hosts Snowflake serves `account` on: its public and PrivateLink names (`.com` and `.cn`)."""
    from ._links import AccountIdentifier

    parsed = AccountIdentifier.parse(account)
    hosts = {dataclasses.replace(parsed, privatelink=flag).host for flag in (False, True)}
    # Each ends in .snowflakecomputing.com or .cn; either top-level domain names the same Snowflake account.
    return frozenset(host.rsplit(".", 1)[0] + tld for host in hosts for tld in (".com", ".cn"))


def _host_name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class UriPolicy:
    """What the reading (or writing) task allows a `snowflake://` URI beyond its account's own Snowflake."""

    #: Host names a URI may connect to besides the account's own hosts and loopback.
    hosts: frozenset[str] = frozenset()
    #: Environment variable names a URI may read secrets from besides `[GROUP_]SNOWFLAKE_*`.
    secret_variables: frozenset[str] = frozenset()
    #: Driver options this task uses for every URI, in place of the URI's own values for the same keys.
    connection_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> UriPolicy:
        """The policy the task's environment sets (nothing set: the account's own hosts and loopback only)."""
        env = os.environ if environ is None else environ
        return cls(
            hosts=frozenset(_host_name(h) for h in _names(env.get(HOSTS_ENV, ""))),
            secret_variables=frozenset(_names(env.get(SECRET_VARIABLES_ENV, ""))),
            connection_kwargs=_connection_kwargs(env.get(CONNECTION_KWARGS_ENV, "")),
        )

    def vet(self, location: SnowflakeLocation) -> SnowflakeConfig:
        """The connection settings to log in from `location` with, once it passes every check.

        Raises:
            SnowflakeConfigError: the URI names another variable, another host, plain http to a remote host
                or a driver option it may not choose; nothing has been read or sent. The message says how the
                reading task allows it.
        """
        label = location.label
        self._check_secret_variables(label, location.secrets)
        settings = dict(location.settings)
        if settings.get("connection_kwargs") is not None:
            settings["connection_kwargs"] = self._uri_options(label, settings["connection_kwargs"])
        try:
            config = dataclasses.replace(location, settings=settings).config()
        except SnowflakeConfigError as exc:
            raise SnowflakeConfigError(f"{label} cannot be used: {exc.message}") from None
        self._check_host(label, config)
        return config

    def driver_kwargs(self, config: SnowflakeConfig) -> dict[str, Any]:
        """`config`'s driver settings with this task's own options on top."""
        return {**config.driver_kwargs(), **self.connection_kwargs}

    def _check_secret_variables(self, label: str, secrets: Mapping[str, str]) -> None:
        from ._auth import SECRET_KEYWORDS

        for keyword, variable in secrets.items():
            if keyword not in SECRET_KEYWORDS:
                raise SnowflakeConfigError(
                    f"{label} names the secret {keyword!r}, which this plugin does not use (it knows "
                    f"{', '.join(SECRET_KEYWORDS)}); nothing was read or sent"
                )
            if _PLUGIN_VARIABLE.fullmatch(variable) or variable in self.secret_variables:
                continue
            raise SnowflakeConfigError(
                f"{label} asks for {keyword} from the environment variable {variable!r}, which is not one of this "
                "plugin's (SNOWFLAKE_... or <GROUP>_SNOWFLAKE_..., what a secret key named 'snowflake-...' "
                "becomes); nothing was read or sent. A snowflake:// URI comes from another task and may not choose "
                "which of this task's variables are sent to Snowflake. Name the Snowflake task's secret "
                f"'snowflake-...', or, if {variable} does hold this Snowflake credential, allow it in the reading "
                f"task: flyte.TaskEnvironment(..., env_vars={{{SECRET_VARIABLES_ENV!r}: {variable!r}}})"
            )

    def _uri_options(self, label: str, options: Any) -> Any:
        """The URI's driver options this task lets through (its own values replace the URI's)."""
        if not isinstance(options, Mapping):
            return options  # SnowflakeConfig refuses it with its own message
        from .config import adopted_settings

        kept = {k: v for k, v in options.items() if k not in self.connection_kwargs}
        refused = sorted(str(k) for k in kept if k not in URI_OPTIONS and k not in adopted_settings())
        if refused:
            wanted = ", ".join(f'"{k}": ...' for k in refused)
            raise SnowflakeConfigError(
                f"{label} sets the driver option(s) {', '.join(refused)}, which a snowflake:// URI may not choose: "
                "they can change where this task's credentials go or how the connection is secured; nothing was "
                "sent. If the reading task needs them (a proxy, say), set them in its own configuration, where "
                f"they apply to every URI it reads: flyte.TaskEnvironment(..., env_vars={{{CONNECTION_KWARGS_ENV!r}: "
                f"'{{{wanted}}}'}}), or set HTTPS_PROXY there for a proxy"
            )
        return kept

    def _check_host(self, label: str, config: SnowflakeConfig) -> None:
        if config.host is None or is_loopback(config.host):
            return  # no host: the driver derives the account's own host from the account identifier
        host = _host_name(config.host)
        own = account_hosts(config.account)
        if host in own or host in self.hosts:
            return
        raise SnowflakeConfigError(
            f"{label} asks to connect to {config.host!r}, which is neither account {config.account}'s own "
            f"Snowflake host ({', '.join(sorted(h for h in own if h.endswith('.com')))}) nor this machine; nothing "
            "was sent. A snowflake:// URI comes from another task and may not choose where this task's "
            "credentials go. If the host is yours (a proxy or a custom name in front of Snowflake), allow it in "
            f"the reading task: flyte.TaskEnvironment(..., env_vars={{{HOSTS_ENV!r}: {host!r}}})"
        )


def _names(text: str) -> list[str]:
    return [name for name in re.split(r"[\s,]+", text) if name]


def _connection_kwargs(text: str) -> dict[str, Any]:
    """`FLYTE_SNOWFLAKE_URI_CONNECTION_KWARGS`: a JSON object of driver options, checked like the task's own."""
    if not text.strip():
        return {}
    from .config import adopted_settings, check_connection_kwarg

    try:
        options = json.loads(text)
    except ValueError:
        options = None
    if not isinstance(options, dict):
        raise SnowflakeConfigError(
            f'{CONNECTION_KWARGS_ENV} must be a JSON object of driver options, like {{"proxy_host": "proxy.corp", '
            '"proxy_port": "8080"}; its value does not parse as one (not shown)'
        )
    for key, value in options.items():
        check_connection_kwarg(key, value)
        if key in adopted_settings():
            raise SnowflakeConfigError(
                f"{CONNECTION_KWARGS_ENV} sets {key!r}, which is a connection setting of the task that made the "
                f"URI, not a driver option of the reader: allow another host with {HOSTS_ENV}"
            )
    return options
