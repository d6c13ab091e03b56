"""Writes to user_account and api_token: users, their roles, passwords and bearer tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.core.errors import NotFoundError, OrchestratorError
from orchestrator.store.models import ApiToken, User


class Role(str, Enum):
    """What a user may do: viewers read, operators also act on runs, admins do everything."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
_hasher = PasswordHasher()
TOKEN_PREFIX = "orch_"


class UserExistsError(OrchestratorError):
    """A user with that name already exists."""


class InvalidRoleError(OrchestratorError):
    """The role is not one of viewer, operator, admin."""


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidRoleError(f"unknown role {value!r}: use viewer, operator or admin") from None


def create_user(session: Session, username: str, role: Role, password: str | None, now: datetime) -> User:
    """Add a user; without a password it can only use bearer tokens."""
    if not username or len(username) > 150:
        raise OrchestratorError("a username must have 1 to 150 characters")
    user = User(
        username=username,
        role=role.value,
        password_hash=_hasher.hash(password) if password else None,
        is_active=True,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise UserExistsError(f"a user named {username!r} already exists") from None
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    return user


def check_password(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, or None. Takes as long either way."""
    user = session.scalar(select(User).where(User.username == username, User.is_active.is_(True)))
    stored = user.password_hash if user is not None else None
    try:
        ok = _hasher.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        ok = False
    return user if ok and stored else None


@functools.cache
def _dummy_hash() -> str:
    # made on first use, not at import: hashing costs every CLI command a noticeable part of its start-up
    return _hasher.hash(secrets.token_urlsafe(16))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, now: datetime) -> tuple[ApiToken, str]:
    """A new bearer token for `user`; the plain token is returned once and never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=_digest(plain), prefix=plain[:12], created_at=now)
    session.add(row)
    session.flush()
    return row, plain


LAST_USED_RESOLUTION = timedelta(minutes=1)


def find_token(session: Session, token: str) -> tuple[ApiToken, User] | None:
    """The live token and its active user, or None. Only reads."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return row, user


def needs_last_used(row: ApiToken, now: datetime) -> bool:
    """`last_used_at` is kept to the minute, so a busy token does not cost a write per request."""
    return row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION


def mark_used(session: Session, token_id: int, now: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


def revoke_token(session: Session, token_id: int, now: datetime) -> None:
    result = session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFoundError(f"no live token with id {token_id}")
