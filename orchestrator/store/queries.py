"""Read-only queries for the CLI and the web UI: no writes here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import NotFoundError
from orchestrator.models import Dag, DagRun, ImportError_, TaskInstance, TaskTry
from orchestrator.spec import DagSpec
from orchestrator.store.runs import spec_for_version


def list_dags(session: Session, *, include_inactive: bool = False) -> Sequence[Dag]:
    stmt = select(Dag).order_by(Dag.dag_id)
    if not include_inactive:
        stmt = stmt.where(Dag.is_active.is_(True))
    return session.scalars(stmt).all()


def get_dag(session: Session, dag_id: str) -> Dag:
    row = session.get(Dag, dag_id)
    if row is None or not row.is_active:
        raise NotFoundError(f"no DAG with id {dag_id!r}: `orchestrator dags list` shows the known DAGs")
    return row


def dag_spec(session: Session, dag_id: str) -> DagSpec:
    return DagSpec.model_validate(get_dag(session, dag_id).spec)


def list_runs(session: Session, dag_id: str, *, limit: int | None = None) -> Sequence[DagRun]:
    """Runs of a DAG, newest logical date first."""
    stmt = select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date.desc(), DagRun.queued_at.desc())
    if limit:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()


def get_run(session: Session, dag_id: str, run_id: str) -> DagRun:
    row = session.get(DagRun, (dag_id, run_id))
    if row is None:
        raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}: `orchestrator runs list {dag_id}` shows its runs")
    return row


def list_task_instances(session: Session, dag_id: str, run_id: str) -> Sequence[TaskInstance]:
    """Task instances of a run, in the DAG's task order."""
    run = get_run(session, dag_id, run_id)
    rows = {
        ti.task_id: ti
        for ti in session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
    }
    order = [t.task_id for t in spec_for_version(session, dag_id, run.version_hash).tasks]
    return [rows[t] for t in order if t in rows] + [ti for t, ti in rows.items() if t not in order]


def get_try(session: Session, dag_id: str, run_id: str, task_id: str, try_number: int | None) -> TaskTry:
    """One try of a task (the latest when `try_number` is None)."""
    get_run(session, dag_id, run_id)
    stmt = select(TaskTry).where(TaskTry.dag_id == dag_id, TaskTry.run_id == run_id, TaskTry.task_id == task_id)
    if try_number is not None:
        stmt = stmt.where(TaskTry.try_number == try_number)
    row = session.scalars(stmt.order_by(TaskTry.try_number.desc()).limit(1)).first()
    if row is None:
        which = f"try {try_number}" if try_number is not None else "any try"
        raise NotFoundError(f"task {task_id!r} of run {run_id!r} has no {which} yet")
    return row


def list_import_errors(session: Session) -> Sequence[ImportError_]:
    return session.scalars(select(ImportError_).order_by(ImportError_.filename)).all()
