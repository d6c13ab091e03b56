"""The idempotency_key table: the keys whose task succeeded (see orchestrator.core.idempotency).

Every write goes through `record`, called by `Batch.write` in the transaction that records the
task's success.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.errors import DatabaseError
from orchestrator.core.idempotency import KeyRecord
from orchestrator.store.db import make_sessionmaker
from orchestrator.store.models import IdempotencyKey

Lookup = Callable[[Collection[str]], dict[str, KeyRecord]]
"""Keys -> the records of those that succeeded before (the scheduler's view of the table)."""


def key_row(key: str, dag_id: str, run_id: str, task_id: str, try_number: int, result: Any, at: datetime) -> dict[str, Any]:
    """The row a success with `key` records (for `record`)."""
    return {"key": key, "dag_id": dag_id, "run_id": run_id, "task_id": task_id, "try_number": try_number, "result": result, "succeeded_at": at}


def record(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the keys' rows in the caller's transaction; a key recorded before keeps its first success."""
    if not rows:
        return
    table = IdempotencyKey.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["key"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["key"])
    else:  # pragma: no cover - the store supports SQLite and PostgreSQL
        raise DatabaseError(f"idempotency keys need SQLite or PostgreSQL, not {dialect}")
    first = {r["key"]: r for r in reversed(rows)}  # two successes of one key in a batch: the first wins
    session.execute(stmt, list(first.values()))


def lookup(session: Session, keys: Collection[str]) -> dict[str, KeyRecord]:
    """The records of those of `keys` that succeeded."""
    if not keys:
        return {}
    rows = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key.in_(set(keys))))
    return {
        r.key: KeyRecord(r.key, r.dag_id, r.run_id, r.task_id, r.try_number, r.result, r.succeeded_at) for r in rows
    }


def lookup_in(sessions: sessionmaker[Session]) -> Lookup:
    """`lookup` in a read-only session of its own: the scheduler asks while it plans, sometimes
    inside its own write transaction, whose SQLite lock a writing session would wait for."""
    readonly = make_sessionmaker(sessions.kw["bind"], readonly=True)

    def find(keys: Collection[str]) -> dict[str, KeyRecord]:
        if not keys:
            return {}
        with readonly() as session:
            return lookup(session, keys)

    return find
