"""Per-DAG figures for /metrics, built up from the event log one batch of new events at a time.

Why from events: the event table is append-only with an increasing id, so each scrape reads only
the events committed since the last one (orchestrator.store.event_feed.EventCursor, which also
picks up ids that committed late) and looks up the few runs and tries those events name, by
primary key. A scrape's cost follows what happened since the previous scrape, not history.

A new web process starts with the last `REPLAY_EVENTS` events, at most `BATCHES_PER_SCRAPE`
batches per scrape, so its counters are filled after a restart without one long first scrape;
Prometheus treats the restart as a counter reset, as for any process.

`DagFigures.add` is pure (rows and the looked-up times in, figures updated); `EventMetrics` is
the thin I/O part that reads and keeps the cursor.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.core.states import TaskState
from orchestrator.store import event_feed
from orchestrator.store.events import DEADLINE_MISSED

REPLAY_EVENTS = 20_000
BATCH = 2000
BATCHES_PER_SCRAPE = 20

RUN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 3 * 3600.0, 12 * 3600.0)
TASK_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)



@dataclass
class Histogram:
    """Cumulative-ready bucket counts (one per bound, then +Inf), their sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count) pairs as Prometheus wants them, +Inf last."""
        out, running = [], 0
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass
class DagFigures:
    """What the event log has said so far, per DAG (and per breaker key for trips)."""

    run_durations: dict[str, Histogram] = field(default_factory=dict)
    task_durations: dict[str, Histogram] = field(default_factory=dict)
    lateness: dict[str, Histogram] = field(default_factory=dict)
    runs_finished: Counter[tuple[str, str]] = field(default_factory=Counter)  # (dag_id, state)
    retries: Counter[str] = field(default_factory=Counter)
    deadline_misses: Counter[str] = field(default_factory=Counter)
    breaker_trips: Counter[str] = field(default_factory=Counter)  # breaker key

    def add(
        self,
        rows: Iterable[Any],
        runs: dict[tuple[str, str], Any],
        tries: dict[tuple[str, str, str, int, int], tuple[datetime | None, datetime | None]],
    ) -> None:
        """Count `rows` (event feed rows), with the runs and tries they name already looked up
        (`event_feed.keys_named` says which)."""
        for row in rows:
            dag_id = row.dag_id
            if row.kind == "circuit.open":
                self.breaker_trips[(row.payload or {}).get("key", "?")] += 1
            elif row.kind == DEADLINE_MISSED and dag_id is not None:
                self.deadline_misses[dag_id] += 1
            elif event_feed.is_run_end(row):
                self.runs_finished[(dag_id, row.to_state)] += 1
                run = runs.get((dag_id, row.run_id))
                if run is not None and run.start_date is not None and run.end_date is not None:
                    self._hist(self.run_durations, dag_id, RUN_BUCKETS).observe(_seconds(run.start_date, run.end_date))
            elif event_feed.is_run_start(row):
                run = runs.get((dag_id, row.run_id))
                if run is not None and run.start_date is not None:
                    self._hist(self.lateness, dag_id, LATENESS_BUCKETS).observe(_seconds(due_at(run), run.start_date))
            elif event_feed.is_try_end(row):
                if row.to_state == TaskState.UP_FOR_RETRY.value:
                    self.retries[dag_id] += 1
                start, end = tries.get(event_feed.try_key(row), (None, None))
                if start is not None and end is not None:
                    self._hist(self.task_durations, dag_id, TASK_BUCKETS).observe(_seconds(start, end))

    @staticmethod
    def _hist(table: dict[str, Histogram], dag_id: str, bounds: tuple[float, ...]) -> Histogram:
        if dag_id not in table:
            table[dag_id] = Histogram(bounds)
        return table[dag_id]


def due_at(run: Any) -> datetime:
    """When a run was due: a scheduled run when its data interval ended, any other when it was queued."""
    if run.run_type == "scheduled" and run.data_interval_end is not None:
        return run.data_interval_end  # type: ignore[no-any-return]
    return run.queued_at  # type: ignore[no-any-return]


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


class EventMetrics:
    """The figures of one web process and the cursor they were read up to (thread-safe)."""

    def __init__(self) -> None:
        self.figures = DagFigures()
        self._cursor: event_feed.EventCursor | None = None
        self._lock = threading.Lock()

    def advance(self, session: Session) -> DagFigures:
        """Read what was committed since the last call (a bounded number of batches) and count it."""
        with self._lock:
            if self._cursor is None:
                start = max(event_feed.last_event_id(session) - REPLAY_EVENTS, 0)
                self._cursor = event_feed.EventCursor(position=start, batch=BATCH)
            for _ in range(BATCHES_PER_SCRAPE):
                rows = self._cursor.read(session)
                if rows:
                    run_keys, try_keys = event_feed.keys_named(rows)
                    self.figures.add(rows, event_feed.run_times(session, run_keys), event_feed.try_times(session, try_keys))
                if len(rows) < BATCH:
                    break
            return copy.deepcopy(self.figures)  # the scrape reads its own copy while others count on
