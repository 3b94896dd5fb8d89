"""errors.translate: every driver error class, the errno rules, and errors from below the driver."""

from __future__ import annotations

import inspect
import socket
from collections.abc import Callable

import pytest
import snowflake.connector.errors as sf_errors
from snowflake.connector.vendored import requests, urllib3

from flyteplugins.snowflake.errors import (
    MalformedPrivateKeyError,
    MissingSecretError,
    SnowflakeAuthError,
    SnowflakeConfigError,
    SnowflakeDriverError,
    SnowflakeError,
    SnowflakeInputError,
    SnowflakeQueryCancelled,
    SnowflakeQueryError,
    SnowflakeSecretError,
    SnowflakeTransientError,
    is_retryable,
    translate,
)

# What each driver class means when it carries no errno. A class the driver adds later is missing here and
# fails test_every_driver_error_class_is_mapped: decide its category, then add it.
EXPECTED_BY_CLASS: dict[str, type[SnowflakeError]] = {
    "BadGatewayError": SnowflakeTransientError,
    "BadRequest": SnowflakeDriverError,
    "BindUploadError": SnowflakeDriverError,
    "ConfigManagerError": SnowflakeDriverError,
    "ConfigSourceError": SnowflakeDriverError,
    "DataError": SnowflakeQueryError,
    "DatabaseError": SnowflakeDriverError,
    "Error": SnowflakeDriverError,
    "ForbiddenError": SnowflakeAuthError,
    "GatewayTimeoutError": SnowflakeTransientError,
    "HttpError": SnowflakeDriverError,
    "IntegrityError": SnowflakeQueryError,
    "InterfaceError": SnowflakeDriverError,
    "InternalError": SnowflakeDriverError,
    "InternalServerError": SnowflakeTransientError,
    "MethodNotAllowed": SnowflakeDriverError,
    "MissingConfigOptionError": SnowflakeDriverError,
    "MissingDependencyError": SnowflakeDriverError,
    "NonRetryableTlsError": SnowflakeDriverError,
    "NotSupportedError": SnowflakeDriverError,
    "OperationalError": SnowflakeTransientError,
    "OtherHTTPRetryableError": SnowflakeTransientError,
    "PresignedUrlExpiredError": SnowflakeTransientError,
    "ProgrammingError": SnowflakeQueryError,
    "RefreshTokenError": SnowflakeTransientError,
    "RequestExceedMaxRetryError": SnowflakeTransientError,
    "RequestTimeoutError": SnowflakeTransientError,
    "RevocationCheckError": SnowflakeTransientError,
    "ServiceUnavailableError": SnowflakeTransientError,
    "TokenExpiredError": SnowflakeTransientError,
    "TooManyRequests": SnowflakeTransientError,
}


def _driver_error_classes() -> list[type[sf_errors.Error]]:
    return [
        cls
        for _, cls in inspect.getmembers(sf_errors, inspect.isclass)
        if issubclass(cls, sf_errors.Error) and cls.__module__ == sf_errors.__name__
    ]


def _instantiate(cls: type[sf_errors.Error]) -> sf_errors.Error:
    if cls is sf_errors.MissingDependencyError:
        return cls("pandas")
    return cls(msg="something went wrong")


def test_every_driver_error_class_is_mapped() -> None:
    classes = {cls.__name__ for cls in _driver_error_classes()}
    assert classes == set(EXPECTED_BY_CLASS), "driver error classes changed: update EXPECTED_BY_CLASS"


@pytest.mark.parametrize("cls", _driver_error_classes(), ids=lambda c: c.__name__)
def test_driver_error_class_maps_to_its_category(cls: type[sf_errors.Error]) -> None:
    translated = translate(_instantiate(cls))
    assert type(translated) is EXPECTED_BY_CLASS[cls.__name__]
    assert translated.message  # never empty


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # login rejected (auth/_auth.py raises DatabaseError with the server code)
        (
            sf_errors.DatabaseError(msg="Incorrect username or password", errno=390100, sqlstate="28000"),
            SnowflakeAuthError,
        ),
        (sf_errors.DatabaseError(msg="JWT token is invalid", errno=390144, sqlstate="28000"), SnowflakeAuthError),
        (sf_errors.DatabaseError(msg="OAuth access token expired", errno=390318, sqlstate="08001"), SnowflakeAuthError),
        (sf_errors.DatabaseError(msg="role does not exist", errno=390189, sqlstate="08001"), SnowflakeAuthError),
        (sf_errors.DatabaseError(msg="okta", errno=250001, sqlstate="08004"), SnowflakeAuthError),
        (sf_errors.ForbiddenError(msg="Verify the account name"), SnowflakeAuthError),
        # session expired: a new login fixes it
        (sf_errors.ProgrammingError(msg="Session expired", errno=390112, sqlstate="08001"), SnowflakeTransientError),
        (sf_errors.ProgrammingError(msg="Master token expired", errno=390114), SnowflakeTransientError),
        (sf_errors.ProgrammingError(msg="Session no longer exists", errno=390111), SnowflakeTransientError),
        # network and HTTP
        (
            sf_errors.OperationalError(msg="Failed to connect to DB", errno=250001, sqlstate="08001"),
            SnowflakeTransientError,
        ),
        (sf_errors.OperationalError(msg="Failed to execute request", errno=250003), SnowflakeTransientError),
        (sf_errors.OperationalError(msg="login timeout", errno=251011), SnowflakeTransientError),
        (sf_errors.DatabaseError(msg="Connection is closed", errno=250002, sqlstate="08003"), SnowflakeTransientError),
        (sf_errors.HttpError(msg="503", errno=290503), SnowflakeTransientError),
        (sf_errors.HttpError(msg="429", errno=290429), SnowflakeTransientError),
        (sf_errors.HttpError(msg="404", errno=290404), SnowflakeDriverError),
        (sf_errors.HttpError(msg="401", errno=290401), SnowflakeAuthError),
        (sf_errors.TooManyRequests(errno=429), SnowflakeTransientError),
        (sf_errors.RevocationCheckError(msg="revoked", errno=254007), SnowflakeDriverError),
        # client-side configuration, secrets and inputs
        (sf_errors.ProgrammingError(msg="User is empty", errno=251005), SnowflakeConfigError),
        (sf_errors.ProgrammingError(msg="Unknown authenticator: x", errno=251007), SnowflakeConfigError),
        (sf_errors.ProgrammingError(msg="Password is empty", errno=251006), MissingSecretError),
        (sf_errors.ProgrammingError(msg="Failed to load private key", errno=251008), MalformedPrivateKeyError),
        (
            sf_errors.ProgrammingError(msg="Binding data in type (dict) is not supported", errno=252004),
            SnowflakeInputError,
        ),
        (sf_errors.ProgrammingError(msg="not supported type", errno=255001), SnowflakeInputError),
        (sf_errors.InterfaceError(msg="no arrow", errno=255002), SnowflakeDriverError),
        # SQL
        (
            sf_errors.ProgrammingError(msg="Object 'T' does not exist", errno=2003, sqlstate="42S02"),
            SnowflakeQueryError,
        ),
        (sf_errors.ProgrammingError(msg="syntax error", errno=1003, sqlstate="42000"), SnowflakeQueryError),
        (sf_errors.IntegrityError(msg="NULL result in a non-nullable column", errno=100072), SnowflakeQueryError),
        (
            sf_errors.ProgrammingError(msg="SQL execution internal error", errno=603, sqlstate="XX000"),
            SnowflakeQueryError,
        ),
        (
            sf_errors.ProgrammingError(msg="SQL execution canceled", errno=604, sqlstate="57014"),
            SnowflakeQueryCancelled,
        ),
        (
            sf_errors.ProgrammingError(msg="Statement reached its timeout", errno=630, sqlstate="57014"),
            SnowflakeQueryCancelled,
        ),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_errno_rules(exc: BaseException, expected: type[SnowflakeError]) -> None:
    assert type(translate(exc)) is expected


def test_query_error_keeps_errno_sqlstate_query_id_and_message() -> None:
    exc = sf_errors.ProgrammingError(
        msg="SQL compilation error: Object 'NOPE' does not exist or not authorized.",
        errno=2003,
        sqlstate="42S02",
        sfqid="01b2-q",
    )
    err = translate(exc)
    assert isinstance(err, SnowflakeQueryError)
    assert (err.errno, err.sqlstate, err.query_id) == (2003, "42S02", "01b2-q")
    assert err.sf_message == "SQL compilation error: Object 'NOPE' does not exist or not authorized."
    assert str(err) == (
        "Snowflake SQL error 002003 (42S02) in query 01b2-q: "
        "SQL compilation error: Object 'NOPE' does not exist or not authorized."
    )
    assert not is_retryable(err)


def test_query_id_argument_fills_in_when_the_error_has_none() -> None:
    err = translate(sf_errors.ProgrammingError(msg="boom", errno=1003), query_id="qid-7")
    assert err.query_id == "qid-7"
    assert "qid-7" in str(err)
    # the error's own id wins over the argument
    assert translate(sf_errors.ProgrammingError(msg="x", errno=1, sfqid="own"), query_id="arg").query_id == "own"


def test_driver_defaults_become_none() -> None:
    err = translate(sf_errors.InterfaceError(msg="Cursor is closed"))
    assert err.errno is None and err.sqlstate is None and err.query_id is None


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError("reset by peer"),
        ConnectionRefusedError(),
        TimeoutError("timed out"),
        socket.gaierror(-2, "Name or service not known"),
        requests.exceptions.ConnectionError("boom"),
        requests.exceptions.ReadTimeout("slow"),
        requests.exceptions.ChunkedEncodingError("cut"),
        urllib3.exceptions.ProtocolError("Connection aborted."),
        urllib3.exceptions.NewConnectionError(None, "refused"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_network_errors_below_the_driver_are_transient(exc: BaseException) -> None:
    err = translate(exc, query_id="q1")
    assert isinstance(err, SnowflakeTransientError)
    assert err.query_id == "q1"
    assert is_retryable(exc)


@pytest.mark.parametrize("exc", [FileNotFoundError("x.p8"), KeyError("rowtype"), RuntimeError(), ValueError("bad")])
def test_other_exceptions_are_final_driver_errors(exc: BaseException) -> None:
    err = translate(exc)
    assert type(err) is SnowflakeDriverError
    assert type(exc).__name__ in str(err)
    assert not is_retryable(exc)


def test_our_errors_pass_through_unchanged() -> None:
    mine = SnowflakeInputError("input 'x' has type dict")
    assert translate(mine) is mine


def test_hierarchy_is_catchable_by_builtin_categories() -> None:
    assert issubclass(SnowflakeConfigError, ValueError)
    assert issubclass(SnowflakeSecretError, ValueError)
    assert issubclass(SnowflakeInputError, TypeError)
    for cls in (MissingSecretError, MalformedPrivateKeyError):
        assert issubclass(cls, SnowflakeSecretError)
    assert issubclass(SnowflakeQueryCancelled, SnowflakeQueryError)


def test_is_retryable_on_our_errors() -> None:
    assert is_retryable(SnowflakeTransientError("blip"))
    assert not is_retryable(SnowflakeAuthError("no"))
    assert not is_retryable(SnowflakeQueryCancelled("cancelled"))


def test_importing_errors_does_not_import_the_driver(modules_imported_by: Callable[[str], set[str]]) -> None:
    assert "snowflake" not in modules_imported_by("errors")
