"""State-machine runs in the scheduler: applies orchestrator.core.machine's decisions to a tracked run.

For a run whose spec has a `machine`, the tracker asks `plan` instead of the planner. `plan` feeds
the pure core, in order: the start (a run without a state yet), the events sent to the run
(`machine.event` rows the API appended, read when the run is loaded), the ends of the actions it
awaits, and a missed SLA. Each decision becomes: a `machine.state` event (the history of states),
the actions to run (Submit commands; a finished action is reset first, so a loop-back runs it
again), the run's new `dag_run.machine` and, when the machine ends, a FinishRun. Events no
transition accepts any more (the API checked, but the run moved meanwhile) are recorded as
`machine.rejected`. Run data set by tries is recorded here too (`run_data.set` events).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from orchestrator.core import machine as core
from orchestrator.core.planner import Command, FinishRun, Settle, Submit
from orchestrator.core.run_data import RUN_DATA_SET, apply_changes
from orchestrator.core.states import TASK_DUE_AGAIN, TASK_TERMINAL, RunState, TaskState
from orchestrator.execution.runtime import Outcome
from orchestrator.store import clearing as clearing_store
from orchestrator.store import events as event_store
from orchestrator.store import machines as machine_store
from orchestrator.store.runs import Batch

if TYPE_CHECKING:
    from scheduler.active_runs import ActiveRun

_IDLE = (TaskState.PENDING, TaskState.SCHEDULED)


@dataclass
class MachineCopy:
    """What the scheduler keeps of a machine run besides its task views."""

    run: core.MachineRun
    cursor: int
    """The id of the last `machine.event` row taken from the inbox."""
    inbox: list[machine_store.SentEvent]


def attach(session: Session, run: ActiveRun, machine: dict[str, Any] | None, run_data: dict[str, Any] | None) -> None:
    """Give a run loaded from the store its machine copy and unread events (a no-op for a DAG run)."""
    run.run_data = dict(run_data or {})
    if run.spec.machine is None:
        return
    cursor = int((machine or {}).get("cursor") or 0)
    run.machine = MachineCopy(core.MachineRun.from_json(machine), cursor, machine_store.inbox(session, run.key.dag_id, run.key.run_id, cursor))


def record_data(run: ActiveRun, task_id: str, outcome: Outcome | None, batch: Batch, now: datetime) -> None:
    """The run variables a try set: into the run's copy, its row, and one event per change."""
    if outcome is None or not outcome.data_changes:
        return
    run.run_data = apply_changes(run.run_data, outcome.data_changes)
    for key, value in outcome.data_changes.items():
        batch.events.append(event_store.event(
            RUN_DATA_SET, now, dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=task_id, try_number=outcome.try_number,
            actor=f"task:{task_id}", payload={"key": key, "value": value},
        ))
    batch.update_run(run.key, run.state, run_data=run.run_data)


def sla_due(run: ActiveRun) -> datetime | None:
    """When the run's current state misses its SLA, if it has one still to miss."""
    if run.spec.machine is None or run.machine is None:
        return None
    return core.sla_due(run.spec.machine, run.machine.run)


def plan(run: ActiveRun, candidates: Iterable[str] | None, batch: Batch, now: datetime) -> list[Command]:
    """The commands for a machine run: start it, take its sent events, its actions' ends and a missed SLA."""
    machine = run.spec.machine
    assert machine is not None
    if run.machine is None:
        run.machine = MachineCopy(core.MachineRun(), 0, [])
    copy = run.machine
    commands: list[Command] = []
    if copy.run.state is None:
        _apply(run, core.start(machine, now), batch, now, commands, actor="scheduler")
    while copy.inbox and not copy.run.finished:
        sent = copy.inbox.pop(0)
        copy.cursor = max(copy.cursor, sent.id)
        decision = core.react(
            machine, copy.run, sent.name, sent.payload, data=run.run_data, params=run.params, roles=sent.roles, now=now,
        )
        if decision.accepted:
            _apply(run, decision, batch, now, commands, actor=sent.actor)
        else:
            batch.events.append(event_store.event(
                machine_store.REJECTED, now, dag_id=run.key.dag_id, run_id=run.key.run_id, actor=sent.actor, reason=decision.reason,
                payload={"event": sent.name, "event_id": sent.id},
            ))
    looked_at = set(machine.actions if candidates is None else candidates)
    for action in [a for a in copy.run.awaiting if a in looked_at]:
        view = run.tasks[action]
        if copy.run.finished or view.state not in TASK_TERMINAL:
            continue
        outcome = "success" if view.state in (TaskState.SUCCESS, TaskState.SKIPPED) else "failed"
        decision = core.advance(machine, copy.run, action, outcome, view.result, data=run.run_data, params=run.params, now=now)
        _apply(run, decision, batch, now, commands, actor="scheduler")
    due = core.sla_due(machine, copy.run)
    if due is not None and due <= now:
        batch.events.append(event_store.event(
            machine_store.SLA_MISSED, now, dag_id=run.key.dag_id, run_id=run.key.run_id,
            reason=f"state {copy.run.state!r} was not left within its SLA", payload={"state": copy.run.state, "due": due.isoformat()},
        ))
        _apply(run, core.miss_sla(machine, copy.run, data=run.run_data, params=run.params, now=now), batch, now, commands, actor="scheduler")
    for action in () if copy.run.finished else copy.run.awaiting:
        view = run.tasks[action]
        if action in _submitted(commands):
            continue
        if view.state in TASK_DUE_AGAIN and view.next_retry_at is not None and view.next_retry_at <= now:
            commands.append(Submit(action, reason=f"try {view.try_number + 1} of {view.max_tries}"))
        elif view.state in (*_IDLE, TaskState.WAITING):  # held by a pool or a breaker, or orphaned: try again
            commands.append(Submit(action, reason="awaited by the machine"))
    batch.update_run(run.key, run.state, machine={**copy.run.to_json(), "cursor": copy.cursor})
    return commands


def _submitted(commands: list[Command]) -> set[str]:
    return {c.task_id for c in commands if isinstance(c, Submit)}


def _apply(run: ActiveRun, decision: core.Decision, batch: Batch, now: datetime, commands: list[Command], *, actor: str) -> None:
    """One decision into the batch, the run's copy and `commands`."""
    assert run.machine is not None
    run.machine.run = decision.run
    key = run.key
    if decision.moved is not None:
        moved = decision.moved
        batch.events.append(event_store.event(
            machine_store.STATE, now, dag_id=key.dag_id, run_id=key.run_id, actor=actor, reason=decision.reason,
            payload={"from": moved.source, "to": moved.target, "via": moved.via, "guard": moved.guard},
        ))
    for action in decision.run_actions:
        view = run.tasks[action]
        if action in _submitted(commands) or view.state not in (*_IDLE, *TASK_TERMINAL):
            continue  # already on its way: its end counts for the state it now runs for
        if view.state in TASK_TERMINAL:
            task = run.spec.task_map[action]
            clearing_store.reset_task(batch, key, action, view, task.retries, now, reason=f"run again: {decision.reason}")
        commands.append(Submit(action, reason=decision.reason))
    if decision.finish is not None:
        why = "the machine ended: " + decision.reason
        for action in run.spec.machine.actions if run.spec.machine is not None else ():
            view = run.tasks[action]
            if action in _submitted(commands) or view.state in TASK_TERMINAL:
                continue
            # never started: skipped; scheduled, held or in flight: cancelled (its work stops)
            commands.append(Settle(action, TaskState.SKIPPED if view.state is TaskState.PENDING else TaskState.CANCELLED, why))
        commands.append(FinishRun(RunState.SUCCESS if decision.finish == "success" else RunState.FAILED))
