"""The run tracker: the scheduler's in-memory copy of its active runs, and the decisions on it.

It turns executor events into state changes, asks the planner what to do next, records every
change in a `Batch` and lists the work to submit once the batch is committed. It does no I/O
of its own beyond calling the executor after commit.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.config import Config
from orchestrator.connections import env_var_name
from orchestrator.models import DagRun
from orchestrator.executor import WORKER_LOST, Completed, Executor, ExecutorEvent, LogChunk, Started
from orchestrator.circuit import Breaker, BreakerPolicy, breaker_key
from orchestrator import circuit
from orchestrator.retry import may_retry
from orchestrator.edges import follow_edges
from orchestrator.mapping import map_items
from orchestrator.planner import Expand, FinishRun, Gather, Hold, Settle, Submit, TaskView, loop_iteration, plan_run, settle_outcome
from orchestrator.compensation import compensation_event_payload
from orchestrator.error_routing import routed_error
from orchestrator.idempotency import SKIPPED_BY_IDEMPOTENCY, IdempotencyKeyError, KeyRecord, render_key
from orchestrator.templating import run_scope
from orchestrator.runtime import DAG_CALLBACK_TASK_ID, Outcome, WorkItem
from orchestrator.spec import DagSpec
from orchestrator.states import TASK_TERMINAL, RunState, TaskState
from orchestrator.store import assets as asset_store
from orchestrator.store import runs as run_store
from orchestrator.store import events as event_store
from orchestrator.store.circuits import change_event
from orchestrator.store.idempotency import Lookup, key_row
from orchestrator.store.runs import Batch, RunKey, try_row, try_update
from orchestrator.packing import DurationBook, make_packs
from scheduler.flights import Flight, FlightBook

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"
"""The `worker` of a try the scheduler runs or settles itself (a trigger task, an idempotency key's reuse)."""


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

    @cached_property
    def params(self) -> dict[str, Any]:
        """The DAG's params with the run's conf over them, as its tasks see them."""
        return {**self.spec.params, **self.conf}


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


def start_runs(
    session: Session, runs: list[tuple[DagRun, DagSpec]], batch: Batch, now: datetime, owner: int | None = None
) -> list[ActiveRun]:
    """Create queued (or waiting) runs' task instances and move the runs to running (in the caller's
    transaction); `owner` is the scheduler job that will drive them."""
    views = run_store.insert_task_instances(session, [(RunKey(row.dag_id, row.run_id), spec) for row, spec in runs])
    started = []
    for row, spec in runs:
        run = active_run(row, spec, views[RunKey(row.dag_id, row.run_id)])
        batch.move_run(run.key, RunState(row.state), RunState.RUNNING, now, start_date=now, state_reason=None, owner_job_id=owner)
        run.state = RunState.RUNNING
        started.append(run)
    return started


def _kind(run: RunKey, task: Any) -> tuple[str, ...]:
    """What tells tasks with alike durations: the callable they run, else the task itself."""
    return (task.step_type, task.callable) if task.callable else (run.dag_id, task.task_id)


@dataclass(frozen=True)
class Dispatch:
    """Work to hand to the executor once the batch that queued it is committed."""

    work: WorkItem


def _view(run: ActiveRun, task_id: str, map_index: int) -> TaskView:
    """The view of a task, or of one instance of a mapped task."""
    view = run.tasks[task_id]
    return view if map_index < 0 else view.instances[map_index]


class RunTracker:
    """Drives active runs: events in, a batch of state changes and work to submit out."""

    def __init__(
        self, config: Config, executor: Executor, resolve_connection: Callable[[str], dict[str, Any] | None] | None = None
    ) -> None:
        self.config = config
        self.executor = executor
        self._dags_root = str(config.resolved_dags_folder)
        # conn_id -> the connection as a dict (None: unknown); shipped to the worker in the WorkItem
        self.resolve_connection = resolve_connection
        self.runs: dict[RunKey, ActiveRun] = {}
        self.flights = FlightBook()
        self.durations = DurationBook()
        self._lost: Counter[tuple[RunKey, str, int]] = Counter()  # tries lost with their worker, by task
        self._seq = itertools.count(1)
        self._dirty: dict[RunKey, set[str] | None] = {}
        # mapped instances to look at, by run and task (their task is in `_dirty` too)
        self._dirty_instances: dict[RunKey, dict[str, set[int]]] = {}
        self._retries: dict[tuple[RunKey, str, int], datetime] = {}
        self._callbacks: dict[str, tuple[RunKey, str]] = {}  # DAG callbacks in flight: key -> (run, its end state)
        self.finished: list[RunKey] = []
        # idempotency keys: the store's successes (set by the service), and those of this scheduler
        # not yet committed, which a lookup in another session cannot see
        self.idempotency_lookup: Lookup = lambda _keys: {}
        self._recent_keys: dict[str, KeyRecord] = {}
        # TriggerDagRunTask tries running in the scheduler itself: scheduler/child_runs.py settles them
        self.triggering: set[tuple[RunKey, str]] = set()
        # ApprovalTask and WaitForEvent tries, settled by scheduler/waits.py: all of them, those
        # started since its last pass (to register) and those adopted from the store (to load)
        self.waiting: set[tuple[RunKey, str]] = set()
        self.waits_started: set[tuple[RunKey, str]] = set()
        self.waits_adopted: set[tuple[RunKey, str]] = set()
        # resilience: breakers and pool slots as last read from the store (see `load_shared`),
        # and the tasks held back by them, looked at again when capacity may have come back
        self.breakers: dict[str, Breaker] = {}
        self.pools: dict[str, int] = {}
        self._held: dict[RunKey, set[str]] = {}
        self._held_instances: dict[RunKey, dict[str, set[int]]] = {}
        self._waiting_on: set[str] = set()  # breakers that hold tasks: their cool-down ends wake the loop
        self.connection_extra: Callable[[str], dict[str, Any] | None] = lambda _conn_id: None
        self._policies: dict[str, BreakerPolicy] = {}
        # the plugins' hook `orchestrator_retry_decision` (set by the service)
        self.retry_decision: Callable[[Any, int, str | None, str | None], Any] = lambda *_args: None

    # -- runs in and out -------------------------------------------------------------------
    def track(self, run: ActiveRun) -> None:
        """Start driving `run`; every task is looked at on the next plan."""
        self.runs[run.key] = run
        self._dirty[run.key] = None
        for tid, view in run.tasks.items():
            self._note_retry(run.key, tid, view)
            for i, instance in enumerate(view.instances):
                self._note_retry(run.key, tid, instance, i)
            if view.state is TaskState.RUNNING and run.spec.task_map[tid].trigger is not None:
                self.triggering.add((run.key, tid))
            if view.state in (TaskState.RUNNING, TaskState.WAITING) and run.spec.task_map[tid].wait is not None:
                # running: started, not yet registered as waiting; waiting: its request or wait is in the store
                self.waiting.add((run.key, tid))
                (self.waits_started if view.state is TaskState.RUNNING else self.waits_adopted).add((run.key, tid))

    def forget(self, key: RunKey) -> list[str]:
        """Stop driving a run; returns the executor keys it still had in flight."""
        run = self.runs.pop(key, None)
        self._dirty.pop(key, None)
        self._dirty_instances.pop(key, None)
        self._held.pop(key, None)
        self._held_instances.pop(key, None)
        if run is not None:
            self._drop_retries(key)
            for tid in run.tasks:
                self.triggering.discard((key, tid))
                self._forget_wait((key, tid))
        keys = self.flights.of_run(key)
        for k in keys:
            self.flights.pop(k)
        for lost in [k for k in self._lost if k[0] == key] if self._lost else ():
            del self._lost[lost]
        return keys

    def replace(self, run: ActiveRun) -> list[str]:
        """Swap in a fresh copy of a tracked run; returns in-flight keys it no longer wants."""
        stale = []
        for k in self.flights.of_run(run.key):
            f = self.flights.get(k)
            assert f is not None
            view = run.tasks.get(f.task_id)
            if view is not None and f.map_index >= 0:
                view = view.instances[f.map_index] if f.map_index < len(view.instances) else None
            wanted = view is not None and (
                (view.state is TaskState.QUEUED and view.try_number + 1 == f.try_number)
                or (view.state is TaskState.RUNNING and view.try_number == f.try_number)
            )
            if wanted:
                assert view is not None
                view.key = k
            else:
                self.flights.pop(k)
                stale.append(k)
        self._drop_retries(run.key)
        self.track(run)
        return stale

    def _drop_retries(self, key: RunKey) -> None:
        for entry in [e for e in self._retries if e[0] == key]:
            del self._retries[entry]

    def inflight_keys(self) -> list[str]:
        return list(self.flights)

    def reset_orphans(self, run: ActiveRun, batch: Batch, now: datetime, reason: str) -> None:
        """Tasks left queued or running by a scheduler that stopped go back to be scheduled."""
        for tid, view in run.tasks.items():
            if view.state is TaskState.RUNNING and run.spec.task_map[tid].trigger is not None:
                continue  # run by the scheduler, not lost with a worker: its child run is looked at again
            if view.state is TaskState.RUNNING and run.spec.task_map[tid].wait is not None:
                continue  # started waiting, nothing to lose: it is registered on the next poll
            if run.spec.task_map[tid].mapped:
                # the task itself runs nowhere: its instances do
                for i, instance in enumerate(view.instances):
                    self._reset_orphan(run, tid, instance, batch, now, reason, i)
                continue
            self._reset_orphan(run, tid, view, batch, now, reason)
        self._dirty[run.key] = None

    def _reset_orphan(
        self, run: ActiveRun, tid: str, view: TaskView, batch: Batch, now: datetime, reason: str, map_index: int = -1
    ) -> None:
        if view.state is TaskState.RUNNING:
            # the try was cut short: close its record; the task gets that try back
            batch.try_updates.append(
                try_update(run.key, tid, view.try_number, map_index=map_index, state=TaskState.FAILED.value, end_date=now, error=reason)
            )
            batch.move_task(
                run.key, tid, view, TaskState.SCHEDULED, now, reason=reason, max_tries=view.max_tries + 1, key=None, map_index=map_index
            )
        elif view.state is TaskState.QUEUED:
            batch.move_task(run.key, tid, view, TaskState.SCHEDULED, now, reason=reason, key=None, map_index=map_index)

    # -- executor events -------------------------------------------------------------------
    def on_event(self, event: ExecutorEvent, batch: Batch, now: datetime) -> None:
        """Apply a start or completion reported by the executor; `now` dates what the executor did not."""
        if event.key in self._callbacks:
            if isinstance(event, Completed):
                self._callback_done(self._callbacks.pop(event.key), event, batch, now)
            return
        flight = self.flights.get(event.key)
        if flight is None:
            return  # a start reported after its completion, or work of a forgotten run
        run = self.runs[flight.run]
        view = _view(run, flight.task_id, flight.map_index)
        if isinstance(event, Started):
            if view.state is TaskState.QUEUED:
                self._mark_running(run, flight, view, event.start, event.worker, batch)
            return
        if isinstance(event, LogChunk):
            if view.state is TaskState.RUNNING:
                batch.log_appends.append(
                    {"k_dag_id": run.key.dag_id, "k_run_id": run.key.run_id, "k_task_id": flight.task_id,
                     "k_map_index": flight.map_index, "k_try_number": flight.try_number, "chunk": event.text}
                )
            return
        assert isinstance(event, Completed)
        self.flights.pop(event.key)
        self._complete(run, flight, view, event, batch, now)
        self._note_retry(run.key, flight.task_id, view, flight.map_index)
        self._mark_dirty(run.key, flight.task_id, flight.map_index)
        self.wake_held()

    def _note_retry(self, key: RunKey, task_id: str, view: TaskView, map_index: int = -1) -> None:
        """Keep an index of waiting retries, so timers never scan every task."""
        if view.state is TaskState.UP_FOR_RETRY and view.next_retry_at is not None:
            self._retries[(key, task_id, map_index)] = view.next_retry_at
        else:
            self._retries.pop((key, task_id, map_index), None)

    def _mark_running(self, run: ActiveRun, flight: Flight, view: TaskView, start: datetime, worker: str | None, batch: Batch) -> None:
        batch.move_task(
            run.key, flight.task_id, view, TaskState.RUNNING, start, map_index=flight.map_index,
            try_number=flight.try_number, start_date=start, end_date=None, worker=worker,
        )
        batch.try_inserts.append(
            try_row(
                run.key, flight.task_id, flight.try_number, map_index=flight.map_index,
                state=TaskState.RUNNING.value, start_date=start, worker=worker, log="",
            )
        )

    def _complete(self, run: ActiveRun, flight: Flight, view: TaskView, event: Completed, batch: Batch, now: datetime) -> None:
        task = run.spec.task_map[flight.task_id]
        outcome = event.outcome
        never_started = view.state is TaskState.QUEUED
        if outcome is not None and outcome.status == "not_run":
            self._release_probe(task, run.key, flight.task_id, batch, now)
            batch.move_task(
                run.key, flight.task_id, view, TaskState.PENDING, outcome.end or now, reason="a chained upstream did not succeed",
                key=None, map_index=flight.map_index,
            )
            return
        if outcome is None:
            self._lose(run, flight, view, event.error or WORKER_LOST, batch, now)
            return
        start = outcome.start or now
        end = outcome.end or start
        worker = outcome.worker
        if never_started:
            self._mark_running(run, flight, view, start, worker, batch)
        status = outcome.status
        error = outcome.error
        if status in ("success", "failed") and outcome.worker != SCHEDULER:
            self._record_breaker(task, run.key, flight.task_id, status == "success", end, batch)
            self.durations.record(_kind(run.key, task), outcome.busy_s if outcome.busy_s is not None else (end - start).total_seconds())
        else:
            self._release_probe(task, run.key, flight.task_id, batch, now)
        error_types = (outcome.error_type, *outcome.error_bases) if outcome.error_type else ()
        decision = None
        if status == "failed" and may_retry(view.try_number, view.max_tries):
            decision = self._retry_decision(task, view.try_number, outcome.error_type, error)
        settlement = settle_outcome(
            task, view, status, end, error, error_types=error_types,
            seed=f"{run.key.dag_id}/{run.key.run_id}/{flight.task_id}" + (f"[{flight.map_index}]" if flight.map_index >= 0 else ""),
            decision=decision, result=outcome.result,
        )
        succeeded = status == "success"
        follow = outcome.follow if succeeded else None
        if succeeded and task.next_conditions and flight.map_index < 0:
            follow, outcome = self._judge_edges(run, flight.task_id, outcome)
        batch.move_task(
            run.key, flight.task_id, view, settlement.state, end, reason=settlement.reason, map_index=flight.map_index,
            end_date=end, next_retry_at=settlement.next_retry_at, key=None,
            result=settlement.result,
            follow=follow,
        )
        if settlement.state is TaskState.SUCCESS and task.outlets and flight.map_index < 0:
            # the assets' updates commit with the success itself
            batch.asset_events.extend(asset_store.outlet_events(run.key.dag_id, run.key.run_id, flight.task_id, task.outlets, end))
        batch.try_updates.append(
            try_update(
                run.key, flight.task_id, flight.try_number, map_index=flight.map_index,
                state=TaskState.SUCCESS.value if status == "success" else TaskState.FAILED.value,
                end_date=end, error=error, log=outcome.log if outcome else (error or ""), worker=worker,
                **({"rendered": outcome.rendered} if outcome is not None and outcome.rendered else {}),
            )
        )
        if flight.map_index < 0:
            self._after_settlement(run, flight, view, settlement, batch, end)

    MAX_LOSSES = 3
    """A task whose tries were lost with their worker this many times fails (it may be what kills it)."""

    def _lose(self, run: ActiveRun, flight: Flight, view: TaskView, error: str, batch: Batch, now: datetime) -> None:
        """A try the executor lost with its worker. One that never started goes back to be
        scheduled, using no try; one cut short ends failed with `error` and the task gets a new
        try, which is not one of its retries (MAX_LOSSES of them fail it)."""
        tid, index = flight.task_id, flight.map_index
        self._release_probe(run.spec.task_map[tid], run.key, tid, batch, now)
        if view.state is TaskState.QUEUED:
            batch.move_task(run.key, tid, view, TaskState.SCHEDULED, now, reason=f"{error}; it had not started", key=None, map_index=index)
            return
        batch.try_updates.append(
            try_update(run.key, tid, view.try_number, map_index=index, state=TaskState.FAILED.value, end_date=now, error=error)
        )
        lost = (run.key, tid, index)
        self._lost[lost] += 1
        if self._lost[lost] >= self.MAX_LOSSES:
            batch.move_task(
                run.key, tid, view, TaskState.FAILED, now, map_index=index, end_date=now, key=None,
                reason=f"{error}; its tries were lost {self._lost[lost]} times, so the task itself may be what kills its worker",
            )
            return
        batch.move_task(
            run.key, tid, view, TaskState.SCHEDULED, now, reason=f"{error}; it gets a new try", max_tries=view.max_tries + 1,
            key=None, map_index=index,
        )

    def _judge_edges(self, run: ActiveRun, task_id: str, outcome: Outcome) -> tuple[tuple[str, ...] | None, Outcome]:
        """The downstream tasks a declarative step's `next` conditions follow after its success, and
        the outcome with a line in its log for each condition that could not be judged."""
        follow, notes = follow_edges(
            run.spec, task_id, outcome.result, run.params,
            {tid: (v.state.value, v.result) for tid, v in run.tasks.items()},
        )
        return follow, replace(outcome, log=outcome.log + "".join(f"{note}\n" for note in notes)) if notes else outcome

    def _mark_dirty(self, key: RunKey, task_id: str, map_index: int = -1) -> None:
        current = self._dirty.get(key, set())
        if current is None:
            return
        run = self.runs[key]
        current.add(task_id)
        current.update(run.spec.downstream[task_id])
        self._dirty[key] = current
        if map_index >= 0:
            self._dirty_instances.setdefault(key, {}).setdefault(task_id, set()).add(map_index)

    # -- planning ------------------------------------------------------------------------------
    def wake_due(self, now: datetime) -> None:
        """Mark runs with retries due at `now` for planning, and held tasks whose breaker cooled down."""
        for (key, tid, map_index), due in self._retries.items():
            if due <= now:
                self._mark_dirty(key, tid, map_index)
        reopens = self._next_reopen()
        if reopens is not None and reopens <= now:
            self.wake_held()

    def plan(self, batch: Batch, now: datetime) -> list[Dispatch]:
        """Decide for every run touched since the last plan; returns the work to submit after commit."""
        dispatches: list[Dispatch] = []
        dirty, self._dirty = self._dirty, {}
        # counted once per pass and kept up to date by each admission: with a thousand runs
        # starting together, counting the tasks in flight for every run would be quadratic
        loads = self._loads() if dirty else (Counter(), Counter())
        for key, candidates in dirty.items():
            run = self.runs.get(key)
            if run is None:
                continue
            held = self._held.pop(key, set())
            instances = self._dirty_instances.pop(key, {})
            for tid, indexes in self._held_instances.pop(key, {}).items():
                instances.setdefault(tid, set()).update(indexes)
            if candidates is not None:
                candidates = candidates | held
            admit = self._admission(run, loads, batch, now)
            commands = plan_run(
                run.spec, run.tasks, now, chains=self.executor.chains, candidates=candidates, admit=admit,
                instances=None if candidates is None else instances,
            )
            # the instances exist before any of their submits or holds (which come in priority order)
            for command in commands:
                if isinstance(command, Expand):
                    task = run.spec.task_map[command.task_id]
                    batch.expand(key, command.task_id, run.tasks[command.task_id], command.count, task.retries + 1, now)
            # trigger tasks run here, not on a worker: nothing can be chained to them, and one chained to
            # its upstreams waits as it is (each is looked at again once its upstreams end)
            unchained: set[str] = set()
            # tasks with an idempotency key are looked up first: those not to run are settled here
            unchained.update(self._settle_keyed(run, commands, batch, now))
            for command in commands:
                if isinstance(command, Expand):
                    continue
                if isinstance(command, Submit) and command.task_id in unchained:
                    continue
                if isinstance(command, Submit) and run.spec.task_map[command.task_id].wait is not None:
                    # one that waits already is left to scheduler/waits.py
                    if not command.after and run.tasks[command.task_id].state is not TaskState.WAITING:
                        self._start_wait(run, command, batch, now)
                    unchained.add(command.task_id)
                elif isinstance(command, Submit) and run.spec.task_map[command.task_id].trigger is not None:
                    if not command.after:
                        self._start_trigger(run, command, batch, now)
                    unchained.add(command.task_id)
                elif isinstance(command, Submit) and unchained.intersection(command.after):
                    unchained.add(command.task_id)
                elif isinstance(command, Submit):
                    dispatches.append(self._submit(run, command, batch, now))
                elif isinstance(command, Hold):
                    self._hold(run, command, batch, now)
                elif isinstance(command, Settle):
                    view = run.tasks[command.task_id]
                    if command.state is TaskState.CANCELLED:  # on_failure="stop": in-flight work stops too
                        self._drop_work(run, command.task_id, view, batch, now, command.reason)
                    if command.state is TaskState.FAILED:  # a mapped task whose input cannot be mapped
                        batch.move_task(key, command.task_id, view, TaskState.QUEUED, now, reason="its input is known: expanding it")
                    batch.move_task(key, command.task_id, view, command.state, now, reason=command.reason)
                elif isinstance(command, Gather):
                    self._gather(run, command, batch, now)
                elif isinstance(command, FinishRun):
                    batch.move_run(key, run.state, command.state, now, end_date=now)
                    run.state = command.state
                    self.finished.append(key)
                    dispatches.extend(self._dag_callback(run))
        return dispatches

    def _gather(self, run: ActiveRun, command: Gather, batch: Batch, now: datetime) -> None:
        """A mapped task whose instances all ended: its state, and their results as its own."""
        view = run.tasks[command.task_id]
        batch.move_task(
            run.key, command.task_id, view, command.state, now, reason=command.reason, end_date=now,
            result=[i.result for i in view.instances],
        )
        task = run.spec.task_map[command.task_id]
        if command.state is TaskState.SUCCESS and task.outlets:
            batch.asset_events.extend(asset_store.outlet_events(run.key.dag_id, run.key.run_id, command.task_id, task.outlets, now))

    def _submit(self, run: ActiveRun, command: Submit, batch: Batch, now: datetime) -> Dispatch:
        tid = command.task_id
        task = run.spec.task_map[tid]
        index = command.map_index
        view = _view(run, tid, index)
        try_number = view.try_number + 1
        key = f"{run.key.dag_id}/{run.key.run_id}/{tid}" + (f"[{index}]" if index >= 0 else "") + f"/{try_number}/{next(self._seq)}"
        upstream_results = {
            up: run.tasks[up].result for up in task.upstream if up not in command.after
        }
        after_keys = tuple(run.tasks[up].key or "" for up in command.after)
        items: dict[str, Any] = {}
        if index >= 0:
            items = map_items(task.mapped, upstream_results, index)
            # each instance gets its item, not the whole list it came from
            for source in task.mapped:
                upstream_results.pop(source.task_id or "", None)
        work = WorkItem(
            key=key,
            dag_id=run.key.dag_id,
            run_id=run.key.run_id,
            task_id=tid,
            try_number=try_number,
            map_index=index,
            map_items=items,
            fileloc=run.spec.fileloc,
            dags_root=self._dags_root,
            logical_date=run.logical_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            params=run.params,
            upstream_results=upstream_results,
            chained_upstreams=command.after,
            after=after_keys,
            execution_timeout_s=task.execution_timeout_s,
            max_result_bytes=self.config.max_result_bytes,
            max_tries=view.max_tries,
            routed_error=routed_error(run.spec, tid, run.tasks) if tid in run.spec.error_handlers else None,
            **self._connection_fields(task.conn_id),
        )
        if tid in run.spec.compensations:
            batch.events.append(event_store.event(
                "compensation", now, dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=tid, try_number=try_number,
                reason=command.reason, payload=compensation_event_payload(run.spec, run.tasks, tid),
            ))
        batch.move_task(run.key, tid, view, TaskState.QUEUED, now, reason=command.reason, key=key, next_retry_at=None, map_index=index)
        self._retries.pop((run.key, tid, index), None)
        self.flights.add(key, Flight(run.key, tid, try_number, index, task.pool))
        return Dispatch(work)

    # -- TriggerDagRunTask: run by the scheduler, never on a worker ------------------------------
    def _start_trigger(self, run: ActiveRun, command: Submit, batch: Batch, now: datetime) -> None:
        """Start a trigger task's try here: it runs until scheduler/child_runs.py settles it."""
        self._start_here(run, command, batch, now)
        self.triggering.add((run.key, command.task_id))

    def _start_here(self, run: ActiveRun, command: Submit, batch: Batch, now: datetime) -> None:
        """Start a try that the scheduler runs (or settles) itself, without a worker."""
        tid = command.task_id
        view = run.tasks[tid]
        batch.move_task(run.key, tid, view, TaskState.QUEUED, now, reason=command.reason, next_retry_at=None)
        self._retries.pop((run.key, tid, -1), None)
        self._mark_running(run, Flight(run.key, tid, view.try_number + 1), view, now, SCHEDULER, batch)

    def settle_trigger(self, key: RunKey, task_id: str, outcome: Outcome, batch: Batch, now: datetime) -> None:
        """A try the scheduler runs itself (a trigger task's, or one settled by its idempotency key)
        ended as `outcome` says: settled (retries included) like a try the executor reports."""
        self.triggering.discard((key, task_id))
        run = self.runs[key]
        view = run.tasks[task_id]
        self._complete(run, Flight(key, task_id, view.try_number), view, Completed(outcome.key, outcome), batch, now)
        self._note_retry(key, task_id, view)
        self._mark_dirty(key, task_id)

    # -- ApprovalTask, WaitForEvent: settled by the scheduler (scheduler/waits.py), no worker --------
    def _start_wait(self, run: ActiveRun, command: Submit, batch: Batch, now: datetime) -> None:
        """Start a waiting task's try: the next poll registers what it waits for."""
        self._start_here(run, command, batch, now)
        self.waiting.add((run.key, command.task_id))
        self.waits_started.add((run.key, command.task_id))

    def begin_waiting(self, key: RunKey, task_id: str, reason: str, batch: Batch, now: datetime) -> None:
        """Its request or wait is registered: the task waits, holding no slot."""
        batch.move_task(key, task_id, self.runs[key].tasks[task_id], TaskState.WAITING, now, reason=reason)

    def settle_wait(
        self, key: RunKey, task_id: str, batch: Batch, now: datetime, *, result: Any, error: str | None, error_type: str | None, log: str
    ) -> None:
        """A waiting task ends: success with `result`, or failed with `error` (of `error_type`, which
        `on_failure` may route), settled like a try the executor reports (conditional edges, error
        routing, compensation). It has no retries."""
        self._forget_wait((key, task_id))
        run = self.runs[key]
        view = run.tasks[task_id]
        outcome = Outcome(
            key=f"wait:{key.dag_id}/{key.run_id}/{task_id}/{view.try_number}", task_id=task_id, try_number=view.try_number,
            status="success" if error is None else "failed", end=now, worker=SCHEDULER, result=result, error=error, log=log,
            error_type=error_type,
        )
        self._complete(run, Flight(key, task_id, view.try_number), view, Completed(outcome.key, outcome), batch, now)
        if view.state is TaskState.FAILED and isinstance(result, dict):
            # what was decided stays on record, beside the failure record that on_failure routing reads
            # (the batch writes the view as it is at commit)
            view.result = {**result, **(view.result or {})}
        self._mark_dirty(key, task_id)

    def take_started_waits(self) -> list[tuple[RunKey, str]]:
        """The waiting tasks started since the last call, to register."""
        started, self.waits_started = self.waits_started, set()
        return sorted(started, key=lambda k: (k[0].dag_id, k[0].run_id, k[1]))

    def take_adopted_waits(self) -> list[tuple[RunKey, str]]:
        """The waiting tasks taken over from the store since the last call (a restart, a reload)."""
        adopted, self.waits_adopted = self.waits_adopted, set()
        return sorted(adopted, key=lambda k: (k[0].dag_id, k[0].run_id, k[1]))

    def _forget_wait(self, task: tuple[RunKey, str]) -> None:
        self.waiting.discard(task)
        self.waits_started.discard(task)
        self.waits_adopted.discard(task)

    # -- issue 6: idempotency keys, loop-back, on_failure="stop" -----------------------------------
    def _settle_keyed(self, run: ActiveRun, commands: list[Any], batch: Batch, now: datetime) -> set[str]:
        """Tasks with an idempotency key about to be submitted: settled here when their key already
        succeeded (or cannot be rendered); left waiting when chained to an in-flight upstream (they
        are looked up once it ended). Returns the ids of the tasks not to submit."""
        keyed = [
            c for c in commands
            if isinstance(c, Submit) and c.map_index < 0 and run.spec.task_map[c.task_id].idempotency_key is not None
        ]
        if not keyed:
            return set()
        keys: dict[str, str] = {}
        for c in keyed:
            if c.after:
                continue
            try:
                keys[c.task_id] = self._idempotency_key(run, c.task_id)
            except IdempotencyKeyError as exc:
                self._settle_here(run, c, "failed", batch, now, error=str(exc), error_type=type(exc).__name__)
        settled = {c.task_id for c in keyed if c.task_id not in keys}
        try:
            found = self.idempotency_lookup(set(keys.values()))
        except Exception:  # noqa: BLE001 - the store is unreachable: run nothing whose key is unknown
            log.exception("cannot look up idempotency keys; the tasks wait for the next poll")
            self._held.setdefault(run.key, set()).update(keys)
            return settled | set(keys)
        found.update((k, self._recent_keys[k]) for k in keys.values() if k in self._recent_keys)
        for c in keyed:
            record = found.get(keys.get(c.task_id, ""))
            if record is None:
                continue
            self._settle_here(run, c, "success", batch, now, result=record.result, log=record.describe() + "\n")
            batch.events.append(event_store.event(
                SKIPPED_BY_IDEMPOTENCY, now, dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=c.task_id,
                try_number=run.tasks[c.task_id].try_number, reason=record.describe(),
                payload={"key": record.key, "dag_id": record.dag_id, "run_id": record.run_id, "task_id": record.task_id,
                         "try_number": record.try_number},
            ))
            settled.add(c.task_id)
        return settled

    def _idempotency_key(self, run: ActiveRun, task_id: str) -> str:
        template = run.spec.task_map[task_id].idempotency_key
        assert template is not None
        scope = run_scope(
            dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=task_id, params=run.params,
            conf=run.conf, logical_date=run.logical_date,
        )
        return render_key(template, scope)

    def _settle_here(self, run: ActiveRun, command: Submit, status: str, batch: Batch, now: datetime, **fields: Any) -> None:
        """A try that needs no worker: started and ended at once with `status` and `fields` (Outcome's)."""
        self._start_here(run, command, batch, now)
        try_number = run.tasks[command.task_id].try_number
        outcome = Outcome(
            key=f"here:{run.key.dag_id}/{run.key.run_id}/{command.task_id}/{try_number}", task_id=command.task_id,
            try_number=try_number, status=status, start=now, end=now, worker=SCHEDULER,  # type: ignore[arg-type]
            **{"log": f"{fields.get('error')}\n" if status == "failed" else "", **fields},
        )
        self.settle_trigger(run.key, command.task_id, outcome, batch, now)

    def _after_settlement(self, run: ActiveRun, flight: Flight, view: TaskView, settlement: Any, batch: Batch, at: datetime) -> None:
        """What a try's end does beyond the task's own state: a succeeded key is recorded, and a loop
        controller's decision is recorded (and the loop's next iteration starts)."""
        task = run.spec.task_map[flight.task_id]
        if settlement.state is TaskState.SUCCESS and task.idempotency_key is not None:
            try:
                key = self._idempotency_key(run, flight.task_id)
            except IdempotencyKeyError:
                log.exception("the idempotency key of %s/%s/%s cannot be rendered", run.key.dag_id, run.key.run_id, flight.task_id)
            else:
                row = key_row(key, run.key.dag_id, run.key.run_id, flight.task_id, flight.try_number, settlement.result, at)
                batch.idempotency_keys.append(row)
                self._remember_key(KeyRecord(**{**row, "succeeded_at": at}))
        if task.loop is not None and settlement.state is not TaskState.UP_FOR_RETRY:
            batch.events.append(event_store.event(
                "loop.iteration", at, dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=flight.task_id,
                try_number=flight.try_number, reason=settlement.reason,
                payload={"group_id": task.loop.group_id, "max_iterations": task.loop.max_iterations, **(settlement.result or {})},
            ))
        if settlement.repeat:
            assert task.loop is not None
            following = loop_iteration(settlement.result) + 1
            why = f"loop {task.loop.group_id}: iteration {following} of at most {task.loop.max_iterations}"
            for tid in task.loop.tasks:
                member = run.tasks[tid]
                if member.state in TASK_TERMINAL:
                    run_store.reset_task(batch, run.key, tid, member, run.spec.task_map[tid].retries, at, reason=why)
            run_store.reset_task(batch, run.key, flight.task_id, view, task.retries, at, reason=why, result={"iteration": following})
            self._dirty[run.key] = None

    _RECENT_KEYS = 10_000

    def _remember_key(self, record: KeyRecord) -> None:
        self._recent_keys[record.key] = record
        if len(self._recent_keys) > self._RECENT_KEYS:  # the oldest are committed long since
            del self._recent_keys[next(iter(self._recent_keys))]

    def _drop_work(self, run: ActiveRun, task_id: str, view: TaskView, batch: Batch, now: datetime, reason: str) -> None:
        """Stop the work of a task that is cancelled while in flight, and close its running try."""
        if view.key is not None and self.flights.pop(view.key) is not None:
            self.executor.cancel(view.key)
        self.triggering.discard((run.key, task_id))
        self._forget_wait((run.key, task_id))
        if view.state in (TaskState.RUNNING, TaskState.WAITING):
            batch.try_updates.append(
                try_update(run.key, task_id, view.try_number, state=TaskState.CANCELLED.value, end_date=now, error=reason)
            )

    # -- DAG callbacks: a small work item once a run's final state is committed -----------------
    def _dag_callback(self, run: ActiveRun) -> list[Dispatch]:
        """The work that calls the DAG's callback for how `run` ended, if it has one. Submitted
        with the plan's other work, so after the commit that ends the run (at most once: a
        scheduler stopping in between loses it)."""
        ref = {RunState.SUCCESS: run.spec.on_success_callback, RunState.FAILED: run.spec.on_failure_callback}.get(run.state)
        if ref is None:
            return []
        key = f"{run.key.dag_id}/{run.key.run_id}/{DAG_CALLBACK_TASK_ID}/{run.state.value}/{next(self._seq)}"
        work = WorkItem(
            key=key, dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=DAG_CALLBACK_TASK_ID, try_number=1,
            fileloc=run.spec.fileloc, dags_root=self._dags_root, logical_date=run.logical_date,
            data_interval_start=run.data_interval_start, data_interval_end=run.data_interval_end,
            params=run.params, dag_callback="success" if run.state is RunState.SUCCESS else "failed",
        )
        self._callbacks[key] = (run.key, "on_success_callback" if run.state is RunState.SUCCESS else "on_failure_callback")
        return [Dispatch(work)]

    def _callback_done(self, origin: tuple[RunKey, str], event: Completed, batch: Batch, now: datetime) -> None:
        """Record how a DAG callback went as an event of its run (its output in the payload)."""
        run, name = origin
        outcome = event.outcome
        ok = outcome is not None and outcome.status == "success"
        error = None if ok else (outcome.error if outcome is not None else f"the executor lost the callback: {event.error}")
        if not ok:
            log.warning("the %s of run %s/%s failed: %s", name, run.dag_id, run.run_id, error)
        batch.events.append(event_store.event(
            "callback.success" if ok else "callback.failed", outcome.end if outcome and outcome.end else now,
            dag_id=run.dag_id, run_id=run.run_id, reason=error,
            payload={"callback": name, "log": (outcome.log if outcome else "")[-10_000:]},
        ))

    def _connection_fields(self, conn_id: str | None) -> dict[str, Any]:
        """WorkItem fields for the task's connection; a lookup that fails makes the try fail
        with the reason (on the worker, like any failure), never the scheduler."""
        if conn_id is None or self.resolve_connection is None:
            return {}  # without a resolver (unit tests), the task's get_connection says what is missing
        try:
            found = self.resolve_connection(conn_id)
        except Exception as exc:  # noqa: BLE001 - a broken secrets backend fails the task, not the loop
            return {"connection_error": f"connection {conn_id!r} could not be looked up: {exc}"}
        if found is None:
            return {"connection_error": (
                f"unknown connection {conn_id!r}: neither ${env_var_name(conn_id)}, a secrets backend nor the database "
                f"defines it (add it with `orchestrator connections add {conn_id} --uri ...`)"
            )}
        return {"connections": {conn_id: found}}

    def dispatch(self, dispatches: Iterable[Dispatch]) -> None:
        """Hand committed work to the executor in packs (orchestrator.packing): chained tries
        with their upstream's, tiny ones in batches."""
        items = [d.work for d in dispatches]
        if not items:
            return
        for pack in make_packs(items, self._tiny, self.executor.slots):
            self.executor.submit(pack.items, tiny=pack.tiny)

    def _tiny(self, work: WorkItem) -> bool:
        run = self.runs.get(RunKey(work.dag_id, work.run_id))
        if run is None or work.task_id not in run.spec.task_map:
            return False  # a DAG callback
        task = run.spec.task_map[work.task_id]
        return self.durations.tiny(_kind(run.key, task), task.tiny)

    def take_finished(self) -> list[RunKey]:
        """Runs that ended in the last plan; the tracker forgets them."""
        done, self.finished = self.finished, []
        for key in done:
            self.forget(key)
        return done

    def next_wakeup(self) -> datetime | None:
        """The earliest time a waiting retry becomes due or an open breaker lets a probe through."""
        return min((t for t in (min(self._retries.values(), default=None), self._next_reopen()) if t is not None), default=None)

    # -- resilience: circuit breakers, pools, max_active_tasks ----------------------------------
    def _retry_decision(self, task: Any, try_number: int, error_type: str | None, error: str | None) -> Any:
        """A plugin's (retry, delay_s), or None; a plugin that raises or answers nonsense is ignored."""
        try:
            answer = self.retry_decision(task, try_number, error_type, error)
        except Exception:  # noqa: BLE001 - a broken plugin must not stop the scheduler
            log.exception("the retry-decision hook failed for task %s; using the task's policy", task.task_id)
            return None
        if answer is None:
            return None
        try:
            retry, delay = answer
            return bool(retry), None if delay is None else float(delay)
        except (TypeError, ValueError):
            log.error("the retry-decision hook answered %r for task %s, not (retry, delay_s); ignored", answer, task.task_id)
            return None

    def load_shared(self, breakers: dict[str, Breaker], pools: dict[str, int]) -> None:
        """Take the store's breakers and pools (other schedulers and users change them); held
        tasks are looked at again."""
        self.breakers = breakers
        self.pools = pools
        self._policies.clear()  # connections may have changed their thresholds
        self.wake_held()

    def wake_held(self) -> None:
        # re-filled by the tasks held again; so a cool-down with nobody waiting never spins the loop
        self._waiting_on.clear()
        for key, tids in self._held.items():
            if key in self.runs:
                current = self._dirty.get(key, set())
                if current is not None:
                    self._dirty[key] = current | tids

    def policy(self, key: str) -> BreakerPolicy:
        """The thresholds of breaker `key`: config defaults, then the connection's `circuit_*` extras."""
        cached = self._policies.get(key)
        if cached is not None:
            return cached
        c = self.config
        base = BreakerPolicy(
            failure_threshold=c.circuit_failure_threshold, failure_rate=c.circuit_failure_rate,
            window_s=c.circuit_window_s, min_calls=c.circuit_min_calls, cooldown_s=c.circuit_cooldown_s,
        )
        extra = None
        if not key.startswith("step:"):
            try:
                extra = self.connection_extra(key)
            except Exception:  # noqa: BLE001 - an unreadable connection keeps the defaults
                log.exception("cannot read connection %s for its breaker thresholds", key)
        self._policies[key] = policy = base.with_extras(extra)
        return policy

    def _breaker_key(self, task: Any) -> str | None:
        """The task's breaker, or None for step types without one (plain Python code, trigger tasks)."""
        if task.trigger is not None or task.wait is not None:
            return None  # the scheduler itself runs it: there is no outside system to protect
        if not task.conn_id and task.step_type in self.config.circuit_exempt_step_types:
            return None
        return breaker_key(task)

    def _put_breaker(self, breaker: Breaker, change: circuit.Change | None, batch: Batch, at: datetime) -> None:
        if self.breakers.get(breaker.key) == breaker and change is None:
            return
        self.breakers[breaker.key] = breaker
        batch.circuits[breaker.key] = breaker
        batch.circuits_at = at
        if change is not None:
            log.info("circuit %s: %s -> %s (%s)", change.key, change.from_state, change.to_state, change.reason)
            batch.events.append(change_event(change, at))

    def _record_breaker(self, task: Any, run: RunKey, task_id: str, succeeded: bool, at: datetime, batch: Batch) -> None:
        key = self._breaker_key(task)
        if key is None:
            return
        who = f"{run.dag_id}/{run.run_id}/{task_id}"
        breaker, change = circuit.record(self.breakers.get(key, Breaker(key)), self.policy(key), succeeded, at, who)
        self._put_breaker(breaker, change, batch, at)

    def _release_probe(self, task: Any, run: RunKey, task_id: str, batch: Batch, at: datetime) -> None:
        key = self._breaker_key(task)
        if key is None or key not in self.breakers:
            return
        self._put_breaker(circuit.release_probe(self.breakers[key], f"{run.dag_id}/{run.run_id}/{task_id}"), None, batch, at)

    def _next_reopen(self) -> datetime | None:
        times = [
            t for k in self._waiting_on if (b := self.breakers.get(k)) is not None and (t := b.reopens_at(self.policy(k))) is not None
        ]
        return min(times, default=None)

    def _loads(self) -> tuple[Counter[str], Counter[str]]:
        """Tasks in flight by pool and by DAG (queued or running, in this scheduler's runs): a
        copy of the kept counts, which this pass's admissions add to."""
        return Counter(self.flights.by_pool), Counter(self.flights.by_dag)

    def _admission(self, run: ActiveRun, loads: tuple[Counter[str], Counter[str]], batch: Batch, now: datetime) -> Any:
        """The planner's `admit` for one run: DAG limit, pool slots, then the task's breaker.

        `loads` (tasks in flight by pool and by DAG) counts each task it admits.
        """
        by_pool, by_dag = loads
        limit = run.spec.max_active_tasks

        def admit(task: Any) -> tuple[TaskState, str] | None:
            if task.wait is not None:
                return None  # waiting holds no worker, so no slot of the DAG or a pool
            dag_id = run.key.dag_id
            if limit is not None and by_dag[dag_id] >= limit:
                return TaskState.SCHEDULED, f"DAG {dag_id} has {by_dag[dag_id]} tasks in flight (max_active_tasks={limit})"
            if task.pool:
                slots = self.pools.get(task.pool)
                if slots is None:
                    return TaskState.SCHEDULED, f"there is no pool {task.pool!r}: create it with `orchestrator pools set {task.pool} SLOTS`"
                if by_pool[task.pool] >= slots:
                    return TaskState.SCHEDULED, f"pool {task.pool} is full ({by_pool[task.pool]} of {slots} slots in use)"
            key = self._breaker_key(task)
            if key is not None:
                who = f"{run.key.dag_id}/{run.key.run_id}/{task.task_id}"
                breaker, change, reason = circuit.admit(self.breakers.get(key, Breaker(key)), self.policy(key), now, who)
                self._put_breaker(breaker, change, batch, now)
                if reason is not None:
                    return TaskState.WAITING, reason
            by_dag[dag_id] += 1
            if task.pool:
                by_pool[task.pool] += 1
            return None

        return admit

    def _hold(self, run: ActiveRun, command: Hold, batch: Batch, now: datetime) -> None:
        """Keep a task back without using a try; it is looked at again when capacity may be back."""
        view = _view(run, command.task_id, command.map_index)
        if view.state is not command.state:
            batch.move_task(
                run.key, command.task_id, view, command.state, now, reason=command.reason, next_retry_at=None, map_index=command.map_index
            )
            self._note_retry(run.key, command.task_id, view, command.map_index)
        self._held.setdefault(run.key, set()).add(command.task_id)
        if command.map_index >= 0:
            self._held_instances.setdefault(run.key, {}).setdefault(command.task_id, set()).add(command.map_index)
        if command.state is TaskState.WAITING:
            key = self._breaker_key(run.spec.task_map[command.task_id])
            if key is not None:
                self._waiting_on.add(key)

