"""DAG callbacks (on_success_callback / on_failure_callback; on_deadline_miss of the DAG or a
task): a small work item once a run's final state (or a missed deadline) is committed, its
result recorded as an event of the run."""

from __future__ import annotations

import itertools
import logging
from datetime import datetime
from typing import Literal

from orchestrator.core.states import RunState
from orchestrator.execution.executor import Completed
from orchestrator.execution.runtime import DAG_CALLBACK_TASK_ID, WorkItem
from orchestrator.store import events as event_store
from orchestrator.store.runs import Batch, RunKey
from scheduler.active_runs import ActiveRun
from scheduler.work import Dispatch

log = logging.getLogger(__name__)


class DagCallbacks:
    """The DAG callbacks in flight: executor key -> (run, the callback's name)."""

    def __init__(self, dags_root: str, seq: itertools.count[int]) -> None:
        self._dags_root = dags_root
        self._seq = seq
        self._inflight: dict[str, tuple[RunKey, str]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._inflight

    def work(self, run: ActiveRun) -> list[Dispatch]:
        """The work that calls the DAG's callback for how `run` ended, if it has one. Submitted
        with the plan's other work, so after the commit that ends the run (at most once: a
        scheduler stopping in between loses it)."""
        ref = {RunState.SUCCESS: run.spec.on_success_callback, RunState.FAILED: run.spec.on_failure_callback}.get(run.state)
        if ref is None:
            return []
        success = run.state is RunState.SUCCESS
        return self._dispatch(run, run.state.value, "success" if success else "failed", "on_success_callback" if success else "on_failure_callback")

    def deadline_work(self, run: ActiveRun, task_id: str | None) -> list[Dispatch]:
        """The work that calls `on_deadline_miss` of the DAG (or of task `task_id`), if it has one."""
        ref = run.spec.on_deadline_miss_callback if task_id is None else run.spec.task_map[task_id].on_deadline_miss
        if ref is None:
            return []
        name = "on_deadline_miss" if task_id is None else f"{task_id}.on_deadline_miss"
        return self._dispatch(run, f"deadline/{task_id or ''}", "deadline_miss", name, callback_task=task_id)

    def _dispatch(
        self, run: ActiveRun, label: str, which: Literal["success", "failed", "deadline_miss"], name: str, callback_task: str | None = None
    ) -> list[Dispatch]:
        key = f"{run.key.dag_id}/{run.key.run_id}/{DAG_CALLBACK_TASK_ID}/{label}/{next(self._seq)}"
        work = WorkItem(
            key=key, dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=DAG_CALLBACK_TASK_ID, try_number=1,
            fileloc=run.spec.fileloc, dags_root=self._dags_root, logical_date=run.logical_date,
            data_interval_start=run.data_interval_start, data_interval_end=run.data_interval_end,
            params=run.params, dag_callback=which, callback_task=callback_task,
        )
        self._inflight[key] = (run.key, name)
        return [Dispatch(work)]

    def done(self, event: Completed, batch: Batch, now: datetime) -> None:
        """Record how a DAG callback went as an event of its run (its output in the payload)."""
        run, name = self._inflight.pop(event.key)
        outcome = event.outcome
        ok = outcome is not None and outcome.status == "success"
        error = None if ok else (outcome.error if outcome is not None else f"the executor lost the callback: {event.error}")
        if not ok:
            log.warning("the %s of run %s/%s failed: %s", name, run.dag_id, run.run_id, error)
        batch.events.append(event_store.event(
            "callback.success" if ok else "callback.failed", outcome.end if outcome and outcome.end else now,
            dag_id=run.dag_id, run_id=run.run_id, reason=error,
            payload={"callback": name, "log": (outcome.log if outcome else "")[-10_000:]},
        ))
