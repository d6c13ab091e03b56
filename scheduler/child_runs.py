"""TriggerDagRunTask in the scheduler: create each child run, and settle the task that started it.

The tracker starts a trigger task's try without a worker (`RunTracker._start_trigger`); on each
poll, `settle_trigger_tasks` creates the child run of every such try that has none yet and ends
the try when it is done: at once without `wait`, with the child run's end with it. The child's
run_id is derived from the parent run, task and try, so after a restart the scheduler finds the
child it created before instead of creating a second one.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from orchestrator.errors import NotFoundError
from orchestrator.models import DagRun
from orchestrator.runtime import Outcome
from orchestrator.states import RUN_TERMINAL, RunState
from orchestrator.store import runs as run_store
from orchestrator.store.runs import Batch, RunKey
from scheduler.tracker import RunTracker

_MAX_RUN_ID = 250  # dag_run.run_id is String(250)


def child_run_id(parent: RunKey, task_id: str, try_number: int) -> str:
    """The run_id of the run that try `try_number` of `task_id` in `parent` triggers.

    dag and task ids cannot hold ':', so the readable form cannot collide; a too long one is hashed.
    """
    readable = f"triggered__{parent.dag_id}:{task_id}:{try_number}:{parent.run_id}"
    if len(readable) <= _MAX_RUN_ID:
        return readable
    return f"triggered__{hashlib.sha256(readable.encode()).hexdigest()}"


def settle_trigger_tasks(session: Session, tracker: RunTracker, batch: Batch, now: datetime) -> None:
    """Create the missing child runs of the trigger tasks running in `tracker`, and end the tries
    whose child is created (no `wait`) or finished (`wait`). Runs in the caller's transaction."""
    for key, task_id in sorted(tracker.triggering, key=lambda k: (k[0].dag_id, k[0].run_id, k[1])):
        run = tracker.runs[key]
        trigger = run.spec.task_map[task_id].trigger
        assert trigger is not None, "only trigger tasks are in tracker.triggering"
        try_number = run.tasks[task_id].try_number
        child_id = child_run_id(key, task_id, try_number)
        child = session.get(DagRun, (trigger.dag_id, child_id))
        base = Outcome(key=f"trigger:{key.dag_id}/{key.run_id}/{task_id}/{try_number}", task_id=task_id,
                       try_number=try_number, status="success", end=now, worker="scheduler")
        if child is None:
            try:
                child = run_store.create_run(
                    session, trigger.dag_id, run_id=child_id, run_type="triggered", logical_date=now, data_interval=None,
                    conf=trigger.conf, now=now, actor=f"{key.dag_id}/{key.run_id}/{task_id}", parent=(key.dag_id, key.run_id, task_id),
                )
            except NotFoundError:
                error = f"there is no DAG {trigger.dag_id!r} to trigger: `orchestrator dags list` shows the known DAGs"
                tracker.settle_trigger(key, task_id, replace(base, status="failed", error=error, log=error + "\n"), batch, now)
                continue
        if trigger.wait and RunState(child.state) not in RUN_TERMINAL:
            continue
        if not trigger.wait or child.state == RunState.SUCCESS.value:
            what = "succeeded" if trigger.wait else "created"
            outcome = replace(base, result={"dag_id": child.dag_id, "run_id": child.run_id}, log=f"run {child.run_id} of DAG {child.dag_id} {what}\n")
        else:
            error = f"the triggered run {child.run_id} of DAG {child.dag_id} ended {child.state}"
            outcome = replace(base, status="failed", error=error, log=error + "\n")
        tracker.settle_trigger(key, task_id, outcome, batch, now)
