"""The scheduler's in-memory copy of the runs it drives (scheduler/tracker.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.core.planner import TaskView
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import RunState, TaskState
from orchestrator.store import runs as run_store
from orchestrator.store.models import DagRun
from orchestrator.store.runs import Batch, RunKey
from scheduler import machines


@dataclass
class ActiveRun:
    """One run the tracker drives."""

    key: RunKey
    spec: DagSpec
    state: RunState
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    conf: dict[str, Any]
    tasks: dict[str, TaskView]
    ext_change: int = 0
    paused: bool = False
    """A user paused the run: nothing new is dispatched for it (work in flight finishes)."""
    start_date: datetime | None = None
    priority: int = 0
    """Set at trigger time: this run's ready tasks go before those of lower-priority runs."""
    run_data: dict[str, Any] = field(default_factory=dict)
    """The run's variables (orchestrator.core.run_data), as the next try dispatched will see them."""
    machine: Any = None
    """For a state-machine run: scheduler.machines.MachineCopy (None until attached or started)."""

    @cached_property
    def params(self) -> dict[str, Any]:
        """The DAG's params with the run's conf over them, as its tasks see them."""
        return {**self.spec.params, **self.conf}

    def view(self, task_id: str, map_index: int = -1) -> TaskView:
        """The view of a task, or of one instance of a mapped task."""
        view = self.tasks[task_id]
        return view if map_index < 0 else view.instances[map_index]


def active_run(row: DagRun, spec: DagSpec, views: dict[str, TaskView]) -> ActiveRun:
    """The tracker's copy of a run row and its task views."""
    return ActiveRun(
        key=RunKey(row.dag_id, row.run_id),
        spec=spec,
        state=RunState(row.state),
        logical_date=row.logical_date,
        data_interval_start=row.data_interval_start,
        data_interval_end=row.data_interval_end,
        conf=dict(row.conf or {}),
        tasks=views,
        ext_change=row.ext_change,
        paused=bool(row.paused),
        start_date=row.start_date,
        priority=row.priority or 0,
    )


def start_runs(
    session: Session, runs: list[tuple[DagRun, DagSpec]], batch: Batch, now: datetime, owner: int | None = None
) -> list[ActiveRun]:
    """Create queued (or waiting) runs' task instances and move the runs to running (in the caller's
    transaction); `owner` is the scheduler job that will drive them."""
    views = run_store.insert_task_instances(session, [(RunKey(row.dag_id, row.run_id), spec) for row, spec in runs])
    started = []
    for row, spec in runs:
        run = active_run(row, spec, views[RunKey(row.dag_id, row.run_id)])
        machines.attach(session, run, row.machine, row.run_data)  # events may be sent to a queued run
        batch.move_run(run.key, RunState(row.state), RunState.RUNNING, now, start_date=now, state_reason=None, owner_job_id=owner)
        run.state = RunState.RUNNING
        run.start_date = now
        started.append(run)
    return started


def reset_orphans(run: ActiveRun, batch: Batch, now: datetime, reason: str) -> None:
    """Tasks left queued or running by a scheduler that stopped go back to be scheduled."""
    for tid, view in run.tasks.items():
        if view.state is TaskState.RUNNING and run.spec.task_map[tid].trigger is not None:
            continue  # run by the scheduler, not lost with a worker: its child run is looked at again
        if view.state is TaskState.RUNNING and run.spec.task_map[tid].wait is not None:
            continue  # started waiting, nothing to lose: it is registered on the next poll
        if run.spec.task_map[tid].mapped:
            # the task itself runs nowhere: its instances do
            for i, instance in enumerate(view.instances):
                _reset_orphan(run, tid, instance, batch, now, reason, i)
            continue
        _reset_orphan(run, tid, view, batch, now, reason)


def _reset_orphan(run: ActiveRun, tid: str, view: TaskView, batch: Batch, now: datetime, reason: str, map_index: int = -1) -> None:
    if view.state is TaskState.RUNNING:
        # the try was cut short: close its record; the task gets that try back
        batch.update_try(run.key, tid, view.try_number, map_index=map_index, state=TaskState.FAILED.value, end_date=now, error=reason)
        batch.move_task(
            run.key, tid, view, TaskState.SCHEDULED, now, reason=reason, max_tries=view.max_tries + 1, key=None, map_index=map_index
        )
    elif view.state is TaskState.QUEUED:
        batch.move_task(run.key, tid, view, TaskState.SCHEDULED, now, reason=reason, key=None, map_index=map_index)
