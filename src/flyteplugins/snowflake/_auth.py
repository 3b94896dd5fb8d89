"""Flyte secrets -> `Credentials` -> driver login kwargs. Reads private keys in every common format.

Secret values never leave this module in text form: `Credentials` does not print them, errors describe
what is wrong without quoting them, parsed keys are cached under a hash, and `fingerprint` is a slow,
salted hash that identifies credentials without revealing them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .errors import MalformedPrivateKeyError, MissingSecretError, SnowflakeSecretError, WrongPassphraseError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["SECRET_KEYWORDS", "Credentials", "load_private_key"]

#: The task keywords (and connector kwargs) that carry secrets, in `custom["secrets"]` order.
SECRET_KEYWORDS = (
    "snowflake_private_key",
    "snowflake_private_key_passphrase",
    "snowflake_password",
    "snowflake_pat",
    "snowflake_oauth_token",
)

_GENERATE_KEY = (
    "create one with `openssl genrsa 2048 | openssl pkcs8 -topk8 -nocrypt -out rsa_key.p8` and register its "
    "public key with `ALTER USER ... SET RSA_PUBLIC_KEY='...'`"
)
_ONE_OF = "snowflake_private_key, snowflake_pat, snowflake_oauth_token or snowflake_password"
# Authenticator -> the secret it logs in with.
_AUTHENTICATOR_SECRET = {
    "SNOWFLAKE_JWT": "snowflake_private_key",
    "SNOWFLAKE": "snowflake_password",
    "OAUTH": "snowflake_oauth_token",
    "PROGRAMMATIC_ACCESS_TOKEN": "snowflake_pat",
}
# PBKDF2 rounds for fingerprints: slow enough that a leaked fingerprint does not give a weak password away,
# cached so each set of credentials pays it once per process.
_FINGERPRINT_ROUNDS = 50_000
_FINGERPRINT_SALT = b"flyteplugins.snowflake/credentials/v1"
_CACHE_SIZE = 64


@dataclass(frozen=True, repr=False)
class Credentials:
    """The secrets one task logs in with. Printing it shows which are set, never their values."""

    private_key: str | None = None
    private_key_passphrase: str | None = None
    password: str | None = None
    pat: str | None = None
    oauth_token: str | None = None

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> Credentials:
        """Pick the `snowflake_*` secrets out of connector kwargs; other keys are ignored, "" means unset."""
        values = {keyword: _secret_text(keyword, kwargs.get(keyword)) for keyword in SECRET_KEYWORDS}
        return cls(**{keyword.removeprefix("snowflake_"): value for keyword, value in values.items()})

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}=<set>" for name in self.given)
        return f"Credentials({shown})"

    __str__ = __repr__

    @property
    def given(self) -> tuple[str, ...]:
        """Names of the fields that hold a value (no values)."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    @property
    def is_empty(self) -> bool:
        """True when no secret was given."""
        return not self.given

    def fingerprint(self, identity: str) -> str:
        """A hex digest naming these credentials for `identity` (a config's `identity()`).

        The same inputs give the same digest in every process (so replicas agree on pool keys); the digest
        cannot be turned back into a secret.
        """
        material = "\0".join([identity, *(f"{f.name}={getattr(self, f.name) or ''}" for f in fields(self))])
        return _fingerprint(hashlib.sha256(material.encode()).digest())

    def driver_kwargs(self, authenticator: str | None = None) -> dict[str, Any]:
        """Keyword arguments for `snowflake.connector.connect` that log in with these credentials.

        Args:
            authenticator: the config's `authenticator`, if set; it must agree with the secret given.

        Raises:
            MissingSecretError: nothing to log in with, or a passphrase without a key.
            SnowflakeSecretError: more than one login method, or one that contradicts `authenticator`.
            MalformedPrivateKeyError, WrongPassphraseError: the private key cannot be read.
        """
        wanted = authenticator.strip().upper() if authenticator else None
        method = self._method(wanted)
        if method is None:
            return {}
        _check_agrees(method, wanted)
        if method == "snowflake_private_key":
            der = load_private_key(str(self.private_key), self.private_key_passphrase)
            return {"authenticator": "SNOWFLAKE_JWT", "private_key": der}
        if method == "snowflake_password":
            return {"password": self.password}
        if method == "snowflake_pat":
            return {"authenticator": "PROGRAMMATIC_ACCESS_TOKEN", "token": self.pat}
        return {"authenticator": "OAUTH", "token": self.oauth_token}

    def _method(self, authenticator: str | None) -> str | None:
        if self.private_key_passphrase is not None and self.private_key is None:
            raise MissingSecretError(
                "snowflake_private_key_passphrase is set but snowflake_private_key is not: give the private key "
                "as a Flyte secret too (Snowflake(..., snowflake_private_key='<secret name>'))"
            )
        methods = [f"snowflake_{name}" for name in self.given if name != "private_key_passphrase"]
        if len(methods) > 1:
            raise SnowflakeSecretError(
                f"several Snowflake login methods were given ({', '.join(methods)}); give exactly one of {_ONE_OF}"
            )
        if methods:
            return methods[0]
        if authenticator == "WORKLOAD_IDENTITY":  # the cloud identity of the machine logs in: no secret
            return None
        raise MissingSecretError(
            f"no Snowflake credentials were given: set one of {_ONE_OF} on the task, naming a Flyte secret "
            "(for example Snowflake(..., snowflake_private_key='<secret name>'))"
        )


def _secret_text(keyword: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise SnowflakeSecretError(f"{keyword} is not UTF-8 text; store the key as PEM or base64") from None
    if not isinstance(value, str):
        raise SnowflakeSecretError(f"{keyword} must be text, got a {type(value).__name__}")
    return value if value.strip() else None


def _check_agrees(method: str, authenticator: str | None) -> None:
    expected = _AUTHENTICATOR_SECRET.get(authenticator or "")
    if authenticator is not None and expected != method:
        need = f"it needs {expected}" if expected else "it takes no secret"
        raise SnowflakeSecretError(f"authenticator {authenticator} does not log in with {method}: {need}")


_fingerprints: OrderedDict[bytes, str] = OrderedDict()
_fingerprints_lock = threading.Lock()


def _fingerprint(digest: bytes) -> str:
    with _fingerprints_lock:
        if digest in _fingerprints:
            _fingerprints.move_to_end(digest)
            return _fingerprints[digest]
    result = hashlib.pbkdf2_hmac("sha256", digest, _FINGERPRINT_SALT, _FINGERPRINT_ROUNDS).hex()
    with _fingerprints_lock:
        _fingerprints[digest] = result
        while len(_fingerprints) > _CACHE_SIZE:
            _fingerprints.popitem(last=False)
    return result


# --- private keys --------------------------------------------------------------------------------------------

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_PEM_HEADER = re.compile(r"(Proc-Type|DEK-Info):\s*(\S+)")
_keys: OrderedDict[bytes, bytes] = OrderedDict()
_keys_lock = threading.Lock()


def load_private_key(text: str, passphrase: str | None = None) -> bytes:
    """Read a private key as people store it in secrets; return it as unencrypted PKCS#8 DER for the driver.

    Accepts PEM PKCS#8 (`BEGIN PRIVATE KEY`), encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`), PKCS#1
    (`BEGIN RSA PRIVATE KEY`, encrypted or not), the same with newlines turned into `\\n` or spaces, base64 of
    the DER or of the PEM on one line, with surrounding whitespace or quotes. RSA keys of 2048 bits or more
    and the EC keys the driver supports (P-256, P-384, P-521) are accepted. A passphrase given for a key that
    is not encrypted is ignored.

    Raises:
        WrongPassphraseError: the key is encrypted and the passphrase is missing or wrong.
        MalformedPrivateKeyError: anything else; says what was found and what is expected.
    """
    cache_key = hashlib.sha256(f"{text}\0{passphrase or ''}".encode()).digest()
    with _keys_lock:
        if cache_key in _keys:
            _keys.move_to_end(cache_key)
            return _keys[cache_key]
    der = _to_pkcs8_der(_load(_normalise(text), passphrase))
    with _keys_lock:
        _keys[cache_key] = der
        while len(_keys) > _CACHE_SIZE:
            _keys.popitem(last=False)
    return der


def _normalise(text: str) -> str:
    text = text.strip().strip("'\"").strip()
    # Environment variables and YAML often carry the newlines as the two characters backslash-n.
    return text.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\r\n", "\n").strip()


def _load(text: str, passphrase: str | None) -> PrivateKeyTypes:
    if not text:
        raise MalformedPrivateKeyError(f"snowflake_private_key is empty; {_GENERATE_KEY}")
    if "-----BEGIN" in text:
        return _load_pem(text, passphrase)
    data = _b64decode(text)
    if data.lstrip().startswith(b"-----BEGIN"):
        return _load_pem(data.decode(errors="replace"), passphrase)
    return _load_der(data, passphrase)


def _b64decode(text: str) -> bytes:
    compact = "".join(text.split())
    if len(compact) < 64 or not re.fullmatch(r"[A-Za-z0-9+/_-]+={0,2}", compact):
        found = "a file path" if text.startswith(("/", "~", ".")) or text.endswith((".p8", ".pem")) else "text"
        raise MalformedPrivateKeyError(
            f"snowflake_private_key holds {found} that is neither a PEM key nor base64: the secret must contain "
            f"the key itself (-----BEGIN PRIVATE KEY----- ...); {_GENERATE_KEY}"
        )
    try:
        return base64.b64decode(compact.replace("-", "+").replace("_", "/") + "=" * (-len(compact) % 4))
    except binascii.Error:
        raise MalformedPrivateKeyError(
            f"snowflake_private_key looks like base64 but does not decode (truncated?); {_GENERATE_KEY}"
        ) from None


def _load_pem(text: str, passphrase: str | None) -> PrivateKeyTypes:
    blocks = _PEM_BLOCK.findall(text)
    keys = [(label, body) for label, body in blocks if label.endswith("PRIVATE KEY")]
    if not keys:
        raise MalformedPrivateKeyError(_not_a_private_key(blocks, text))
    label, body = keys[0]
    if label == "OPENSSH PRIVATE KEY":
        raise MalformedPrivateKeyError(
            "snowflake_private_key is an OpenSSH key (ssh-keygen's format); convert it to PKCS#8 with "
            "`ssh-keygen -p -m PKCS8 -f <key file>`, or " + _GENERATE_KEY
        )
    pem = _canonical_pem(label, body)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return _decrypt(load_pem_private_key, pem, passphrase, encrypted="ENCRYPTED" in label or "ENCRYPTED" in body)


def _not_a_private_key(blocks: list[tuple[str, str]], text: str) -> str:
    labels = sorted({label for label, _ in blocks})
    if any("CERTIFICATE" in label for label in labels):
        found = "a certificate"
    elif any("PUBLIC KEY" in label for label in labels):
        found = "a public key (the half you register with ALTER USER), not the private key"
    elif "-----END" not in text:
        found = "a PEM block without its END line (truncated?)"
    else:
        found = f"PEM blocks of type {', '.join(labels) or 'unknown'}"
    return f"snowflake_private_key holds {found}; it must be the private key (BEGIN PRIVATE KEY); {_GENERATE_KEY}"


def _canonical_pem(label: str, body: str) -> bytes:
    """Rebuild a PEM whose newlines were lost or turned into spaces; keeps PKCS#1 encryption headers."""
    headers = _PEM_HEADER.findall(body)
    data = "".join(_PEM_HEADER.sub("", body).split())
    lines = [f"-----BEGIN {label}-----"]
    lines += [f"{name}: {value}" for name, value in headers]
    if headers:
        lines.append("")
    lines += [data[i : i + 64] for i in range(0, len(data), 64)]
    lines.append(f"-----END {label}-----")
    return ("\n".join(lines) + "\n").encode()


def _load_der(data: bytes, passphrase: str | None) -> PrivateKeyTypes:
    from cryptography.hazmat.primitives.serialization import load_der_private_key, load_der_public_key
    from cryptography.x509 import load_der_x509_certificate

    for loader, found in ((load_der_public_key, "a public key"), (load_der_x509_certificate, "a certificate")):
        try:
            loader(data)
        except ValueError:
            continue
        raise MalformedPrivateKeyError(
            f"snowflake_private_key holds {found} in base64 DER form; it must be the private key; {_GENERATE_KEY}"
        )
    return _decrypt(load_der_private_key, data, passphrase, encrypted=None)


def _decrypt(loader: Any, data: bytes, passphrase: str | None, *, encrypted: bool | None) -> PrivateKeyTypes:
    from cryptography.exceptions import UnsupportedAlgorithm

    password = passphrase.encode() if passphrase else None
    try:
        key: PrivateKeyTypes = loader(data, password)
        return key
    except TypeError as exc:
        if password is not None and "not encrypted" in str(exc):
            key = loader(data, None)  # a passphrase for a plain key is harmless: ignore it
            return key
        raise WrongPassphraseError(
            "snowflake_private_key is encrypted but no passphrase was given: set "
            "snowflake_private_key_passphrase='<secret name>' on the task"
        ) from None
    except ValueError as exc:
        if password is not None and (encrypted or "password" in str(exc).lower()):
            raise WrongPassphraseError(
                "the passphrase in snowflake_private_key_passphrase does not open snowflake_private_key "
                "(wrong passphrase, or a damaged key)"
            ) from None
        raise MalformedPrivateKeyError(
            f"snowflake_private_key could not be read as a private key (damaged or truncated?); {_GENERATE_KEY}"
        ) from None
    except UnsupportedAlgorithm:
        raise MalformedPrivateKeyError(
            f"snowflake_private_key uses an algorithm this system cannot read; {_GENERATE_KEY}"
        ) from None


def _to_pkcs8_der(key: PrivateKeyTypes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise MalformedPrivateKeyError(
                f"snowflake_private_key is a {key.key_size}-bit RSA key; Snowflake requires at least 2048 bits; "
                + _GENERATE_KEY
            )
    elif not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_CURVES):
        if isinstance(key, ec.EllipticCurvePrivateKey):
            detail = f"an EC key on curve {key.curve.name}"
        else:
            detail = f"a {type(key).__name__.replace('PrivateKey', '')} key"
        raise MalformedPrivateKeyError(
            f"snowflake_private_key is {detail}; Snowflake key-pair login needs RSA (2048 bits or more) "
            f"or EC P-256/P-384/P-521; {_GENERATE_KEY}"
        )
    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


_EC_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
