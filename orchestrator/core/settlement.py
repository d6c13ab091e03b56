"""How the end of a try settles its task: success, a retry after a delay, a reschedule, another loop iteration, or failure. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from orchestrator.core.error_routing import failure_record
from orchestrator.core.planner import TaskView
from orchestrator.core.retry import may_retry, retry_delay, retryable
from orchestrator.core.sensors import TIMEOUT_ERROR_TYPE, after_poke, poke_record
from orchestrator.core.spec import LoopSpec, TaskSpec
from orchestrator.core.states import (
    TaskState,
)


class Settlement(NamedTuple):
    """The next state of a task after its try ended, and the fields that change with it (a tuple:
    one is made for every try that ends)."""

    state: TaskState
    next_retry_at: datetime | None = None
    reason: str | None = None
    result: Any = None
    """The task instance's result: what a success returned, the error a failure continues with or routes."""
    repeat: bool = False
    """A loop-back group's controller said "not done": the group's tasks run again (orchestrator.authoring.loops)."""


RetryDecision = tuple[bool, float | None]
"""A plugin's answer (hook `orchestrator_retry_decision`): retry or not, and the delay in seconds."""


def settle_outcome(
    task: TaskSpec,
    view: TaskView,
    status: str,
    ended: datetime,
    error: str | None,
    *,
    error_types: tuple[str, ...] = (),
    seed: str | None = None,
    decision: RetryDecision | None = None,
    result: Any = None,
    started: datetime | None = None,
) -> Settlement:
    """Success, a retry (when the policy allows), failure, or back to waiting for `not_run`.

    `error_types` are the failed try's exception class and base class names (for `retry_on` /
    `no_retry_on`, and `on_failure` routes), `seed` the jitter's seed, `decision` a plugin's
    verdict that overrides both the filters and the delay (never the number of tries), `result`
    what a successful try returned, `started` when the try began (a sensor's first poke).
    A `reschedule` (a sensor's poke that found its condition not met) waits for the next poke, or
    ends the sensor at its timeout; `skipped`: the task skipped itself.
    """
    if status == "success":
        return Settlement(TaskState.SUCCESS, result=result) if task.loop is None else _loop_settlement(task.loop, view, result)
    if status == "not_run":
        return Settlement(TaskState.PENDING, reason="a chained upstream did not succeed; waiting again")
    if status == "skipped":
        return Settlement(TaskState.SKIPPED, reason=f"skipped: {error}" if error else "skipped by the task")
    if status == "reschedule":
        return _rescheduled(task, view, started or ended, ended, seed or task.task_id)

    def failed(reason: str | None) -> Settlement:
        kept = view.result if task.loop is not None else failure_record(task, error, error_types)
        return Settlement(TaskState.FAILED, reason=reason, result=kept)

    if not may_retry(view.try_number, view.max_tries):
        return failed(error)
    if decision is not None and not decision[0]:
        return failed(f"{error} (a plugin decided not to retry)")
    if decision is None and error_types and not retryable(task, error_types):
        return failed(f"{error} ({error_types[0]} is not retried by the task's retry_on/no_retry_on)")
    delay: timedelta = retry_delay(task, view.try_number, seed)
    if decision is not None and decision[1] is not None:
        delay = timedelta(seconds=max(decision[1], 0.0))
    return Settlement(
        TaskState.UP_FOR_RETRY,
        next_retry_at=ended + delay,
        reason=f"try {view.try_number} of {view.max_tries} failed ({error}); retrying in {delay.total_seconds():g} s",
        result=view.result if task.loop is not None else None,
    )


def _rescheduled(task: TaskSpec, view: TaskView, started: datetime, ended: datetime, seed: str) -> Settlement:
    """A reschedule-mode sensor's poke found its condition not met (orchestrator.core.sensors.after_poke)."""
    if task.sensor is None:
        return Settlement(TaskState.FAILED, reason=f"task {task.task_id!r} asked to be rescheduled, but it is not a sensor")
    verdict = after_poke(task.sensor, poke_record(view.result), started, ended, seed)
    if verdict.state is TaskState.FAILED:
        return Settlement(TaskState.FAILED, reason=verdict.reason, result=failure_record(task, verdict.error, (TIMEOUT_ERROR_TYPE,)))
    record = verdict.record.to_result() if verdict.record is not None else None
    return Settlement(verdict.state, next_retry_at=verdict.next_poke_at, reason=verdict.reason, result=record)


def _loop_settlement(loop: LoopSpec, view: TaskView, done: Any) -> Settlement:
    """A loop controller's try returned `done`: the loop ends, repeats, or fails at max_iterations.

    Its result records the iteration ({"done", "iteration"}); a controller about to run again
    keeps {"iteration": n} from the repeat (`next_iteration`), so the count survives restarts.
    """
    iteration = loop_iteration(view.result)
    record = {"done": bool(done), "iteration": iteration}
    if done:
        return Settlement(TaskState.SUCCESS, reason=f"loop {loop.group_id} done after {iteration} iteration(s)", result=record)
    if iteration >= loop.max_iterations:
        return Settlement(
            TaskState.FAILED, result=record,
            reason=f"loop {loop.group_id} reached max_iterations={loop.max_iterations} without its repeat_until condition being met",
        )
    return Settlement(
        TaskState.SUCCESS, result=record, repeat=True,
        reason=f"loop {loop.group_id}: iteration {iteration} of at most {loop.max_iterations} is not done; repeating",
    )


def loop_iteration(controller_result: Any) -> int:
    """The iteration a loop controller's task instance is in (1 until the group repeats)."""
    if isinstance(controller_result, dict) and isinstance(controller_result.get("iteration"), int):
        return controller_result["iteration"]
    return 1
