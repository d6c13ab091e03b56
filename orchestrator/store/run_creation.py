"""New runs: one a person or the scheduler asks for (`create_run`), or many queued in one executemany
(`queue_runs`: the cron pass, a batch of triggers, a backfill), each with its `run.queued` event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.core.definitions import DefinitionStateError
from orchestrator.core.errors import NotFoundError, OrchestratorError
from orchestrator.core.inputs import check_run_input
from orchestrator.core.priority import check_priority
from orchestrator.core.states import RunState
from orchestrator.store import changes as change_store
from orchestrator.store import definitions as definition_store
from orchestrator.store import events
from orchestrator.store.bulk import insert_many
from orchestrator.store.models import Dag, DagRun


class RunExistsError(OrchestratorError):
    """A run with that run_id already exists for the DAG."""


@dataclass(frozen=True)
class NewRun:
    """A run to queue: what `create_run` and `queue_runs` insert."""

    dag_id: str
    run_id: str
    run_type: str
    version_hash: str
    logical_date: datetime
    data_interval: tuple[datetime, datetime] | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    priority: int = 0

    def row(self, now: datetime) -> dict[str, Any]:
        start, end = self.data_interval or (self.logical_date, self.logical_date)
        return {
            "dag_id": self.dag_id, "run_id": self.run_id, "state": RunState.QUEUED.value, "run_type": self.run_type,
            "version_hash": self.version_hash, "logical_date": self.logical_date, "data_interval_start": start,
            "data_interval_end": end, "conf": self.conf, "queued_at": now, "ext_change": 0, "change_seq": 0,
            "priority": self.priority,
        }

    def queued_event(self, now: datetime, actor: str) -> dict[str, Any]:
        return events.event(
            "run.queued", now, dag_id=self.dag_id, run_id=self.run_id, to_state="queued", actor=actor,
            payload={"run_type": self.run_type, "conf": self.conf, **({"priority": self.priority} if self.priority else {})},
        )


def runnable_dag(session: Session, dag_id: str, *, asked: bool) -> Dag:
    """The loaded DAG a new run of `dag_id` would use, or NotFoundError when there is none.

    A definition's DAG (orchestrator.core.definitions) runs only while its published version is the one
    loaded: when a person asks for the run (`asked`), DefinitionStateError says why it cannot start
    (a draft, deprecated, a newly published version not loaded yet) even before the scheduler
    unloads a deprecated one; the scheduler's own runs (cron, events, sub-workflows) go by the
    loaded DAG alone, so they never meet an error they do not expect.
    """
    dag = session.get(Dag, dag_id)
    loaded = dag is not None and dag.is_active
    why = definition_store.refusal(session, dag, dag_id) if asked or not loaded else None
    if why is not None and asked:
        raise DefinitionStateError(why)
    if dag is None or not dag.is_active:
        if why is not None:
            raise NotFoundError(f"no DAG {dag_id!r} is loaded: {why}")
        raise NotFoundError(f"no DAG with id {dag_id!r}: `orchestrator dags list` shows the known DAGs")
    return dag


def create_run(
    session: Session,
    dag_id: str,
    *,
    run_id: str | None,
    run_type: str,
    logical_date: datetime,
    data_interval: tuple[datetime, datetime] | None,
    conf: dict[str, Any] | None,
    now: datetime,
    actor: str,
    parent: tuple[str, str, str] | None = None,
    check_input: bool = False,
    correlation_id: str | None = None,
    priority: int = 0,
) -> DagRun:
    """Queue a new run of the DAG's current version; the scheduler starts it. `parent` is
    (dag_id, run_id, task_id) of the task that started it (TriggerDagRunTask). With `check_input`
    (a person asked for the run) a conf that does not match the DAG's input schema raises
    InvalidRunInputError. `priority`: ready tasks of higher-priority runs are submitted first. `correlation_id` is
    the run's business identifier (seed 002), if any."""
    check_priority(priority)
    dag = runnable_dag(session, dag_id, asked=check_input)
    if check_input:
        check_run_input(dag_id, dag.spec, conf)
    new = NewRun(dag_id, run_id or f"{run_type}__{logical_date.isoformat()}", run_type, dag.version_hash, logical_date, data_interval, conf or {},
                 priority)
    run = DagRun(**new.row(now), correlation_id=correlation_id)
    if parent is not None:
        run.parent_dag_id, run.parent_run_id, run.parent_task_id = parent
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        raise RunExistsError(f"DAG {dag_id!r} already has a run with run_id {new.run_id!r}") from None
    queued = new.queued_event(now, actor)
    if correlation_id is not None:
        queued["payload"]["correlation_id"] = correlation_id  # replay rebuilds it from the event
    events.append(session, [queued])
    change_store.touch(session, [(dag_id, new.run_id)])
    return run


def queue_runs(session: Session, runs: list[NewRun], now: datetime, actor: str) -> list[NewRun]:
    """Queue many runs in one executemany (the cron pass, a batch of triggers); runs whose id exists
    are left out. Returns the runs queued."""
    if not runs:
        return []
    taken = existing_runs(session, [(r.dag_id, r.run_id) for r in runs])
    fresh = [r for r in runs if (r.dag_id, r.run_id) not in taken]
    if fresh:
        insert_many(session, DagRun.__table__, [r.row(now) for r in fresh])
        events.append(session, [r.queued_event(now, actor) for r in fresh])
        change_store.touch(session, [(r.dag_id, r.run_id) for r in fresh])
    return fresh


def existing_runs(session: Session, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of these (dag_id, run_id) that are taken."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 500):  # well under SQLite's limit on bound parameters
        part = keys[start : start + 500]
        found.update(
            (d, r) for d, r in session.execute(
                select(DagRun.dag_id, DagRun.run_id).where(DagRun.dag_id.in_({d for d, _ in part}), DagRun.run_id.in_({r for _, r in part}))
            )
        )
    return found & set(keys)
