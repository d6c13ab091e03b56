"""Saga compensation: when a run fails, the compensations of the tasks that succeeded run newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator import DAG, PythonTask, TaskGroup
from orchestrator.core.compensation import compensation_order
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.planner import FinishRun, Settle, Submit, TaskView, plan_run
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import RunState, TaskState

T = TaskState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def t(task_id: str, *upstream: str, **fields: Any) -> TaskSpec:
    return TaskSpec(task_id=task_id, upstream=upstream, **fields)


# reserve >> charge >> ship, each undone by its own compensation; `audit` runs beside them
SAGA = DagSpec(dag_id="saga", fileloc="saga.py", tasks=(
    t("reserve", compensate="release"),
    t("audit", compensate="unaudit"),
    t("charge", "reserve", compensate="refund"),
    t("ship", "charge", compensate="unship"),
    t("release", "reserve"),
    t("unaudit"),
    t("refund", "charge"),
    t("unship"),
))


def done(state: TaskState, minute: int) -> TaskView:
    return TaskView(state=state, try_number=1, end_date=NOW + timedelta(minutes=minute))


def failed_saga(**comps: TaskState) -> dict[str, TaskView]:
    """reserve (minute 1), charge (3) and audit (2) succeeded, ship failed (4)."""
    tasks = {
        "reserve": done(T.SUCCESS, 1), "audit": done(T.SUCCESS, 2), "charge": done(T.SUCCESS, 3), "ship": done(T.FAILED, 4),
    }
    for comp in ("release", "unaudit", "refund", "unship"):
        tasks[comp] = TaskView(state=comps.get(comp, T.PENDING))
    return tasks


def noop(*_args: object) -> None:
    return None


def test_the_tasks_that_succeeded_are_compensated_newest_first() -> None:
    assert compensation_order(SAGA, failed_saga()) == [("charge", "refund"), ("audit", "unaudit"), ("reserve", "release")]


def test_tasks_that_ended_together_are_compensated_in_reverse_dag_order() -> None:
    tasks = failed_saga()
    tasks["audit"].end_date = tasks["reserve"].end_date
    assert [c for _, c in compensation_order(SAGA, tasks)] == ["refund", "unaudit", "release"]


def test_a_failed_run_first_skips_what_has_nothing_to_compensate_and_runs_the_newest_compensation() -> None:
    assert plan_run(SAGA, failed_saga(), NOW, chains=False) == [
        Settle("unship", T.SKIPPED, "nothing to compensate: ship did not succeed"),
        Submit("refund", reason="compensating charge: 1 of 3, in reverse order of completion"),
    ]


def test_the_next_compensation_waits_for_the_one_before_it() -> None:
    assert plan_run(SAGA, failed_saga(unship=T.SKIPPED, refund=T.RUNNING), NOW, chains=False) == []


def test_a_compensation_runs_once_the_one_before_it_ended_even_if_it_failed() -> None:
    assert plan_run(SAGA, failed_saga(unship=T.SKIPPED, refund=T.FAILED), NOW, chains=False) == [
        Submit("unaudit", reason="compensating audit: 2 of 3, in reverse order of completion"),
    ]


def test_the_run_ends_failed_once_every_compensation_ended() -> None:
    tasks = failed_saga(unship=T.SKIPPED, refund=T.SUCCESS, unaudit=T.SUCCESS, release=T.SUCCESS)
    assert plan_run(SAGA, tasks, NOW, chains=False) == [FinishRun(RunState.FAILED)]


def test_compensations_wait_while_other_tasks_of_the_run_are_unfinished() -> None:
    tasks = failed_saga()
    tasks["audit"] = TaskView(state=T.RUNNING)
    assert plan_run(SAGA, tasks, NOW, chains=False) == []


def test_a_run_that_succeeds_skips_every_compensation() -> None:
    tasks = failed_saga()
    tasks["ship"] = done(T.SUCCESS, 4)
    assert plan_run(SAGA, tasks, NOW, chains=False) == [
        *(Settle(c, T.SKIPPED, "nothing to compensate: the run succeeded") for c in ("release", "unaudit", "refund", "unship")),
        FinishRun(RunState.SUCCESS),
    ]


def test_a_compensation_task_is_never_run_with_the_flow() -> None:
    fresh = {tid: TaskView() for tid in SAGA.task_map}
    assert plan_run(SAGA, fresh, NOW, chains=False) == [Submit("reserve"), Submit("audit")]


def test_the_leaves_that_judge_the_run_leave_compensations_out() -> None:
    assert SAGA.flow_leaves == ("audit", "ship")


# -- authoring ------------------------------------------------------------------------------------------
def test_a_callable_compensation_becomes_a_task_given_the_compensated_result() -> None:
    with DAG("callable_comp") as d:
        PythonTask(task_id="charge", python_callable=noop, compensate=noop)
    spec = d.to_spec()
    assert spec.task_map["charge"].compensate == "charge__compensate"
    assert spec.task_map["charge__compensate"].upstream == ("charge",)
    assert d.tasks["charge__compensate"].execute(None, {"charge": "ch_1"}) is None  # type: ignore[arg-type]


def test_a_callable_compensation_is_made_in_the_group_of_its_task() -> None:
    with DAG("grouped_comp") as d, TaskGroup("pay"):
        PythonTask(task_id="charge", python_callable=noop, compensate=noop)
    assert d.to_spec().task_map["pay.charge"].compensate == "pay.charge__compensate"


def test_nothing_may_wait_for_a_compensation_task() -> None:
    with DAG("waits_for_comp") as d:
        refund = PythonTask(task_id="refund", python_callable=noop)
        PythonTask(task_id="charge", python_callable=noop, compensate=refund)
        refund >> PythonTask(task_id="after", python_callable=noop)
    with pytest.raises(DagDefinitionError, match="compensation task 'refund' runs only when the run fails: no task may wait for it"):
        d.to_spec()


def test_one_task_cannot_compensate_two() -> None:
    with DAG("shared_comp") as d:
        undo = PythonTask(task_id="undo", python_callable=noop)
        PythonTask(task_id="a", python_callable=noop, compensate=undo)
        PythonTask(task_id="b", python_callable=noop, compensate="undo")
    with pytest.raises(DagDefinitionError, match="task 'undo' compensates both 'a' and 'b'"):
        d.to_spec()


def test_compensating_with_a_task_the_dag_lacks_is_a_definition_error() -> None:
    with DAG("ghost_comp") as d:
        PythonTask(task_id="a", python_callable=noop, compensate="ghost")
    with pytest.raises(DagDefinitionError, match="compensate names 'ghost', which is not another task of the DAG"):
        d.to_spec()


def test_a_run_stopped_by_a_failure_still_compensates_what_succeeded() -> None:
    spec = DagSpec(dag_id="stopped_saga", fileloc="s.py", tasks=(
        t("charge", compensate="refund"), t("ship", "charge", on_failure="stop"), t("notify", "ship"), t("refund", "charge"),
    ))
    tasks = {"charge": done(T.SUCCESS, 1), "ship": done(T.FAILED, 2), "notify": TaskView(), "refund": TaskView()}
    assert plan_run(spec, tasks, NOW, chains=False, candidates={"ship"}) == [
        Settle("notify", T.CANCELLED, "the run stopped: ship failed (on_failure=stop)"),
        Submit("refund", reason="compensating charge: 1 of 1, in reverse order of completion"),
    ]
