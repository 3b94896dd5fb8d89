"""The plugin's exceptions, and `translate`: the one place where driver errors become ours.

```
SnowflakeError
├── SnowflakeConfigError (ValueError)    a setting is wrong; says which and how to fix it. Final.
├── SnowflakeSecretError (ValueError)    a Flyte secret is missing or unusable; never shows its value. Final.
│   ├── MissingSecretError
│   ├── MalformedPrivateKeyError
│   └── WrongPassphraseError
├── SnowflakeInputError (TypeError)      a task input has the wrong type or shape; names the input. Final.
├── SnowflakeMetadataError (ValueError)  the job metadata sent back holds a malformed field; names it. Final.
├── SnowflakeAuthError                   Snowflake refused the login (credentials, role, network policy). Final.
├── SnowflakeQueryError                  the statement failed in Snowflake (errno, sqlstate, query id). Final.
│   └── SnowflakeQueryCancelled          the statement was cancelled (SYSTEM$CANCEL_QUERY, abort, timeout).
├── SnowflakeTransientError              network, HTTP 408/429/5xx, expired session: worth retrying.
├── SnowflakeResultError (ValueError)    a materialized result is incomplete (no _SUCCESS). Final.
└── SnowflakeDriverError                 the driver failed for another reason (missing extra, bug). Final.
```

Every error carries `errno`, `sqlstate` and `query_id` when they are known. Use `is_retryable(err)` rather
than matching classes when deciding between RETRYABLE_FAILED and FAILED.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "MalformedPrivateKeyError",
    "MissingSecretError",
    "SnowflakeAuthError",
    "SnowflakeConfigError",
    "SnowflakeDriverError",
    "SnowflakeError",
    "SnowflakeInputError",
    "SnowflakeMetadataError",
    "SnowflakeQueryCancelled",
    "SnowflakeQueryError",
    "SnowflakeResultError",
    "SnowflakeSecretError",
    "SnowflakeTransientError",
    "WrongPassphraseError",
    "is_retryable",
    "translate",
]


class SnowflakeError(Exception):
    """Base class of every error this plugin raises.

    Attributes:
        message: the human message (also `str(err)`).
        errno: Snowflake's or the driver's error number, when known.
        sqlstate: the five-character SQLSTATE, when known.
        query_id: the Snowflake query id the error belongs to, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        sqlstate: str | None = None,
        query_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.sqlstate = sqlstate
        self.query_id = query_id


class SnowflakeConfigError(SnowflakeError, ValueError):
    """A `SnowflakeConfig` field (or a driver setting) is invalid; the message names it and the fix."""


class SnowflakeSecretError(SnowflakeError, ValueError):
    """A secret is missing or unusable. The message says what and how to fix it, never the value."""


class MissingSecretError(SnowflakeSecretError):
    """No credential was given, or one that needs another (a passphrase without a key)."""


class MalformedPrivateKeyError(SnowflakeSecretError):
    """The private key text is not an RSA private key in a format we can read."""


class WrongPassphraseError(SnowflakeSecretError):
    """The private key is encrypted and the passphrase is missing or does not open it."""


class SnowflakeInputError(SnowflakeError, TypeError):
    """A task input has a type the SQL cannot bind, or batch inputs do not line up."""


class SnowflakeMetadataError(SnowflakeError, ValueError):
    """The job metadata the backend sent back is not what `create` wrote: a field is malformed (hand-made or
    edited metadata). The message names the field."""


class SnowflakeAuthError(SnowflakeError):
    """Snowflake rejected the login: wrong credentials, unknown role, disabled user, network policy."""


class SnowflakeQueryError(SnowflakeError):
    """The statement failed in Snowflake. Final: running it again gives the same error.

    Attributes:
        sf_message: Snowflake's own message, without the errno/sqlstate prefix.
    """

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        sqlstate: str | None = None,
        query_id: str | None = None,
        sf_message: str = "",
    ) -> None:
        super().__init__(message, errno=errno, sqlstate=sqlstate, query_id=query_id)
        self.sf_message = sf_message


class SnowflakeQueryCancelled(SnowflakeQueryError):
    """The statement was cancelled before it finished (errno 604, or 630 for a statement timeout)."""


class SnowflakeResultError(SnowflakeError, ValueError):
    """A materialized result cannot be read as complete: its write did not finish (no `_SUCCESS`)."""


class SnowflakeTransientError(SnowflakeError):
    """A fault that may pass: connection errors, HTTP 408/429/5xx, an expired session, timeouts."""

    @property
    def session_expired(self) -> bool:
        """Snowflake no longer knows the session: log in again (and drop its idle siblings too)."""
        return self.errno in _SESSION_EXPIRED


class SnowflakeDriverError(SnowflakeError):
    """The driver failed for a reason that is neither the SQL, the login nor the network. Final."""


def is_retryable(err: BaseException) -> bool:
    """True when running the same call again may succeed (the error is, or translates to, transient).

    Example:
        >>> is_retryable(ConnectionResetError())
        True
    """
    if not isinstance(err, SnowflakeError):
        err = translate(err)
    return isinstance(err, SnowflakeTransientError)


# --- translation -------------------------------------------------------------------------------------------
# Numbers come from the driver (snowflake/connector/errorcode.py, network.py) and Snowflake's server codes.

# The session or its master token expired (network.py renews on these), or Snowflake no longer has the session
# (390111 "Session no longer exists. New login required to access the service.", e.g. a restarted local
# Snowflake): a new login fixes it.
_SESSION_EXPIRED = frozenset({390110, 390111, 390112, 390113, 390114, 390115})
# Login-time server codes (390100 wrong password, 390144 bad JWT, 390189 role, 390318 OAuth expired, 390422
# IP not allowed, 3943xx JWT problems...). The whole 39xxxx block is about authentication.
_AUTH_ERRNO_RANGE = range(390000, 395000)
# 000604 "SQL execution canceled"; 000630 "Statement reached its statement or warehouse timeout".
_CANCELLED_ERRNOS = frozenset({604, 630})
# SQLSTATEs for a refused authorization or a rejected connection.
_AUTH_SQLSTATES = frozenset({"28000", "08004"})

# Driver-side numbers (2500xx network, 2510xx connection, 2520xx cursor, 2530xx stage, 2540xx OCSP, 2550xx
# converter). Anything in 250000-255999 not listed here is a final driver error.
_TRANSIENT_CLIENT_ERRNOS = frozenset(
    {
        250001,  # failed to connect to DB (after the driver's own retries)
        250002,  # connection is closed: a new connection fixes it
        250003,  # failed to request (HTTP layer)
        250005,  # failed to get a response from the server
        251010,  # JWT login kept timing out
        251011,  # connection timeout
        251012,  # retryable login code
        252006,  # cursor is closed (its connection was recycled)
        252007,  # failed to renew the session
        252010,  # result chunk download failed
        252013,  # incomplete result chunk
        253002,  # stage download failed
        253003,  # stage upload failed
        254002,  # OCSP response unavailable
        254003,  # OCSP fetch failed
        254004,  # OCSP cache server unreachable
        254014,  # OCSP fetch failure
        254016,  # OCSP cache download failed
    }
)
_INPUT_CLIENT_ERRNOS = frozenset({252004, 252012, 255001})  # pyformat/qmark processing, unsupported type
_CONFIG_CLIENT_ERRNOS = frozenset(
    {250004, 250007, 250012, 251001, 251005, 251007, 251009, 251013, 251017, 251018, 251020, 251021}
)
_MISSING_SECRET_ERRNOS = frozenset({251006})  # "Password is empty"
_BAD_KEY_ERRNOS = frozenset({251008})  # invalid private key
_CLIENT_ERRNO_RANGE = range(250000, 256000)
_HTTP_ERRNO_BASE = 290000  # the driver's HTTP errors are 290000 + status code
_TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})

# Driver classes whose type alone decides (checked before errno). Names, so this module imports no driver.
_TRANSIENT_DRIVER_CLASSES = frozenset(
    {
        "InternalServerError",
        "ServiceUnavailableError",
        "GatewayTimeoutError",
        "BadGatewayError",
        "TooManyRequests",
        "RequestTimeoutError",
        "OtherHTTPRetryableError",
        "RefreshTokenError",
        "RequestExceedMaxRetryError",
        "TokenExpiredError",
        "PresignedUrlExpiredError",
    }
)
_FINAL_DRIVER_CLASSES = frozenset(
    {
        "BadRequest",
        "MethodNotAllowed",
        "MissingDependencyError",
        "BindUploadError",
        "NonRetryableTlsError",
        "ConfigSourceError",
        "MissingConfigOptionError",
        "ConfigManagerError",
    }
)
# Network failures seen below the driver (builtins, requests, urllib3, http.client), matched by class name.
_NETWORK_CLASS_NAMES = frozenset(
    {
        "ConnectionError",
        "TimeoutError",
        "Timeout",
        "ConnectTimeout",
        "ReadTimeout",
        "ProtocolError",
        "ChunkedEncodingError",
        "IncompleteRead",
        "RemoteDisconnected",
        "NewConnectionError",
        "MaxRetryError",
        "BadStatusLine",
        "gaierror",
    }
)


def translate(exc: BaseException, *, query_id: str | None = None) -> SnowflakeError:
    """Map any exception raised while talking to Snowflake to one of ours.

    Our own errors come back unchanged. Use it as `raise translate(exc, query_id=qid) from exc`.

    Args:
        exc: the exception the driver (or the network below it) raised.
        query_id: the query the call was about, when the error does not carry one.

    Returns:
        A `SnowflakeError` subclass instance whose class decides retry vs final.
    """
    if isinstance(exc, SnowflakeError):
        return exc
    if _is_driver_error(exc):
        return _translate_driver_error(exc, query_id)
    if _is_network_error(exc):
        return SnowflakeTransientError(f"Network error talking to Snowflake: {_describe(exc)}", query_id=query_id)
    return SnowflakeDriverError(f"Unexpected error from the Snowflake driver: {_describe(exc)}", query_id=query_id)


def _is_driver_error(exc: BaseException) -> bool:
    # Checked by module so that importing this file never imports the driver.
    return any(cls.__module__ == "snowflake.connector.errors" for cls in type(exc).__mro__)


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return any(cls.__name__ in _NETWORK_CLASS_NAMES for cls in type(exc).__mro__)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _translate_driver_error(exc: BaseException, query_id: str | None) -> SnowflakeError:
    raw_errno = getattr(exc, "errno", None)
    errno = raw_errno if isinstance(raw_errno, int) and raw_errno > 0 else None
    raw_state = getattr(exc, "sqlstate", None)
    sqlstate = raw_state if isinstance(raw_state, str) and raw_state != "n/a" else None
    qid = getattr(exc, "sfqid", None) or query_id
    cls = _classify(exc, errno, sqlstate)
    text = str(exc)
    if issubclass(cls, SnowflakeQueryError):
        raw = getattr(exc, "raw_msg", None) or text
        return cls(
            _query_message(raw, errno, sqlstate, qid), errno=errno, sqlstate=sqlstate, query_id=qid, sf_message=raw
        )
    return cls(_prefix(cls) + text, errno=errno, sqlstate=sqlstate, query_id=qid)


def _classify(exc: BaseException, errno: int | None, sqlstate: str | None) -> type[SnowflakeError]:
    for rule in _RULES:
        found = rule(exc, errno, sqlstate)
        if found is not None:
            return found
    return _fallback(exc)


def _by_class(exc: BaseException, errno: int | None, sqlstate: str | None) -> type[SnowflakeError] | None:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "ForbiddenError" in names:  # HTTP 403: wrong account name or a network policy
        return SnowflakeAuthError
    if names & _TRANSIENT_DRIVER_CLASSES:
        return SnowflakeTransientError
    if "RevocationCheckError" in names:  # a revoked certificate is final; an unreachable responder is not
        return SnowflakeDriverError if errno == 254007 else SnowflakeTransientError
    if names & _FINAL_DRIVER_CLASSES:
        return SnowflakeDriverError
    return None


def _by_session_or_auth(exc: BaseException, errno: int | None, sqlstate: str | None) -> type[SnowflakeError] | None:
    if errno in _SESSION_EXPIRED:
        return SnowflakeTransientError
    if sqlstate in _AUTH_SQLSTATES or (errno is not None and errno in _AUTH_ERRNO_RANGE):
        return SnowflakeAuthError
    return None


def _by_http_errno(exc: BaseException, errno: int | None, sqlstate: str | None) -> type[SnowflakeError] | None:
    if errno is None or not _HTTP_ERRNO_BASE <= errno < _HTTP_ERRNO_BASE + 1000:
        return None
    status = errno - _HTTP_ERRNO_BASE
    if status in _TRANSIENT_HTTP:
        return SnowflakeTransientError
    return SnowflakeAuthError if status in (401, 403) else SnowflakeDriverError


def _by_client_errno(exc: BaseException, errno: int | None, sqlstate: str | None) -> type[SnowflakeError] | None:
    if errno is None or errno not in _CLIENT_ERRNO_RANGE:
        return None
    table: tuple[tuple[frozenset[int], type[SnowflakeError]], ...] = (
        (_TRANSIENT_CLIENT_ERRNOS, SnowflakeTransientError),
        (_INPUT_CLIENT_ERRNOS, SnowflakeInputError),
        (_CONFIG_CLIENT_ERRNOS, SnowflakeConfigError),
        (_MISSING_SECRET_ERRNOS, MissingSecretError),
        (_BAD_KEY_ERRNOS, MalformedPrivateKeyError),
    )
    return next((cls for numbers, cls in table if errno in numbers), SnowflakeDriverError)


def _by_server_errno(exc: BaseException, errno: int | None, sqlstate: str | None) -> type[SnowflakeError] | None:
    # What is left with a number came from Snowflake's SQL engine: compile, runtime, constraint errors.
    if errno is None:
        return None
    return SnowflakeQueryCancelled if errno in _CANCELLED_ERRNOS else SnowflakeQueryError


_Rule = Callable[[BaseException, int | None, str | None], type[SnowflakeError] | None]
_RULES: tuple[_Rule, ...] = (_by_class, _by_session_or_auth, _by_http_errno, _by_client_errno, _by_server_errno)


def _fallback(exc: BaseException) -> type[SnowflakeError]:
    # No number: decide by the PEP 249 class. OperationalError is the driver's "the network/DB misbehaved".
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "OperationalError" in names:
        return SnowflakeTransientError
    if names & {"ProgrammingError", "IntegrityError", "DataError"}:
        return SnowflakeQueryError
    return SnowflakeDriverError


_PREFIXES: dict[type[SnowflakeError], str] = {
    SnowflakeAuthError: "Snowflake rejected the login: ",
    SnowflakeTransientError: "Transient Snowflake error (will be retried): ",
    SnowflakeInputError: "Snowflake could not bind an input: ",
    SnowflakeConfigError: "Invalid Snowflake connection setting: ",
    MissingSecretError: "A Snowflake secret is missing: ",
    MalformedPrivateKeyError: "The Snowflake private key is not usable: ",
    SnowflakeDriverError: "Snowflake driver error: ",
}


def _prefix(cls: type[SnowflakeError]) -> str:
    return _PREFIXES.get(cls, "")


def _query_message(raw: str, errno: int | None, sqlstate: str | None, query_id: str | None) -> str:
    code = f"{errno:06d}" if errno is not None else "error"
    state = f" ({sqlstate})" if sqlstate else ""
    where = f" in query {query_id}" if query_id else ""
    return f"Snowflake SQL error {code}{state}{where}: {raw}"
