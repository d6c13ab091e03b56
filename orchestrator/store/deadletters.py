"""Dead letters: tasks that failed after their last try, and retrying one with a single call."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from orchestrator.core.states import TaskState
from orchestrator.store import clearing as clearing_store
from orchestrator.store.models import TaskInstance, TaskTry


@dataclass(frozen=True)
class DeadLetter:
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    end_date: datetime | None
    error: str | None


def list_dead_letters(
    session: Session, dag_id: str | None = None, limit: int = 100, offset: int = 0, among: Collection[str] | None = None
) -> tuple[list[DeadLetter], int]:
    """Failed tasks (every try used, or an error not retried), newest first, with their last error; and the
    total. Given `among`, only those of these DAGs."""
    ti = TaskInstance
    stmt = (
        select(ti.dag_id, ti.run_id, ti.task_id, ti.try_number, ti.end_date, TaskTry.error)
        .outerjoin(
            TaskTry,
            and_(TaskTry.dag_id == ti.dag_id, TaskTry.run_id == ti.run_id, TaskTry.task_id == ti.task_id,
                 TaskTry.map_index == ti.map_index, TaskTry.try_number == ti.try_number),
        )
        .where(ti.state == TaskState.FAILED.value)
    )
    if dag_id is not None:
        stmt = stmt.where(ti.dag_id == dag_id)
    if among is not None:
        stmt = stmt.where(ti.dag_id.in_(list(among)))
    rows = session.execute(stmt.order_by(ti.end_date.desc(), ti.dag_id, ti.run_id, ti.task_id)).all()
    return [DeadLetter(*r) for r in rows[offset : offset + limit]], len(rows)


def retry_dead_letter(session: Session, dag_id: str, run_id: str, task_id: str, *, now: datetime, actor: str) -> list[str]:
    """Run a dead-lettered task again with fresh retries (and its downstream, which its failure settled)."""
    return clearing_store.clear_task(session, dag_id, run_id, task_id, downstream=True, now=now, actor=actor)
