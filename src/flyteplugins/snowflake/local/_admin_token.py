"""The local Snowflake's admin token: where a server takes it from, and how an admin request carries it.

Standard library only (the `LocalSnowflake` client imports it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

#: A server started with this variable set uses its value as the admin token (and prints nothing); without it,
#: the server makes one up and prints it at start-up.
ADMIN_TOKEN_ENV = "FLYTE_SNOWFLAKE_LOCAL_ADMIN_TOKEN"
#: An admin request sends `Authorization: Bearer <token>`.
ADMIN_AUTH_SCHEME = "Bearer"
#: Shortest token accepted from the environment: a guessable token protects nothing.
MIN_TOKEN_LENGTH = 16


def new_token() -> str:
    return secrets.token_urlsafe(32)


def server_token(environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The token a server uses and whether it made it up (then it must print it); ValueError for a short one."""
    given = (os.environ if environ is None else environ).get(ADMIN_TOKEN_ENV, "").strip()
    if not given:
        return new_token(), True
    if len(given) < MIN_TOKEN_LENGTH:
        raise ValueError(f"{ADMIN_TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} characters long")
    return given, False


def auth_header(token: str) -> dict[str, str]:
    """The header an admin request carries."""
    return {"Authorization": f"{ADMIN_AUTH_SCHEME} {token}"}
