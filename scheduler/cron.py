"""Creating the runs that cron schedules say are due."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.models import Dag, DagRun
from orchestrator.schedule import next_interval
from orchestrator.spec import DagSpec
from orchestrator.states import RUN_ACTIVE
from orchestrator.store import dags as dag_store
from orchestrator.store import runs as run_store

log = logging.getLogger(__name__)


def create_due_runs(session: Session, now: datetime) -> int:
    """Queue a run for every due data interval of every unpaused scheduled DAG.

    With catch-up, missed intervals are created oldest first, as long as the DAG's active
    runs stay within max_active_runs. Returns how many runs were created.
    """
    created = 0
    due = session.scalars(
        select(Dag).where(Dag.next_run_at <= now, Dag.is_paused.is_(False), Dag.is_active.is_(True))
    ).all()
    for dag in due:
        spec = DagSpec.model_validate(dag.spec)
        if spec.schedule is None:
            dag.next_run_at = None
            continue
        active = session.scalar(
            select(func.count()).select_from(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.state.in_([s.value for s in RUN_ACTIVE]))
        ) or 0
        while spec.max_active_runs is None or active < spec.max_active_runs:
            interval = next_interval(
                spec.schedule, spec.timezone, spec.start_date, dag_store.last_scheduled_interval(session, dag.dag_id),
                now, catchup=spec.catchup, end_date=spec.end_date,
            )
            if interval is None:
                break
            run_store.create_run(
                session, dag.dag_id, run_id=f"scheduled__{interval.start.isoformat()}", run_type="scheduled",
                logical_date=interval.start, data_interval=(interval.start, interval.end), conf=None, now=now, actor="scheduler",
            )
            session.flush()
            created += 1
            active += 1
        dag.next_run_at = dag_store.compute_next_run_at(session, spec, now)
    return created
