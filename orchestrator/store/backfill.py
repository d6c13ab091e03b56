"""Backfills: runs for the past data intervals of a scheduled DAG, on request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.errors import ConflictError, DagDefinitionError
from orchestrator.core.schedule import DataInterval, intervals_between
from orchestrator.core.states import RunState
from orchestrator.store import clearing as clearing_store
from orchestrator.store import queries, run_creation
from orchestrator.store.models import DagRun


class NotScheduledError(ConflictError):
    """The DAG has no schedule, so no data intervals: there is nothing a backfill could run."""


@dataclass
class BackfillPlan:
    """What a backfill does for each interval: create a run, re-run a failed one, or leave it."""

    create: list[DataInterval] = field(default_factory=list)
    rerun: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        return [backfill_run_id(i) for i in self.create] + self.rerun


def backfill_run_id(interval: DataInterval) -> str:
    return f"backfill__{interval.start.isoformat()}"


def plan_backfill(
    session: Session, dag_id: str, start: datetime, end: datetime, *, rerun_failed: bool, now: datetime
) -> BackfillPlan:
    """Decide, without writing, what backfilling [start, end] means for `dag_id`."""
    spec = queries.dag_spec(session, dag_id)
    if spec.schedule is None:
        raise NotScheduledError(f"DAG {dag_id!r} has no schedule, so it has no data intervals to backfill")
    if start > end:
        raise DagDefinitionError(f"the backfill starts ({start}) after it ends ({end})")
    intervals = intervals_between(spec.schedule, spec.timezone, start, end, now)
    existing = {
        row.logical_date: row
        for row in session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date.in_([i.start for i in intervals]))
        )
    }
    plan = BackfillPlan()
    for interval in intervals:
        row = existing.get(interval.start)
        if row is None:
            plan.create.append(interval)
        elif rerun_failed and row.state == RunState.FAILED.value:
            plan.rerun.append(row.run_id)
        else:
            plan.keep.append(row.run_id)
    return plan


def apply_backfill(session: Session, dag_id: str, plan: BackfillPlan, *, now: datetime, actor: str) -> None:
    """Queue the planned runs (oldest first, in one executemany: a backfill may hold thousands) and
    clear the failed ones to re-run."""
    if plan.create:
        version = run_creation.runnable_dag(session, dag_id, asked=False).version_hash
        wanted = [
            run_creation.NewRun(dag_id, backfill_run_id(i), "backfill", version, i.start, (i.start, i.end)) for i in plan.create
        ]
        queued = {r.run_id for r in run_creation.queue_runs(session, wanted, now, actor)}
        taken = [r.run_id for r in wanted if r.run_id not in queued]
        if taken:
            raise run_creation.RunExistsError(f"DAG {dag_id!r} already has runs with these run_ids: {', '.join(taken[:5])}")
    for run_id in plan.rerun:
        clearing_store.rerun_failed_tasks(session, dag_id, run_id, now=now, actor=actor)
