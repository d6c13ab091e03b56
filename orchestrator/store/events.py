"""The event log: append-only rows for every state change and user action."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.store.bulk import insert_many
from orchestrator.store.models import Event


def event(
    kind: str,
    at: datetime,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    try_number: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    actor: str = "scheduler",
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One event row, ready for `append`."""
    return {
        "kind": kind,
        "at": at,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "try_number": try_number,
        "from_state": from_state,
        "to_state": to_state,
        "actor": actor,
        "reason": reason,
        "payload": payload,
    }


DEADLINE_MISSED = "deadline.missed"
"""The event kind of a missed deadline: /metrics counts them per DAG (orchestrator_deadline_misses_total)."""


def deadline_missed(
    dag_id: str, run_id: str, at: datetime, *, task_id: str | None = None, deadline: datetime | None = None,
    reason: str | None = None, actor: str = "scheduler",
) -> dict[str, Any]:
    """The event row of a run (or, with `task_id`, a task) that missed its deadline, ready for
    `append` in the transaction that notices the miss: what the deadline code records."""
    return event(
        DEADLINE_MISSED, at, dag_id=dag_id, run_id=run_id, task_id=task_id, actor=actor, reason=reason,
        payload={"deadline": deadline.isoformat()} if deadline is not None else None,
    )


def has_deadline_miss(session: Session, dag_id: str, run_id: str, task_id: str | None) -> bool:
    """Whether the run (or its task) has a missed deadline recorded (an indexed read: by run)."""
    task = Event.task_id.is_(None) if task_id is None else Event.task_id == task_id
    found = session.scalar(
        select(Event.id).where(Event.dag_id == dag_id, Event.run_id == run_id, Event.kind == DEADLINE_MISSED, task).limit(1)
    )
    return found is not None


_APPENDED = "orchestrator.appended_events"


def append(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append event rows in the caller's transaction (one executemany); the session remembers
    them so they can be published to listeners once it commits (`take_appended`)."""
    if rows:
        rows = list(rows)
        insert_many(session, Event.__table__, rows)
        session.info.setdefault(_APPENDED, []).extend(rows)


def take_appended(session: Session) -> list[dict[str, Any]]:
    """The event rows appended through this session since the last call (call after commit)."""
    rows: list[dict[str, Any]] = session.info.pop(_APPENDED, [])
    return rows
