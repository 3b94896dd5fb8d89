"""Reading the connector service's numeric settings from its environment, with errors that name the variable."""

from __future__ import annotations

import os
from collections.abc import Mapping


def non_negative(name: str, what: str, environ: Mapping[str, str] | None = None) -> float | None:
    """The finite number 0 or more in environment variable `name`; None when it is unset or empty.

    Raises:
        ValueError: the variable is set to anything else; the message names it, says `what` it must be
            (e.g. "a number of seconds (0 or more)") and shows what it was set to.
    """
    text = ((os.environ if environ is None else environ).get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be {what}, got {text!r}")
    return value
