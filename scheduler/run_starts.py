"""Which unstarted runs a poll starts: a pure choice, then the rows claimed in the store.

`pick` decides from this scheduler's copy of the queue (scheduler/change_feed.py) and the DAGs'
limits; `claim` locks the rows of those still queued or waiting, so two schedulers never start
the same run and a run a user cancelled meanwhile is left alone; `start_queued` does both and
starts the runs whose dependencies are met.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.spec import DagSpec
from orchestrator.core.states import RunState
from orchestrator.store import changes as change_store
from orchestrator.store.models import Dag, DagRun
from orchestrator.store.runs import Batch, RunKey
from scheduler import dependencies
from scheduler.active_runs import ActiveRun, start_runs
from scheduler.change_feed import ChangeFeed, QueuedRun
from scheduler.spec_cache import SpecCache


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


@dataclass(frozen=True)
class Started:
    """The runs a poll started (to drive), and whether more could have started."""

    runs: list[ActiveRun]
    more: bool


def start_queued(
    session: Session, queued: list[QueuedRun], batch: Batch, now: datetime, *, specs: SpecCache, feed: ChangeFeed,
    driven: Iterable[RunKey], owner: int | None, cap: int, recheck_waiting: bool,
) -> Started:
    """Start queued and waiting runs, oldest first, within max_active_runs (beside the `driven`
    ones); those whose depends_on are not met wait (a waiting run holds its slot: see
    states.RUN_ACTIVE), and are looked at again with `recheck_waiting` (every full poll).

    A few statements however many runs start: 1,000 cron runs fall due together. At most `cap`
    runs start; the scheduler `owner` then drives them (dag_run.owner_job_id).
    """
    # the columns it needs, not the specs (JSON, parsed once per version into the cache)
    dags = session.execute(
        select(Dag.dag_id, Dag.version_hash).where(Dag.dag_id.in_({q.dag_id for q in queued}), Dag.is_paused.is_(False))
    ).all()
    specs.load(session, {(d.dag_id, d.version_hash) for d in dags})
    limits = {d.dag_id: specs.get(session, d.dag_id, d.version_hash).max_active_runs for d in dags}
    running: dict[str, int] = {}
    for dag_id in [k.dag_id for k in driven] + [q.dag_id for q in queued if q.state == RunState.WAITING.value]:
        running[dag_id] = running.get(dag_id, 0) + 1
    chosen = pick(queued, limits, running, cap, recheck_waiting=recheck_waiting)
    rows = claim(session, chosen.runs)
    specs.load(session, {(row.dag_id, row.version_hash) for row in rows.values()})
    starting: list[tuple[DagRun, DagSpec]] = []
    moved: list[tuple[str, str]] = []
    for q in chosen.runs:
        row = rows.get(q.key)
        if row is None:  # started by another scheduler, cancelled, or locked by a writer: the feed tells
            continue
        spec = specs.get(session, q.dag_id, row.version_hash)
        outcome = dependencies.admit(session, row, spec, batch, now)
        if outcome is RunState.RUNNING:
            starting.append((row, spec))
        if outcome.value != q.state:
            moved.append((q.dag_id, q.run_id))
        feed.set_state(q.key, outcome)
    started = start_runs(session, starting, batch, now, owner=owner)
    # every move of an unstarted run is stamped, so the other schedulers' copies of the queue follow
    change_store.touch(session, moved)
    return Started(started, chosen.more)
