"""Creating the runs that cron schedules say are due."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from orchestrator.core.schedule import next_interval
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import RUN_ACTIVE
from orchestrator.store import dags as dag_store
from orchestrator.store import run_creation
from orchestrator.store import schedules as schedule_store
from orchestrator.store.bulk import update_many
from orchestrator.store.models import Dag, DagRun, Schedule
from orchestrator.store.run_creation import NewRun

log = logging.getLogger(__name__)


def create_due_runs(session: Session, now: datetime, spec_of: Callable[[Dag], DagSpec] | None = None) -> int:
    """Queue a run for every due data interval of every unpaused scheduled DAG.

    With catch-up, missed intervals are created oldest first, as long as the DAG's active
    runs stay within max_active_runs. The whole pass is a handful of statements however many
    DAGs are due (1,000 DAGs on one cron fall due together). `spec_of` may serve the DAGs'
    specs from a cache. Returns how many runs were created.
    """
    # the specs (JSON) are loaded only for DAGs `spec_of` does not have cached
    due = session.scalars(
        select(Dag).where(Dag.next_run_at <= now, Dag.is_paused.is_(False), Dag.is_active.is_(True)).options(defer(Dag.spec))
    ).all()
    if not due:
        return 0
    ids = [d.dag_id for d in due]
    active = dag_store.active_run_counts(session, ids)
    last_intervals = dag_store.last_scheduled_intervals(session, ids)
    new_runs: list[NewRun] = []
    next_at: list[dict[str, object]] = []
    for dag in due:
        spec = spec_of(dag) if spec_of is not None else DagSpec.model_validate(dag.spec)
        last = last_intervals.get(dag.dag_id)
        running = active.get(dag.dag_id, 0)
        while spec.schedule is not None and (spec.max_active_runs is None or running < spec.max_active_runs):
            interval = next_interval(
                spec.schedule, spec.timezone, spec.start_date, last, now, catchup=spec.catchup, end_date=spec.end_date
            )
            if interval is None:
                break
            new_runs.append(
                NewRun(dag.dag_id, f"scheduled__{interval.start.isoformat()}", "scheduled", dag.version_hash,
                       interval.start, (interval.start, interval.end))
            )
            last = interval
            running += 1
        next_at.append({"k_dag_id": dag.dag_id, "next_run_at": dag_store.next_run_at(spec, last, now)})
    # straight to the driver, and the rows loaded above are not left dirty for a flush
    update_many(session, Dag.__table__, next_at, ["dag_id"])
    for dag in due:
        session.expire(dag, ["next_run_at"])
    return len(run_creation.queue_runs(session, new_runs, now, actor="scheduler"))


def create_named_schedule_runs(session: Session, now: datetime) -> int:
    """Queue the due run of every enabled named schedule (catchup=False: the newest interval).

    A schedule whose DAG is paused, gone, or at max_active_runs waits: its next_run_at stays due.
    Returns how many runs were created.
    """
    created = 0
    due = session.scalars(select(Schedule).where(Schedule.enabled.is_(True), Schedule.next_run_at <= now).order_by(Schedule.name)).all()
    for sched in due:
        dag = session.get(Dag, sched.dag_id)
        if dag is None or not dag.is_active or dag.is_paused:
            continue
        spec = DagSpec.model_validate(dag.spec)
        if spec.max_active_runs is not None and _active_runs(session, dag.dag_id) >= spec.max_active_runs:
            continue
        interval = next_interval(sched.cron, sched.timezone, sched.start_date, None, now, catchup=False, end_date=sched.end_date)
        if interval is None:
            sched.next_run_at = schedule_store.next_run_at(sched, now)
            continue
        run_id = f"schedule:{sched.name}__{interval.start.isoformat()}"
        if session.get(DagRun, (dag.dag_id, run_id)) is None:
            run_creation.create_run(
                session, dag.dag_id, run_id=run_id, run_type="scheduled", logical_date=interval.start,
                data_interval=(interval.start, interval.end), conf=dict(sched.conf or {}), now=now, actor=f"schedule:{sched.name}",
                priority=sched.priority or 0,
            )
            session.flush()
            created += 1
        sched.next_run_at = schedule_store.next_run_at(sched, now, last=interval)
    return created


def _active_runs(session: Session, dag_id: str) -> int:
    return session.scalar(
        select(func.count()).select_from(DagRun).where(DagRun.dag_id == dag_id, DagRun.state.in_([s.value for s in RUN_ACTIVE]))
    ) or 0
