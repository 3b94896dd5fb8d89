"""The user a local Snowflake can log in as from the start: its name from `--user`, its password from the
environment (made up and printed when unset), so that no password shows in the process list.

Standard library only (the `LocalSnowflake` client imports it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

#: A server started with this variable set gives its start-up user this password (and prints nothing); without
#: it, the server makes one up and prints it at start-up.
PASSWORD_ENV = "FLYTE_SNOWFLAKE_LOCAL_PASSWORD"
DEFAULT_USER = "FLYTE"


def server_password(environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The start-up user's password and whether it was made up (then the server prints it)."""
    given = (os.environ if environ is None else environ).get(PASSWORD_ENV, "")
    if given:
        return given, False
    return secrets.token_urlsafe(12), True
