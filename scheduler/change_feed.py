"""What a scheduler reads of the runs at each poll: only those changed since its cursor.

The store stamps every run that a commit queues or changes for the schedulers, and bumps one
counter (orchestrator.store.changes, where the ordering argument lives). `ChangeFeed.read` takes
the counter's value, reads the runs stamped since the last read, and keeps this scheduler's copy
of the queued and waiting runs up to date from them. A poll when nothing changed reads the
counter and no run. The first read (and the one after a rolled-back poll) reads every active run.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from orchestrator.core.states import RUN_ACTIVE, RunState
from orchestrator.store import changes as change_store
from orchestrator.store.models import DagRun
from orchestrator.store.runs import RunKey

_UNSTARTED = (RunState.QUEUED.value, RunState.WAITING.value)


@dataclass(frozen=True)
class QueuedRun:
    """A run waiting to start: queued, or waiting on its dependencies (which holds its slot)."""

    dag_id: str
    run_id: str
    state: str
    logical_date: datetime

    @property
    def key(self) -> RunKey:
        return RunKey(self.dag_id, self.run_id)


@dataclass(frozen=True)
class Changes:
    """The runs read by one poll; `everything`: all active runs (a first read), not just the changed ones."""

    rows: list[Row[Any]]
    everything: bool


class ChangeFeed:
    """This scheduler's cursor over the change counter and its copy of the unstarted runs."""

    def __init__(self) -> None:
        self.cursor: int | None = None
        self.queued: dict[RunKey, QueuedRun] = {}
        self._own: int | None = None  # the stamp of this scheduler's last poll: it knows those changes
        self._noted: set[tuple[str, str]] = set()  # the runs this transaction touched, already noted

    def reset(self) -> None:
        """Read every active run at the next poll (what this copy says may be wrong: a poll was rolled back)."""
        self.cursor = self._own = None

    def _base(self) -> int | None:
        """The cursor, past this scheduler's own last commit when no other came between."""
        if self.cursor is not None and self._own == self.cursor + 1:
            return self._own
        return self.cursor

    def moved(self, seq: int) -> bool:
        """Whether a counter value read elsewhere says there is something to read."""
        base = self._base()
        return base is not None and seq > base

    def read(self, session: Session) -> Changes:
        """The runs changed since the last read, those this transaction queued or changed so far
        included, but not those of this scheduler's own last commit (it knows them)."""
        upto = change_store.current(session)
        after = self._base()
        if after is None:
            rows = list(session.execute(select(*change_store.RUN_COLUMNS).where(DagRun.state.in_([s.value for s in RUN_ACTIVE]))).all())
            self.queued.clear()
            everything = True
        else:
            rows = change_store.changed_runs(session, after, upto, skip=self._own)
            everything = False
        self.cursor, self._own = upto, None
        self._noted = change_store.pending_runs(session)  # stamped when this transaction commits, past `upto`
        if self._noted:
            rows.extend(change_store.runs_by_key(session, self._noted))
        self.note(rows)
        return Changes(rows, everything)

    def finish(self, session: Session, tracked: Container[RunKey]) -> None:
        """Before the poll's transaction commits: note the runs it touched after `read` (child runs
        a trigger task created; not those this scheduler moved itself, which its batch writes only
        after this, nor those it drives), and learn its stamp, so the next read skips what this one knows."""
        rest = {k for k in change_store.pending_runs(session) - self._noted if RunKey(*k) not in tracked}
        if rest:
            self.note(change_store.runs_by_key(session, rest))
        session.info[change_store.ON_STAMP] = self._stamped

    def _stamped(self, seq: int) -> None:
        self._own = seq

    def note(self, rows: Iterable[Row[Any]]) -> None:
        """Keep the copy of the unstarted runs in step with these rows."""
        for row in rows:
            key = RunKey(row.dag_id, row.run_id)
            if row.state in _UNSTARTED:
                self.queued[key] = QueuedRun(row.dag_id, row.run_id, row.state, row.logical_date)
            else:
                self.queued.pop(key, None)

    def unstarted(self, tracked: Container[RunKey]) -> list[QueuedRun]:
        """The queued and waiting runs no scheduler drives yet, oldest logical date first."""
        return sorted((q for q in self.queued.values() if q.key not in tracked), key=lambda q: (q.logical_date, q.dag_id, q.run_id))

    def set_state(self, key: RunKey, state: RunState) -> None:
        """This scheduler moved an unstarted run: it stays in the copy while queued or waiting."""
        self._noted.add((key.dag_id, key.run_id))
        entry = self.queued.get(key)
        if entry is None:
            return
        if state.value in _UNSTARTED:
            self.queued[key] = QueuedRun(entry.dag_id, entry.run_id, state.value, entry.logical_date)
        else:
            del self.queued[key]
