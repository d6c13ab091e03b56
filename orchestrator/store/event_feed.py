"""Reading the event log forward from a cursor: what live pages and /metrics follow. Read-only.

The event table is append-only with an increasing id, so "everything after id N" is an index
range on the primary key: the cost of a read grows with what is new, never with history.

One caveat: on PostgreSQL ids come from a sequence when a row is inserted, not when its
transaction commits, so id 41 may become visible after id 42. A reader that only kept "the
highest id seen" would skip 41 for good. `EventCursor` therefore remembers the ids it jumped
over (gaps) and asks for them again on its next reads, for `GAP_WAIT_S`; a gap older than that
was a rolled-back insert (sequences never give an id back) and is forgotten. On SQLite there is
one writer at a time and gaps only come from rollbacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, case, false, func, null, or_, select
from sqlalchemy.orm import Session

from orchestrator.core.states import RUN_TERMINAL, TASK_DUE_AGAIN, RunState, TaskState
from orchestrator.store.models import DagRun, Event, TaskTry

GAP_WAIT_S = 60.0
"""How long a skipped id is looked for again: far longer than any transaction of the scheduler."""
MAX_GAPS = 10_000
"""Gaps remembered at most (a burst of rollbacks must not make every read ask for thousands of ids)."""

FEED_COLUMNS = (
    Event.id, Event.kind, Event.dag_id, Event.run_id, Event.task_id, Event.map_index, Event.try_number, Event.from_state,
    Event.to_state,
    # only a breaker's events need their payload (its key): decoding every payload would cost more than the rest
    case((Event.kind.startswith("circuit."), Event.payload), else_=null()).label("payload"),
)


def last_event_id(session: Session) -> int:
    """The highest event id (0 for an empty log): where a reader that wants only new events starts."""
    return int(session.scalar(select(func.max(Event.id))) or 0)


def events_after(session: Session, after_id: int, *, also: Sequence[int] = (), limit: int = 1000) -> list[Row[Any]]:
    """Events with an id above `after_id` (at most `limit`, oldest first), plus those of the ids
    in `also` that exist now: the feed's columns only."""
    where = Event.id > after_id
    if also:
        where = or_(where, Event.id.in_(list(also)))
    return list(session.execute(select(*FEED_COLUMNS).where(where).order_by(Event.id).limit(limit)).all())


@dataclass
class EventCursor:
    """A position in the event log that never loses a late-committed event (see the module doc).

    `read` is not thread-safe: one owner calls it (the live hub's thread, the metrics lock).
    """

    position: int = 0
    batch: int = 1000
    clock: Callable[[], float] = time.monotonic
    gaps: dict[int, float] = field(default_factory=dict)  # skipped id -> when it was first skipped

    def read(self, session: Session) -> list[Row[Any]]:
        """The events not seen yet, oldest first (gaps that filled in come first, being older)."""
        now = self.clock()
        for gap in [g for g, since in self.gaps.items() if now - since > GAP_WAIT_S]:
            del self.gaps[gap]
        rows = events_after(session, self.position, also=sorted(self.gaps), limit=self.batch + len(self.gaps))
        for row in rows:
            if row.id in self.gaps:
                del self.gaps[row.id]
            elif row.id > self.position:
                if row.id > self.position + 1:
                    self._skip(range(self.position + 1, row.id), now)
                self.position = row.id
        return rows

    def _skip(self, ids: range, now: float) -> None:
        for missing in ids[-MAX_GAPS:]:
            self.gaps[missing] = now
        while len(self.gaps) > MAX_GAPS:
            del self.gaps[min(self.gaps)]


RUN_ENDS = frozenset(s.value for s in RUN_TERMINAL)
TRY_ENDS = frozenset(s.value for s in (TaskState.SUCCESS, TaskState.FAILED, *TASK_DUE_AGAIN))
"""The task states a try ends in (a try ended by a failure that is retried ends in up_for_retry, a
sensor's poke that found its condition not met in up_for_reschedule)."""
RunKey = tuple[str, str]
TryKey = tuple[str, str, str, int, int]


def is_run_end(row: Any) -> bool:
    return bool(row.to_state in RUN_ENDS and row.kind.startswith("run.") and row.dag_id and row.run_id)


_RUN_STARTED = f"run.{RunState.RUNNING.value}"


def is_run_start(row: Any) -> bool:
    return bool(row.kind == _RUN_STARTED and row.dag_id and row.run_id)


def is_try_end(row: Any) -> bool:
    return bool(row.to_state in TRY_ENDS and row.kind.startswith("task.") and row.try_number and row.dag_id and row.run_id)


def try_key(row: Any) -> TryKey:
    return (row.dag_id, row.run_id, row.task_id, row.map_index if row.map_index is not None else -1, row.try_number)


def keys_named(rows: Sequence[Any]) -> tuple[list[RunKey], list[TryKey]]:
    """The runs that started or ended and the tries that ended in `rows`: whose times to look up."""
    runs = [(r.dag_id, r.run_id) for r in rows if is_run_end(r) or is_run_start(r)]
    return runs, [try_key(r) for r in rows if is_try_end(r)]


def of_runs(model: Any, keys: Iterable[RunKey]) -> ColumnElement[bool]:
    """WHERE the row belongs to one of these (dag_id, run_id): one `dag_id = ? AND run_id IN (...)`
    per DAG, which the primary-key index answers (a row-value IN is not, on SQLite)."""
    by_dag: dict[str, set[str]] = {}
    for dag_id, run_id in keys:
        by_dag.setdefault(dag_id, set()).add(run_id)
    return or_(false(), *(and_(model.dag_id == d, model.run_id.in_(sorted(r))) for d, r in sorted(by_dag.items())))


def run_times(session: Session, keys: Sequence[RunKey]) -> dict[RunKey, Row[Any]]:
    """(dag_id, run_id) -> the run's type, start, end, due time and queued time, for the runs named."""
    if not keys:
        return {}
    stmt = select(
        DagRun.dag_id, DagRun.run_id, DagRun.run_type, DagRun.start_date, DagRun.end_date, DagRun.queued_at, DagRun.data_interval_end,
    ).where(of_runs(DagRun, keys))
    return {(r.dag_id, r.run_id): r for r in session.execute(stmt)}


def try_times(session: Session, keys: Sequence[TryKey]) -> dict[TryKey, tuple[datetime | None, datetime | None]]:
    """(dag_id, run_id, task_id, map_index, try_number) -> (start, end) of the tries named."""
    if not keys:
        return {}
    wanted = set(keys)
    cols = (TaskTry.dag_id, TaskTry.run_id, TaskTry.task_id, TaskTry.map_index, TaskTry.try_number)
    # the runs' tries by index, then the ones asked for: a run has few tries
    stmt = select(*cols, TaskTry.start_date, TaskTry.end_date).where(of_runs(TaskTry, [(k[0], k[1]) for k in wanted]))
    found = {}
    for r in session.execute(stmt):
        key = (r.dag_id, r.run_id, r.task_id, r.map_index, r.try_number)
        if key in wanted:
            found[key] = (r.start_date, r.end_date)
    return found
