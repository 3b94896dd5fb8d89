"""Shared fixtures for the pure-logic unit tests: real keys, generated once per session."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A real 2048-bit RSA private key (the size Snowflake's docs use)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_ISOLATED_IMPORT = """
import importlib, json, sys, types
import flyteplugins
package = types.ModuleType("flyteplugins.snowflake")
package.__path__ = [p + "/snowflake" for p in flyteplugins.__path__]
sys.modules["flyteplugins.snowflake"] = package  # skip the package __init__: measure the module alone
before = set(sys.modules)
importlib.import_module("flyteplugins.snowflake." + sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _modules_imported_by(module: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _ISOLATED_IMPORT, module], capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[0] for name in json.loads(out)}


@pytest.fixture
def modules_imported_by() -> Callable[[str], set[str]]:
    """Top-level packages a fresh interpreter loads to import `flyteplugins.snowflake.<module>` on its own.

    The package `__init__` is skipped, so this measures the module's own imports.
    """
    return _modules_imported_by
