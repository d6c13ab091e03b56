"""Saga compensation: when a run fails, undo the steps that succeeded, newest first.

A task with `compensate=` names the task that undoes it (or a callable, made into such a task:
`<task>__compensate`, called with the compensated task's result). Compensation tasks are outside
the run's normal flow: they wait until every other task has finished. If the run then fails, the
compensation tasks of the tasks that succeeded run one at a time in reverse order of those
tasks' completion (`end_date`, DAG order breaking ties); the others are skipped, and the run
ends failed once the last one ended (a compensation that fails does not stop the next). If the
run succeeds, every compensation task is skipped.

`plan_compensation` decides from the task states alone; the planner turns it into commands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.core.spec import DagSpec
from orchestrator.core.states import TASK_DUE_AGAIN, TASK_IN_FLIGHT, TASK_TERMINAL, RunState, TaskState

if TYPE_CHECKING:
    from orchestrator.core.planner import TaskView


# -- deciding ----------------------------------------------------------------------------------------
def compensation_order(spec: DagSpec, tasks: Mapping[str, TaskView]) -> list[tuple[str, str]]:
    """(task, its compensation) for each compensable task that succeeded, newest completion first."""
    index = spec.topo_index
    done = [
        (tasks[tid].end_date, index[tid], tid, comp)
        for comp, tid in spec.compensations.items()
        if tasks[tid].state is TaskState.SUCCESS
    ]
    # a success always has an end_date; DAG order breaks ties (and orders none)
    done.sort(key=lambda d: (d[0] is not None, d[0] or datetime.min.replace(tzinfo=UTC), d[1]), reverse=True)
    return [(tid, comp) for _, _, tid, comp in done]


@dataclass(frozen=True)
class CompensationPlan:
    """What the end of a failed (or succeeded) run does about its compensation tasks."""

    skip: tuple[str, ...] = ()
    """Compensation tasks that will not run (their task did not succeed, or the run succeeded)."""
    run: str | None = None
    """The next compensation task to submit, if it is its turn and it is ready."""
    reason: str = ""
    """Why `run` runs now (its position in the order)."""
    finished: bool = False
    """Every compensation that had to run has ended: the run may end."""


def plan_compensation(
    spec: DagSpec, tasks: Mapping[str, TaskView], state_of: Callable[[str], TaskState], outcome: RunState, now: datetime
) -> CompensationPlan:
    """Once every task of the flow ended as `outcome` says: skip, run the next, or finish."""
    pending = [comp for comp in spec.compensations if state_of(comp) not in TASK_TERMINAL]
    if outcome is not RunState.FAILED:
        return CompensationPlan(skip=tuple(pending), finished=True)
    order = compensation_order(spec, tasks)
    wanted = {comp for _, comp in order}
    skip = tuple(c for c in pending if c not in wanted)
    for position, (tid, comp) in enumerate(order, start=1):
        state = state_of(comp)
        if state in TASK_TERMINAL:
            continue
        view = tasks[comp]
        ready = state in (TaskState.PENDING, TaskState.SCHEDULED, TaskState.WAITING) or (
            state in TASK_DUE_AGAIN and view.next_retry_at is not None and view.next_retry_at <= now
        )
        if state in TASK_IN_FLIGHT or not ready:
            return CompensationPlan(skip=skip)
        why = f"compensating {tid}: {position} of {len(order)}, in reverse order of completion"
        return CompensationPlan(skip=skip, run=comp, reason=why)
    return CompensationPlan(skip=skip, finished=True)


def compensation_event_payload(spec: DagSpec, tasks: Mapping[str, TaskView], comp: str) -> dict[str, Any]:
    """The payload of the `compensation` event recorded when a compensation task is submitted."""
    order = [c for _, c in compensation_order(spec, tasks)]
    return {"compensates": spec.compensations[comp], "position": order.index(comp) + 1, "of": len(order)}
