"""The rows behind a DAG's analytics (orchestrator.core.run_stats): its newest runs and their ended tries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from orchestrator.core.definitions import version_of_file
from orchestrator.core.run_stats import RunSample, TrySample
from orchestrator.store.models import DagRun, DagVersion, TaskTry


def samples(
    session: Session, dag_id: str, *, newest: int, since: datetime | None = None, by_definition_version: bool = False,
) -> tuple[list[RunSample], list[TrySample]]:
    """The `newest` runs of the DAG (by queued time, queued at or after `since`) and their ended tries.
    Each run's version is its DAG version's number, or with `by_definition_version` the number of
    the definition version whose published file it runs."""
    runs = (
        select(DagRun.run_id, DagRun.state, DagRun.start_date, DagRun.end_date, DagVersion.version_number,
               DagVersion.spec["fileloc"].as_string().label("fileloc"))
        .outerjoin(DagVersion, and_(DagVersion.dag_id == DagRun.dag_id, DagVersion.version_hash == DagRun.version_hash))
        .where(DagRun.dag_id == dag_id)
    )
    if since is not None:
        runs = runs.where(DagRun.queued_at >= since)
    rows = session.execute(runs.order_by(DagRun.queued_at.desc()).limit(newest)).all()
    run_ids = [r.run_id for r in rows]
    tries: list[TrySample] = []
    for start in range(0, len(run_ids), 500):  # well under SQLite's limit on bound parameters
        stmt = select(TaskTry.task_id, TaskTry.state, TaskTry.start_date, TaskTry.end_date).where(
            TaskTry.dag_id == dag_id, TaskTry.run_id.in_(run_ids[start : start + 500]),
            TaskTry.start_date.is_not(None), TaskTry.end_date.is_not(None),
        )
        tries += [TrySample(t.task_id, t.state, t.start_date, t.end_date) for t in session.execute(stmt)]
    return [
        RunSample(r.state, r.start_date, r.end_date, version_of_file(r.fileloc or "") if by_definition_version else r.version_number)
        for r in rows
    ], tries
