"""Which unstarted runs a poll starts: a pure choice, then the rows claimed in the store.

`pick` decides from this scheduler's copy of the queue (scheduler/change_feed.py) and the DAGs'
limits; `claim` locks the rows of those still queued or waiting, so two schedulers never start
the same run and a run a user cancelled meanwhile is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.models import DagRun
from orchestrator.states import RunState
from orchestrator.store.runs import RunKey
from scheduler.change_feed import QueuedRun


@dataclass(frozen=True)
class Pick:
    """The runs to admit, oldest first, and whether more could have started (the next poll comes at once)."""

    runs: list[QueuedRun]
    more: bool


def pick(
    queued: Iterable[QueuedRun], limits: Mapping[str, int | None], running: Mapping[str, int], cap: int, *, recheck_waiting: bool
) -> Pick:
    """Up to `cap` of the `queued` runs (oldest first) whose DAG is in `limits` (startable: known,
    not paused; its max_active_runs or None) and has room beside its `running` runs. A waiting
    run already holds its slot; it is looked at again only with `recheck_waiting`."""
    counts = dict(running)
    chosen: list[QueuedRun] = []
    for q in queued:
        holds_slot = q.state == RunState.WAITING.value
        if q.dag_id not in limits or (holds_slot and not recheck_waiting):
            continue
        limit = limits[q.dag_id]
        if not holds_slot and limit is not None and counts.get(q.dag_id, 0) >= limit:
            continue
        if len(chosen) >= cap:
            return Pick(chosen, True)
        chosen.append(q)
        if not holds_slot:
            counts[q.dag_id] = counts.get(q.dag_id, 0) + 1
    return Pick(chosen, False)


def claim(session: Session, runs: list[QueuedRun]) -> dict[RunKey, DagRun]:
    """The rows of these runs that are still queued or waiting, locked for this transaction
    (PostgreSQL: rows another transaction holds are skipped; the next poll looks at them again)."""
    wanted = {q.key for q in runs}
    if not wanted:
        return {}
    rows = session.scalars(
        select(DagRun)
        .where(DagRun.dag_id.in_({k.dag_id for k in wanted}), DagRun.run_id.in_({k.run_id for k in wanted}))
        .where(DagRun.state.in_((RunState.QUEUED.value, RunState.WAITING.value)))
        .with_for_update(skip_locked=True)
    )
    return {key: row for row in rows if (key := RunKey(row.dag_id, row.run_id)) in wanted}
