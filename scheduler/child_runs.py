"""TriggerDagRunTask in the scheduler: create each child run, and settle the task that started it.

The tracker starts a trigger task's try without a worker (`RunTracker._start_trigger`); on each
poll, `settle_trigger_tasks` creates the child run of every such try that has none yet and ends
the try when it is done: at once without `wait`, with the child run's end with it. The child's
run_id is derived from the parent run, task and try, so after a restart the scheduler finds the
child it created before instead of creating a second one.

A SubDagTask (orchestrator.plugins.steps.subdag) adds its input to the child's conf, its output picked
from the child's task results to its result, and its `on_child_failure` to a failed child.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.core.errors import NotFoundError
from orchestrator.core.spec import TaskSpec
from orchestrator.core.states import RUN_TERMINAL, RunState
from orchestrator.core.templating import TemplateRenderError, render_nested, run_scope
from orchestrator.execution.runtime import Outcome
from orchestrator.plugins.steps.subdag import child_conf, pick_output, subdag_result
from orchestrator.store import run_creation
from orchestrator.store import runs as run_store
from orchestrator.store.models import DagRun
from orchestrator.store.runs import Batch, RunKey
from scheduler.tracker import ActiveRun, RunTracker

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
        task = run.spec.task_map[task_id]
        trigger = task.trigger
        assert trigger is not None, "only trigger tasks are in tracker.triggering"
        try_number = run.tasks[task_id].try_number
        child_id = child_run_id(key, task_id, try_number)
        child = session.get(DagRun, (trigger.dag_id, child_id))
        base = Outcome(key=f"trigger:{key.dag_id}/{key.run_id}/{task_id}/{try_number}", task_id=task_id,
                       try_number=try_number, status="success", end=now, worker="scheduler")
        if child is None:
            try:
                conf = _child_conf(run, task)
                child = run_creation.create_run(
                    session, trigger.dag_id, run_id=child_id, run_type="triggered", logical_date=now, data_interval=None,
                    conf=conf, now=now, actor=f"{key.dag_id}/{key.run_id}/{task_id}", parent=(key.dag_id, key.run_id, task_id),
                    priority=run.priority,  # a sub-workflow is as urgent as the run that waits for it
                )
            except NotFoundError:
                error = f"there is no DAG {trigger.dag_id!r} to trigger: `orchestrator dags list` shows the known DAGs"
                tracker.settle_trigger(key, task_id, replace(base, status="failed", error=error, log=error + "\n"), batch, now)
                continue
            except (TemplateRenderError, LookupError, TypeError) as exc:
                error = f"the sub-workflow's input cannot be made: {exc}"
                tracker.settle_trigger(key, task_id, replace(base, status="failed", error=error, log=error + "\n", error_type=type(exc).__name__), batch, now)
                continue
        if trigger.wait and RunState(child.state) not in RUN_TERMINAL:
            continue
        if task.subdag is not None:
            outcome = _subdag_outcome(session, task, child, base)
        elif not trigger.wait or child.state == RunState.SUCCESS.value:
            what = "succeeded" if trigger.wait else "created"
            outcome = replace(base, result={"dag_id": child.dag_id, "run_id": child.run_id}, log=f"run {child.run_id} of DAG {child.dag_id} {what}\n")
        else:
            error = f"the triggered run {child.run_id} of DAG {child.dag_id} ended {child.state}"
            outcome = replace(base, status="failed", error=error, log=error + "\n")
        tracker.settle_trigger(key, task_id, outcome, batch, now)


def _child_conf(run: ActiveRun, task: TaskSpec) -> dict[str, Any]:
    """The conf of the child run a trigger task starts (a SubDagTask's input mapped over its run)."""
    assert task.trigger is not None
    scope = run_scope(
        dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=task.task_id, params=run.params,
        conf=run.conf, logical_date=run.logical_date,
    )
    if task.subdag is None:  # its conf's strings are templates over the parent run, as Airflow's
        return render_nested(task.trigger.conf, scope)
    return child_conf(task.trigger.conf, task.subdag, scope, {up: run.tasks[up].result for up in task.upstream})


def _subdag_outcome(session: Session, task: TaskSpec, child: DagRun, base: Outcome) -> Outcome:
    """How a SubDagTask's try ends once its child run ended: its output, and the child's failure as `on_child_failure` says."""
    assert task.subdag is not None
    views = run_store.load_task_views(session, RunKey(child.dag_id, child.run_id))
    output = pick_output(task.subdag, {tid: view.result for tid, view in views.items()})
    result = subdag_result(child.dag_id, child.run_id, child.state, output)
    if child.state == RunState.SUCCESS.value or task.subdag.on_child_failure == "continue":
        note = "" if child.state == RunState.SUCCESS.value else " (on_child_failure=continue)"
        return replace(base, result=result, log=f"sub-workflow run {child.run_id} of DAG {child.dag_id} ended {child.state}{note}\n")
    error = f"the sub-workflow run {child.run_id} of DAG {child.dag_id} ended {child.state}"
    if task.subdag.on_child_failure == "retry":
        error += "; a new child run starts if the task has retries left"
    return replace(base, status="failed", error=error, log=error + "\n", error_type="ChildRunFailed")
