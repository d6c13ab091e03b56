"""Writes to dag_run, task_instance and task_try, always with their events.

`Batch` is the one gate for state changes: `move_task` and `move_run` check the transition
against the state machine, change the in-memory view, and record the row update and the
event; `write` puts the whole batch in the caller's transaction. New runs are queued by
orchestrator.store.run_creation, finished tasks cleared by orchestrator.store.clearing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from orchestrator.core.errors import ConflictError, IllegalTransitionError, NotFoundError
from orchestrator.core.planner import TaskView
from orchestrator.core.replay import MAP_COUNT
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import (
    RUN_TERMINAL,
    TASK_TERMINAL,
    RunState,
    TaskState,
    check_run_mark,
    check_run_transition,
    check_task_transition,
    is_task_mark_allowed,
    is_task_transition_allowed,
)
from orchestrator.store import approvals as approval_store
from orchestrator.store import assets as asset_store
from orchestrator.store import changes as change_store
from orchestrator.store import events
from orchestrator.store import idempotency as idempotency_store
from orchestrator.store.bulk import insert_many, times_remembered, update_many
from orchestrator.store.models import DagRun, DagVersion, TaskInstance, TaskTry


class RunKey(NamedTuple):
    """A run's key. A named tuple: the scheduler hashes it for every transition, and a tuple's
    hash is computed in C."""

    dag_id: str
    run_id: str


_TASK_KEYS = ("dag_id", "run_id", "task_id", "map_index")
_TRY_KEYS = (*_TASK_KEYS, "try_number")
_try_key = itemgetter(*_TRY_KEYS)


def _key_clauses(table: Any, keys: tuple[str, ...]) -> list[Any]:
    """`column = :k_column` for each key column."""
    return [table.c[k] == bindparam(f"k_{k}") for k in keys]


def _update_each(session: Session, table: Any, rows: list[dict[str, Any]], keys: tuple[str, ...], *, state_guard: bool = False) -> None:
    """UPDATE one row per dict (keys as `k_<column>`, new values by name), one executemany per set
    of columns; with `state_guard`, only where the row is still in state `k_from`. A row without
    `k_map_index` is the task's own (-1), not one of its mapped instances."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        if "map_index" in keys:
            row.setdefault("k_map_index", -1)
        groups.setdefault(tuple(row), []).append(row)  # rows made by one code path share their keys' order
    for group in groups.values():
        update_many(session, table, group, keys, guard="state" if state_guard else None)


_VALUE: dict[TaskState, str] = {s: s.value for s in TaskState}
_TASK_KIND: dict[TaskState, str] = {s: f"task.{s.value}" for s in TaskState}


def _ti_values(view: TaskView) -> dict[str, Any]:
    return {
        "state": _VALUE[view.state],
        "try_number": view.try_number,
        "max_tries": view.max_tries,
        "start_date": view.start_date,
        "end_date": view.end_date,
        "next_retry_at": view.next_retry_at,
        "worker": view.worker,
        "result": view.result,
        "follow": None if view.follow is None else list(view.follow),
    }


@dataclass
class Batch:
    """State changes to write in one transaction."""

    _ti: dict[tuple[str, str, str, int], tuple[str, TaskView]] = field(default_factory=dict)
    # mapped instances made (rows to insert) and dropped (dag_id, run_id, task_id, from map_index) by `expand`
    ti_inserts: list[dict[str, Any]] = field(default_factory=list)
    ti_drops: list[tuple[str, str, str, int]] = field(default_factory=list)
    _runs: dict[RunKey, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    try_inserts: list[dict[str, Any]] = field(default_factory=list)
    try_updates: list[dict[str, Any]] = field(default_factory=list)
    _inserted_tries: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # try_inserts by try key
    log_appends: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # circuit breakers changed by this batch's outcomes (orchestrator.core.circuit.Breaker by key), and when
    circuits: dict[str, Any] = field(default_factory=dict)
    circuits_at: datetime | None = None
    # asset updates by the tasks that succeeded in this batch (orchestrator.store.assets.outlet_events)
    asset_events: list[dict[str, Any]] = field(default_factory=list)
    # idempotency keys of the tasks that succeeded in this batch (orchestrator.store.idempotency.key_row)
    idempotency_keys: list[dict[str, Any]] = field(default_factory=list)
    # runs this batch ends, with their terminal state and when: their approval requests close with them
    ended_runs: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)

    def insert_try(self, row: dict[str, Any]) -> None:
        """A try row to insert (`try_row`)."""
        self.try_inserts.append(row)
        self._inserted_tries[_try_key(row)] = row

    def update_try(self, run: RunKey, task_id: str, try_number: int, *, map_index: int = -1, **values: Any) -> None:
        """Change a try row's `values`. A try this batch inserts takes them into its row, so a try
        that starts and ends in one batch (a tiny try's usual case) is inserted once, ended."""
        row = self._inserted_tries.get((run.dag_id, run.run_id, task_id, map_index, try_number))
        if row is None:
            self.try_updates.append(try_update(run, task_id, try_number, map_index=map_index, **values))
        else:
            row.update(values)

    def __bool__(self) -> bool:
        return bool(
            self._ti or self.ti_inserts or self._runs or self.try_inserts or self.try_updates or self.log_appends or self.events or self.circuits
            or self.asset_events or self.idempotency_keys
        )

    def move_task(
        self,
        run: RunKey,
        task_id: str,
        view: TaskView,
        to: TaskState,
        at: datetime,
        *,
        reason: str | None = None,
        actor: str = "scheduler",
        map_index: int = -1,
        mark: bool = False,
        **changes: Any,
    ) -> None:
        """Change a task's state (checked), apply `changes` to its view, record row and event.
        `map_index` names one instance of a mapped task (its view is that instance's); `mark`: a
        user's mark, checked against the marks' table (orchestrator.core.states) instead."""
        current = view.state
        if mark and not is_task_mark_allowed(current, to):
            raise IllegalTransitionError(f"task {run.dag_id}/{run.run_id}/{task_id}", current.value, to.value, view.history)
        if not mark and not is_task_transition_allowed(current, to):  # the message is built only when it is needed
            where = f"{task_id}[{map_index}]" if map_index >= 0 else task_id
            check_task_transition(current, to, what=f"task {run.dag_id}/{run.run_id}/{where}", history=view.history)
        pk = (run.dag_id, run.run_id, task_id, map_index)
        entry = self._ti.get(pk)
        before = entry[0] if entry is not None else _VALUE[current]
        value = _VALUE[to]
        self.events.append({
            "kind": _TASK_KIND[to], "at": at, "dag_id": run.dag_id, "run_id": run.run_id, "task_id": task_id,
            "map_index": map_index, "try_number": changes.get("try_number", view.try_number), "from_state": _VALUE[current],
            "to_state": value, "actor": actor, "reason": reason, "payload": None,
        })  # events.event's row, built inline: this runs for every transition
        view.state = to
        for name, change in changes.items():
            setattr(view, name, change)
        history = view.history
        history.append(value)
        if len(history) > 8:
            del history[:-8]
        self._ti[pk] = (before, view)

    def expand(self, run: RunKey, task_id: str, view: TaskView, count: int, max_tries: int, at: datetime) -> None:
        """Give a mapped task `count` instances and make it running.

        Instances a clear left (pending) are kept with their tries; missing ones are made and
        those past `count` (the input got shorter) are dropped with their tries.
        """
        for i in range(len(view.instances), count):
            view.instances.append(TaskView(max_tries=max_tries))
            self.ti_inserts.append(
                {"dag_id": run.dag_id, "run_id": run.run_id, "task_id": task_id, "map_index": i, **_ti_values(view.instances[i])}
            )
        if len(view.instances) > count:
            del view.instances[count:]
            self.ti_drops.append((run.dag_id, run.run_id, task_id, count))
        # queued (to be expanded) then running (its instances run), as the state machine has every task go
        self.move_task(run, task_id, view, TaskState.QUEUED, at, reason="its input is known: expanding it")
        self.move_task(run, task_id, view, TaskState.RUNNING, at, reason=f"expanded into {count} mapped instances", start_date=at, end_date=None)
        self.events[-1]["payload"] = {MAP_COUNT: count}  # replay makes (or drops) the instances from it

    def move_run(
        self, run: RunKey, current: RunState, to: RunState, at: datetime, *, reason: str | None = None, actor: str = "scheduler",
        mark: bool = False, **changes: Any,
    ) -> None:
        """Change a run's state (checked; `mark`: against the marks' table) and record the row update and the event."""
        (check_run_mark if mark else check_run_transition)(current, to, what=f"run {run.dag_id}/{run.run_id}")
        before = self._runs[run][0] if run in self._runs else current.value
        values = dict(self._runs[run][1]) if run in self._runs else {}
        values.update(changes, state=to.value)
        self._runs[run] = (before, values)
        if to in RUN_TERMINAL:
            self.ended_runs[(run.dag_id, run.run_id)] = (to.value, at)
        else:
            self.ended_runs.pop((run.dag_id, run.run_id), None)
        self.events.append(
            events.event(
                f"run.{to.value}", at, dag_id=run.dag_id, run_id=run.run_id, from_state=current.value,
                to_state=to.value, actor=actor, reason=reason,
            )
        )

    def update_run(self, run: RunKey, current: RunState, **changes: Any) -> None:
        """Change a run's fields but not its state (a waiting run's new reason): no event."""
        before = self._runs[run][0] if run in self._runs else current.value
        values = dict(self._runs[run][1]) if run in self._runs else {}
        values.update(changes, state=current.value)
        self._runs[run] = (before, values)

    def write(self, session: Session) -> None:
        """Write everything in the caller's transaction: one executemany per kind of row."""
        with times_remembered(session):
            self._write(session)

    def _write(self, session: Session) -> None:
        for dag_id, run_id, task_id, first in self.ti_drops:
            for table in (TaskInstance.__table__, TaskTry.__table__):
                session.execute(
                    delete(table).where(
                        table.c.dag_id == dag_id, table.c.run_id == run_id, table.c.task_id == task_id, table.c.map_index >= first
                    )
                )
        if self.ti_inserts:
            insert_many(session, TaskInstance.__table__, self.ti_inserts)
        if self._ti:
            rows = [
                {"k_dag_id": d, "k_run_id": r, "k_task_id": t, "k_map_index": m, "k_from": before, **_ti_values(view)}
                for (d, r, t, m), (before, view) in self._ti.items()
            ]
            # a user may have cleared or cancelled the task meanwhile: `k_from` lets their write win
            _update_each(session, TaskInstance.__table__, rows, _TASK_KEYS, state_guard=True)
        if self._runs:
            rows = [
                {"k_dag_id": key.dag_id, "k_run_id": key.run_id, "k_from": before, **values}
                for key, (before, values) in self._runs.items()
            ]
            _update_each(session, DagRun.__table__, rows, ("dag_id", "run_id"), state_guard=True)
        if self.try_inserts:
            insert_many(session, TaskTry.__table__, self.try_inserts)
        if self.try_updates:
            _update_each(session, TaskTry.__table__, self.try_updates, _TRY_KEYS)
        if self.log_appends:
            for row in self.log_appends:
                row.setdefault("k_map_index", -1)
            tt = TaskTry.__table__
            stmt = (
                update(tt)
                .where(*_key_clauses(tt, _TRY_KEYS), tt.c.state == TaskState.RUNNING.value)
                .values(log=tt.c.log + bindparam("chunk"))
            )
            session.execute(stmt, self.log_appends)
        if self.circuits:
            from orchestrator.store import circuits as circuit_store

            assert self.circuits_at is not None
            circuit_store.save(session, self.circuits.values(), self.circuits_at)
        asset_store.record(session, self.asset_events)
        idempotency_store.record(session, self.idempotency_keys)
        if self.ended_runs:
            at = max(when for _, when in self.ended_runs.values())
            states = {key: state for key, (state, _) in self.ended_runs.items()}
            self.events.extend(approval_store.close_with_runs(session, list(states), states, at))
        events.append(session, self.events)


def spec_for_version(session: Session, dag_id: str, version_hash: str) -> DagSpec:
    """The DagSpec a run is pinned to."""
    row = session.get(DagVersion, (dag_id, version_hash))
    if row is None:
        raise NotFoundError(f"DAG {dag_id!r} has no stored version {version_hash}")
    return DagSpec.model_validate(row.spec)


def specs_for_versions(session: Session, versions: set[tuple[str, str]]) -> dict[tuple[str, str], DagSpec]:
    """The DagSpecs of these (dag_id, version_hash) pairs that are stored, in one query."""
    rows = session.scalars(
        select(DagVersion).where(
            DagVersion.dag_id.in_({d for d, _ in versions}), DagVersion.version_hash.in_({h for _, h in versions})
        )
    )
    return {(r.dag_id, r.version_hash): DagSpec.model_validate(r.spec) for r in rows if (r.dag_id, r.version_hash) in versions}


def insert_task_instances(session: Session, runs: list[tuple[RunKey, DagSpec]]) -> dict[RunKey, dict[str, TaskView]]:
    """Create the runs' task instances (all pending) and return their views, run by run.

    A run that was cleared after it ended keeps its task instances: those are returned instead.
    One query and one insert however many runs start.
    """
    views = _task_views(session, [key for key, _ in runs])
    fresh: list[dict[str, Any]] = []
    for key, spec in runs:
        if key not in views:
            views[key] = {t.task_id: TaskView(max_tries=t.retries + 1) for t in spec.tasks}
            fresh.extend(
                {"dag_id": key.dag_id, "run_id": key.run_id, "task_id": tid, "map_index": -1, **_ti_values(v)}
                for tid, v in views[key].items()
            )
    if fresh:
        insert_many(session, TaskInstance.__table__, fresh)
    return views


def load_task_views(session: Session, run: RunKey) -> dict[str, TaskView]:
    """The views of one run's task instances."""
    return _task_views(session, [run]).get(run, {})


def _task_views(session: Session, runs: list[RunKey]) -> dict[RunKey, dict[str, TaskView]]:
    """The task instance views of the runs that have any, run by run."""
    if not runs:
        return {}
    wanted = set(runs)
    rows = session.scalars(
        select(TaskInstance)
        .where(TaskInstance.dag_id.in_({k.dag_id for k in wanted}), TaskInstance.run_id.in_({k.run_id for k in wanted}))
        .order_by(TaskInstance.map_index)  # a task's own row (-1) before its mapped instances, in order
    )
    views: dict[RunKey, dict[str, TaskView]] = {}
    for r in rows:
        key = RunKey(r.dag_id, r.run_id)
        if key not in wanted:
            continue
        view = TaskView(
            state=TaskState(r.state),
            try_number=r.try_number,
            max_tries=r.max_tries,
            start_date=r.start_date,
            end_date=r.end_date,
            next_retry_at=r.next_retry_at,
            worker=r.worker,
            result=r.result,
            follow=None if r.follow is None else tuple(r.follow),
        )
        if r.map_index < 0:
            views.setdefault(key, {})[r.task_id] = view
        else:
            views[key][r.task_id].instances.append(view)
    return views


def try_row(run: RunKey, task_id: str, try_number: int, *, map_index: int = -1, **values: Any) -> dict[str, Any]:
    return {"dag_id": run.dag_id, "run_id": run.run_id, "task_id": task_id, "map_index": map_index, "try_number": try_number, **values}


def try_update(run: RunKey, task_id: str, try_number: int, *, map_index: int = -1, **values: Any) -> dict[str, Any]:
    return {
        "k_dag_id": run.dag_id, "k_run_id": run.run_id, "k_task_id": task_id, "k_map_index": map_index,
        "k_try_number": try_number, **values,
    }


def get_run(session: Session, dag_id: str, run_id: str) -> DagRun:
    """The run row; NotFoundError names the run when there is none."""
    row = session.get(DagRun, (dag_id, run_id))
    if row is None:
        raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")
    return row


def cancel_run(session: Session, dag_id: str, run_id: str, now: datetime, actor: str) -> DagRun:
    """Cancel a queued or running run and its unfinished tasks; the scheduler stops their work."""
    row = get_run(session, dag_id, run_id)
    current = RunState(row.state)
    if current in RUN_TERMINAL:
        raise ConflictError(f"run {run_id!r} already ended ({current.value}); there is nothing to cancel")
    key = RunKey(dag_id, run_id)
    batch = Batch()
    for task_id, view in load_task_views(session, key).items():
        if view.state not in TASK_TERMINAL:
            batch.move_task(key, task_id, view, TaskState.CANCELLED, now, reason=f"run cancelled by {actor}", actor=actor, key=None)
        for i, instance in enumerate(view.instances):
            if instance.state not in TASK_TERMINAL:
                batch.move_task(
                    key, task_id, instance, TaskState.CANCELLED, now, reason=f"run cancelled by {actor}", actor=actor, key=None, map_index=i
                )
    batch.move_run(key, current, RunState.CANCELLED, now, reason=f"cancelled by {actor}", actor=actor, end_date=now)
    batch.write(session)
    row.ext_change += 1
    change_store.touch(session, [(dag_id, run_id)])
    session.flush()
    session.refresh(row)
    return row
