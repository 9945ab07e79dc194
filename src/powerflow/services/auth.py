"""Users, roles and bearer tokens.

Tokens are random 256-bit strings shown once; only their sha256 is stored (a slow hash adds
nothing for tokens of that entropy). System roles: admin, designer, clerk, monitor, auditor,
worker (external-task workers: services/external_tasks.py);
any other role name is organisational and is matched against BPMN lanes and powerflow role
attributes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.models import User
from powerflow.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from powerflow.services.events import MACHINE_ACTORS

SYSTEM_ROLES = frozenset({"admin", "designer", "clerk", "monitor", "auditor", "worker"})
ROLE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    name: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        """True if the caller holds any of the given roles."""
        return not self.roles.isdisjoint(roles)

    @property
    def is_admin(self) -> bool:
        """Administrators manage the service (not other people's tasks)."""
        return "admin" in self.roles


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh bearer token."""
    return "pf_" + secrets.token_urlsafe(32)


def parse_roles(roles: list[str] | str) -> list[str]:
    """Validate and de-duplicate role names (comma-separated or a list)."""
    items = roles.split(",") if isinstance(roles, str) else roles
    out: list[str] = []
    for role in (r.strip() for r in items):
        if not role:
            continue
        if not ROLE_PATTERN.match(role):
            raise InvalidInput(
                f"'{role}' is not a valid role name: use letters, digits, '.', '_' or '-'."
            )
        if role not in out:
            out.append(role)
    return out


PRINCIPAL_TTL_SECONDS = 5.0


class _PrincipalCache:
    """Recently verified tokens, so a clerk's burst of requests costs one lookup.

    Entries live PRINCIPAL_TTL_SECONDS: a rotated token or a disabled user stops working on
    every worker within that time (at once on the worker that rotated it). Unknown tokens are
    never cached.
    """

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Principal | None:
        hit = self._items.get(token_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, token_hash: str, principal: Principal) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[token_hash] = (time.monotonic() + PRINCIPAL_TTL_SECONDS, principal)

    def forget(self, name: str) -> None:
        with self._lock:
            for key in [k for k, (_, p) in self._items.items() if p.name == name]:
                del self._items[key]


_CACHES: weakref.WeakKeyDictionary[Store, _PrincipalCache] = weakref.WeakKeyDictionary()


def _cache(store: Store) -> _PrincipalCache:
    cache = _CACHES.get(store)
    if cache is None:
        cache = _CACHES.setdefault(store, _PrincipalCache())
    return cache


def authenticate(store: Store, token: str | None) -> Principal:
    """The principal a bearer token belongs to; Unauthenticated if none or disabled."""
    if not token:
        raise Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'.")
    token_hash = hash_token(token)
    cache = _cache(store)
    cached = cache.get(token_hash)
    if cached is not None:
        return cached
    with store.begin(write=False) as conn:
        found = queries.user_by_token(conn, token_hash)
    if found is None:
        raise Unauthenticated("The bearer token is not valid.")
    principal = Principal(name=found[0], roles=frozenset(found[1]))
    cache.put(token_hash, principal)
    return principal


def add_user(store: Store, name: str, roles: list[str] | str, token: str | None = None) -> str:
    """Create a user with roles and return their token (shown once)."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"'{name}' is not a valid user name: use letters, digits, '.', '_', '@' or '-'."
        )
    if name.lower() in MACHINE_ACTORS:
        raise InvalidInput(
            f"'{name}' is reserved: the audit trail records the engine's own steps under it; "
            "choose another name."
        )
    role_list = parse_roles(roles)
    token = token or new_token()
    with store.write() as session:
        if session.scalar(select(User.id).where(User.name == name)) is not None:
            raise Conflict(f"A user named '{name}' already exists.")
        session.add(User(name=name, roles=role_list, token_hash=hash_token(token)))
    return token


def rotate_token(store: Store, name: str, principal: Principal | None = None) -> str:
    """Give a user a new token; the old one stops working."""
    _require_admin(principal)
    token = new_token()
    with store.write() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise NotFound(f"There is no user named '{name}'.")
        user.token_hash = hash_token(token)
    _cache(store).forget(name)
    return token


def list_users(store: Store) -> list[tuple[str, list[str], bool]]:
    """Every user with roles and whether disabled."""
    with store.read() as session:
        return [(u.name, list(u.roles), u.disabled) for u in session.scalars(select(User))]


@dataclass(frozen=True)
class UserInfo:
    """A user as administrators see it: never the token or its hash."""

    name: str
    roles: list[str]
    disabled: bool
    created_at: datetime


def _info(user: User) -> UserInfo:
    return UserInfo(user.name, list(user.roles), bool(user.disabled), user.created_at)


def _require_admin(principal: Principal | None) -> None:
    """Only administrators manage users (the CLI passes no principal: it has the database)."""
    if principal is not None and not principal.is_admin:
        raise Forbidden("Managing users needs the 'admin' role.")


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"There is no user named '{name}'.")
    return user


def users(store: Store, principal: Principal | None = None) -> list[UserInfo]:
    """Every user, by name, with roles and whether disabled."""
    _require_admin(principal)
    with store.read() as session:
        return [_info(u) for u in session.scalars(select(User).order_by(User.name))]


def get_user(store: Store, name: str, principal: Principal | None = None) -> UserInfo:
    """One user, by name."""
    _require_admin(principal)
    with store.read() as session:
        return _info(_user(session, name))


def create_user(
    store: Store, name: str, roles: list[str] | str, principal: Principal | None = None
) -> tuple[UserInfo, str]:
    """Create a user; return them and their token (shown once, only its hash is stored)."""
    _require_admin(principal)
    token = add_user(store, name, roles)
    return get_user(store, name), token


def update_user(
    store: Store,
    name: str,
    *,
    roles: list[str] | str | None = None,
    disabled: bool | None = None,
    principal: Principal | None = None,
) -> UserInfo:
    """Replace a user's roles and/or disable or re-enable them; effective at once here.

    A disabled user's token stops working (at once on this worker, within
    PRINCIPAL_TTL_SECONDS on others); re-enabling brings the same token back. The change that
    would leave no active administrator is refused.
    """
    _require_admin(principal)
    with store.write() as session:
        # Two administrators demoting each other at once must not both succeed: take the user
        # rows in one order first (PostgreSQL; SQLite already admits one writer at a time).
        session.execute(select(User.id).order_by(User.id).with_for_update())
        user = _user(session, name)
        was_admin = not user.disabled and "admin" in user.roles
        if roles is not None:
            user.roles = parse_roles(roles)
        if disabled is not None:
            user.disabled = disabled
        session.flush()
        active_admins = [
            u.name
            for u in session.scalars(select(User).where(User.disabled.is_(False)))
            if "admin" in u.roles
        ]
        if was_admin and not active_admins:
            raise Conflict(
                f"This would leave no active administrator: give another user the 'admin' role "
                f"before taking it from '{name}' or disabling them."
            )
        info = _info(user)
    _cache(store).forget(name)
    return info


def ensure_admin(store: Store, admin_token: str | None) -> str | None:
    """On an empty user table create the 'admin' user; return a token only if newly generated.

    With ``admin_token`` given (POWERFLOW_ADMIN_TOKEN) that token is the admin's, and is kept in
    sync on every start so an operator can rotate it by changing the setting.
    """
    with store.write() as session:
        admin = session.scalar(select(User).where(User.name == "admin"))
        any_user = session.scalar(select(User.id).limit(1))
        if admin is not None:
            if admin_token and admin.token_hash != hash_token(admin_token):
                admin.token_hash = hash_token(admin_token)
            return None
        if any_user is not None and not admin_token:
            return None
        token = admin_token or new_token()
        session.add(User(name="admin", roles=["admin"], token_hash=hash_token(token)))
    return None if admin_token else token
