"""Per-DAG permissions, as Airflow's DAG-level access: DAG roles grant read, trigger or edit on
DAGs named by dag_id or by tag. Pure decisions; orchestrator/store/access.py keeps the grants.

A user who belongs to no DAG role sees every DAG with their global role (viewer: read;
operator: read, trigger and edit; admin: everything), as before DAG roles existed. A user who
belongs to one or more DAG roles is *restricted*: on each DAG they have what their roles grant
there and nothing else. Admins are never restricted. Permissions are ranked: edit (pause,
unpause, the DAG's named schedules) includes trigger (runs, backfills, cancel, clear), which
includes read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from orchestrator.core.errors import OrchestratorError
from orchestrator.store.users import Role


class DagPermission(str, Enum):
    """What a user may do to one DAG."""

    READ = "read"
    TRIGGER = "trigger"
    EDIT = "edit"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def includes(self, needed: DagPermission) -> bool:
        return self.rank >= needed.rank


_RANK = {DagPermission.READ: 0, DagPermission.TRIGGER: 1, DagPermission.EDIT: 2}

# what a global role gives on every DAG to a user in no DAG role
_UNRESTRICTED = {Role.VIEWER: DagPermission.READ, Role.OPERATOR: DagPermission.EDIT, Role.ADMIN: DagPermission.EDIT}


class InvalidGrantError(OrchestratorError):
    """A grant names neither or both of a dag_id and a tag, or an unknown permission."""


def parse_permission(value: str) -> DagPermission:
    try:
        return DagPermission(value)
    except ValueError:
        raise InvalidGrantError(f"unknown DAG permission {value!r}: use read, trigger or edit") from None


@dataclass(frozen=True)
class Grant:
    """`permission` on the DAG `dag_id`, or on every DAG tagged `tag` (exactly one of the two)."""

    permission: DagPermission
    dag_id: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        if (self.dag_id is None) == (self.tag is None):
            raise InvalidGrantError("a grant names either a DAG (dag_id) or a tag, not both and not neither")

    def covers(self, dag_id: str, tags: Iterable[str]) -> bool:
        return self.dag_id == dag_id if self.dag_id is not None else self.tag in set(tags)

    @property
    def target(self) -> str:
        return f"dag:{self.dag_id}" if self.dag_id is not None else f"tag:{self.tag}"


@dataclass(frozen=True)
class DagAccess:
    """What one user may do to DAGs: their global role and, when restricted, their roles' grants."""

    role: Role
    restricted: bool = False
    grants: tuple[Grant, ...] = ()

    def permission(self, dag_id: str, tags: Iterable[str]) -> DagPermission | None:
        """The highest permission on this DAG, or None when the user may not even read it."""
        if self.role is Role.ADMIN or not self.restricted:
            return _UNRESTRICTED[self.role]
        tags = tuple(tags)
        held = [g.permission for g in self.grants if g.covers(dag_id, tags)]
        return max(held, key=lambda p: p.rank, default=None)

    def allows(self, dag_id: str, tags: Iterable[str], needed: DagPermission) -> bool:
        held = self.permission(dag_id, tags)
        return held is not None and held.includes(needed)


FULL_ACCESS = DagAccess(Role.ADMIN)
"""Who may do everything: the CLI of an OS user with no namesake user in the store."""


def denial(dag_id: str | None, needed: DagPermission, access: DagAccess) -> str:
    """Why the user may not do `needed` to `dag_id` (None: to any DAG), for a 403 or a CLI error."""
    dag = f"DAG {dag_id!r}" if dag_id is not None else "a DAG"
    if access.restricted:
        return f"you may not {needed.value} {dag}: none of your DAG roles grants {needed.value} on it or on one of its tags"
    least = min((r for r, p in _UNRESTRICTED.items() if p.includes(needed)), key=lambda r: r.rank)
    return f"to {needed.value} {dag} needs the {least.value} role; you are {access.role.value}"
