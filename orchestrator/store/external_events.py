"""The outside-event tables: external_event (what outside systems posted) and external_event_run
(the runs each started). Every write goes through here, and the reads of the API and the UI."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.errors import NotFoundError, OrchestratorError
from orchestrator.store import changes as change_store
from orchestrator.store import events
from orchestrator.store.event_waits import chunks
from orchestrator.store.models import Dag, DagRun, Event, ExternalEvent, ExternalEventRun

POST_CHUNK = 500
"""Events stored per transaction by `post_many`: a few tens of milliseconds of the database's writer."""

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
    change_store.touch(session)  # the schedulers match it at their next check, not their next full poll
    return row, True


@dataclass(frozen=True)
class NewEvent:
    """An outside event to store: what `POST /api/v1/events` takes."""

    type: str
    payload: dict[str, Any]
    event_id: str | None = None


class EventBatchError(OrchestratorError):
    """Storing a batch of events failed part-way: `stored` events (the first ones, in order) are kept."""

    def __init__(self, stored: int, total: int, cause: Exception) -> None:
        super().__init__(
            f"stored {stored} of {total} events, then failed: {cause}. The first {stored} are kept; post the rest again "
            "(events with an id that was stored already change nothing)"
        )
        self.stored = stored


def post_many(
    sessions: sessionmaker[Session], items: Sequence[NewEvent], now: datetime, actor: str, *,
    chunk: int = POST_CHUNK, on_chunk: Callable[[Session, list[int]], None] | None = None,
) -> list[tuple[int, bool]]:
    """Store many events, `chunk` per transaction, so that no transaction holds the database's
    writer for long (10,000 events in one transaction held the schedulers' polls for seconds).

    Each chunk is one executemany and commits whole; `on_chunk` (an audit) runs in its
    transaction with the ids it stored. An id given twice, or stored before, is not stored again.
    Returns (stored id, created) for each item, in order. If a chunk fails, the chunks before it
    stay stored and EventBatchError says how many items that is.
    """
    out: list[tuple[int, bool]] = []
    for part in chunks(items, chunk):
        try:
            with sessions.begin() as session:
                out.extend(_post_chunk(session, part, now, actor, on_chunk))
        except SQLAlchemyError as exc:
            raise EventBatchError(len(out), len(items), exc) from exc
    return out


def _post_chunk(
    session: Session, part: Sequence[NewEvent], now: datetime, actor: str, on_chunk: Callable[[Session, list[int]], None] | None
) -> list[tuple[int, bool]]:
    ids = {e.event_id for e in part if e.event_id is not None}
    known: dict[str, int] = {}
    if ids:
        known = {eid: pk for eid, pk in session.execute(select(ExternalEvent.event_id, ExternalEvent.id).where(ExternalEvent.event_id.in_(ids)))}
    fresh: list[int] = []  # positions in `part` to insert
    first: dict[str, int] = {}  # an id given twice in the batch: the position that is stored
    for i, e in enumerate(part):
        if e.event_id is None:
            fresh.append(i)
        elif e.event_id not in known and e.event_id not in first:
            first[e.event_id] = i
            fresh.append(i)
    stored: dict[int, int] = {}
    if fresh:
        rows = [{"event_id": part[i].event_id, "type": part[i].type, "payload": part[i].payload, "received_at": now, "actor": actor} for i in fresh]
        pks = list(session.scalars(insert(ExternalEvent).returning(ExternalEvent.id, sort_by_parameter_order=True), rows))
        stored = dict(zip(fresh, pks, strict=True))
        change_store.touch(session)
        if on_chunk is not None:
            on_chunk(session, pks)
    out: list[tuple[int, bool]] = []
    for i, e in enumerate(part):
        if i in stored:
            out.append((stored[i], True))
        else:
            assert e.event_id is not None
            out.append((known[e.event_id] if e.event_id in known else stored[first[e.event_id]], False))
    return out


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
