"""Shared fixtures for the pure-logic unit tests: real keys, generated once per session."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A real 2048-bit RSA private key (the size Snowflake's docs use)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
