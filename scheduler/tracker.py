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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.config import Config
from orchestrator.connections import env_var_name
from orchestrator.models import DagRun
from orchestrator.executor import Completed, Executor, ExecutorEvent, LogChunk, Started
from orchestrator.circuit import Breaker, BreakerPolicy, breaker_key
from orchestrator import circuit
from orchestrator.retry import may_retry
from orchestrator.planner import FinishRun, Hold, Settle, Submit, TaskView, plan_run, settle_outcome
from orchestrator.runtime import DAG_CALLBACK_TASK_ID, Outcome, WorkItem
from orchestrator.spec import DagSpec
from orchestrator.states import RunState, TaskState
from orchestrator.store import assets as asset_store
from orchestrator.store import runs as run_store
from orchestrator.store import events as event_store
from orchestrator.store.circuits import change_event
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


def start_runs(session: Session, runs: list[tuple[DagRun, DagSpec]], batch: Batch, now: datetime) -> list[ActiveRun]:
    """Create queued (or waiting) runs' task instances and move the runs to running (in the caller's transaction)."""
    views = run_store.insert_task_instances(session, [(RunKey(row.dag_id, row.run_id), spec) for row, spec in runs])
    started = []
    for row, spec in runs:
        run = active_run(row, spec, views[RunKey(row.dag_id, row.run_id)])
        batch.move_run(run.key, RunState(row.state), RunState.RUNNING, now, start_date=now, state_reason=None)
        run.state = RunState.RUNNING
        started.append(run)
    return started


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

    def __init__(
        self, config: Config, executor: Executor, resolve_connection: Callable[[str], dict[str, Any] | None] | None = None
    ) -> None:
        self.config = config
        self.executor = executor
        # conn_id -> the connection as a dict (None: unknown); shipped to the worker in the WorkItem
        self.resolve_connection = resolve_connection
        self.runs: dict[RunKey, ActiveRun] = {}
        self._inflight: dict[str, _InFlight] = {}
        self._seq = itertools.count(1)
        self._dirty: dict[RunKey, set[str] | None] = {}
        self._retries: dict[tuple[RunKey, str], datetime] = {}
        self._callbacks: dict[str, tuple[RunKey, str]] = {}  # DAG callbacks in flight: key -> (run, its end state)
        self.finished: list[RunKey] = []
        # TriggerDagRunTask tries running in the scheduler itself: scheduler/child_runs.py settles them
        self.triggering: set[tuple[RunKey, str]] = set()
        # resilience: breakers and pool slots as last read from the store (see `load_shared`),
        # and the tasks held back by them, looked at again when capacity may have come back
        self.breakers: dict[str, Breaker] = {}
        self.pools: dict[str, int] = {}
        self._held: dict[RunKey, set[str]] = {}
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
            if view.state is TaskState.RUNNING and run.spec.task_map[tid].trigger is not None:
                self.triggering.add((run.key, tid))

    def forget(self, key: RunKey) -> list[str]:
        """Stop driving a run; returns the executor keys it still had in flight."""
        run = self.runs.pop(key, None)
        self._dirty.pop(key, None)
        self._held.pop(key, None)
        if run is not None:
            for tid in run.tasks:
                self._retries.pop((key, tid), None)
                self.triggering.discard((key, tid))
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
            if view.state is TaskState.RUNNING and run.spec.task_map[tid].trigger is not None:
                continue  # run by the scheduler, not lost with a worker: its child run is looked at again
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
        if event.key in self._callbacks:
            if isinstance(event, Completed):
                self._callback_done(self._callbacks.pop(event.key), event, batch, now)
            return
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
        self.wake_held()

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
            self._release_probe(task, run.key, flight.task_id, batch, now)
            batch.move_task(run.key, flight.task_id, view, TaskState.PENDING, outcome.end or now, reason="a chained upstream did not succeed", key=None)
            return
        if outcome is None and never_started and task.upstream:
            # a chained upstream was lost with its worker: this one never started either
            self._release_probe(task, run.key, flight.task_id, batch, now)
            batch.move_task(run.key, flight.task_id, view, TaskState.PENDING, now, reason=event.error, key=None)
            return
        start = outcome.start if outcome and outcome.start else now
        end = outcome.end if outcome and outcome.end else start
        worker = outcome.worker if outcome else view.worker
        if never_started:
            self._mark_running(run, flight, view, start, worker, batch)
        status = outcome.status if outcome else "failed"
        error = outcome.error if outcome else f"the executor lost the task: {event.error}"
        if outcome is not None and status in ("success", "failed"):
            self._record_breaker(task, run.key, flight.task_id, status == "success", end, batch)
        else:
            self._release_probe(task, run.key, flight.task_id, batch, now)
        error_types = (outcome.error_type, *outcome.error_bases) if outcome is not None and outcome.error_type else ()
        decision = None
        if status == "failed" and may_retry(view.try_number, view.max_tries):
            decision = self._retry_decision(task, view.try_number, outcome.error_type if outcome else None, error)
        settlement = settle_outcome(
            task, view, status, end, error, error_types=error_types,
            seed=f"{run.key.dag_id}/{run.key.run_id}/{flight.task_id}", decision=decision,
        )
        batch.move_task(
            run.key, flight.task_id, view, settlement.state, end, reason=settlement.reason,
            end_date=end, next_retry_at=settlement.next_retry_at, key=None,
            result=outcome.result if outcome and status == "success" else None,
        )
        if settlement.state is TaskState.SUCCESS and task.outlets:
            # the assets' updates commit with the success itself
            batch.asset_events.extend(asset_store.outlet_events(run.key.dag_id, run.key.run_id, flight.task_id, task.outlets, end))
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
        """Mark runs with retries due at `now` for planning, and held tasks whose breaker cooled down."""
        for (key, tid), due in self._retries.items():
            if due <= now:
                self._mark_dirty(key, tid)
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
            if candidates is not None:
                candidates = candidates | held
            admit = self._admission(run, loads, batch, now)
            # trigger tasks run here, not on a worker: nothing can be chained to them, and one chained to
            # its upstreams waits as it is (each is looked at again once its upstreams end)
            unchained: set[str] = set()
            for command in plan_run(run.spec, run.tasks, now, chains=self.executor.chains, candidates=candidates, admit=admit):
                if isinstance(command, Submit) and run.spec.task_map[command.task_id].trigger is not None:
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
                    batch.move_task(key, command.task_id, run.tasks[command.task_id], command.state, now, reason=command.reason)
                elif isinstance(command, FinishRun):
                    batch.move_run(key, run.state, command.state, now, end_date=now)
                    run.state = command.state
                    self.finished.append(key)
                    dispatches.extend(self._dag_callback(run))
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
            max_tries=view.max_tries,
            **self._connection_fields(task.conn_id),
        )
        after_keys = tuple(run.tasks[up].key for up in command.after)
        batch.move_task(run.key, tid, view, TaskState.QUEUED, now, reason=command.reason, key=key, next_retry_at=None)
        self._retries.pop((run.key, tid), None)
        self._inflight[key] = _InFlight(run.key, tid, try_number)
        return Dispatch(work, tuple(k for k in after_keys if k is not None))

    # -- TriggerDagRunTask: run by the scheduler, never on a worker ------------------------------
    def _start_trigger(self, run: ActiveRun, command: Submit, batch: Batch, now: datetime) -> None:
        """Start a trigger task's try here: it runs until scheduler/child_runs.py settles it."""
        tid = command.task_id
        view = run.tasks[tid]
        batch.move_task(run.key, tid, view, TaskState.QUEUED, now, reason=command.reason, next_retry_at=None)
        self._retries.pop((run.key, tid), None)
        self._mark_running(run, _InFlight(run.key, tid, view.try_number + 1), view, now, "scheduler", batch)
        self.triggering.add((run.key, tid))

    def settle_trigger(self, key: RunKey, task_id: str, outcome: Outcome, batch: Batch, now: datetime) -> None:
        """A trigger task's try ended as `outcome` says: settled (retries included) like a try the executor reports."""
        self.triggering.discard((key, task_id))
        run = self.runs[key]
        view = run.tasks[task_id]
        self._complete(run, _InFlight(key, task_id, view.try_number), view, Completed(outcome.key, outcome), batch, now)
        self._note_retry(key, task_id, view)
        self._mark_dirty(key, task_id)

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
            fileloc=run.spec.fileloc, dags_root=str(self.config.resolved_dags_folder), logical_date=run.logical_date,
            data_interval_start=run.data_interval_start, data_interval_end=run.data_interval_end,
            params={**run.spec.params, **run.conf}, dag_callback="success" if run.state is RunState.SUCCESS else "failed",
        )
        self._callbacks[key] = (run.key, "on_success_callback" if run.state is RunState.SUCCESS else "on_failure_callback")
        return [Dispatch(work, ())]

    def _callback_done(self, origin: tuple[RunKey, str], event: Completed, batch: Batch, now: datetime) -> None:
        """Record how a DAG callback went as an event of its run (its output in the payload)."""
        self.executor.release(event.key)
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
        if task.trigger is not None:
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
        """Tasks in flight by pool and by DAG (queued or running, in this scheduler's runs)."""
        by_pool: Counter[str] = Counter()
        by_dag: Counter[str] = Counter()
        for f in self._inflight.values():
            run = self.runs.get(f.run)
            if run is None:
                continue
            by_dag[f.run.dag_id] += 1
            pool = run.spec.task_map[f.task_id].pool
            if pool:
                by_pool[pool] += 1
        return by_pool, by_dag

    def _admission(self, run: ActiveRun, loads: tuple[Counter[str], Counter[str]], batch: Batch, now: datetime) -> Any:
        """The planner's `admit` for one run: DAG limit, pool slots, then the task's breaker.

        `loads` (tasks in flight by pool and by DAG) counts each task it admits.
        """
        by_pool, by_dag = loads
        limit = run.spec.max_active_tasks

        def admit(task: Any) -> tuple[TaskState, str] | None:
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
        view = run.tasks[command.task_id]
        if view.state is not command.state:
            batch.move_task(run.key, command.task_id, view, command.state, now, reason=command.reason, next_retry_at=None)
            self._note_retry(run.key, command.task_id, view)
        self._held.setdefault(run.key, set()).add(command.task_id)
        if command.state is TaskState.WAITING:
            key = self._breaker_key(run.spec.task_map[command.task_id])
            if key is not None:
                self._waiting_on.add(key)

