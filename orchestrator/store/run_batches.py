"""Batches of triggers: many manual runs of one DAG queued by one call (the API's
`POST /dags/{dag_id}/runs/batch`, `orchestrator dags trigger --count / --conf-file`).

`plan` checks the whole batch before anything is written (each run's input against the DAG's
input schema, run ids given twice, run ids already taken) and names the item at fault;
`orchestrator.store.run_creation.queue_runs` then writes up to `MAX_PER_COMMIT` runs in one executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.core.errors import OrchestratorError
from orchestrator.core.inputs import InvalidRunInputError, check_run_input
from orchestrator.store.run_creation import NewRun, existing_runs, runnable_dag

MAX_PER_COMMIT = 1_000
"""Runs queued per transaction: the API's limit per call, the CLI's chunk (tens of milliseconds of writing)."""


@dataclass(frozen=True)
class RunRequest:
    """One run of a batch: what `POST /dags/{dag_id}/runs` takes."""

    conf: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    logical_date: datetime | None = None
    priority: int = 0


class BatchTriggerError(OrchestratorError):
    """An item of a batch of triggers is wrong; nothing of the batch was queued.

    `item` is its position (0-based), `conflict` is True for a run id that is taken (the API's 409),
    `problems` lists an input's mismatches with the DAG's input schema.
    """

    def __init__(self, item: int, label: str, message: str, *, conflict: bool = False, problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(f"{label}: {message}; nothing was queued")
        self.item = item
        self.conflict = conflict
        self.problems = problems or []


def default_run_id(logical_date: datetime, position: int) -> str:
    """A batch's runs share their logical date (now): their position tells them apart."""
    return f"manual__{logical_date.isoformat()}__{position + 1}"


def plan(
    session: Session, dag_id: str, requests: Sequence[RunRequest], now: datetime, *, label: Callable[[int], str] = lambda i: f"run {i + 1}",
) -> list[NewRun]:
    """The runs to queue for `requests`, checked whole: BatchTriggerError names the first item at
    fault (`label(i)` says how: "line 3"), NotFoundError an unknown DAG."""
    dag = runnable_dag(session, dag_id, asked=True)
    runs: list[NewRun] = []
    first: dict[str, int] = {}
    for i, req in enumerate(requests):
        try:
            check_run_input(dag_id, dag.spec, req.conf)
        except InvalidRunInputError as exc:
            raise BatchTriggerError(i, label(i), str(exc), problems=exc.problems) from None
        logical = req.logical_date or now
        run_id = req.run_id or default_run_id(logical, i)
        if run_id in first:
            raise BatchTriggerError(i, label(i), f"run_id {run_id!r} is also given by {label(first[run_id])}", conflict=True)
        first[run_id] = i
        runs.append(NewRun(dag_id, run_id, "manual", dag.version_hash, logical, None, dict(req.conf), req.priority))
    taken = existing_runs(session, [(r.dag_id, r.run_id) for r in runs])
    for i, run in enumerate(runs):
        if (run.dag_id, run.run_id) in taken:
            raise BatchTriggerError(i, label(i), f"DAG {dag_id!r} already has a run with run_id {run.run_id!r}", conflict=True)
    return runs
