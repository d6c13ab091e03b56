"""The outside-event tables: external_event (what outside systems posted) and external_event_run
(the runs each started). Every write goes through here, and the reads of the API and the UI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.errors import NotFoundError
from orchestrator.models import Dag, DagRun, Event, ExternalEvent, ExternalEventRun
from orchestrator.store import events

TRIGGER_FAILED = "trigger.failed"
"""The event-log kind of a trigger whose expression failed on an outside event."""


def post(
    session: Session, type: str, payload: dict[str, Any], event_id: str | None, now: datetime, actor: str
) -> tuple[ExternalEvent, bool]:
    """Store an event; (the row, True), or (the stored one, False) when `event_id` was posted before."""
    if event_id is not None:
        existing = session.scalar(select(ExternalEvent).where(ExternalEvent.event_id == event_id))
        if existing is not None:
            return existing, False
    row = ExternalEvent(event_id=event_id, type=type, payload=payload, received_at=now, actor=actor)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # the same id posted at the same moment by another request: theirs won
        existing = session.scalar(select(ExternalEvent).where(ExternalEvent.event_id == event_id))
        if existing is None:
            raise
        return existing, False
    return row, True


def unprocessed(session: Session, limit: int) -> list[ExternalEvent]:
    """The oldest events the scheduler has not matched against the triggers yet, in order."""
    return list(
        session.scalars(select(ExternalEvent).where(ExternalEvent.processed_at.is_(None)).order_by(ExternalEvent.id).limit(limit))
    )


def started_run(session: Session, event: ExternalEvent, dag_id: str, run_id: str) -> None:
    """Link a run to the event that started it."""
    session.add(ExternalEventRun(event_pk=event.id, dag_id=dag_id, run_id=run_id))


def trigger_failed(session: Session, event: ExternalEvent, dag_id: str, reason: str, now: datetime) -> None:
    """Record in the event log that `dag_id`'s trigger failed on `event` (the DAG does not start)."""
    events.append(session, [events.event(TRIGGER_FAILED, now, dag_id=dag_id, reason=reason, payload={"external_event": event.id, "type": event.type})])


def mark_processed(session: Session, event: ExternalEvent, now: datetime) -> None:
    event.processed_at = now


def get(session: Session, pk: int) -> ExternalEvent:
    row = session.get(ExternalEvent, pk)
    if row is None:
        raise NotFoundError(f"no outside event with id {pk}: GET /api/v1/events lists them")
    return row


def page(session: Session, *, type: str | None, limit: int, offset: int) -> tuple[list[ExternalEvent], int]:
    """Events (of one type, or all), newest first, and how many there are."""
    where = [] if type is None else [ExternalEvent.type == type]
    total = session.scalar(select(func.count()).select_from(ExternalEvent).where(*where)) or 0
    rows = session.scalars(select(ExternalEvent).where(*where).order_by(ExternalEvent.id.desc()).limit(limit).offset(offset))
    return list(rows), total


@dataclass(frozen=True)
class StartedRun:
    dag_id: str
    run_id: str
    state: str | None  # None once the run was deleted


@dataclass(frozen=True)
class TriggerFailure:
    dag_id: str
    reason: str
    at: datetime


def outcomes(session: Session, pks: Iterable[int]) -> tuple[dict[int, list[StartedRun]], dict[int, list[TriggerFailure]]]:
    """For each event: the runs it started, and the DAGs whose trigger failed on it."""
    pks = list(pks)
    runs: dict[int, list[StartedRun]] = {pk: [] for pk in pks}
    failures: dict[int, list[TriggerFailure]] = {pk: [] for pk in pks}
    if not pks:
        return runs, failures
    linked = session.execute(
        select(ExternalEventRun.event_pk, ExternalEventRun.dag_id, ExternalEventRun.run_id, DagRun.state)
        .outerjoin(DagRun, (DagRun.dag_id == ExternalEventRun.dag_id) & (DagRun.run_id == ExternalEventRun.run_id))
        .where(ExternalEventRun.event_pk.in_(pks))
        .order_by(ExternalEventRun.event_pk, ExternalEventRun.dag_id)
    )
    for pk, dag_id, run_id, state in linked:
        runs[pk].append(StartedRun(dag_id, run_id, state))
    # DAG-level rows (no run) of known DAGs: the event log's (dag_id, run_id) index finds them
    failed = session.execute(
        select(Event.dag_id, Event.reason, Event.at, Event.payload["external_event"].as_integer())
        .where(
            Event.dag_id.in_(select(Dag.dag_id)), Event.run_id.is_(None), Event.kind == TRIGGER_FAILED,
            Event.payload["external_event"].as_integer().in_(pks),
        )
        .order_by(Event.id)
    )
    for dag_id, reason, at, pk in failed:
        failures[pk].append(TriggerFailure(dag_id, reason or "", at))
    return runs, failures
