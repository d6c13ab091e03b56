"""The event_wait table: what each WaitForEvent try waits for, and the outside event that matched it.

Every write goes through here. The scheduler that drives the run registers the wait and settles
its task; whichever scheduler processes the outside events matches them against the waits (in
the same pass that matches them against the DAGs' triggers), so a run on another scheduler hears
its event too. The decisions are pure (orchestrator.core.event_waits).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from orchestrator.core.event_waits import EventWaitSpec, document, event_keys, is_glob, matches, wait_key
from orchestrator.store.models import EventWait, ExternalEvent, TaskInstance

log = logging.getLogger(__name__)

WAITING = "waiting"
MATCHED = "matched"
TIMED_OUT = "timed_out"
CLOSED = "closed"
CHUNK = 500  # values per IN (...): well under SQLite's limit on bound parameters

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class NewWait:
    """A try that begins to wait, with its run's params."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    spec: EventWaitSpec
    params: dict[str, Any]


def register(session: Session, new: Sequence[NewWait], now: datetime) -> list[EventWait]:
    """Record the waits; each matches only events stored after this (a larger id)."""
    if not new:
        return []
    after = session.scalar(select(func.max(ExternalEvent.id))) or 0
    rows = [
        EventWait(
            dag_id=w.dag_id, run_id=w.run_id, task_id=w.task_id, map_index=-1, try_number=w.try_number, type=w.spec.type,
            is_glob=is_glob(w.spec.type), match=w.spec.match, params=w.params,
            corr_key=None if is_glob(w.spec.type) else wait_key(w.spec.match, w.params), after_event_id=after, started_at=now,
            timeout_at=None if w.spec.timeout is None else now + timedelta(seconds=w.spec.timeout), state=WAITING,
        )
        for w in new
    ]
    session.add_all(rows)
    session.flush()
    return rows


def match(session: Session, events: Sequence[ExternalEvent], now: datetime) -> int:
    """Match outside events (oldest first) against the waiting waits; each wait takes the first
    event after it began that fits it. Returns how many waits matched.

    A few indexed queries however many waits there are: waits with a correlation key are found
    by the keys of the events' fields, the others by the events' types, globs by their flag.
    """
    if not events:
        return 0
    ordered = sorted(events, key=lambda e: e.id)
    docs = {e.id: document(e.type, e.payload, e.event_id) for e in ordered}
    by_type: dict[str, list[ExternalEvent]] = {}
    by_key: dict[str, list[ExternalEvent]] = {}
    unkeyed_types: set[str] = set()  # types with an event too large to index: all their waits are looked at
    for e in ordered:
        by_type.setdefault(e.type, []).append(e)
        keys = event_keys(docs[e.id])
        if keys is None:
            unkeyed_types.add(e.type)
        for key in keys or ():
            by_key.setdefault(key, []).append(e)
    waiting = select(EventWait).where(EventWait.state == WAITING)
    exact = waiting.where(EventWait.is_glob.is_(False))
    types = list(by_type)
    found: dict[int, EventWait] = {}
    for part in chunks(types):
        found.update((w.id, w) for w in session.scalars(exact.where(EventWait.type.in_(part), EventWait.corr_key.is_(None))))
    for part in chunks(sorted(unkeyed_types)):
        found.update((w.id, w) for w in session.scalars(exact.where(EventWait.type.in_(part))))
    for part in chunks(list(by_key)):
        found.update((w.id, w) for w in session.scalars(exact.where(EventWait.type.in_(types), EventWait.corr_key.in_(part))))
    found.update((w.id, w) for w in session.scalars(waiting.where(EventWait.is_glob.is_(True))))
    matched = 0
    for wait in found.values():
        if wait.is_glob:
            candidates: Iterable[ExternalEvent] = (e for e in ordered if fnmatchcase(e.type, wait.type))
        elif wait.corr_key is not None and wait.type not in unkeyed_types:
            candidates = (e for e in by_key.get(wait.corr_key, ()) if e.type == wait.type)
        else:
            candidates = by_type.get(wait.type, ())
        for event in candidates:
            if event.id <= wait.after_event_id:
                continue
            try:
                fits = matches(wait.match, {**docs[event.id], "params": wait.params})
            except Exception as exc:  # noqa: BLE001 - an expression that fails on this event does not match it
                log.warning("event wait %s (%s/%s/%s): match failed on event %s: %s", wait.id, wait.dag_id, wait.run_id, wait.task_id, event.id, exc)
                continue
            if fits:
                wait.state, wait.event_pk, wait.matched_at = MATCHED, event.id, now
                matched += 1
                break
    session.flush()
    return matched


@dataclass(frozen=True)
class Matched:
    """A matched wait, its event, and whether its task still waits for it."""

    wait: EventWait
    event: ExternalEvent
    task_waits: bool


def matched(session: Session) -> list[Matched]:
    """The matched waits whose tasks are not settled yet."""
    rows = session.execute(
        select(EventWait, ExternalEvent, TaskInstance.state, TaskInstance.try_number)
        .join(ExternalEvent, ExternalEvent.id == EventWait.event_pk)
        .outerjoin(TaskInstance, _same_task())
        .where(EventWait.state == MATCHED)
        .order_by(EventWait.id)
    ).all()
    return [Matched(w, e, state == "waiting" and try_number == w.try_number) for w, e, state, try_number in rows]


def _same_task() -> Any:
    return (
        (TaskInstance.dag_id == EventWait.dag_id) & (TaskInstance.run_id == EventWait.run_id)
        & (TaskInstance.task_id == EventWait.task_id) & (TaskInstance.map_index == EventWait.map_index)
    )


def time_out(session: Session, wait_id: int) -> EventWait | None:
    """The wait, now timed out, if it was still waiting (else None: an event matched it first)."""
    row = session.scalar(select(EventWait).where(EventWait.id == wait_id).with_for_update())
    if row is None or row.state != WAITING:
        return None
    row.state = TIMED_OUT
    return row


def close(session: Session, wait_ids: Iterable[int]) -> None:
    """The waits' tasks are settled (or no longer wait): nothing more happens to them."""
    for part in chunks(sorted(set(wait_ids))):
        session.execute(update(EventWait).where(EventWait.id.in_(part)).values(state=CLOSED))


def of_tasks(session: Session, tasks: Iterable[tuple[str, str, str, int]]) -> list[EventWait]:
    """The open waits (waiting or matched) of these (dag_id, run_id, task_id, try_number)."""
    wanted = set(tasks)
    dag_ids = sorted({dag_id for dag_id, _, _, _ in wanted})
    rows: list[EventWait] = []
    for part in chunks(sorted({run_id for _, run_id, _, _ in wanted})):
        # (dag_id, run_id) lead the table's unique index
        stmt = select(EventWait).where(EventWait.dag_id.in_(dag_ids), EventWait.run_id.in_(part), EventWait.state.in_((WAITING, MATCHED)))
        rows.extend(w for w in session.scalars(stmt) if (w.dag_id, w.run_id, w.task_id, w.try_number) in wanted)
    return rows
