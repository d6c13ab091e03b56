"""Run controls as pure decisions: what marking a task or a run success or failed changes.

As in Airflow, a mark sets states and leaves the rest to the scheduler: marking a task success
lets its downstream run by their trigger rules (those it had made upstream_failed wait again),
marking it failed makes them upstream_failed where their rules say so (the planner decides both
once the scheduler reloads the run). Marking a run
sets its unfinished tasks: all to success, or, for failed, those running (or waiting, or between
tries) to failed and the others, queued ones included, to skipped; the scheduler then stops the run's work in flight.

No I/O here: orchestrator/store/run_controls.py applies these decisions in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from orchestrator.core.errors import ConflictError, NotFoundError, OrchestratorError
from orchestrator.core.planner import TaskView
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import TASK_TERMINAL, RunState, TaskState

MARKABLE = (TaskState.SUCCESS, TaskState.FAILED)
"""The states a user may mark a task or a run with."""

_STARTED = frozenset({TaskState.RUNNING, TaskState.WAITING, TaskState.UP_FOR_RETRY})


class InvalidMarkError(OrchestratorError):
    """A mark names a state other than success or failed."""


class TaskMark(NamedTuple):
    """One state a mark sets: a task (map_index -1) or one of its mapped instances."""

    task_id: str
    map_index: int
    to: TaskState


def markable_state(value: str) -> TaskState:
    """The state named `value`, if a mark may set it."""
    try:
        state = TaskState(value)
    except ValueError:
        state = None
    if state not in MARKABLE:
        raise InvalidMarkError(f"cannot mark with {value!r}: a task or run can be marked 'success' or 'failed'")
    assert state is not None
    return state


def mark_task(spec: DagSpec, views: Mapping[str, TaskView], task_id: str, to: TaskState) -> list[TaskMark]:
    """The states that marking `task_id` as `to` sets: the task, and a mapped task's unfinished
    instances. Raises ConflictError when the task is already in that state."""
    if to not in MARKABLE:
        raise InvalidMarkError(f"cannot mark with {to.value!r}: a task can be marked 'success' or 'failed'")
    if task_id not in spec.task_map:
        raise NotFoundError(f"DAG {spec.dag_id!r} has no task {task_id!r}")
    view = views.get(task_id)
    if view is None:
        raise ConflictError("the run has not started yet: it has no tasks to mark")
    if view.state is to:
        raise ConflictError(f"task {task_id!r} is {to.value} already")
    marks = [TaskMark(task_id, i, to) for i, inst in enumerate(view.instances) if inst.state not in TASK_TERMINAL]
    marks.append(TaskMark(task_id, -1, to))
    if to is TaskState.SUCCESS:
        marks.extend(TaskMark(down, -1, TaskState.PENDING) for down in _blocked_downstream(spec, views, task_id))
    return marks


def _blocked_downstream(spec: DagSpec, views: Mapping[str, TaskView], task_id: str) -> list[str]:
    """The tasks after `task_id` that are upstream_failed through it (directly, or through others
    that are): a success lets them be decided again by their trigger rules."""
    blocked: list[str] = []
    seen = {task_id}
    frontier = [task_id]
    while frontier:
        for down in spec.downstream[frontier.pop()]:
            if down not in seen and down in views and views[down].state is TaskState.UPSTREAM_FAILED:
                seen.add(down)
                blocked.append(down)
                frontier.append(down)
    return blocked


def mark_run(views: Mapping[str, TaskView], to: RunState) -> list[TaskMark]:
    """The task states that marking a run `to` (success or failed) sets: every unfinished task
    (and mapped instance) success; or, for failed, started ones failed and the others skipped."""
    if to not in (RunState.SUCCESS, RunState.FAILED):
        raise InvalidMarkError(f"cannot mark a run {to.value!r}: a run can be marked 'success' or 'failed'")
    marks = []
    for task_id, view in views.items():
        for i, inst in enumerate(view.instances):
            if inst.state not in TASK_TERMINAL:
                marks.append(TaskMark(task_id, i, _run_mark(inst.state, to)))
        if view.state not in TASK_TERMINAL:
            marks.append(TaskMark(task_id, -1, _run_mark(view.state, to)))
    return marks


def _run_mark(current: TaskState, to: RunState) -> TaskState:
    if to is RunState.SUCCESS:
        return TaskState.SUCCESS
    return TaskState.FAILED if current in _STARTED else TaskState.SKIPPED
