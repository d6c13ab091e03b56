"""Writes to dag_role, dag_role_grant and user_dag_role: DAG roles, their grants and members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.core.errors import ConflictError, NotFoundError, OrchestratorError
from orchestrator.store.models import DagRole, DagRoleGrant, User, UserDagRole
from orchestrator.store.permissions import DagAccess, Grant
from orchestrator.store.users import Role


class DagRoleExistsError(ConflictError):
    """A DAG role with that name already exists."""


@dataclass(frozen=True)
class DagRoleView:
    """A DAG role with its grants and the usernames of its members."""

    name: str
    description: str | None
    grants: tuple[Grant, ...]
    members: tuple[str, ...]


def _grant(row: DagRoleGrant) -> Grant:
    from orchestrator.store.permissions import DagPermission

    return Grant(DagPermission(row.permission), dag_id=row.dag_id, tag=row.tag)


def get_role(session: Session, name: str) -> DagRole:
    row = session.get(DagRole, name)
    if row is None:
        raise NotFoundError(f"no DAG role named {name!r}: `orchestrator roles list` shows them")
    return row


def create_role(session: Session, name: str, description: str | None, now: datetime) -> DagRole:
    if not name or len(name) > 100:
        raise OrchestratorError("a DAG role's name must have 1 to 100 characters")
    row = DagRole(name=name, description=description, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise DagRoleExistsError(f"a DAG role named {name!r} already exists") from None
    return row


def delete_role(session: Session, name: str) -> None:
    """Remove the role, its grants and its memberships (members in no other role become unrestricted)."""
    get_role(session, name)
    session.execute(delete(DagRoleGrant).where(DagRoleGrant.role == name))
    session.execute(delete(UserDagRole).where(UserDagRole.role == name))
    session.execute(delete(DagRole).where(DagRole.name == name))


def add_grant(session: Session, name: str, grant: Grant, now: datetime) -> bool:
    """Grant `grant` to the role; False when it already had exactly this grant."""
    get_role(session, name)
    if _find_grant(session, name, grant) is not None:
        return False
    session.add(DagRoleGrant(role=name, permission=grant.permission.value, dag_id=grant.dag_id, tag=grant.tag, created_at=now))
    session.flush()
    return True


def _find_grant(session: Session, name: str, grant: Grant) -> DagRoleGrant | None:
    return session.scalar(
        select(DagRoleGrant).where(
            DagRoleGrant.role == name, DagRoleGrant.permission == grant.permission.value,
            DagRoleGrant.dag_id.is_(None) if grant.dag_id is None else DagRoleGrant.dag_id == grant.dag_id,
            DagRoleGrant.tag.is_(None) if grant.tag is None else DagRoleGrant.tag == grant.tag,
        )
    )


def remove_grant(session: Session, name: str, grant: Grant) -> None:
    get_role(session, name)
    row = _find_grant(session, name, grant)
    if row is None:
        raise NotFoundError(f"DAG role {name!r} has no grant of {grant.permission.value} on {grant.target}")
    session.delete(row)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    return user


def add_member(session: Session, name: str, username: str) -> bool:
    """Put the user in the role (restricting them to DAG roles' grants); False if already there."""
    get_role(session, name)
    user = _user(session, username)
    if session.get(UserDagRole, (user.id, name)) is not None:
        return False
    session.add(UserDagRole(user_id=user.id, role=name))
    session.flush()
    return True


def remove_member(session: Session, name: str, username: str) -> None:
    user = _user(session, username)
    row = session.get(UserDagRole, (user.id, name))
    if row is None:
        raise NotFoundError(f"user {username!r} is not in DAG role {name!r}")
    session.delete(row)


def list_roles(session: Session) -> list[DagRoleView]:
    roles = session.scalars(select(DagRole).order_by(DagRole.name)).all()
    grants = session.scalars(select(DagRoleGrant).order_by(DagRoleGrant.id)).all()
    members = session.execute(
        select(UserDagRole.role, User.username).join(User, User.id == UserDagRole.user_id).order_by(User.username)
    ).all()
    return [
        DagRoleView(
            name=r.name, description=r.description,
            grants=tuple(_grant(g) for g in grants if g.role == r.name),
            members=tuple(m.username for m in members if m.role == r.name),
        )
        for r in roles
    ]


def role_names(session: Session, user_id: int | None, role: Role) -> list[str]:
    """The roles a state machine's guards see as `roles`: the built-in roles `role` includes (viewer,
    operator, admin), then the user's DAG roles by name."""
    names = [r.value for r in Role if role.allows(r)]
    if user_id is not None:
        names += sorted(session.scalars(select(UserDagRole.role).where(UserDagRole.user_id == user_id)).all())
    return names


def access_of(session: Session, user_id: int, role: Role) -> DagAccess:
    """What the user may do to DAGs (one query for their DAG roles' grants)."""
    names: Sequence[str] = session.scalars(select(UserDagRole.role).where(UserDagRole.user_id == user_id)).all()
    if not names or role is Role.ADMIN:
        return DagAccess(role)
    rows = session.scalars(select(DagRoleGrant).where(DagRoleGrant.role.in_(names))).all()
    return DagAccess(role, restricted=True, grants=tuple(_grant(g) for g in rows))
