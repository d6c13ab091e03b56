"""The planner's admission step: ready tasks go out by priority, and `admit` may hold them."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.core.planner import Hold, Submit, TaskView, plan_run
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import TaskState

T = TaskState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def dag(*tasks: TaskSpec) -> DagSpec:
    return DagSpec(dag_id="d", fileloc="d.py", tasks=tasks)


def t(task_id: str, *upstream: str, **fields: object) -> TaskSpec:
    return TaskSpec(task_id=task_id, upstream=upstream, **fields)


def views(**states: TaskState) -> dict[str, TaskView]:
    return {tid: TaskView(state=s) for tid, s in states.items()}


def slots(n: int, pool: str = "p"):  # noqa: ANN201 - an Admit
    """An admission with `n` free slots in `pool`, counting what it lets go."""
    used = [0]

    def admit(task: TaskSpec) -> tuple[TaskState, str] | None:
        if task.pool != pool:
            return None
        if used[0] >= n:
            return T.SCHEDULED, f"pool {pool} is full"
        used[0] += 1
        return None

    return admit


def test_ready_tasks_are_submitted_highest_priority_first() -> None:
    spec = dag(t("low"), t("high", priority_weight=10), t("mid", priority_weight=5))
    commands = plan_run(spec, views(low=T.PENDING, high=T.PENDING, mid=T.PENDING), NOW, chains=False)
    assert [c.task_id for c in commands] == ["high", "mid", "low"]


def test_equal_priorities_keep_the_dag_order() -> None:
    spec = dag(t("a"), t("b"), t("c"))
    assert [c.task_id for c in plan_run(spec, views(a=T.PENDING, b=T.PENDING, c=T.PENDING), NOW, chains=False)] == ["a", "b", "c"]


def test_tasks_beyond_the_free_slots_are_held_and_the_highest_priority_gets_the_slot() -> None:
    spec = dag(t("a", pool="p"), t("b", pool="p", priority_weight=3), t("c"))
    commands = plan_run(spec, views(a=T.PENDING, b=T.PENDING, c=T.PENDING), NOW, chains=False, admit=slots(1))
    assert Submit("b") in commands and Submit("c") in commands
    assert Hold("a", T.SCHEDULED, "pool p is full") in commands


def test_a_held_task_is_not_chained_to_and_its_chained_downstream_is_dropped() -> None:
    spec = dag(t("a", pool="p"), t("b", "a"), t("c", "b"))
    commands = plan_run(spec, views(a=T.PENDING, b=T.PENDING, c=T.PENDING), NOW, chains=True, admit=slots(0))
    assert commands == [Hold("a", T.SCHEDULED, "pool p is full")]


def test_chained_downstream_of_an_admitted_task_is_submitted_after_it() -> None:
    spec = dag(t("a", pool="p"), t("b", "a"))
    commands = plan_run(spec, views(a=T.PENDING, b=T.PENDING), NOW, chains=True, admit=slots(1))
    assert commands == [Submit("a"), Submit("b", after=("a",))]


def test_a_waiting_task_is_submitted_once_admitted() -> None:
    spec = dag(t("a"), t("b", "a"))
    assert plan_run(spec, views(a=T.SUCCESS, b=T.WAITING), NOW, chains=False) == [Submit("b")]


def test_a_due_retry_can_be_held_without_using_a_try() -> None:
    spec = dag(t("a", retries=2, conn_id="api"))
    view = TaskView(state=T.UP_FOR_RETRY, try_number=1, max_tries=3, next_retry_at=NOW)
    commands = plan_run(spec, {"a": view}, NOW, chains=False, admit=lambda task: (T.WAITING, "circuit api is open"))
    assert commands == [Hold("a", T.WAITING, "circuit api is open")]
    assert view.try_number == 1
