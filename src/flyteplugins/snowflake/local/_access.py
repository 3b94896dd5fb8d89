"""Warehouses and roles of the local Snowflake: which warehouse a session uses and what a role may use.

Enough of Snowflake's access model to produce its errors, not a grant model:

* Warehouses are objects (`CREATE/DROP/SHOW/USE WAREHOUSE`). A login naming a warehouse that does not exist,
  or that its role may not use, succeeds with no current warehouse, and the first statement that needs one
  fails with 000606, as in Snowflake. Statements that only read metadata (`SHOW`, `DESCRIBE`, `EXPLAIN`, DDL
  without a query, a `SELECT` without `FROM`) need none.
* A role registered with `add_role` may use only the warehouses and databases it lists (`None`: all); the
  system roles (ACCOUNTADMIN, SYSADMIN, ..., PUBLIC) may use everything. A login naming a role that exists
  nowhere (see `_app._login_context`) is refused. `SHOW WAREHOUSES/DATABASES/SCHEMAS` list what the role may use.
* A user may be given a default role and warehouse, and the roles it may log in with.
* Databases and schemas exist once created (`CREATE DATABASE/SCHEMA`, or `--database` at start-up): a login
  naming one that does not exist creates nothing and has no current database or schema, as in Snowflake.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterable

DEFAULT_WAREHOUSE = "COMPUTE_WH"
DEFAULT_DATABASE = "FLYTE.PUBLIC"
#: the roles every Snowflake account has
SYSTEM_ROLES = frozenset({"ORGADMIN", "ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN", "SYSADMIN", "PUBLIC"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def parse_database(text: str) -> tuple[str, str]:
    """`DB.SCHEMA` (or `DB`, for its PUBLIC schema) -> (DB, SCHEMA), upper case as Snowflake resolves unquoted
    names. Raises ValueError naming the problem."""
    parts = text.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise ValueError(f"--database {text!r}: expected DATABASE or DATABASE.SCHEMA, each a plain identifier")
    database, schema = [*parts, "PUBLIC"][:2]
    return database.upper(), schema.upper()


WAREHOUSE_SIZES = (
    "X-Small",
    "Small",
    "Medium",
    "Large",
    "X-Large",
    "2X-Large",
    "3X-Large",
    "4X-Large",
    "5X-Large",
    "6X-Large",
)
_SIZE_ALIASES = {size.upper().replace("-", ""): size for size in WAREHOUSE_SIZES} | {
    "XSMALL": "X-Small",
    "XLARGE": "X-Large",
    "XXLARGE": "2X-Large",
    "XXXLARGE": "3X-Large",
}


class AccessError(Exception):
    """A Snowflake error about an object the session may not use: errno, sqlstate, message."""

    def __init__(self, errno: int, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.errno, self.sqlstate, self.message = errno, sqlstate, message


def no_warehouse() -> AccessError:
    return AccessError(
        606,
        "57P03",
        "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' "
        "command.",
    )


def does_not_exist() -> AccessError:
    return AccessError(
        2043, "02000", "SQL compilation error:\nObject does not exist, or operation cannot be performed."
    )


def warehouse_size(text: str) -> str:
    """Snowflake's spelling of a warehouse size (`XSMALL`, `'x-small'` -> `X-Small`); ValueError if unknown."""
    key = text.strip().strip("'\"").upper().replace("-", "").replace("_", "")
    if key not in _SIZE_ALIASES:
        raise ValueError(f"unknown warehouse size {text!r}: one of {', '.join(WAREHOUSE_SIZES)}")
    return _SIZE_ALIASES[key]


WAREHOUSE_TYPES = ("STANDARD", "SNOWPARK-OPTIMIZED")


@dataclasses.dataclass(frozen=True)
class Warehouse:
    name: str
    size: str = "X-Small"
    type: str = "STANDARD"
    created: float = dataclasses.field(default_factory=time.time)


def warehouse_type(text: str) -> str:
    """Snowflake's spelling of a warehouse type (`snowpark-optimized` -> `SNOWPARK-OPTIMIZED`)."""
    found = text.strip().strip("'\"").upper().replace("_", "-")
    if found not in WAREHOUSE_TYPES:
        raise ValueError(f"unknown warehouse type {text!r}: one of {', '.join(WAREHOUSE_TYPES)}")
    return found


@dataclasses.dataclass(frozen=True)
class Role:
    """A role and what it may use; `None` means everything."""

    name: str
    warehouses: frozenset[str] | None = None
    databases: frozenset[str] | None = None

    @classmethod
    def build(cls, name: str, warehouses: Iterable[str] | None, databases: Iterable[str] | None) -> Role:
        return cls(name.upper(), _names(warehouses), _names(databases))


def _names(names: Iterable[str] | None) -> frozenset[str] | None:
    return None if names is None else frozenset(n.upper() for n in names)


class Directory:
    """The warehouses and roles of one local Snowflake (shared by its sessions; thread-safe)."""

    def __init__(self, warehouses: Iterable[str] = (DEFAULT_WAREHOUSE,)) -> None:
        self._initial = tuple(dict.fromkeys(w.upper() for w in warehouses))
        self._lock = threading.Lock()
        self._warehouses: dict[str, Warehouse] = {}
        self._roles: dict[str, Role] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the warehouses the server started with and no registered role."""
        with self._lock:
            self._warehouses = {name: Warehouse(name) for name in self._initial}
            self._roles = {}

    # -- warehouses ----------------------------------------------------------------------------------------------

    def add_warehouse(self, name: str, size: str = "X-Small", kind: str = "STANDARD", *, replace: bool = True) -> bool:
        """Create a warehouse; False when it exists and `replace` is false (CREATE ... IF NOT EXISTS)."""
        name = name.upper()
        made = Warehouse(name, warehouse_size(size), warehouse_type(kind))
        with self._lock:
            if name in self._warehouses and not replace:
                return False
            self._warehouses[name] = made
            return True

    def drop_warehouse(self, name: str) -> bool:
        with self._lock:
            return self._warehouses.pop(name.upper(), None) is not None

    def warehouse(self, name: str | None) -> Warehouse | None:
        with self._lock:
            return self._warehouses.get(name.upper()) if name else None

    def usable_warehouse(self, role: str | None, name: str | None) -> str | None:
        """`name` if it exists and `role` may use it, else None (the session then has no warehouse)."""
        found = self.warehouse(name)
        if found is None or not self._allows(role, found.name, "warehouses"):
            return None
        return found.name

    def visible_warehouses(self, role: str | None) -> list[Warehouse]:
        with self._lock:
            warehouses = list(self._warehouses.values())
        return [w for w in warehouses if self._allows(role, w.name, "warehouses")]

    # -- roles and databases -------------------------------------------------------------------------------------

    def add_role(self, role: Role) -> None:
        with self._lock:
            self._roles[role.name] = role

    def role_exists(self, name: str) -> bool:
        """A system role (ACCOUNTADMIN, SYSADMIN, ..., PUBLIC) or one registered with `add_role`."""
        with self._lock:
            return name.upper() in SYSTEM_ROLES or name.upper() in self._roles

    def may_use_database(self, role: str | None, database: str | None) -> bool:
        return database is None or self._allows(role, database.strip('"').upper(), "databases")

    def _allows(self, role: str | None, name: str, kind: str) -> bool:
        with self._lock:
            found = self._roles.get((role or "").upper())
        allowed: frozenset[str] | None = getattr(found, kind) if found is not None else None
        return allowed is None or name in allowed


# Statements that never need a warehouse even when they read a table's name: metadata and session statements.
_METADATA = re.compile(
    r"(?:SHOW|DESC|DESCRIBE|EXPLAIN|USE|ALTER\s+SESSION|SET|UNSET|BEGIN|START|COMMIT|ROLLBACK|GRANT|REVOKE|DROP|"
    r"TRUNCATE|COMMENT|CALL)\b",
    re.IGNORECASE,
)
_READS = re.compile(r"\bFROM\b", re.IGNORECASE)
_DML = re.compile(r"(?:INSERT|UPDATE|DELETE|MERGE|COPY)\b", re.IGNORECASE)
_LEADING = re.compile(r"(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.DOTALL)


def needs_warehouse(sql: str) -> bool:
    """Whether Snowflake runs this statement on a warehouse: DML, and queries that read a table (`FROM`)."""
    text = sql[_LEADING.match(sql).end() :]  # type: ignore[union-attr]
    if _METADATA.match(text):
        return False
    if _DML.match(text):
        return True
    if text[:6].upper() == "CREATE" and not re.search(r"\bAS\s*\(?\s*(?:SELECT|WITH)\b", text, re.IGNORECASE):
        return False
    return bool(_READS.search(text))
