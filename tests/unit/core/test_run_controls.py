"""Run controls as pure decisions: what a mark sets, and what the planner then decides downstream."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.core.errors import ConflictError, IllegalTransitionError, NotFoundError
from orchestrator.core.planner import Settle, Submit, TaskView, plan_run
from orchestrator.core.run_controls import InvalidMarkError, TaskMark, mark_run, mark_task, markable_state
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import RunState, TaskState, TriggerRule, check_run_mark, is_task_mark_allowed, is_task_transition_allowed

T = TaskState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def dag(*tasks: TaskSpec) -> DagSpec:
    return DagSpec(dag_id="d", fileloc="d.py", tasks=tasks)


def t(task_id: str, *upstream: str, rule: TriggerRule = TriggerRule.ALL_SUCCESS) -> TaskSpec:
    return TaskSpec(task_id=task_id, upstream=upstream, trigger_rule=rule)


def views(**states: TaskState) -> dict[str, TaskView]:
    return {tid: TaskView(state=s) for tid, s in states.items()}


def apply(tasks: dict[str, TaskView], marks: list[TaskMark]) -> dict[str, TaskView]:
    for m in marks:
        (tasks[m.task_id] if m.map_index < 0 else tasks[m.task_id].instances[m.map_index]).state = m.to
    return tasks


LINE = dag(t("a"), t("b", "a"), t("c", "b"))  # a >> b >> c
JOIN = dag(t("a"), t("ok", "a"), t("cleanup", "a", rule=TriggerRule.ALL_DONE), t("alert", "a", rule=TriggerRule.ONE_FAILED))


def test_marking_a_running_task_success_sets_only_that_task() -> None:
    assert mark_task(LINE, views(a=T.RUNNING, b=T.PENDING, c=T.PENDING), "a", T.SUCCESS) == [TaskMark("a", -1, T.SUCCESS)]


def test_after_a_task_is_marked_success_its_downstream_is_submitted() -> None:
    tasks = apply(views(a=T.RUNNING, b=T.PENDING, c=T.PENDING), mark_task(LINE, views(a=T.RUNNING, b=T.PENDING, c=T.PENDING), "a", T.SUCCESS))
    assert plan_run(LINE, tasks, NOW, chains=False) == [Submit("b")]


def test_marking_a_failed_task_success_lets_the_downstream_it_blocked_wait_again() -> None:
    before = views(a=T.FAILED, b=T.UPSTREAM_FAILED, c=T.UPSTREAM_FAILED)
    assert mark_task(LINE, before, "a", T.SUCCESS) == [
        TaskMark("a", -1, T.SUCCESS), TaskMark("b", -1, T.PENDING), TaskMark("c", -1, T.PENDING),
    ]


def test_marking_success_leaves_downstream_that_finished_otherwise_alone() -> None:
    before = views(a=T.FAILED, ok=T.UPSTREAM_FAILED, cleanup=T.SUCCESS, alert=T.SUCCESS)
    assert mark_task(JOIN, before, "a", T.SUCCESS) == [TaskMark("a", -1, T.SUCCESS), TaskMark("ok", -1, T.PENDING)]


def test_after_a_task_is_marked_failed_the_planner_follows_each_trigger_rule() -> None:
    tasks = views(a=T.RUNNING, ok=T.PENDING, cleanup=T.PENDING, alert=T.PENDING)
    commands = plan_run(JOIN, apply(tasks, mark_task(JOIN, tasks, "a", T.FAILED)), NOW, chains=False)
    assert [(c.task_id, c.state) for c in commands if isinstance(c, Settle)] == [("ok", T.UPSTREAM_FAILED)]
    assert {c.task_id for c in commands if isinstance(c, Submit)} == {"cleanup", "alert"}


def test_marking_a_task_with_its_own_state_is_a_conflict() -> None:
    with pytest.raises(ConflictError, match="success already"):
        mark_task(LINE, views(a=T.SUCCESS, b=T.PENDING, c=T.PENDING), "a", T.SUCCESS)


def test_marking_a_task_of_a_run_without_tasks_is_a_conflict() -> None:
    with pytest.raises(ConflictError, match="not started"):
        mark_task(LINE, {}, "a", T.SUCCESS)


def test_marking_an_unknown_task_names_it() -> None:
    with pytest.raises(NotFoundError, match="'zz'"):
        mark_task(LINE, views(a=T.RUNNING), "zz", T.SUCCESS)


def test_a_mark_other_than_success_or_failed_is_refused_with_the_allowed_states() -> None:
    with pytest.raises(InvalidMarkError, match="'success' or 'failed'"):
        markable_state("skipped")


def test_marking_a_mapped_task_marks_its_unfinished_instances() -> None:
    mapped = TaskView(state=T.RUNNING, instances=[TaskView(state=T.SUCCESS), TaskView(state=T.RUNNING), TaskView(state=T.PENDING)])
    assert mark_task(dag(t("m")), {"m": mapped}, "m", T.FAILED) == [
        TaskMark("m", 1, T.FAILED), TaskMark("m", 2, T.FAILED), TaskMark("m", -1, T.FAILED),
    ]


def test_marking_a_run_success_sets_every_unfinished_task_success() -> None:
    marks = mark_run(views(a=T.SUCCESS, b=T.RUNNING, c=T.PENDING), RunState.SUCCESS)
    assert marks == [TaskMark("b", -1, T.SUCCESS), TaskMark("c", -1, T.SUCCESS)]


def test_marking_a_run_failed_fails_started_tasks_and_skips_the_others() -> None:
    tasks = views(a=T.RUNNING, w=T.WAITING, r=T.UP_FOR_RETRY, q=T.QUEUED, p=T.PENDING, s=T.SCHEDULED, done=T.SUCCESS)
    assert {m.task_id: m.to for m in mark_run(tasks, RunState.FAILED)} == {
        "a": T.FAILED, "w": T.FAILED, "r": T.FAILED, "q": T.SKIPPED, "p": T.SKIPPED, "s": T.SKIPPED,
    }


def test_a_run_can_be_marked_only_success_or_failed() -> None:
    with pytest.raises(InvalidMarkError):
        mark_run(views(a=T.RUNNING), RunState.CANCELLED)


def test_marks_have_their_own_transition_table_beside_the_schedulers() -> None:
    assert is_task_mark_allowed(T.PENDING, T.SUCCESS) and not is_task_transition_allowed(T.PENDING, T.SUCCESS)
    assert is_task_mark_allowed(T.FAILED, T.SUCCESS) and not is_task_mark_allowed(T.SUCCESS, T.RUNNING)
    check_run_mark(RunState.FAILED, RunState.SUCCESS)
    with pytest.raises(IllegalTransitionError):
        check_run_mark(RunState.SUCCESS, RunState.CANCELLED)
