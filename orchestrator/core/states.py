"""Task and run state machines and trigger rules: pure functions, no I/O, no clock.

Every legal (from, to) pair is listed in one table; `check_task_transition` and
`check_run_transition` are the only gate. Trigger rules are evaluated from upstream
state counts so that a join with thousands of upstreams stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from orchestrator.core.errors import IllegalTransitionError


class TaskState(str, Enum):
    """States of one task instance. `PENDING` is the state of a task waiting on its upstreams."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    """A reschedule-mode sensor between two pokes: it holds no worker slot (orchestrator.core.sensors)."""
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class RunState(str, Enum):
    """States of one DAG run. `WAITING`: queued, but its `depends_on` are not met yet (the run's
    `state_reason` says which); it has no task instances until it starts."""

    QUEUED = "queued"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class TriggerRule(str, Enum):
    """When a task may run, judged from the states of its direct upstreams."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    """The join after a branch: none failed and at least one (the branch followed) succeeded."""
    ALWAYS = "always"

    def __str__(self) -> str:
        return self.value


TASK_TERMINAL = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED, TaskState.CANCELLED}
)
"""Task states that never change again (unless a user clears the task)."""

TASK_IN_FLIGHT = frozenset({TaskState.QUEUED, TaskState.RUNNING})
"""Task states in which an executor holds the work."""

TASK_DUE_AGAIN = frozenset({TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE})
"""Task states that are submitted again once their `next_retry_at` is due: a retry, a sensor's next poke."""

TASK_FAILED_LIKE = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELLED})
"""Terminal states that make a leaf fail its run."""

RUN_TERMINAL = frozenset({RunState.SUCCESS, RunState.FAILED, RunState.CANCELLED})
RUN_ACTIVE = frozenset({RunState.QUEUED, RunState.WAITING, RunState.RUNNING})
"""Run states that count toward max_active_runs. A waiting run holds its slot, so a DAG at its
limit queues no more runs behind an upstream that is late, and the waiting run starts as soon
as its upstream succeeds without waiting for a slot."""

_T = TaskState
_TASK_TRANSITIONS: frozenset[tuple[TaskState, TaskState]] = frozenset(
    {
        (_T.PENDING, _T.SCHEDULED),
        (_T.PENDING, _T.QUEUED),
        (_T.PENDING, _T.SKIPPED),
        (_T.PENDING, _T.UPSTREAM_FAILED),
        (_T.PENDING, _T.CANCELLED),
        (_T.SCHEDULED, _T.QUEUED),
        (_T.SCHEDULED, _T.CANCELLED),
        # a speculatively queued task whose upstream did not succeed goes back to waiting
        (_T.QUEUED, _T.PENDING),
        (_T.QUEUED, _T.RUNNING),
        (_T.QUEUED, _T.SCHEDULED),  # orphaned by a scheduler that stopped
        (_T.QUEUED, _T.FAILED),  # the executor lost it before it started
        (_T.QUEUED, _T.UP_FOR_RETRY),
        (_T.QUEUED, _T.CANCELLED),
        (_T.RUNNING, _T.SUCCESS),
        (_T.RUNNING, _T.FAILED),
        (_T.RUNNING, _T.UP_FOR_RETRY),
        (_T.RUNNING, _T.SCHEDULED),  # orphaned by a scheduler that stopped
        (_T.RUNNING, _T.CANCELLED),
        (_T.RUNNING, _T.WAITING),
        (_T.WAITING, _T.SCHEDULED),
        (_T.WAITING, _T.QUEUED),
        (_T.WAITING, _T.SUCCESS),
        (_T.WAITING, _T.FAILED),
        (_T.WAITING, _T.CANCELLED),
        (_T.UP_FOR_RETRY, _T.QUEUED),
        (_T.UP_FOR_RETRY, _T.SCHEDULED),
        (_T.UP_FOR_RETRY, _T.FAILED),
        (_T.UP_FOR_RETRY, _T.CANCELLED),
        # a sensor: a poke that found its condition not met (reschedule mode), a timeout with
        # soft_fail, or task code that skips itself
        (_T.RUNNING, _T.UP_FOR_RESCHEDULE),
        (_T.RUNNING, _T.SKIPPED),
        (_T.WAITING, _T.SKIPPED),
        (_T.UP_FOR_RESCHEDULE, _T.QUEUED),
        (_T.UP_FOR_RESCHEDULE, _T.SCHEDULED),
        (_T.UP_FOR_RESCHEDULE, _T.WAITING),
        (_T.UP_FOR_RESCHEDULE, _T.CANCELLED),
        # held without using a try: an open circuit breaker (waiting), a full pool (scheduled)
        (_T.PENDING, _T.WAITING),
        (_T.SCHEDULED, _T.WAITING),
        (_T.UP_FOR_RETRY, _T.WAITING),
    }
    # clearing a finished task makes it wait for its upstreams again
    | {(terminal, _T.PENDING) for terminal in TASK_TERMINAL}
)

_R = RunState
_RUN_TRANSITIONS: frozenset[tuple[RunState, RunState]] = frozenset(
    {
        (_R.QUEUED, _R.RUNNING),
        (_R.QUEUED, _R.CANCELLED),
        (_R.QUEUED, _R.FAILED),
        # a run whose depends_on are not met waits, then starts, times out (failed) or is cancelled
        (_R.QUEUED, _R.WAITING),
        (_R.WAITING, _R.RUNNING),
        (_R.WAITING, _R.QUEUED),
        (_R.WAITING, _R.FAILED),
        (_R.WAITING, _R.CANCELLED),
        (_R.RUNNING, _R.SUCCESS),
        (_R.RUNNING, _R.FAILED),
        (_R.RUNNING, _R.CANCELLED),
        # clearing a task of a finished run brings the run back
        (_R.SUCCESS, _R.QUEUED),
        (_R.FAILED, _R.QUEUED),
        (_R.CANCELLED, _R.QUEUED),
    }
)


# What a user's mark may do (orchestrator.core.run_controls), apart from the scheduler's machine above:
# set a task or run success or failed from any other state; marking a run failed skips the
# tasks that had not started (and see below). Only `Batch.move_task(..., mark=True)` / `move_run(..., mark=True)` use it.
_TASK_MARKS: frozenset[tuple[TaskState, TaskState]] = frozenset(
    {(state, marked) for state in _T for marked in (_T.SUCCESS, _T.FAILED) if state is not marked}
    | {(_T.PENDING, _T.SKIPPED), (_T.SCHEDULED, _T.SKIPPED), (_T.QUEUED, _T.SKIPPED)}
    # a task marked success lets the downstream it had made upstream_failed wait again
    | {(_T.UPSTREAM_FAILED, _T.PENDING)}
)
_RUN_MARKS: frozenset[tuple[RunState, RunState]] = frozenset(
    {(state, marked) for state in _R for marked in (_R.SUCCESS, _R.FAILED) if state is not marked}
)


def is_task_mark_allowed(current: TaskState, requested: TaskState) -> bool:
    """Whether a user's mark may set a task in `current` to `requested`."""
    return (current, requested) in _TASK_MARKS


def check_run_mark(current: RunState, requested: RunState, *, what: str = "run") -> None:
    """Raise `IllegalTransitionError` unless a user's mark may set a run in `current` to `requested`."""
    if (current, requested) not in _RUN_MARKS:
        raise IllegalTransitionError(what, current.value, requested.value, None)


def is_task_transition_allowed(current: TaskState, requested: TaskState) -> bool:
    """Whether the task state machine allows going from `current` to `requested`."""
    return (current, requested) in _TASK_TRANSITIONS


def check_task_transition(
    current: TaskState, requested: TaskState, *, what: str = "task", history: list[str] | None = None
) -> None:
    """Raise `IllegalTransitionError` unless the task transition is allowed."""
    if (current, requested) not in _TASK_TRANSITIONS:
        raise IllegalTransitionError(what, current.value, requested.value, history)


def check_run_transition(
    current: RunState, requested: RunState, *, what: str = "run", history: list[str] | None = None
) -> None:
    """Raise `IllegalTransitionError` unless the run transition is allowed."""
    if (current, requested) not in _RUN_TRANSITIONS:
        raise IllegalTransitionError(what, current.value, requested.value, history)


class Verdict(str, Enum):
    """What a trigger rule says about a task given its upstreams."""

    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(frozen=True)
class UpstreamSummary:
    """Counts of a task's direct upstreams by outcome."""

    total: int
    success: int = 0
    failed: int = 0
    upstream_failed: int = 0
    skipped: int = 0
    cancelled: int = 0

    @classmethod
    def of(cls, states: Iterable[TaskState]) -> UpstreamSummary:
        # list.count compares by identity in C: cheaper than a Counter for the one upstream most tasks have
        seen = list(states)
        return cls(
            len(seen), seen.count(TaskState.SUCCESS), seen.count(TaskState.FAILED), seen.count(TaskState.UPSTREAM_FAILED),
            seen.count(TaskState.SKIPPED), seen.count(TaskState.CANCELLED),
        )

    @property
    def done(self) -> int:
        return self.success + self.failed + self.upstream_failed + self.skipped + self.cancelled

    @property
    def all_done(self) -> bool:
        return self.done == self.total


def evaluate_trigger_rule(rule: TriggerRule, up: UpstreamSummary) -> Verdict:
    """Decide whether a task runs, waits, is skipped or fails because of its upstreams.

    Follows Airflow's semantics: a verdict is given as soon as the upstreams that are done
    settle it (one failed upstream settles all_success as upstream_failed at once); otherwise
    the task waits for the rest. A task with no upstreams always runs.
    """
    if up.total == 0 or rule is TriggerRule.ALWAYS:
        return Verdict.RUN
    failed = up.failed + up.upstream_failed
    if rule is TriggerRule.ONE_SUCCESS:
        if up.success:
            return Verdict.RUN
        if not up.all_done:
            return Verdict.WAIT
        return Verdict.SKIP if up.skipped == up.total else Verdict.UPSTREAM_FAILED
    if rule is TriggerRule.ONE_FAILED:
        if failed:
            return Verdict.RUN
        return Verdict.SKIP if up.all_done else Verdict.WAIT
    if rule is TriggerRule.ALL_SUCCESS:
        if failed or up.cancelled:
            return Verdict.UPSTREAM_FAILED
        if up.skipped:
            return Verdict.SKIP
        return Verdict.RUN if up.all_done else Verdict.WAIT
    if rule is TriggerRule.ALL_FAILED:
        if up.success or up.skipped or up.cancelled:
            return Verdict.SKIP
        return Verdict.RUN if up.all_done else Verdict.WAIT
    if rule is TriggerRule.NONE_FAILED:
        if failed or up.cancelled:
            return Verdict.UPSTREAM_FAILED
        return Verdict.RUN if up.all_done else Verdict.WAIT
    if rule is TriggerRule.NONE_SKIPPED:
        if up.skipped:
            return Verdict.SKIP
        return Verdict.RUN if up.all_done else Verdict.WAIT
    if rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        if failed or up.cancelled:
            return Verdict.UPSTREAM_FAILED
        if not up.all_done:
            return Verdict.WAIT
        return Verdict.RUN if up.success else Verdict.SKIP
    if rule is TriggerRule.ALL_DONE:
        return Verdict.RUN if up.all_done else Verdict.WAIT
    raise ValueError(f"unknown trigger rule {rule!r}")  # pragma: no cover - enum is closed


def evaluate_teardown(up: UpstreamSummary, setups: UpstreamSummary) -> Verdict:
    """A teardown (Airflow's all_done_setup_success): it runs once every upstream ended, whatever
    their outcome, provided one of its setups succeeded (or it has none); skipped otherwise."""
    if not up.all_done:
        return Verdict.WAIT
    return Verdict.RUN if setups.total == 0 or setups.success else Verdict.SKIP


WaitStrategy = int | Literal["all", "any", "majority"]
"""A task's `min_success`: how many of its direct upstreams must succeed (seed 004's wait strategies)."""


def required_successes(strategy: WaitStrategy, total: int) -> int:
    """How many of `total` upstreams must succeed: all of them, any one, more than half, or N."""
    if strategy == "all":
        return total
    if strategy == "any":
        return min(1, total)
    if strategy == "majority":
        return total // 2 + 1 if total else 0
    if isinstance(strategy, bool) or not isinstance(strategy, int):
        raise ValueError(f"min_success must be a whole number, 'all', 'any' or 'majority', not {strategy!r}")
    return strategy


def evaluate_min_success(required: int, up: UpstreamSummary) -> Verdict:
    """N of M: run as soon as `required` upstreams succeeded, without waiting for the others.

    When that can no longer happen (too few are left to succeed), the task is upstream_failed if
    an upstream failed or was cancelled, and skipped if the rest were only skipped.
    """
    if up.success >= required:
        return Verdict.RUN
    if up.success + (up.total - up.done) >= required:
        return Verdict.WAIT
    return Verdict.UPSTREAM_FAILED if up.failed + up.upstream_failed + up.cancelled else Verdict.SKIP


def run_outcome(leaf_states: Iterable[TaskState]) -> RunState:
    """The final state of a run whose tasks are all terminal, judged by its leaves."""
    return RunState.FAILED if any(s in TASK_FAILED_LIKE for s in leaf_states) else RunState.SUCCESS
