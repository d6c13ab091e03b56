"""The pool table: named slots that limit how many tasks using a pool run at once, across DAGs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.errors import NotFoundError
from orchestrator.store import events
from orchestrator.store.models import Pool


def slots(session: Session) -> dict[str, int]:
    """Every pool's slots by name."""
    return {name: n for name, n in session.execute(select(Pool.name, Pool.slots))}


def list_pools(session: Session) -> list[Pool]:
    return list(session.scalars(select(Pool).order_by(Pool.name)))


def set_pool(session: Session, name: str, n_slots: int, at: datetime, actor: str, description: str | None = None) -> Pool:
    """Create a pool or change its slots (an event records it)."""
    if not name or len(name) > 250:
        raise ValueError("a pool name has 1 to 250 characters")
    if n_slots < 0:
        raise ValueError(f"a pool has 0 or more slots, not {n_slots}")
    row = session.get(Pool, name)
    before = None if row is None else row.slots
    if row is None:
        row = Pool(name=name, slots=n_slots)
        session.add(row)
    row.slots = n_slots
    if description is not None:
        row.description = description
    events.append(session, [events.event("pool.set", at, actor=actor, payload={"pool": name, "slots": n_slots, "before": before})])
    session.flush()
    return row


def delete_pool(session: Session, name: str, at: datetime, actor: str) -> None:
    """Delete a pool (an event records it); NotFoundError when there is none of that name."""
    row = session.get(Pool, name)
    if row is None:
        raise NotFoundError(f"no pool {name!r}: `orchestrator pools list` shows the pools")
    session.delete(row)
    events.append(session, [events.event("pool.deleted", at, actor=actor, payload={"pool": name})])
