"""The Late list: runs and tasks that missed their deadline, newest miss first, with their state now."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Row, and_, func, select
from sqlalchemy.orm import Session

from orchestrator.store.events import DEADLINE_MISSED
from orchestrator.store.models import DagRun, Event, TaskInstance


def late_page(
    session: Session, *, dag_id: str | None = None, among: Collection[str] | None = None, limit: int = 100, offset: int = 0,
) -> tuple[list[Row[Any]], int]:
    """The `deadline.missed` events (read by the kind index), each with its run's and task's state
    now; `among` limits them to those DAGs (a user's readable DAGs), `dag_id` to one."""
    where = [Event.kind == DEADLINE_MISSED]
    if dag_id is not None:
        where.append(Event.dag_id == dag_id)
    if among is not None:
        where.append(Event.dag_id.in_(list(among)))
    total = session.scalar(select(func.count()).select_from(Event).where(*where)) or 0
    rows = session.execute(
        select(
            Event.id, Event.at, Event.dag_id, Event.run_id, Event.task_id, Event.reason, Event.payload,
            DagRun.state.label("run_state"), TaskInstance.state.label("task_state"),
        )
        .outerjoin(DagRun, and_(DagRun.dag_id == Event.dag_id, DagRun.run_id == Event.run_id))
        .outerjoin(TaskInstance, and_(
            TaskInstance.dag_id == Event.dag_id, TaskInstance.run_id == Event.run_id, TaskInstance.task_id == Event.task_id,
            TaskInstance.map_index == -1,
        ))
        .where(*where)
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total
