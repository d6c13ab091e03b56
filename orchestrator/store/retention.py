"""Purging old finished runs and the rows kept per run, in short transactions.

What goes with a run: its task instances, tries (their logs live in the try rows), events,
approval requests and their decisions, event waits and the links to the outside events that
started it. What stays, and why:

- asset events: they are the assets' history, and an asset-scheduled DAG that has not consumed an
  update yet (paused, say) would lose it;
- idempotency keys: they promise that a later try with the same key is not run again, a promise
  that outlives the run that earned it;
- outside events themselves: one event may have started runs of several DAGs;
- audit rows, unless asked (`include_audit`): those older than the cutoff go, whatever their target.

Runs are deleted whole, a chunk of runs per transaction: the chunk's runs are selected (and locked
on PostgreSQL, skipping locked ones) with the state and age test repeated, so a run that a user
clears back to life between chunks is never touched. The chunk size adapts to keep each
transaction within a time budget, so a large purge never holds the writer lock for long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.states import RUN_TERMINAL
from orchestrator.store.models import (
    ApprovalDecision,
    ApprovalRequest,
    AuditLog,
    Dag,
    DagRun,
    Event,
    EventWait,
    ExternalEventRun,
    TaskInstance,
    TaskTry,
)

PER_RUN_TABLES: tuple[Any, ...] = (TaskInstance, TaskTry, Event, ApprovalRequest, EventWait, ExternalEventRun)
"""Tables keyed by (dag_id, run_id) whose rows go with their run (approval decisions go through their request)."""

TABLE_ORDER = ("dag_run", "task_instance", "task_try", "event", "approval_request", "approval_decision", "event_wait", "external_event_run")


@dataclass(frozen=True)
class Selection:
    """Which runs a clean removes: finished before `cutoff`, of `dag_ids` (all when empty) but not of `exclude_dag_ids`."""

    cutoff: datetime
    dag_ids: tuple[str, ...] = ()
    exclude_dag_ids: tuple[str, ...] = ()
    include_audit: bool = False

    def runs(self) -> ColumnElement[bool]:
        """The SQL test a purgeable dag_run row passes."""
        finished_at = func.coalesce(DagRun.end_date, DagRun.queued_at)
        test = and_(DagRun.state.in_([s.value for s in RUN_TERMINAL]), finished_at < self.cutoff)
        if self.dag_ids:
            test = and_(test, DagRun.dag_id.in_(self.dag_ids))
        if self.exclude_dag_ids:
            test = and_(test, DagRun.dag_id.not_in(self.exclude_dag_ids))
        return test


@dataclass
class PurgeReport:
    """Rows removed per table, and how many transactions it took."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_ORDER, 0))
    chunks: int = 0

    def add(self, counts: dict[str, int]) -> None:
        for table, n in counts.items():
            self.rows[table] = self.rows.get(table, 0) + n


def _of_purgeable_run(table: Any, selection: Selection) -> ColumnElement[bool]:
    return exists().where(DagRun.dag_id == table.dag_id, DagRun.run_id == table.run_id, selection.runs())


def count(session: Session, selection: Selection) -> dict[str, int]:
    """What a purge of `selection` would remove now, per table (the dry run)."""
    counts = {"dag_run": session.scalar(select(func.count()).select_from(DagRun).where(selection.runs())) or 0}
    for table in PER_RUN_TABLES:
        counts[table.__tablename__] = session.scalar(select(func.count()).select_from(table).where(_of_purgeable_run(table, selection))) or 0
    requests = select(ApprovalRequest.id).where(_of_purgeable_run(ApprovalRequest, selection))
    counts["approval_decision"] = session.scalar(select(func.count()).select_from(ApprovalDecision).where(ApprovalDecision.request_id.in_(requests))) or 0
    if selection.include_audit:
        counts["audit_log"] = session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.at < selection.cutoff)) or 0
    return counts


def purge_runs_chunk(session: Session, selection: Selection, limit: int, log_refs: list[str] | None = None) -> dict[str, int]:
    """Delete up to `limit` purgeable runs with their rows, in the caller's transaction; the
    references of their logs in the log store are appended to `log_refs`, to delete once committed."""
    keys = session.execute(
        select(DagRun.dag_id, DagRun.run_id)
        .where(selection.runs())
        .order_by(DagRun.dag_id, DagRun.run_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    counts = dict.fromkeys(TABLE_ORDER, 0)
    by_dag: dict[str, list[str]] = {}
    for dag_id, run_id in keys:
        by_dag.setdefault(dag_id, []).append(run_id)
    for dag_id, run_ids in by_dag.items():
        # dag_id = ? AND run_id IN (...) walks the primary-key index on both databases
        request_ids = session.scalars(
            select(ApprovalRequest.id).where(ApprovalRequest.dag_id == dag_id, ApprovalRequest.run_id.in_(run_ids))
        ).all()
        if request_ids:
            counts["approval_decision"] += _deleted(session, delete(ApprovalDecision).where(ApprovalDecision.request_id.in_(request_ids)))
        if log_refs is not None:
            log_refs.extend(session.scalars(
                select(TaskTry.log_ref).where(TaskTry.dag_id == dag_id, TaskTry.run_id.in_(run_ids), TaskTry.log_ref.is_not(None))
            ))
        for table in PER_RUN_TABLES:
            counts[table.__tablename__] += _deleted(session, delete(table).where(table.dag_id == dag_id, table.run_id.in_(run_ids)))
        counts["dag_run"] += _deleted(session, delete(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id.in_(run_ids)))
    return counts


def purge_audit_chunk(session: Session, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` audit rows older than `cutoff`, oldest first, in the caller's transaction."""
    ids = session.scalars(select(AuditLog.id).where(AuditLog.at < cutoff).order_by(AuditLog.id).limit(limit)).all()
    return _deleted(session, delete(AuditLog).where(AuditLog.id.in_(ids))) if ids else 0


def _deleted(session: Session, statement: Any) -> int:
    return int(session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0)


@dataclass(frozen=True)
class Pacing:
    """How big the chunks are and how long each transaction may hold the writer.

    The chunk starts at `first` runs, halves when a transaction overran `budget_s` and doubles (up
    to `most`) when it took under a quarter of it; `pause_s` between chunks lets other writers in.
    """

    first: int = 100
    most: int = 2000
    budget_s: float = 0.1
    pause_s: float = 0.01
    audit_rows_per_run: int = 20
    """An audit row is smaller than a run with its rows: an audit chunk is this many times a run chunk."""


def next_chunk(size: int, elapsed_s: float, pacing: Pacing) -> int:
    """The next chunk size after a transaction of `size` took `elapsed_s`."""
    if elapsed_s > pacing.budget_s:
        return max(1, size // 2)
    if elapsed_s < pacing.budget_s / 4:
        return min(pacing.most, size * 2)
    return size


def purge(
    sessions: sessionmaker[Session],
    selection: Selection,
    *,
    pacing: Pacing = Pacing(),
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    delete_logs: Callable[[list[str]], None] | None = None,
) -> PurgeReport:
    """Remove everything `selection` names, a chunk per transaction, until nothing is left (or `stop()`).

    `delete_logs` gets the log-store references of each chunk's tries once the chunk committed
    (a crash before leaves files without rows, never rows without files).
    """
    report = PurgeReport()
    log_refs: list[str] = []
    steps: list[Callable[[Session, int], dict[str, int]]] = [lambda s, n: purge_runs_chunk(s, selection, n, log_refs)]
    if selection.include_audit:
        report.rows["audit_log"] = 0
        steps.append(lambda s, n: {"audit_log": purge_audit_chunk(s, selection.cutoff, n * pacing.audit_rows_per_run)})
    for step in steps:
        size = pacing.first
        while not stop():
            started = clock()
            with sessions.begin() as session:
                counts = step(session, size)
            report.chunks += 1
            report.add(counts)
            if log_refs and delete_logs is not None:
                delete_logs(list(log_refs))
            log_refs.clear()
            if not any(counts.values()):
                break
            size = next_chunk(size, clock() - started, pacing)
            time.sleep(pacing.pause_s)
    return report


def declared_retention(session: Session) -> dict[str, float]:
    """The DAGs that declare their own retention (`log_retention`, a workflow's executionLog), in seconds."""
    declared = {}
    for dag_id, spec in session.execute(select(Dag.dag_id, Dag.spec).where(Dag.is_active.is_(True))):
        seconds = (spec or {}).get("log_retention_s")
        if isinstance(seconds, (int, float)) and seconds > 0:
            declared[dag_id] = float(seconds)
    return declared


def known_dag_ids(session: Session, dag_ids: Iterable[str]) -> set[str]:
    """Those of `dag_ids` that have a DAG row or any run (a removed DAG's runs may still be cleaned)."""
    wanted: Sequence[str] = list(dag_ids)
    found = set(session.scalars(select(Dag.dag_id).where(Dag.dag_id.in_(wanted))))
    found |= set(session.scalars(select(DagRun.dag_id).where(DagRun.dag_id.in_(wanted)).distinct()))
    return found
