"""The task and run state machines: which transitions are allowed, and what a refusal says."""

from __future__ import annotations

import pytest

from orchestrator.core.errors import IllegalTransitionError
from orchestrator.core.states import (
    TASK_TERMINAL,
    RunState,
    TaskState,
    check_run_transition,
    check_task_transition,
    is_task_transition_allowed,
)

T = TaskState
R = RunState

# The life of a task as the scheduler, executor and users drive it.
ALLOWED_TASK = [
    (T.PENDING, T.QUEUED),  # ready: submitted
    (T.PENDING, T.SCHEDULED),
    (T.SCHEDULED, T.QUEUED),
    (T.QUEUED, T.RUNNING),  # a worker started it
    (T.RUNNING, T.SUCCESS),
    (T.RUNNING, T.FAILED),
    (T.RUNNING, T.UP_FOR_RETRY),
    (T.UP_FOR_RETRY, T.QUEUED),  # the retry is due
    (T.UP_FOR_RETRY, T.FAILED),
    (T.PENDING, T.UPSTREAM_FAILED),  # trigger rule verdicts
    (T.PENDING, T.SKIPPED),
    (T.QUEUED, T.PENDING),  # a chained upstream did not succeed
    (T.QUEUED, T.FAILED),  # lost by the executor before it started
    (T.RUNNING, T.SCHEDULED),  # orphaned by a scheduler that stopped
    (T.RUNNING, T.CANCELLED),
    (T.SUCCESS, T.PENDING),  # a user cleared it
    (T.FAILED, T.PENDING),
    (T.UPSTREAM_FAILED, T.PENDING),
]

REJECTED_TASK = [
    (T.PENDING, T.RUNNING),  # must be queued first
    (T.PENDING, T.SUCCESS),
    (T.PENDING, T.FAILED),
    (T.SCHEDULED, T.RUNNING),
    (T.QUEUED, T.SUCCESS),  # must have run
    (T.RUNNING, T.QUEUED),
    (T.RUNNING, T.RUNNING),
    (T.SUCCESS, T.RUNNING),
    (T.SUCCESS, T.FAILED),
    (T.FAILED, T.SUCCESS),
    (T.FAILED, T.UP_FOR_RETRY),
    (T.UPSTREAM_FAILED, T.QUEUED),
    (T.SKIPPED, T.RUNNING),
    (T.CANCELLED, T.QUEUED),
    (T.UP_FOR_RETRY, T.RUNNING),
    (T.UP_FOR_RETRY, T.SUCCESS),
]

ALLOWED_RUN = [
    (R.QUEUED, R.RUNNING),
    (R.QUEUED, R.CANCELLED),
    (R.RUNNING, R.SUCCESS),
    (R.RUNNING, R.FAILED),
    (R.RUNNING, R.CANCELLED),
    (R.SUCCESS, R.QUEUED),  # a task of a finished run was cleared
    (R.FAILED, R.QUEUED),
    (R.QUEUED, R.WAITING),  # its depends_on are not met
    (R.WAITING, R.RUNNING),  # they are now
    (R.WAITING, R.FAILED),  # it waited past a timeout
    (R.WAITING, R.CANCELLED),
    (R.WAITING, R.QUEUED),
]

REJECTED_RUN = [
    (R.QUEUED, R.SUCCESS),  # a run succeeds only after it ran
    (R.RUNNING, R.QUEUED),
    (R.RUNNING, R.RUNNING),
    (R.SUCCESS, R.RUNNING),
    (R.SUCCESS, R.FAILED),
    (R.FAILED, R.SUCCESS),
    (R.CANCELLED, R.RUNNING),
    (R.WAITING, R.SUCCESS),  # a waiting run has not run
    (R.WAITING, R.WAITING),
    (R.RUNNING, R.WAITING),  # dependencies are checked before a run starts, never after
]


def _ids(pairs: list[tuple[TaskState | RunState, TaskState | RunState]]) -> list[str]:
    return [f"{a.value}->{b.value}" for a, b in pairs]


@pytest.mark.parametrize(("current", "requested"), ALLOWED_TASK, ids=_ids(ALLOWED_TASK))
def test_task_transition_in_the_table_is_allowed(current: TaskState, requested: TaskState) -> None:
    check_task_transition(current, requested)
    assert is_task_transition_allowed(current, requested)


@pytest.mark.parametrize(("current", "requested"), REJECTED_TASK, ids=_ids(REJECTED_TASK))
def test_task_transition_outside_the_table_is_rejected(current: TaskState, requested: TaskState) -> None:
    assert not is_task_transition_allowed(current, requested)
    with pytest.raises(IllegalTransitionError):
        check_task_transition(current, requested)


@pytest.mark.parametrize("terminal", sorted(TASK_TERMINAL), ids=str)
def test_terminal_task_can_only_be_cleared_back_to_pending(terminal: TaskState) -> None:
    reachable = {s for s in TaskState if is_task_transition_allowed(terminal, s)}
    assert reachable == {TaskState.PENDING}


def test_no_task_state_may_transition_to_itself() -> None:
    assert [s for s in TaskState if is_task_transition_allowed(s, s)] == []


@pytest.mark.parametrize(("current", "requested"), ALLOWED_RUN, ids=_ids(ALLOWED_RUN))
def test_run_transition_in_the_table_is_allowed(current: RunState, requested: RunState) -> None:
    check_run_transition(current, requested)


@pytest.mark.parametrize(("current", "requested"), REJECTED_RUN, ids=_ids(REJECTED_RUN))
def test_run_transition_outside_the_table_is_rejected(current: RunState, requested: RunState) -> None:
    with pytest.raises(IllegalTransitionError):
        check_run_transition(current, requested)


def test_illegal_task_transition_error_carries_what_states_and_history() -> None:
    history = ["pending", "queued", "running", "success"]
    with pytest.raises(IllegalTransitionError) as info:
        check_task_transition(T.SUCCESS, T.RUNNING, what="etl/run1/extract", history=history)
    err = info.value
    assert (err.what, err.current, err.requested, err.history) == ("etl/run1/extract", "success", "running", history)
    assert "etl/run1/extract" in str(err)
    assert "pending -> queued -> running -> success" in str(err)


def test_illegal_run_transition_error_carries_history() -> None:
    with pytest.raises(IllegalTransitionError) as info:
        check_run_transition(R.SUCCESS, R.FAILED, what="etl/run1", history=["queued", "running", "success"])
    assert info.value.history == ["queued", "running", "success"]
    assert "queued -> running -> success" in str(info.value)


def test_illegal_transition_error_without_history_names_both_states() -> None:
    with pytest.raises(IllegalTransitionError) as info:
        check_task_transition(T.PENDING, T.SUCCESS)
    assert info.value.history == []
    assert "'pending'" in str(info.value) and "'success'" in str(info.value)
    assert "history" not in str(info.value)
