"""Run controls in the store: mark a task or a run success or failed, pause and resume one run.

Each applies its decision (orchestrator.core.run_controls) with its events in the caller's
transaction, bumps the run's `ext_change` and touches the change cursor: the scheduler that
drives the run reloads it at its next poll, stops the work the change made stale and plans the
rest (the downstream of a marked task, by their trigger rules). A task marked in a finished run
queues the run again, as a clear does, so the scheduler decides its downstream and its outcome.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from orchestrator.core.errors import ConflictError
from orchestrator.core.run_controls import TaskMark
from orchestrator.core.run_controls import mark_run as decide_run_mark
from orchestrator.core.run_controls import mark_task as decide_task_mark
from orchestrator.core.states import RUN_ACTIVE, RUN_TERMINAL, TASK_TERMINAL, RunState, TaskState
from orchestrator.store import changes as change_store
from orchestrator.store import events
from orchestrator.store.models import DagRun
from orchestrator.store.runs import Batch, RunKey, get_run, load_task_views, spec_for_version

_IN_A_TRY = (TaskState.RUNNING, TaskState.WAITING)


def mark_task(session: Session, dag_id: str, run_id: str, task_id: str, to: TaskState, *, now: datetime, actor: str) -> list[TaskMark]:
    """Mark one task of a run `to` (success or failed); returns the states set."""
    row = get_run(session, dag_id, run_id)
    key = RunKey(dag_id, run_id)
    views = load_task_views(session, key)
    marks = decide_task_mark(spec_for_version(session, dag_id, row.version_hash), views, task_id, to)
    batch = Batch()
    _apply(batch, key, views, marks, now, actor)
    current = RunState(row.state)
    if current in RUN_TERMINAL:
        batch.move_run(key, current, RunState.QUEUED, now, reason=f"task {task_id} marked {to.value} by {actor}", actor=actor, end_date=None)
    _commit(session, row, batch)
    return marks


def mark_run(session: Session, dag_id: str, run_id: str, to: RunState, *, now: datetime, actor: str) -> list[TaskMark]:
    """Mark a run `to` (success or failed) with its unfinished tasks; returns the task states set.
    The scheduler driving it stops its work in flight."""
    row = get_run(session, dag_id, run_id)
    current = RunState(row.state)
    if current is to:
        raise ConflictError(f"run {run_id!r} is {to.value} already")
    key = RunKey(dag_id, run_id)
    views = load_task_views(session, key)
    marks = decide_run_mark(views, to)
    batch = Batch()
    _apply(batch, key, views, marks, now, actor, why=f"run marked {to.value} by {actor}")
    batch.move_run(key, current, to, now, reason=f"marked {to.value} by {actor}", actor=actor, mark=True, end_date=now, paused=False)
    _commit(session, row, batch)
    return marks


def fail_timed_out_run(batch: Batch, key: RunKey, views: dict, now: datetime, reason: str) -> None:
    """The scheduler fails a run past its `dagrun_timeout`: as a user marking it failed would."""
    _apply(batch, key, views, decide_run_mark(views, RunState.FAILED), now, "scheduler", why=reason)
    batch.move_run(key, RunState.RUNNING, RunState.FAILED, now, reason=reason, end_date=now, state_reason=reason)


def set_run_paused(session: Session, dag_id: str, run_id: str, paused: bool, *, now: datetime, actor: str) -> DagRun:
    """Pause a queued or running run (no new work is dispatched for it; work in flight finishes),
    or resume it."""
    row = get_run(session, dag_id, run_id)
    if RunState(row.state) not in RUN_ACTIVE:
        raise ConflictError(f"run {run_id!r} already ended ({row.state}): only a queued or running run can be paused or resumed")
    if row.paused == paused:
        raise ConflictError(f"run {run_id!r} is {'paused' if paused else 'not paused'} already")
    row.paused = paused
    events.append(session, [events.event(
        "run.paused" if paused else "run.resumed", now, dag_id=dag_id, run_id=run_id, actor=actor,
        reason=f"{'paused' if paused else 'resumed'} by {actor}",
    )])
    row.ext_change += 1
    change_store.touch(session, [(dag_id, run_id)])
    session.flush()
    return row


def _apply(batch: Batch, key: RunKey, views: dict, marks: list[TaskMark], now: datetime, actor: str, why: str | None = None) -> None:
    for mark in marks:
        view = views[mark.task_id] if mark.map_index < 0 else views[mark.task_id].instances[mark.map_index]
        reason = why or (f"marked {mark.to.value} by {actor}" if mark.to in TASK_TERMINAL else f"an upstream was marked success by {actor}")
        if view.state in _IN_A_TRY:  # its try ends here; the scheduler stops the work
            batch.update_try(
                key, mark.task_id, view.try_number, map_index=mark.map_index, state=mark.to.value, end_date=now, error=reason,
            )
        end = now if mark.to in TASK_TERMINAL else None
        batch.move_task(key, mark.task_id, view, mark.to, now, reason=reason, actor=actor, map_index=mark.map_index, mark=True,
                        end_date=end, key=None, next_retry_at=None)


def _commit(session: Session, row: DagRun, batch: Batch) -> None:
    batch.write(session)
    row.ext_change += 1
    change_store.touch(session, [(row.dag_id, row.run_id)])
    session.flush()
    session.refresh(row)
