"""The run tracker: the scheduler's in-memory copy of its active runs, and the decisions on it.

It turns executor events into state changes, asks the planner what to do next, records every
change in a `Batch` and lists the work to submit once the batch is committed. It does no I/O
of its own beyond calling the executor after commit.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.config import Config
from orchestrator.models import DagRun
from orchestrator.executor import Completed, Executor, ExecutorEvent, LogChunk, Started
from orchestrator.planner import FinishRun, Settle, Submit, TaskView, plan_run, settle_outcome
from orchestrator.runtime import WorkItem
from orchestrator.spec import DagSpec
from orchestrator.states import RunState, TaskState
from orchestrator.store import runs as run_store
from orchestrator.store.runs import Batch, RunKey, try_row, try_update

log = logging.getLogger(__name__)


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
    )


def start_run(session: Session, row: DagRun, spec: DagSpec, batch: Batch, now: datetime) -> ActiveRun:
    """Create a queued run's task instances and move it to running (in the caller's transaction)."""
    key = RunKey(row.dag_id, row.run_id)
    run = active_run(row, spec, run_store.insert_task_instances(session, key, spec))
    batch.move_run(key, RunState.QUEUED, RunState.RUNNING, now, start_date=now)
    run.state = RunState.RUNNING
    return run


@dataclass(frozen=True)
class Dispatch:
    work: WorkItem
    after: tuple[str, ...]


@dataclass(frozen=True)
class _InFlight:
    run: RunKey
    task_id: str
    try_number: int


class RunTracker:
    """Drives active runs: events in, a batch of state changes and work to submit out."""

    def __init__(self, config: Config, executor: Executor) -> None:
        self.config = config
        self.executor = executor
        self.runs: dict[RunKey, ActiveRun] = {}
        self._inflight: dict[str, _InFlight] = {}
        self._seq = itertools.count(1)
        self._dirty: dict[RunKey, set[str] | None] = {}
        self._retries: dict[tuple[RunKey, str], datetime] = {}
        self.finished: list[RunKey] = []

    # -- runs in and out -------------------------------------------------------------------
    def track(self, run: ActiveRun) -> None:
        """Start driving `run`; every task is looked at on the next plan."""
        self.runs[run.key] = run
        self._dirty[run.key] = None
        for tid, view in run.tasks.items():
            self._note_retry(run.key, tid, view)

    def forget(self, key: RunKey) -> list[str]:
        """Stop driving a run; returns the executor keys it still had in flight."""
        run = self.runs.pop(key, None)
        self._dirty.pop(key, None)
        if run is not None:
            for tid in run.tasks:
                self._retries.pop((key, tid), None)
        keys = [k for k, f in self._inflight.items() if f.run == key]
        for k in keys:
            del self._inflight[k]
        return keys

    def replace(self, run: ActiveRun) -> list[str]:
        """Swap in a fresh copy of a tracked run; returns in-flight keys it no longer wants."""
        stale = []
        for k, f in list(self._inflight.items()):
            if f.run != run.key:
                continue
            view = run.tasks.get(f.task_id)
            wanted = view is not None and (
                (view.state is TaskState.QUEUED and view.try_number + 1 == f.try_number)
                or (view.state is TaskState.RUNNING and view.try_number == f.try_number)
            )
            if wanted:
                assert view is not None
                view.key = k
            else:
                del self._inflight[k]
                stale.append(k)
        for tid in self.runs[run.key].tasks if run.key in self.runs else ():
            self._retries.pop((run.key, tid), None)
        self.track(run)
        return stale

    def inflight_keys(self) -> list[str]:
        return list(self._inflight)

    def reset_orphans(self, run: ActiveRun, batch: Batch, now: datetime, reason: str) -> None:
        """Tasks left queued or running by a scheduler that stopped go back to be scheduled."""
        for tid, view in run.tasks.items():
            if view.state is TaskState.RUNNING:
                # the try was cut short: close its record; the task gets that try back
                batch.try_updates.append(
                    try_update(run.key, tid, view.try_number, state=TaskState.FAILED.value, end_date=now, error=reason)
                )
                batch.move_task(run.key, tid, view, TaskState.SCHEDULED, now, reason=reason, max_tries=view.max_tries + 1, key=None)
            elif view.state is TaskState.QUEUED:
                batch.move_task(run.key, tid, view, TaskState.SCHEDULED, now, reason=reason, key=None)
        self._dirty[run.key] = None

    # -- executor events -------------------------------------------------------------------
    def on_event(self, event: ExecutorEvent, batch: Batch, now: datetime) -> None:
        """Apply a start or completion reported by the executor; `now` dates what the executor did not."""
        flight = self._inflight.get(event.key)
        if flight is None:
            return  # a start reported after its completion, or work of a forgotten run
        run = self.runs[flight.run]
        view = run.tasks[flight.task_id]
        if isinstance(event, Started):
            if view.state is TaskState.QUEUED:
                self._mark_running(run, flight, view, event.start, event.worker, batch)
            return
        if isinstance(event, LogChunk):
            if view.state is TaskState.RUNNING:
                batch.log_appends.append(
                    {"k_dag_id": run.key.dag_id, "k_run_id": run.key.run_id, "k_task_id": flight.task_id,
                     "k_try_number": flight.try_number, "chunk": event.text}
                )
            return
        assert isinstance(event, Completed)
        del self._inflight[event.key]
        self.executor.release(event.key)
        self._complete(run, flight, view, event, batch, now)
        self._note_retry(run.key, flight.task_id, view)
        self._mark_dirty(run.key, flight.task_id)

    def _note_retry(self, key: RunKey, task_id: str, view: TaskView) -> None:
        """Keep an index of waiting retries, so timers never scan every task."""
        if view.state is TaskState.UP_FOR_RETRY and view.next_retry_at is not None:
            self._retries[(key, task_id)] = view.next_retry_at
        else:
            self._retries.pop((key, task_id), None)

    def _mark_running(self, run: ActiveRun, flight: _InFlight, view: TaskView, start: datetime, worker: str | None, batch: Batch) -> None:
        batch.move_task(
            run.key, flight.task_id, view, TaskState.RUNNING, start,
            try_number=flight.try_number, start_date=start, end_date=None, worker=worker,
        )
        batch.try_inserts.append(
            try_row(run.key, flight.task_id, flight.try_number, state=TaskState.RUNNING.value, start_date=start, worker=worker, log="")
        )

    def _complete(self, run: ActiveRun, flight: _InFlight, view: TaskView, event: Completed, batch: Batch, now: datetime) -> None:
        task = run.spec.task_map[flight.task_id]
        outcome = event.outcome
        never_started = view.state is TaskState.QUEUED
        if outcome is not None and outcome.status == "not_run":
            batch.move_task(run.key, flight.task_id, view, TaskState.PENDING, outcome.end or now, reason="a chained upstream did not succeed", key=None)
            return
        if outcome is None and never_started and task.upstream:
            # a chained upstream was lost with its worker: this one never started either
            batch.move_task(run.key, flight.task_id, view, TaskState.PENDING, now, reason=event.error, key=None)
            return
        start = outcome.start if outcome and outcome.start else now
        end = outcome.end if outcome and outcome.end else start
        worker = outcome.worker if outcome else view.worker
        if never_started:
            self._mark_running(run, flight, view, start, worker, batch)
        status = outcome.status if outcome else "failed"
        error = outcome.error if outcome else f"the executor lost the task: {event.error}"
        settlement = settle_outcome(task, view, status, end, error)
        batch.move_task(
            run.key, flight.task_id, view, settlement.state, end, reason=settlement.reason,
            end_date=end, next_retry_at=settlement.next_retry_at, key=None,
            result=outcome.result if outcome and status == "success" else None,
        )
        batch.try_updates.append(
            try_update(
                run.key, flight.task_id, flight.try_number,
                state=TaskState.SUCCESS.value if status == "success" else TaskState.FAILED.value,
                end_date=end, error=error, log=outcome.log if outcome else (error or ""), worker=worker,
            )
        )

    def _mark_dirty(self, key: RunKey, task_id: str) -> None:
        current = self._dirty.get(key, set())
        if current is None:
            return
        run = self.runs[key]
        current.add(task_id)
        current.update(run.spec.downstream[task_id])
        self._dirty[key] = current

    # -- planning ------------------------------------------------------------------------------
    def wake_due(self, now: datetime) -> None:
        """Mark runs with retries due at `now` for planning."""
        for (key, tid), due in self._retries.items():
            if due <= now:
                self._mark_dirty(key, tid)

    def plan(self, batch: Batch, now: datetime) -> list[Dispatch]:
        """Decide for every run touched since the last plan; returns the work to submit after commit."""
        dispatches: list[Dispatch] = []
        dirty, self._dirty = self._dirty, {}
        for key, candidates in dirty.items():
            run = self.runs.get(key)
            if run is None:
                continue
            for command in plan_run(run.spec, run.tasks, now, chains=self.executor.chains, candidates=candidates):
                if isinstance(command, Submit):
                    dispatches.append(self._submit(run, command, batch, now))
                elif isinstance(command, Settle):
                    batch.move_task(key, command.task_id, run.tasks[command.task_id], command.state, now, reason=command.reason)
                elif isinstance(command, FinishRun):
                    batch.move_run(key, run.state, command.state, now, end_date=now)
                    run.state = command.state
                    self.finished.append(key)
        return dispatches

    def _submit(self, run: ActiveRun, command: Submit, batch: Batch, now: datetime) -> Dispatch:
        tid = command.task_id
        task = run.spec.task_map[tid]
        view = run.tasks[tid]
        try_number = view.try_number + 1
        key = f"{run.key.dag_id}/{run.key.run_id}/{tid}/{try_number}/{next(self._seq)}"
        upstream_results = {
            up: run.tasks[up].result for up in task.upstream if up not in command.after
        }
        work = WorkItem(
            key=key,
            dag_id=run.key.dag_id,
            run_id=run.key.run_id,
            task_id=tid,
            try_number=try_number,
            fileloc=run.spec.fileloc,
            dags_root=str(self.config.resolved_dags_folder),
            logical_date=run.logical_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            params={**run.spec.params, **run.conf},
            upstream_results=upstream_results,
            chained_upstreams=command.after,
            execution_timeout_s=task.execution_timeout_s,
            max_result_bytes=self.config.max_result_bytes,
        )
        after_keys = tuple(run.tasks[up].key for up in command.after)
        batch.move_task(run.key, tid, view, TaskState.QUEUED, now, reason=command.reason, key=key, next_retry_at=None)
        self._retries.pop((run.key, tid), None)
        self._inflight[key] = _InFlight(run.key, tid, try_number)
        return Dispatch(work, tuple(k for k in after_keys if k is not None))

    def dispatch(self, dispatches: Iterable[Dispatch]) -> None:
        """Hand committed work to the executor, upstreams first."""
        for d in dispatches:
            self.executor.submit(d.work, after=d.after)

    def take_finished(self) -> list[RunKey]:
        """Runs that ended in the last plan; the tracker forgets them."""
        done, self.finished = self.finished, []
        for key in done:
            self.forget(key)
        return done

    def next_wakeup(self) -> datetime | None:
        """The earliest time a waiting retry becomes due."""
        return min(self._retries.values(), default=None)

