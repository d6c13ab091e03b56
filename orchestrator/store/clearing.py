"""Clearing tasks: finished tasks sent back to pending with fresh retries so they run again
(`orchestrator tasks clear`, backfill's --rerun-failed, a dead letter's retry, a loop's next
iteration); a finished run is queued again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from orchestrator.core.clearing import clear_scope
from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.core.planner import TaskView
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import RUN_TERMINAL, TASK_TERMINAL, RunState, TaskState
from orchestrator.store import changes as change_store
from orchestrator.store.models import DagRun, XCom
from orchestrator.store.runs import Batch, RunKey, get_run, load_task_views, spec_for_version


def clear_task(
    session: Session, dag_id: str, run_id: str, task_id: str, *, downstream: bool, now: datetime, actor: str
) -> list[str]:
    """Make a finished task (and, with `downstream`, everything after it) run again.

    Returns the ids of the cleared tasks. A finished run is queued again.
    """
    row = get_run(session, dag_id, run_id)
    key = RunKey(dag_id, run_id)
    spec = spec_for_version(session, dag_id, row.version_hash)
    if task_id not in spec.task_map:
        raise NotFoundError(f"run {run_id!r} of DAG {dag_id!r} has no task {task_id!r}")
    views = load_task_views(session, key)
    if task_id not in views:
        raise ConflictError(f"run {run_id!r} has not started yet: there is nothing to clear")
    if views[task_id].state not in TASK_TERMINAL:
        raise ConflictError(f"task {task_id!r} is {views[task_id].state.value}: only a finished task can be cleared")
    targets = [task_id]
    if downstream:
        seen = {task_id}
        for tid in targets:
            for down in spec.downstream[tid]:
                if down not in seen:
                    seen.add(down)
                    targets.append(down)
    targets = clear_scope(spec, targets)  # with the setups they need, and those setups' teardowns
    return _clear(session, row, spec, views, targets, now=now, actor=actor, why=f"task {task_id} cleared by {actor}")


def rerun_failed_tasks(session: Session, dag_id: str, run_id: str, *, now: datetime, actor: str) -> list[str]:
    """Clear every failed and upstream_failed task of a run so it runs them again (backfill --rerun-failed)."""
    row = get_run(session, dag_id, run_id)
    spec = spec_for_version(session, dag_id, row.version_hash)
    views = load_task_views(session, RunKey(dag_id, run_id))
    targets = [tid for tid, v in views.items() if v.state in (TaskState.FAILED, TaskState.UPSTREAM_FAILED)]
    return _clear(session, row, spec, views, targets, now=now, actor=actor, why=f"failed tasks re-run by {actor}")


def reset_task(
    batch: Batch, key: RunKey, task_id: str, view: TaskView, retries: int, at: datetime, *, reason: str, actor: str = "scheduler",
    result: Any = None,
) -> None:
    """Send a finished task back to pending with fresh retries (a clear, a loop's next iteration);
    `result` is what its task instance keeps meanwhile."""
    # a mapped task's instances wait too: it is expanded again from its upstreams' results
    for i, instance in enumerate(view.instances):
        if instance.state in TASK_TERMINAL:
            batch.move_task(
                key, task_id, instance, TaskState.PENDING, at, reason=reason, actor=actor, map_index=i,
                max_tries=instance.try_number + retries + 1, end_date=None, result=None, next_retry_at=None, key=None,
            )
    batch.move_task(
        key, task_id, view, TaskState.PENDING, at, reason=reason, actor=actor,
        max_tries=view.try_number + retries + 1, end_date=None, result=result, next_retry_at=None, key=None, follow=None,
    )


def _clear(
    session: Session, row: DagRun, spec: DagSpec, views: dict[str, TaskView], targets: list[str], *, now: datetime, actor: str, why: str
) -> list[str]:
    """Send the finished tasks among `targets` back to pending, with fresh retries; a finished run is queued again."""
    key = RunKey(row.dag_id, row.run_id)
    batch = Batch()
    cleared = []
    for tid in targets:
        view = views[tid]
        if view.state in TASK_TERMINAL:
            reset_task(batch, key, tid, view, spec.task_map[tid].retries, now, reason=f"cleared by {actor}", actor=actor)
            cleared.append(tid)
    current = RunState(row.state)
    if current in RUN_TERMINAL:
        batch.move_run(key, current, RunState.QUEUED, now, reason=why, actor=actor, end_date=None)
    batch.write(session)
    if cleared:  # what the cleared tries pushed (ti.xcom_push) is pushed again by the next ones
        session.execute(delete(XCom).where(XCom.dag_id == row.dag_id, XCom.run_id == row.run_id, XCom.task_id.in_(cleared)))
    row.ext_change += 1
    change_store.touch(session, [(row.dag_id, row.run_id)])
    session.flush()
    return cleared
