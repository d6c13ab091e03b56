"""Events sent to state-machine runs, and what the store says of a machine run.

Sending an event appends a `machine.event` row (the run's inbox) and wakes the scheduler that
drives the run, which is the only writer of the run's machine state (scheduler/machines.py). The
event is first checked against the pure core over the state the run will be in once its unread
events are taken, so an event that no transition accepts is refused at once, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core import machine as core
from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.core.run_data import RUN_DATA_SET
from orchestrator.core.states import RUN_ACTIVE, RunState
from orchestrator.store import changes as change_store
from orchestrator.store import events as event_store
from orchestrator.store.models import DagRun, Event
from orchestrator.store.runs import get_run, spec_for_version

EVENT = core.SENT_KIND
STATE = core.STATE_KIND
REJECTED = core.REJECTED_KIND
SLA_MISSED = core.SLA_MISSED_KIND
CORRELATION_FIELD = core.CORRELATION_FIELD


class MachineEventRefused(ConflictError):
    """No transition accepts the event in the state the run is (or will be) in; says why."""


@dataclass(frozen=True)
class SentEvent:
    """One event from the run's inbox."""

    id: int
    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    roles: tuple[str, ...] = ()
    actor: str = "scheduler"


def _sent(row: Event) -> SentEvent:
    body = row.payload or {}
    return SentEvent(row.id, str(body.get("event")), dict(body.get("payload") or {}), tuple(body.get("roles") or ()), row.actor)


def inbox(session: Session, dag_id: str, run_id: str, after: int) -> list[SentEvent]:
    """The events sent to the run after the event id `after`, oldest first."""
    rows = session.scalars(
        select(Event).where(Event.dag_id == dag_id, Event.run_id == run_id, Event.kind == EVENT, Event.id > after).order_by(Event.id)
    )
    return [_sent(r) for r in rows]


def _expected(session: Session, row: DagRun, machine: core.MachineSpec, now: datetime) -> core.MachineRun:
    """The machine run as it will stand once the scheduler took the events already sent."""
    current = core.MachineRun.from_json(row.machine)
    if current.state is None:
        current = core.start(machine, now).run
    cursor = int((row.machine or {}).get("cursor") or 0)
    for sent in inbox(session, row.dag_id, row.run_id, cursor):
        decision = core.react(machine, current, sent.name, sent.payload, data=row.run_data or {}, params=row.conf or {},
                              roles=sent.roles, now=now)
        current = decision.run
    return current


def send_event(
    session: Session, dag_id: str, run_id: str, name: str, payload: Mapping[str, Any] | None, *, roles: Sequence[str],
    actor: str, now: datetime,
) -> core.Decision:
    """Queue event `name` for the run, if a transition accepts it; MachineEventRefused says why not.
    Returns the decision the core predicts (the scheduler takes the event and may still refuse it,
    if an action's end moved the run meanwhile)."""
    row = get_run(session, dag_id, run_id)
    spec = spec_for_version(session, dag_id, row.version_hash)
    if spec.machine is None:
        raise MachineEventRefused(f"DAG {dag_id!r} is not a state machine: its runs take no events")
    if RunState(row.state) not in RUN_ACTIVE:
        raise MachineEventRefused(f"run {run_id!r} already ended ({row.state}): it takes no more events")
    body = dict(payload or {})
    params = {**spec.params, **(row.conf or {})}
    decision = core.react(spec.machine, _expected(session, row, spec.machine, now), name, body, data=row.run_data or {},
                          params=params, roles=list(roles), now=now)
    if not decision.accepted:
        raise MachineEventRefused(decision.reason)
    event_store.append(session, [event_store.event(
        EVENT, now, dag_id=dag_id, run_id=run_id, actor=actor, reason=f"event {name!r} sent by {actor}",
        payload={"event": name, "payload": body, "roles": list(roles)},
    )])
    correlation = body.get(CORRELATION_FIELD)
    if row.correlation_id is None and isinstance(correlation, str) and correlation:
        row.correlation_id = correlation[:250]
    row.ext_change += 1
    change_store.touch(session, [(dag_id, run_id)])
    session.flush()
    return decision


@dataclass(frozen=True)
class MachineView:
    """A machine run as the API and UI show it."""

    state: str | None
    finished: bool
    awaiting: tuple[str, ...]
    sla_missed: bool
    entered_at: datetime | None
    history: list[dict[str, Any]]
    data: dict[str, Any]
    data_changes: list[dict[str, Any]]
    rejected: list[dict[str, Any]]


def machine_view(session: Session, dag_id: str, run_id: str) -> MachineView:
    """The run's current state, the states it went through (oldest first), its data and the changes to it;
    NotFoundError for a run of a DAG that is no state machine."""
    row = get_run(session, dag_id, run_id)
    if spec_for_version(session, dag_id, row.version_hash).machine is None:
        raise NotFoundError(f"run {run_id!r} of DAG {dag_id!r} is not a state machine's: it has no state to show")
    current = core.MachineRun.from_json(row.machine)
    rows = session.scalars(
        select(Event).where(Event.dag_id == dag_id, Event.run_id == run_id, Event.kind.in_((STATE, RUN_DATA_SET, REJECTED)))
        .order_by(Event.id)
    ).all()
    history = [
        {"state": (r.payload or {}).get("to"), "from": (r.payload or {}).get("from"), "via": (r.payload or {}).get("via"),
         "guard": (r.payload or {}).get("guard"), "at": r.at, "actor": r.actor, "reason": r.reason}
        for r in rows if r.kind == STATE
    ]
    changes = [
        {"key": (r.payload or {}).get("key"), "value": (r.payload or {}).get("value"), "task_id": r.task_id, "at": r.at}
        for r in rows if r.kind == RUN_DATA_SET
    ]
    rejected = [{"event": (r.payload or {}).get("event"), "reason": r.reason, "at": r.at} for r in rows if r.kind == REJECTED]
    return MachineView(current.state, current.finished, current.awaiting, current.sla_missed, current.entered_at, history,
                       dict(row.run_data or {}), changes, rejected)
