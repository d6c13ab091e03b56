"""What to do next in a run: pure functions from task states to commands.

The scheduler keeps a `TaskView` per task of each active run. `plan_run` says which tasks to
submit (and which in-flight upstreams they can be chained to), which to settle as skipped or
upstream_failed, and whether the run is over. `settle_outcome` turns the end of a try into the
task's next state. Neither reads a clock or a database.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrator.retry import may_retry, retry_delay, retryable
from orchestrator.spec import DagSpec, TaskSpec
from orchestrator.states import (
    TASK_IN_FLIGHT,
    TASK_TERMINAL,
    RunState,
    TaskState,
    TriggerRule,
    UpstreamSummary,
    Verdict,
    evaluate_trigger_rule,
    run_outcome,
)


@dataclass
class TaskView:
    """The scheduler's copy of one task instance row."""

    state: TaskState = TaskState.PENDING
    try_number: int = 0
    max_tries: int = 1
    start_date: datetime | None = None
    end_date: datetime | None = None
    next_retry_at: datetime | None = None
    worker: str | None = None
    result: Any = None
    key: str | None = None
    history: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Submit:
    """Queue the task's next try; `after` are in-flight upstreams whose outcomes it waits for."""

    task_id: str
    after: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Settle:
    """The task will not run: it becomes `state` (skipped or upstream_failed)."""

    task_id: str
    state: TaskState
    reason: str


@dataclass(frozen=True)
class FinishRun:
    state: RunState


@dataclass(frozen=True)
class Hold:
    """The task could run but must wait (an open circuit, a full pool): it becomes `state`
    (waiting or scheduled) with `reason`, and no try is used."""

    task_id: str
    state: TaskState
    reason: str


Command = Submit | Settle | FinishRun | Hold

Admit = Callable[[TaskSpec], tuple[TaskState, str] | None]
"""Asked for each task about to be submitted, highest priority first: None lets it go, else the
state to hold it in and why. The tracker's admission counts what it lets go (pool slots, probes)."""


def _chainable(task: TaskSpec, state_of: Callable[[str], TaskState]) -> tuple[str, ...] | None:
    """In-flight upstreams to chain to, if every upstream is either done-successfully or in flight."""
    if task.trigger_rule is not TriggerRule.ALL_SUCCESS:
        return None
    after = []
    for up in task.upstream:
        s = state_of(up)
        if s in TASK_IN_FLIGHT:
            after.append(up)
        elif s is not TaskState.SUCCESS:
            return None
    return tuple(after)


def plan_run(
    spec: DagSpec,
    tasks: Mapping[str, TaskView],
    now: datetime,
    *,
    chains: bool,
    candidates: Iterable[str] | None = None,
    admit: Admit | None = None,
) -> list[Command]:
    """Commands for one run. `candidates` limits the look to those tasks (None: all).

    Decisions cascade within one call: a task settled as upstream_failed lets its downstream
    settle too, and with `chains` a whole ready chain is submitted at once. Tasks are looked at
    in topological order, so each is judged after every decision about its upstreams. The tasks
    to submit then go out highest `priority_weight` first, each past `admit` (see `admit_submits`).
    """
    decided: dict[str, TaskState] = {}

    def state_of(tid: str) -> TaskState:
        return decided.get(tid) or tasks[tid].state

    index = spec.topo_index
    heap = [(index[tid], tid) for tid in (spec.task_map if candidates is None else set(candidates))]
    heapq.heapify(heap)
    queued = {tid for _, tid in heap}
    commands: list[Command] = []
    while heap:
        _, tid = heapq.heappop(heap)
        task = spec.task_map[tid]
        view = tasks[tid]
        state = state_of(tid)
        new: TaskState | None = None
        if state is TaskState.UP_FOR_RETRY:
            if view.next_retry_at is not None and view.next_retry_at <= now:
                commands.append(Submit(tid, reason=f"retry {view.try_number + 1} of {view.max_tries}"))
                new = TaskState.QUEUED
        elif state in (TaskState.PENDING, TaskState.SCHEDULED, TaskState.WAITING):
            verdict = evaluate_trigger_rule(task.trigger_rule, UpstreamSummary.of(state_of(u) for u in task.upstream))
            if verdict is Verdict.RUN:
                commands.append(Submit(tid))
                new = TaskState.QUEUED
            elif verdict is Verdict.SKIP:
                commands.append(Settle(tid, TaskState.SKIPPED, f"trigger rule {task.trigger_rule.value} skipped it"))
                new = TaskState.SKIPPED
            elif verdict is Verdict.UPSTREAM_FAILED:
                commands.append(
                    Settle(tid, TaskState.UPSTREAM_FAILED, f"an upstream did not succeed ({task.trigger_rule.value})")
                )
                new = TaskState.UPSTREAM_FAILED
            elif chains and task.upstream:
                after = _chainable(task, state_of)
                if after:
                    commands.append(Submit(tid, after=after))
                    new = TaskState.QUEUED
        if new is not None:
            decided[tid] = new
            for down in spec.downstream[tid]:
                if down not in queued:
                    queued.add(down)
                    heapq.heappush(heap, (index[down], down))
    # leaves come last in topological order: an unfinished run usually stops this at once
    if all(state_of(t.task_id) in TASK_TERMINAL for t in reversed(spec.tasks)):
        commands.append(FinishRun(run_outcome(state_of(leaf) for leaf in spec.leaves)))
    return admit_submits(spec, commands, admit)


def admit_submits(spec: DagSpec, commands: list[Command], admit: Admit | None) -> list[Command]:
    """Order the submits by priority and pass each through `admit`.

    Unchained submits go first, highest `priority_weight` first (ties in DAG order); chained ones
    follow in DAG order, after the upstreams they wait for. A task held by `admit` becomes a
    `Hold`; a chained task whose upstream was held (or dropped) is dropped: it stays as it is
    and is looked at again when that upstream moves.
    """
    index = spec.topo_index
    submits = [c for c in commands if isinstance(c, Submit)]
    if not submits:
        return commands
    submits.sort(key=lambda c: (1, 0, index[c.task_id]) if c.after else (0, -spec.task_map[c.task_id].priority_weight, index[c.task_id]))
    decided: list[Command] = []
    stopped: set[str] = set()
    for c in submits:
        if any(up in stopped for up in c.after):
            stopped.add(c.task_id)
            continue
        verdict = admit(spec.task_map[c.task_id]) if admit is not None else None
        if verdict is None:
            decided.append(c)
        else:
            stopped.add(c.task_id)
            decided.append(Hold(c.task_id, verdict[0], verdict[1]))
    # the other commands keep their places; the decided submits fill the submits' places in order
    it = iter(decided)
    out = [c if not isinstance(c, Submit) else next(it, None) for c in commands]
    return [c for c in out if c is not None] + list(it)


@dataclass(frozen=True)
class Settlement:
    """The next state of a task after its try ended, and the fields that change with it."""

    state: TaskState
    next_retry_at: datetime | None = None
    reason: str | None = None


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
) -> Settlement:
    """Success, a retry (when the policy allows), failure, or back to waiting for `not_run`.

    `error_types` are the failed try's exception class and base class names (for `retry_on` /
    `no_retry_on`), `seed` the jitter's seed, `decision` a plugin's verdict that overrides both
    the filters and the delay (never the number of tries).
    """
    if status == "success":
        return Settlement(TaskState.SUCCESS)
    if status == "not_run":
        return Settlement(TaskState.PENDING, reason="a chained upstream did not succeed; waiting again")
    if not may_retry(view.try_number, view.max_tries):
        return Settlement(TaskState.FAILED, reason=error)
    if decision is not None and not decision[0]:
        return Settlement(TaskState.FAILED, reason=f"{error} (a plugin decided not to retry)")
    if decision is None and error_types and not retryable(task, error_types):
        return Settlement(TaskState.FAILED, reason=f"{error} ({error_types[0]} is not retried by the task's retry_on/no_retry_on)")
    delay: timedelta = retry_delay(task, view.try_number, seed)
    if decision is not None and decision[1] is not None:
        delay = timedelta(seconds=max(decision[1], 0.0))
    return Settlement(
        TaskState.UP_FOR_RETRY,
        next_retry_at=ended + delay,
        reason=f"try {view.try_number} of {view.max_tries} failed ({error}); retrying in {delay.total_seconds():g} s",
    )


