"""_auth: Credentials never show secrets; private keys in every format; one login method at a time."""

from __future__ import annotations

import base64
import datetime
import subprocess
import sys
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from flyteplugins.snowflake import _auth
from flyteplugins.snowflake._auth import SECRET_KEYWORDS, Credentials, load_private_key
from flyteplugins.snowflake.errors import (
    MalformedPrivateKeyError,
    MissingSecretError,
    SnowflakeSecretError,
    WrongPassphraseError,
)

PASSPHRASE = "correct horse battery staple"
WRONG = "WrongPass-7Qz"
Enc = serialization.Encoding
Fmt = serialization.PrivateFormat


def pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat, passphrase: str | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(Enc.PEM, fmt, encryption).decode()


def der_b64(key: rsa.RSAPrivateKey, passphrase: str | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return base64.b64encode(key.private_bytes(Enc.DER, Fmt.PKCS8, encryption)).decode()


def expected_der(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Enc.DER, Fmt.PKCS8, serialization.NoEncryption())


def key_formats(key: rsa.RSAPrivateKey) -> dict[str, tuple[str, str | None]]:
    """Every way people store a private key in a secret -> (text, passphrase)."""
    pkcs8 = pem(key, Fmt.PKCS8)
    pkcs1 = pem(key, Fmt.TraditionalOpenSSL)
    return {
        "pem pkcs8": (pkcs8, None),
        "pem pkcs8 encrypted": (pem(key, Fmt.PKCS8, PASSPHRASE), PASSPHRASE),
        "pem pkcs1": (pkcs1, None),
        "pem pkcs1 encrypted": (pem(key, Fmt.TraditionalOpenSSL, PASSPHRASE), PASSPHRASE),
        "pem with literal \\n": (pkcs8.replace("\n", "\\n"), None),
        "pem encrypted pkcs1 with literal \\n": (
            pem(key, Fmt.TraditionalOpenSSL, PASSPHRASE).replace("\n", "\\n"),
            PASSPHRASE,
        ),
        "pem with CRLF": (pkcs8.replace("\n", "\r\n"), None),
        "pem newlines as spaces": (pkcs8.replace("\n", " "), None),
        "pem encrypted pkcs1 newlines as spaces": (
            pem(key, Fmt.TraditionalOpenSSL, PASSPHRASE).replace("\n", " "),
            PASSPHRASE,
        ),
        "pem quoted with whitespace": (f'  "{pkcs8}"\n ', None),
        "base64 der": (der_b64(key), None),
        "base64 der encrypted": (der_b64(key, PASSPHRASE), PASSPHRASE),
        "base64 of pem": (base64.b64encode(pkcs8.encode()).decode(), None),
        "base64 of encrypted pem": (base64.b64encode(pem(key, Fmt.PKCS8, PASSPHRASE).encode()).decode(), PASSPHRASE),
        "passphrase given for a plain key": (pkcs8, PASSPHRASE),
    }


FORMAT_NAMES = [
    "pem pkcs8",
    "pem pkcs8 encrypted",
    "pem pkcs1",
    "pem pkcs1 encrypted",
    "pem with literal \\n",
    "pem encrypted pkcs1 with literal \\n",
    "pem with CRLF",
    "pem newlines as spaces",
    "pem encrypted pkcs1 newlines as spaces",
    "pem quoted with whitespace",
    "base64 der",
    "base64 der encrypted",
    "base64 of pem",
    "base64 of encrypted pem",
    "passphrase given for a plain key",
]


@pytest.fixture(scope="session")
def formats(rsa_key: rsa.RSAPrivateKey) -> dict[str, tuple[str, str | None]]:
    return key_formats(rsa_key)


@pytest.fixture(scope="session")
def bad_keys(rsa_key: rsa.RSAPrivateKey) -> dict[str, tuple[str, str | None, type[Exception], str]]:
    return _bad_keys(rsa_key)


def test_format_table_is_complete(formats: dict[str, tuple[str, str | None]]) -> None:
    assert list(formats) == FORMAT_NAMES


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_every_key_format_loads_to_pkcs8_der(
    name: str, rsa_key: rsa.RSAPrivateKey, formats: dict[str, tuple[str, str | None]]
) -> None:
    text, passphrase = formats[name]
    assert load_private_key(text, passphrase) == expected_der(rsa_key)


def test_the_driver_signs_a_jwt_with_the_result(rsa_key: rsa.RSAPrivateKey) -> None:
    from snowflake.connector.auth.keypair import AuthByKeyPair

    der = load_private_key(pem(rsa_key, Fmt.PKCS8, PASSPHRASE), PASSPHRASE)
    token = AuthByKeyPair(private_key=der).prepare(account="myorg-acct", user="me")
    assert token.count(".") == 2


def test_ec_keys_the_driver_supports_are_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert load_private_key(pem(key, Fmt.PKCS8)) == expected_der(key)  # type: ignore[arg-type]


def _bad_keys(rsa_key: rsa.RSAPrivateKey) -> dict[str, tuple[str, str | None, type[Exception], str]]:
    """name -> (text, passphrase, error class, words the message must contain)."""
    pkcs8 = pem(rsa_key, Fmt.PKCS8)
    public = rsa_key.public_key()
    public_pem = public.public_bytes(Enc.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    public_der = public.public_bytes(Enc.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    lines = pkcs8.splitlines()
    return {
        "encrypted pkcs8, no passphrase": (
            pem(rsa_key, Fmt.PKCS8, PASSPHRASE),
            None,
            WrongPassphraseError,
            "set snowflake_private_key_passphrase",
        ),
        "encrypted pkcs1, no passphrase": (
            pem(rsa_key, Fmt.TraditionalOpenSSL, PASSPHRASE),
            None,
            WrongPassphraseError,
            "no passphrase was given",
        ),
        "encrypted pkcs8, wrong passphrase": (
            pem(rsa_key, Fmt.PKCS8, PASSPHRASE),
            WRONG,
            WrongPassphraseError,
            "does not open",
        ),
        "encrypted pkcs1, wrong passphrase": (
            pem(rsa_key, Fmt.TraditionalOpenSSL, PASSPHRASE),
            WRONG,
            WrongPassphraseError,
            "does not open",
        ),
        "encrypted der, wrong passphrase": (
            der_b64(rsa_key, PASSPHRASE),
            WRONG,
            WrongPassphraseError,
            "does not open",
        ),
        "garbage": ("hello world", None, MalformedPrivateKeyError, "neither a PEM key nor base64"),
        "file path": ("/home/me/.ssh/rsa_key.p8", None, MalformedPrivateKeyError, "a file path"),
        "empty after quotes": ('""', None, MalformedPrivateKeyError, "is empty"),
        "truncated, no END line": (pkcs8[: len(pkcs8) // 2], None, MalformedPrivateKeyError, "without its END line"),
        "truncated body": (
            "\n".join([*lines[:5], lines[-1]]),
            None,
            MalformedPrivateKeyError,
            "could not be read",
        ),
        "base64 der truncated": (der_b64(rsa_key)[:200], None, MalformedPrivateKeyError, "could not be read"),
        "public key pem": (public_pem, None, MalformedPrivateKeyError, "a public key"),
        "public key base64 der": (
            base64.b64encode(public_der).decode(),
            None,
            MalformedPrivateKeyError,
            "a public key",
        ),
        "certificate": (cert.public_bytes(Enc.PEM).decode(), None, MalformedPrivateKeyError, "a certificate"),
        "openssh": (pem(rsa_key, Fmt.OpenSSH), None, MalformedPrivateKeyError, "ssh-keygen -p -m PKCS8"),
        "ed25519": (
            pem(ed25519.Ed25519PrivateKey.generate(), Fmt.PKCS8),  # type: ignore[arg-type]
            None,
            MalformedPrivateKeyError,
            "Ed25519",
        ),
        "ec on an unsupported curve": (
            pem(ec.generate_private_key(ec.SECP256K1()), Fmt.PKCS8),  # type: ignore[arg-type]
            None,
            MalformedPrivateKeyError,
            "curve secp256k1",
        ),
        "rsa 1024": (
            pem(rsa.generate_private_key(public_exponent=65537, key_size=1024), Fmt.PKCS8),
            None,
            MalformedPrivateKeyError,
            "1024-bit",
        ),
    }


BAD_NAMES = [
    "encrypted pkcs8, no passphrase",
    "encrypted pkcs1, no passphrase",
    "encrypted pkcs8, wrong passphrase",
    "encrypted pkcs1, wrong passphrase",
    "encrypted der, wrong passphrase",
    "garbage",
    "file path",
    "empty after quotes",
    "truncated, no END line",
    "truncated body",
    "base64 der truncated",
    "public key pem",
    "public key base64 der",
    "certificate",
    "openssh",
    "ed25519",
    "ec on an unsupported curve",
    "rsa 1024",
]


def test_bad_key_table_is_complete(bad_keys: dict[str, tuple[str, str | None, type[Exception], str]]) -> None:
    assert list(bad_keys) == BAD_NAMES


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_keys_say_what_is_wrong_without_the_secret(
    name: str, bad_keys: dict[str, tuple[str, str | None, type[Exception], str]]
) -> None:
    text, passphrase, error, words = bad_keys[name]
    with pytest.raises(error) as info:
        load_private_key(text, passphrase)
    message = str(info.value)
    assert words in message
    assert isinstance(info.value, SnowflakeSecretError)
    assert info.value.__cause__ is None  # the cryptography error (and its context) is not chained in
    if passphrase:
        assert passphrase not in message
    for line in text.splitlines():
        if len(line) >= 16 and "-----" not in line and "/" not in line:
            assert line not in message


def test_parsed_keys_are_cached_under_a_hash(rsa_key: rsa.RSAPrivateKey) -> None:
    text = pem(rsa_key, Fmt.PKCS8, PASSPHRASE)
    first = load_private_key(text, PASSPHRASE)
    assert load_private_key(text, PASSPHRASE) is first
    for cache_key in _auth._keys:
        assert len(cache_key) == 32 and text.encode() not in cache_key


# --- Credentials ---------------------------------------------------------------------------------------------

SENTINELS = {keyword: f"SENTINEL-{keyword}-value" for keyword in SECRET_KEYWORDS}


def test_secret_keywords() -> None:
    assert SECRET_KEYWORDS == (
        "snowflake_private_key",
        "snowflake_private_key_passphrase",
        "snowflake_password",
        "snowflake_pat",
        "snowflake_oauth_token",
    )


def test_repr_and_str_never_show_values() -> None:
    creds = Credentials.from_kwargs(SENTINELS)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "SENTINEL" not in text
    assert repr(creds) == (
        "Credentials(private_key=<set>, private_key_passphrase=<set>, password=<set>, pat=<set>, oauth_token=<set>)"
    )
    assert repr(Credentials()) == "Credentials()"


def test_from_kwargs_picks_secrets_and_ignores_the_rest() -> None:
    creds = Credentials.from_kwargs(
        {"snowflake_password": "pw", "snowflake_pat": "", "snowflake_oauth_token": "  ", "output_prefix": "s3://x"}
    )
    assert creds == Credentials(password="pw")
    assert creds.given == ("password",)
    assert not creds.is_empty
    assert Credentials.from_kwargs({}).is_empty


def test_from_kwargs_accepts_bytes_and_refuses_other_types_without_the_value() -> None:
    assert Credentials.from_kwargs({"snowflake_password": b"pw"}).password == "pw"
    with pytest.raises(SnowflakeSecretError, match="snowflake_password must be text, got a int") as info:
        Credentials.from_kwargs({"snowflake_password": 987654321})
    assert "987654321" not in str(info.value)


def test_fingerprint_is_a_stable_hash() -> None:
    creds = Credentials.from_kwargs(SENTINELS)
    digest = creds.fingerprint("identity-A")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert "SENTINEL" not in digest
    assert creds.fingerprint("identity-A") == digest
    assert creds.fingerprint("identity-B") != digest
    for keyword in SECRET_KEYWORDS:
        changed = Credentials.from_kwargs({**SENTINELS, keyword: "other"})
        assert changed.fingerprint("identity-A") != digest, keyword


def test_fingerprint_is_the_same_in_another_process() -> None:
    code = (
        "from flyteplugins.snowflake._auth import Credentials;"
        "print(Credentials(password='pw', pat=None).fingerprint('id'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == Credentials(password="pw").fingerprint("id")


def test_fields_cannot_run_together() -> None:
    # "ab" + "c" and "a" + "bc" must not collide
    assert Credentials(password="ab", pat="c").fingerprint("i") != Credentials(password="a", pat="bc").fingerprint("i")


# --- driver kwargs -------------------------------------------------------------------------------------------


def test_private_key_login(rsa_key: rsa.RSAPrivateKey) -> None:
    creds = Credentials(private_key=pem(rsa_key, Fmt.PKCS8, PASSPHRASE), private_key_passphrase=PASSPHRASE)
    assert creds.driver_kwargs() == {"authenticator": "SNOWFLAKE_JWT", "private_key": expected_der(rsa_key)}
    assert creds.driver_kwargs("snowflake_jwt")["authenticator"] == "SNOWFLAKE_JWT"


@pytest.mark.parametrize(
    ("creds", "expected"),
    [
        (Credentials(password="pw"), {"password": "pw"}),
        (Credentials(pat="pat"), {"authenticator": "PROGRAMMATIC_ACCESS_TOKEN", "token": "pat"}),
        (Credentials(oauth_token="tok"), {"authenticator": "OAUTH", "token": "tok"}),
    ],
    ids=["password", "pat", "oauth"],
)
def test_token_and_password_logins(creds: Credentials, expected: dict[str, str]) -> None:
    assert creds.driver_kwargs() == expected


def test_pat_kwargs_are_what_the_driver_expects() -> None:
    # connection.py builds AuthByPAT(self._token) for authenticator PROGRAMMATIC_ACCESS_TOKEN.
    from snowflake.connector.network import PROGRAMMATIC_ACCESS_TOKEN

    assert Credentials(pat="p").driver_kwargs()["authenticator"] == PROGRAMMATIC_ACCESS_TOKEN


def test_more_than_one_method_names_them() -> None:
    with pytest.raises(SnowflakeSecretError) as info:
        Credentials(password=SENTINELS["snowflake_password"], pat=SENTINELS["snowflake_pat"]).driver_kwargs()
    message = str(info.value)
    assert "snowflake_password, snowflake_pat" in message and "exactly one" in message
    assert "SENTINEL" not in message


def test_passphrase_without_key() -> None:
    with pytest.raises(MissingSecretError, match="snowflake_private_key_passphrase is set but snowflake_private_key"):
        Credentials(private_key_passphrase="x").driver_kwargs()


def test_no_credentials() -> None:
    with pytest.raises(MissingSecretError, match="no Snowflake credentials"):
        Credentials().driver_kwargs()
    assert Credentials().driver_kwargs("WORKLOAD_IDENTITY") == {}


def test_authenticator_must_agree_with_the_secret() -> None:
    with pytest.raises(SnowflakeSecretError, match="authenticator OAUTH does not log in with snowflake_password"):
        Credentials(password="pw").driver_kwargs("oauth")
    with pytest.raises(SnowflakeSecretError, match=r"WORKLOAD_IDENTITY .* takes no secret"):
        Credentials(password="pw").driver_kwargs("WORKLOAD_IDENTITY")


def test_importing_auth_does_not_import_cryptography(modules_imported_by: Callable[[str], set[str]]) -> None:
    assert modules_imported_by("_auth") & {"cryptography", "snowflake"} == set()
