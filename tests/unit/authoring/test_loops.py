"""Loop-back groups: the controller task a LoopGroup makes, and how its answer settles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator import DAG, LoopGroup, PythonTask
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.planner import TaskView
from orchestrator.core.settlement import loop_iteration, settle_outcome
from orchestrator.core.spec import LoopSpec, TaskSpec
from orchestrator.core.states import TaskState, TriggerRule

T = TaskState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
CONTROLLER = TaskSpec(task_id="review.repeat_until", loop=LoopSpec(group_id="review", tasks=("review.submit",), max_iterations=3))


def noop(*_args: object) -> None:
    return None


def approved(results: dict[str, Any]) -> bool:
    return results["review.decide"] == "approved"


def controller_view(result: Any = None, try_number: int = 1, max_tries: int = 1) -> TaskView:
    return TaskView(state=T.RUNNING, try_number=try_number, max_tries=max_tries, result=result)


# -- authoring ------------------------------------------------------------------------------------------
def review_dag() -> DAG:
    with DAG("review_loop") as d:
        prepare = PythonTask(task_id="prepare", python_callable=noop)
        with LoopGroup("review", repeat_until=approved, max_iterations=3) as review:
            PythonTask(task_id="submit", python_callable=noop) >> PythonTask(task_id="decide", python_callable=noop)
        prepare >> review >> PythonTask(task_id="publish", python_callable=noop)
    return d


def test_a_loop_group_ends_with_a_controller_that_waits_for_all_its_tasks() -> None:
    spec = review_dag().to_spec()
    controller = spec.task_map["review.repeat_until"]
    assert controller.upstream == ("review.submit", "review.decide")
    assert controller.loop == LoopSpec(group_id="review", tasks=("review.submit", "review.decide"), max_iterations=3)
    assert (controller.task_group, controller.trigger_rule) == ("review", TriggerRule.NONE_FAILED)


def test_the_tasks_after_a_loop_group_wait_for_its_controller() -> None:
    spec = review_dag().to_spec()
    assert (spec.task_map["review.submit"].upstream, spec.task_map["publish"].upstream) == (("prepare",), ("review.repeat_until",))


def test_the_controller_calls_repeat_until_with_the_groups_results() -> None:
    controller = review_dag().tasks["review.repeat_until"]
    assert controller.execute(None, {"review.submit": "v1", "review.decide": "approved"}) is True  # type: ignore[arg-type]


def test_an_empty_loop_group_is_a_definition_error() -> None:
    with DAG("empty_loop"), pytest.raises(DagDefinitionError, match="loop group 'nothing' has no tasks to repeat"):
        with LoopGroup("nothing", repeat_until=approved, max_iterations=2):
            pass


def test_max_iterations_must_be_at_least_one() -> None:
    with DAG("zero_loop"), pytest.raises(DagDefinitionError, match="max_iterations must be a whole number >= 1"):
        LoopGroup("zero", repeat_until=approved, max_iterations=0)


def test_repeat_until_must_be_callable() -> None:
    with DAG("no_condition"), pytest.raises(DagDefinitionError, match="repeat_until must be callable"):
        LoopGroup("review", repeat_until="approved", max_iterations=2)  # type: ignore[arg-type]


# -- deciding ---------------------------------------------------------------------------------------------
def test_a_true_answer_ends_the_loop() -> None:
    settled = settle_outcome(CONTROLLER, controller_view(), "success", NOW, None, result=True)
    assert (settled.state, settled.repeat, settled.result) == (T.SUCCESS, False, {"done": True, "iteration": 1})


def test_a_false_answer_below_max_iterations_repeats_the_group() -> None:
    settled = settle_outcome(CONTROLLER, controller_view({"iteration": 2}), "success", NOW, None, result=False)
    assert (settled.state, settled.repeat, settled.result) == (T.SUCCESS, True, {"done": False, "iteration": 2})
    assert settled.reason == "loop review: iteration 2 of at most 3 is not done; repeating"


def test_a_false_answer_at_max_iterations_fails_the_loop_with_the_reason() -> None:
    settled = settle_outcome(CONTROLLER, controller_view({"iteration": 3}), "success", NOW, None, result=False)
    assert (settled.state, settled.repeat) == (T.FAILED, False)
    assert settled.reason == "loop review reached max_iterations=3 without its repeat_until condition being met"


def test_a_retried_controller_keeps_its_iteration() -> None:
    settled = settle_outcome(CONTROLLER, controller_view({"iteration": 2}, max_tries=2), "failed", NOW, "ValueError: x", error_types=("ValueError",))
    assert (settled.state, loop_iteration(settled.result)) == (T.UP_FOR_RETRY, 2)


def test_a_controller_that_never_repeated_is_in_its_first_iteration() -> None:
    assert loop_iteration(None) == 1
