"""The run tracker: the scheduler's in-memory copy of its active runs, and the decisions on it.

It turns executor events into state changes (decided by orchestrator.core.outcomes, a pure
function), asks the planner what to do next, records every change in a `Batch` and lists the
work to submit once the batch is committed. It does no I/O of its own beyond calling the
executor after commit. Its parts: admission (scheduler/admission.py), the tries the scheduler
settles itself (scheduler/settling.py, scheduler/own_tasks.py), idempotency keys (scheduler/keyed.py),
DAG callbacks (scheduler/callbacks.py), the work items (scheduler/work.py), packing and submitting
them (scheduler/packer.py) and the plugins' retry hook (scheduler/retry_hook.py).
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from orchestrator.core.compensation import compensation_event_payload
from orchestrator.core.config import Config
from orchestrator.core.outcomes import SCHEDULER, Changes, Ended, KeyUnrendered, Lost, NotRun, TryStarted, end_try, retry_question
from orchestrator.core.planner import Expand, FinishRun, Gather, Hold, Settle, Submit, TaskView, admit_submits, plan_run
from orchestrator.core.states import TASK_DUE_AGAIN, TaskState
from orchestrator.execution.executor import WORKER_LOST, Completed, Executor, ExecutorEvent, LogChunk, Started
from orchestrator.execution.runtime import Outcome, WorkItem
from orchestrator.store import assets as asset_store
from orchestrator.store import clearing as clearing_store
from orchestrator.store import events as event_store
from orchestrator.store.idempotency import Lookup
from orchestrator.store.runs import Batch, RunKey, try_row
from scheduler import machines
from scheduler.active_runs import ActiveRun, active_run, reset_orphans, start_runs
from scheduler.admission import Admission
from scheduler.callbacks import DagCallbacks
from scheduler.flights import Flight, FlightBook
from scheduler.keyed import KeyBook
from scheduler.own_tasks import OwnTasks
from scheduler.packer import Packer
from scheduler.retry_hook import RetryHook, ask
from scheduler.settling import SettlingHere
from scheduler.work import Dispatch, ResolveConnection, task_work

__all__ = ["SCHEDULER", "ActiveRun", "Dispatch", "RunTracker", "active_run", "start_runs"]

log = logging.getLogger(__name__)


class RunTracker(SettlingHere):
    """Drives active runs: events in, a batch of state changes and work to submit out."""

    def __init__(self, config: Config, executor: Executor, resolve_connection: ResolveConnection | None = None) -> None:
        self.config = config
        self.executor = executor
        self._dags_root = str(config.resolved_dags_folder)
        self.resolve_connection = resolve_connection
        self.runs: dict[RunKey, ActiveRun] = {}
        self.flights = FlightBook()
        self.packer = Packer(executor, self._task_of)
        self._lost: Counter[tuple[RunKey, str, int]] = Counter()  # tries lost with their worker, by task
        self._seq = itertools.count(1)
        self._dirty: dict[RunKey, set[str] | None] = {}
        # mapped instances to look at, by run and task (their task is in `_dirty` too)
        self._dirty_instances: dict[RunKey, dict[str, set[int]]] = {}
        self._retries: dict[tuple[RunKey, str, int], datetime] = {}
        self._slas: dict[RunKey, datetime] = {}  # machine runs by when their current state misses its SLA
        self.finished: list[RunKey] = []
        self.callbacks = DagCallbacks(self._dags_root, self._seq)
        self.own = OwnTasks()
        # set by the service: the store's idempotency keys, a connection's extra, the plugins'
        # hook `orchestrator_retry_decision`
        self.idempotency_lookup: Lookup = lambda _keys: {}
        self.connection_extra: Callable[[str], dict[str, Any] | None] = lambda _conn_id: None
        self.retry_decision: RetryHook = lambda *_args: None
        self.keys = KeyBook(lambda keys: self.idempotency_lookup(keys))
        # set by the service: told of each run the tracker takes (scheduler/run_clock.py watches its times)
        self.on_track: Callable[[ActiveRun], None] = lambda _run: None
        self.admission = Admission(config, self.flights, lambda conn_id: self.connection_extra(conn_id))

    # -- runs in and out -------------------------------------------------------------------
    def track(self, run: ActiveRun) -> None:
        """Start driving `run`; every task is looked at on the next plan."""
        self.runs[run.key] = run
        self._dirty[run.key] = None
        for tid, view in run.tasks.items():
            self._note_retry(run.key, tid, view)
            for i, instance in enumerate(view.instances):
                self._note_retry(run.key, tid, instance, i)
            self.own.adopt(run.key, tid, run.spec.task_map[tid], view)
        self.on_track(run)

    def forget(self, key: RunKey) -> list[str]:
        """Stop driving a run; returns the executor keys it still had in flight."""
        run = self.runs.pop(key, None)
        self._dirty.pop(key, None)
        self._dirty_instances.pop(key, None)
        self._slas.pop(key, None)
        self.admission.forget(key)
        if run is not None:
            self._drop_retries(key)
            for tid in run.tasks:
                self.own.forget(key, tid)
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
        reset_orphans(run, batch, now, reason)
        self._dirty[run.key] = None

    # -- executor events -------------------------------------------------------------------
    def on_event(self, event: ExecutorEvent, batch: Batch, now: datetime) -> None:
        """Apply a start or completion reported by the executor; `now` dates what the executor did not."""
        if event.key in self.callbacks:
            if isinstance(event, Completed):
                self.callbacks.done(event, batch, now)
            return
        flight = self.flights.get(event.key)
        if flight is None:
            return  # a start reported after its completion, or work of a forgotten run
        run = self.runs[flight.run]
        view = run.view(flight.task_id, flight.map_index)
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
        self.packer.ended(event.key)
        self._complete(run, flight, view, event.outcome, event.error, batch, now)
        if event.outcome is not None and event.outcome.status == "success":
            machines.record_data(run, flight.task_id, event.outcome, batch, now)
        self._note_retry(run.key, flight.task_id, view, flight.map_index)
        self._mark_dirty(run.key, flight.task_id, flight.map_index)
        self.wake_held()

    def _note_retry(self, key: RunKey, task_id: str, view: TaskView, map_index: int = -1) -> None:
        """Keep an index of waiting retries, so timers never scan every task."""
        if view.state in TASK_DUE_AGAIN and view.next_retry_at is not None:
            self._retries[(key, task_id, map_index)] = view.next_retry_at
        else:
            self._retries.pop((key, task_id, map_index), None)

    def _mark_running(self, run: ActiveRun, flight: Flight, view: TaskView, start: datetime, worker: str | None, batch: Batch) -> None:
        batch.move_task(
            run.key, flight.task_id, view, TaskState.RUNNING, start, map_index=flight.map_index,
            try_number=flight.try_number, start_date=start, end_date=None, worker=worker,
        )
        batch.insert_try(
            try_row(
                run.key, flight.task_id, flight.try_number, map_index=flight.map_index,
                state=TaskState.RUNNING.value, start_date=start, worker=worker, log="",
            )
        )

    def _complete(
        self, run: ActiveRun, flight: Flight, view: TaskView, outcome: Outcome | None, error: str | None, batch: Batch, now: datetime
    ) -> None:
        """A try ended (`outcome`), or was lost with its worker (None, saying `error`): decided by
        orchestrator.core.outcomes.end_try, applied here."""
        tid, index = flight.task_id, flight.map_index
        event: Ended | Lost | NotRun
        if outcome is None:
            event = Lost(error or WORKER_LOST, self._lost[(run.key, tid, index)])
        elif outcome.status == "not_run":
            event = NotRun(outcome.end)
        elif (tried := retry_question(view, flight.try_number, outcome)) is not None:
            event = Ended(outcome, ask(self.retry_decision, run.spec.task_map[tid], tried, outcome.error_type, outcome.error))
        else:
            event = Ended(outcome)
        self._apply(run, tid, index, view, end_try(run, tid, flight.try_number, event, now, map_index=index), batch)

    def _apply(self, run: ActiveRun, tid: str, index: int, view: TaskView, changes: Changes, batch: Batch) -> None:
        """Write the end of a try of `view` into `batch` and this tracker's state, in the order `Changes` lists."""
        key, task = run.key, run.spec.task_map[tid]
        for move in changes.moves:
            batch.move_task(key, tid, view, move.to, move.at, reason=move.reason, map_index=index, **move.changes)
        for t in changes.tries:
            if isinstance(t, TryStarted):
                batch.insert_try(try_row(
                    key, t.task_id, t.try_number, map_index=t.map_index, state=TaskState.RUNNING.value, start_date=t.at, worker=t.worker, log="",
                ))
            else:
                batch.update_try(key, t.task_id, t.try_number, map_index=t.map_index, **t.values)
        if changes.breaker is not None:
            self.admission.call(task, key, tid, changes.breaker, batch)
        if changes.busy_s is not None:
            self.packer.ran(key, task, changes.busy_s)
        if changes.lost:
            self._lost[(key, tid, index)] += 1
        if changes.outlets is not None:
            batch.asset_events.extend(asset_store.outlet_events(key.dag_id, key.run_id, tid, task.outlets, changes.outlets))
        if isinstance(changes.key, KeyUnrendered):
            log.error("the idempotency key of %s/%s/%s cannot be rendered: %s", key.dag_id, key.run_id, tid, changes.key.error)
        elif changes.key is not None:
            self.keys.record(key, tid, changes.key, batch)
        for note in changes.events:
            batch.events.append(event_store.event(
                note.kind, note.at, dag_id=key.dag_id, run_id=key.run_id, task_id=note.task_id, try_number=note.try_number,
                reason=note.reason, payload=dict(note.payload),
            ))
        if changes.repeat is not None:
            repeat = changes.repeat
            for member in repeat.tasks:
                clearing_store.reset_task(batch, key, member, run.tasks[member], run.spec.task_map[member].retries, repeat.at, reason=repeat.reason)
            clearing_store.reset_task(batch, key, tid, run.tasks[tid], task.retries, repeat.at, reason=repeat.reason,
                                 result={"iteration": repeat.iteration})
            self._dirty[key] = None

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
        for key in [k for k, due in self._slas.items() if due <= now]:
            del self._slas[key]
            self._dirty.setdefault(key, set())
        reopens = self.admission.next_reopen()
        if reopens is not None and reopens <= now:
            self.wake_held()

    def plan(self, batch: Batch, now: datetime) -> list[Dispatch]:
        """Decide for every run touched since the last plan; returns the work to submit after commit."""
        dispatches = [Dispatch(work) for work in self.packer.take_released()]
        dirty, self._dirty = self._dirty, {}
        # counted once per pass and kept up to date by each admission: with a thousand runs
        # starting together, counting the tasks in flight for every run would be quadratic
        loads = self.admission.loads() if dirty else (Counter(), Counter())
        # higher-priority runs are planned first: they take free pool slots and admissions first
        for key, candidates in sorted(dirty.items(), key=lambda kv: -self._priority(kv[0])):
            run = self.runs.get(key)
            if run is None:
                continue
            if run.paused:  # looked at again when resumed (the reload marks every task)
                continue
            held, held_instances = self.admission.take_held(key)
            instances = self._dirty_instances.pop(key, {})
            for tid, indexes in held_instances.items():
                instances.setdefault(tid, set()).update(indexes)
            if candidates is not None:
                candidates = candidates | held
            admit = self.admission.admit(key, run.spec.max_active_tasks, loads, batch, now)
            if run.spec.machine is not None:  # a state machine says which actions run, not dependencies
                commands = admit_submits(run.spec, machines.plan(run, candidates, batch, now), admit)
                self._machine_due(run)
            else:
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
                        self._start_here(run, command, batch, now)
                        self.own.start_wait(key, command.task_id)
                    unchained.add(command.task_id)
                elif isinstance(command, Submit) and run.spec.task_map[command.task_id].trigger is not None:
                    if not command.after:  # it runs until scheduler/child_runs.py settles it
                        self._start_here(run, command, batch, now)
                        self.own.triggering.add((key, command.task_id))
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
                    dispatches.extend(self.callbacks.work(run))
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
        tid, index = command.task_id, command.map_index
        view = run.view(tid, index)
        try_number = view.try_number + 1
        key = f"{run.key.dag_id}/{run.key.run_id}/{tid}" + (f"[{index}]" if index >= 0 else "") + f"/{try_number}/{next(self._seq)}"
        work = task_work(
            run, command, key, try_number, view.max_tries, dags_root=self._dags_root, max_result_bytes=self.config.max_result_bytes,
            resolve_connection=self.resolve_connection,
        )
        if tid in run.spec.compensations:
            batch.events.append(event_store.event(
                "compensation", now, dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=tid, try_number=try_number,
                reason=command.reason, payload=compensation_event_payload(run.spec, run.tasks, tid),
            ))
        batch.move_task(run.key, tid, view, TaskState.QUEUED, now, reason=command.reason, key=key, next_retry_at=None, map_index=index)
        self._retries.pop((run.key, tid, index), None)
        self.flights.add(key, Flight(run.key, tid, try_number, index, run.spec.task_map[tid].pool))
        return Dispatch(work)

    def _drop_work(self, run: ActiveRun, task_id: str, view: TaskView, batch: Batch, now: datetime, reason: str) -> None:
        """Stop the work of a task that is cancelled while in flight, and close its running try."""
        if view.key is not None and self.flights.pop(view.key) is not None:
            self.cancel(view.key)
        self.own.forget(run.key, task_id)
        if view.state in (TaskState.RUNNING, TaskState.WAITING):
            batch.update_try(run.key, task_id, view.try_number, state=TaskState.CANCELLED.value, end_date=now, error=reason)

    def dispatch(self, dispatches: Iterable[Dispatch]) -> None:
        """Hand committed work to the executor in packs (scheduler/packer.py)."""
        self.packer.submit([d.work for d in dispatches])

    def cancel(self, key: str) -> None:
        """Stop an executor key's work."""
        self.packer.cancel(key)

    def _priority(self, key: RunKey) -> int:
        run = self.runs.get(key)
        return run.priority if run is not None else 0

    def _task_of(self, work: WorkItem) -> tuple[RunKey, Any] | None:
        run = self.runs.get(RunKey(work.dag_id, work.run_id))
        if run is None or work.task_id not in run.spec.task_map:
            return None  # a DAG callback
        return run.key, run.spec.task_map[work.task_id]

    def take_finished(self) -> list[RunKey]:
        """Runs that ended in the last plan; the tracker forgets them."""
        done, self.finished = self.finished, []
        for key in done:
            self.forget(key)
        return done

    def next_wakeup(self) -> datetime | None:
        """The earliest time a waiting retry becomes due, an open breaker lets a probe through or a
        machine run's state misses its SLA."""
        times = (min(self._retries.values(), default=None), self.admission.next_reopen(), min(self._slas.values(), default=None))
        return min((t for t in times if t is not None), default=None)

    def _machine_due(self, run: ActiveRun) -> None:
        due = machines.sla_due(run)
        if due is None or run.key not in self.runs:
            self._slas.pop(run.key, None)
        else:
            self._slas[run.key] = due

    # -- admission: circuit breakers, pools, max_active_tasks (scheduler/admission.py) ------------
    def load_shared(self, breakers: dict[str, Any], pools: dict[str, int]) -> None:
        """Take the store's breakers and pools (other schedulers and users change them); held
        tasks are looked at again."""
        self.admission.load(breakers, pools)
        self.wake_held()

    def wake_held(self) -> None:
        """Plan the held tasks again: capacity may have come back."""
        for key, tids in self.admission.wake().items():
            if key in self.runs:
                current = self._dirty.get(key, set())
                if current is not None:
                    self._dirty[key] = current | tids

    def _hold(self, run: ActiveRun, command: Hold, batch: Batch, now: datetime) -> None:
        """Keep a task back without using a try; it is looked at again when capacity may be back."""
        view = run.view(command.task_id, command.map_index)
        if view.state is not command.state:
            batch.move_task(
                run.key, command.task_id, view, command.state, now, reason=command.reason, next_retry_at=None, map_index=command.map_index
            )
            self._note_retry(run.key, command.task_id, view, command.map_index)
        self.admission.hold(run.key, command, run.spec.task_map[command.task_id])
