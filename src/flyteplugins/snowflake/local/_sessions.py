"""Logins of the local Snowflake: sessions with session and master tokens, expiry on demand, credential checks.

Only known users log in (the start-up user and those added with `add_user`), unless `strict_users` is off. Their
credentials are checked: password, RSA public key (the driver's key-pair JWT is verified against it),
programmatic access token, OAuth token.
A wrong key fails with 390144, a wrong password or token with 390100, a wrong OAuth token with 390303.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import itertools
import secrets
import threading
import time
from typing import Any

from cryptography.hazmat.primitives import serialization

from ._parameters import SessionParameters

SESSION_VALIDITY_S = 3600
MASTER_VALIDITY_S = 14400


class LoginError(Exception):
    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno
        self.message = message


@dataclasses.dataclass
class Session:
    """One login. `conn` is the session's fakesnow connection; `lock` serialises synchronous queries on it."""

    session_id: int
    token: str
    master_token: str
    user: str
    account: str
    database: str | None
    schema: str | None
    warehouse: str | None
    role: str | None
    conn: Any
    parameters: SessionParameters = dataclasses.field(default_factory=SessionParameters)
    last_query_id: str | None = None
    previous_query_id: str | None = None
    closed: bool = False
    renewals: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    created: float = dataclasses.field(default_factory=time.time)
    #: the roles the logged-in user may assume (`USE ROLE`); None: any
    roles: frozenset[str] | None = None
    #: the driver that logged in, and its version (CLIENT_APP_ID, CLIENT_APP_VERSION of the login)
    client: tuple[str, tuple[int, ...]] = ("", ())

    @property
    def takes_multi_statements(self) -> bool:
        """Snowflake runs several statements in one request only for drivers that know how to read the answer
        (the Python driver from 2.9.0)."""
        app, version = self.client
        return app != "PythonConnector" or version >= (2, 9, 0)

    #: the names (upper case) of the session's temporary tables and views: an asynchronous statement that names
    #: one runs on the session's connection, which alone sees them (`_engine`)
    temporary_tables: frozenset[str] = frozenset()
    #: the session's temporary procedures (`_procedures`): (database, schema, name) -> overloads
    procedures: dict[Any, Any] = dataclasses.field(default_factory=dict)

    def may_assume(self, role: str) -> bool:
        return self.roles is None or role.upper() in self.roles or role.upper() == "PUBLIC"


@dataclasses.dataclass(frozen=True)
class User:
    """A registered user; each credential given is accepted, the others are not."""

    name: str
    password: str | None = None
    public_key_fingerprint: str | None = None
    public_key_pem: str | None = None
    pat: str | None = None
    oauth_token: str | None = None
    default_role: str | None = None
    default_warehouse: str | None = None
    #: the roles the user may log in with or assume; None: any
    roles: frozenset[str] | None = None

    @classmethod
    def build(
        cls,
        name: str,
        password: str | None = None,
        public_key_pem: str | None = None,
        pat: str | None = None,
        oauth_token: str | None = None,
        default_role: str | None = None,
        default_warehouse: str | None = None,
        roles: list[str] | None = None,
    ) -> User:
        fingerprint = None
        if public_key_pem:
            fingerprint = public_key_fingerprint(public_key_pem)
        granted = (
            None if roles is None else frozenset(r.upper() for r in [*roles, *([default_role] if default_role else [])])
        )
        return cls(
            name.upper(),
            password,
            fingerprint,
            public_key_pem,
            pat,
            oauth_token,
            default_role.upper() if default_role else None,
            default_warehouse.upper() if default_warehouse else None,
            granted,
        )


def _load_public_key(text: str) -> Any:
    text = text.strip()
    if not text.startswith("-----"):
        # Snowflake's RSA_PUBLIC_KEY form: the base64 body without the PEM armour
        text = f"-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----"
    return serialization.load_pem_public_key(text.encode())


def public_key_fingerprint(public_key_pem: str) -> str:
    """`SHA256:<base64 of the DER SubjectPublicKeyInfo digest>`, the form in the key-pair JWT issuer."""
    der = _load_public_key(public_key_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def _same(given: Any, expected: str | None) -> bool:
    return expected is not None and isinstance(given, str) and hmac.compare_digest(given, expected)


def verify_login(data: dict[str, Any], user: User | None, strict: bool) -> None:
    """Raise LoginError unless the login body `data` carries a credential `user` accepts."""
    bad_password = LoginError(390100, "Incorrect username or password was specified.")
    if user is None:
        if strict:
            raise bad_password
        return
    authenticator = str(data.get("AUTHENTICATOR") or "SNOWFLAKE").upper()
    token = data.get("TOKEN")
    if authenticator == "SNOWFLAKE_JWT":
        _verify_jwt(token, user)
    elif authenticator == "PROGRAMMATIC_ACCESS_TOKEN":
        if not _same(token, user.pat):
            raise LoginError(390100, "Programmatic access token is invalid.")
    elif authenticator == "OAUTH":
        if not _same(token, user.oauth_token):
            raise LoginError(390303, "Invalid OAuth access token.")
    else:
        password = data.get("PASSWORD")
        # Snowflake also accepts a programmatic access token in place of the password
        if not (_same(password, user.password) or _same(password, user.pat)):
            raise bad_password


def _verify_jwt(token: Any, user: User) -> None:
    import jwt  # PyJWT, a dependency of snowflake-connector-python

    invalid = LoginError(390144, "JWT token is invalid.")
    if not isinstance(token, str) or user.public_key_pem is None:
        raise invalid
    try:
        claims = jwt.decode(
            token,
            _load_public_key(user.public_key_pem),
            algorithms=["RS256", "ES256", "ES384", "ES512"],
            options={"require": ["iss", "sub", "exp", "iat"]},
            leeway=60,
        )
    except jwt.PyJWTError:
        raise invalid from None
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    if subject.rpartition(".")[2] != user.name or not issuer.endswith(f".{user.name}.{user.public_key_fingerprint}"):
        raise invalid


class SessionStore:
    """Sessions by token and master token. Expiring makes the token answer 390112; the master token renews it."""

    def __init__(self) -> None:
        self._by_token: dict[str, Session] = {}
        self._by_master: dict[str, Session] = {}
        self._expired_tokens: set[str] = set()
        self._expired_masters: set[str] = set()
        self._ids = itertools.count(1_000_001)
        self._lock = threading.Lock()
        self.users: dict[str, User] = {}

    def create(self, **fields: Any) -> Session:
        session = Session(
            session_id=next(self._ids),
            token=secrets.token_urlsafe(32),
            master_token=secrets.token_urlsafe(32),
            **fields,
        )
        with self._lock:
            self._by_token[session.token] = session
            self._by_master[session.master_token] = session
        return session

    def lookup(self, token: str) -> Session:
        """The live session of a token, or LoginError 390112 (expired) / 390111 (gone)."""
        with self._lock:
            if token in self._expired_tokens:
                raise LoginError(390112, "Your session has expired. Please login again.")
            session = self._by_token.get(token)
        if session is None or session.closed:
            raise LoginError(390111, "Session no longer exists.  New login required to access the service.")
        return session

    def renew(self, master_token: str, old_token: str) -> Session:
        with self._lock:
            if master_token in self._expired_masters:
                raise LoginError(390114, "Authentication token has expired.  The user must authenticate again.")
            session = self._by_master.get(master_token)
            if session is None or session.closed:
                raise LoginError(390113, "Master token not found.  The user must authenticate again.")
            self._by_token.pop(session.token, None)
            self._expired_tokens.discard(old_token)
            session.token = secrets.token_urlsafe(32)
            session.renewals += 1
            self._by_token[session.token] = session
        return session

    def delete(self, session: Session) -> None:
        with self._lock:
            session.closed = True
            self._by_token.pop(session.token, None)
            self._by_master.pop(session.master_token, None)
            self._expired_tokens.discard(session.token)
            self._expired_masters.discard(session.master_token)

    def expire_all(self, master: bool = False) -> int:
        """Expire every live session token (and master token when `master`); returns how many sessions."""
        with self._lock:
            sessions = [s for s in self._by_token.values() if not s.closed]
            self._expired_tokens.update(s.token for s in sessions)
            if master:
                self._expired_masters.update(s.master_token for s in sessions)
        return len(sessions)

    def live(self) -> list[Session]:
        with self._lock:
            return [s for s in self._by_master.values() if not s.closed]
