"""Dynamic mapping: authoring (`expand`, `map`, `partial`), and the pure expansion functions."""

from __future__ import annotations

import pytest

from orchestrator import DAG, PythonTask, TaskGroup, task
from orchestrator.core.errors import BranchError, DagDefinitionError
from orchestrator.core.mapping import MAX_MAP_LENGTH, MappingError, gather_state, map_items, map_length
from orchestrator.core.spec import MapSource
from orchestrator.core.states import TaskState


def numbers() -> list[int]:
    return [1, 2, 3]


def square(x: int) -> int:
    return x * x


def power(x: int, exponent: int) -> int:
    return x**exponent


def choose() -> str:
    return "left"


# -- authoring ---------------------------------------------------------------------------------------
def test_map_maps_the_first_parameter_over_an_upstream_result() -> None:
    with DAG("m") as dag:
        task(square).map(task(numbers)())
    spec = dag.to_spec().task_map["square"]
    assert (spec.mapped, spec.upstream) == ((MapSource(arg="x", task_id="numbers"),), ("numbers",))


def test_expand_takes_an_item_of_a_result_and_partial_fixes_the_other_arguments() -> None:
    with DAG("m") as dag:
        rows = task(numbers)()
        task(power).partial(exponent=3).expand(x=rows["values"])
    spec = dag.to_spec().task_map["power"]
    assert spec.mapped == (MapSource(arg="x", task_id="numbers", key="values"),)
    assert "'exponent': 3" in spec.args_repr


def test_a_literal_list_is_kept_in_the_spec() -> None:
    with DAG("m") as dag:
        task(square).expand(x=[1, 2, 3])
    assert dag.to_spec().task_map["square"].mapped == (MapSource(arg="x", values=(1, 2, 3)),)


def test_a_python_task_can_be_mapped_too() -> None:
    with DAG("m") as dag:
        PythonTask(task_id="sq", python_callable=power, op_kwargs={"exponent": 2}).expand(x=[4, 5])
    assert dag.to_spec().task_map["sq"].mapped == (MapSource(arg="x", values=(4, 5)),)


def test_the_mapped_task_as_an_instance_gets_its_items_as_arguments() -> None:
    with DAG("m"):
        mapped = PythonTask(task_id="sq", python_callable=power, op_kwargs={"exponent": 2}).expand(x=[4, 5])
    assert mapped.for_map_items({"x": 5}).execute(None, {}) == 25  # type: ignore[arg-type]
    assert mapped.op_kwargs == {"exponent": 2}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: task(square).expand(y=[1]), "has no parameter 'y'"),
        (lambda: task(square).expand(), "at least one argument"),
        (lambda: task(square).expand(x=3), "takes another task's result or a list, not int"),
        (lambda: task(square).expand(x=[object()]), "must hold JSON values"),
        (lambda: task(square).expand(x=list(range(MAX_MAP_LENGTH + 1))), f"over the limit of {MAX_MAP_LENGTH}"),
        (lambda: task(power).partial(x=1).expand(x=[1]), "both a fixed and a mapped argument"),
        (lambda: task(numbers).map([1]), "no free positional parameter"),
        (lambda: task.branch(choose).expand(x=[1]), "cannot be mapped"),
    ],
)
def test_a_bad_mapping_is_a_definition_error(make: object, message: str) -> None:
    with DAG("m"), pytest.raises(DagDefinitionError, match=message):
        make()  # type: ignore[operator]


def test_mapping_over_a_result_also_passed_as_fixed_argument_is_refused() -> None:
    with DAG("m"):
        items = task(numbers)()
        with pytest.raises(DagDefinitionError, match="also takes it as a fixed argument"):
            task(power).partial(exponent=items).expand(x=items)


# -- expansion ---------------------------------------------------------------------------------------
UP = MapSource(arg="x", task_id="up")


def test_the_length_is_the_product_of_the_lists() -> None:
    sources = [MapSource(arg="a", values=("p", "q")), MapSource(arg="b", task_id="up")]
    assert map_length(sources, {"up": [1, 2, 3]}) == 6


def test_the_last_argument_varies_fastest() -> None:
    sources = [MapSource(arg="a", values=("p", "q")), MapSource(arg="b", task_id="up")]
    assert [map_items(sources, {"up": [1, 2, 3]}, i) for i in (0, 1, 3, 5)] == [
        {"a": "p", "b": 1}, {"a": "p", "b": 2}, {"a": "q", "b": 1}, {"a": "q", "b": 3},
    ]


def test_an_item_of_a_result_can_be_the_list() -> None:
    assert map_items([MapSource(arg="x", task_id="up", key="rows")], {"up": {"rows": ["r0", "r1"]}}, 1) == {"x": "r1"}


@pytest.mark.parametrize(
    ("results", "message"),
    [({"up": None}, "it is NoneType, not a list"), ({"up": "abc"}, "it is str, not a list")],
)
def test_an_input_that_is_not_a_list_cannot_be_mapped(results: dict, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        map_length([UP], results)


def test_a_missing_item_of_a_result_cannot_be_mapped() -> None:
    with pytest.raises(MappingError, match=r"the result of 'up'\['rows'\]: it has no such item"):
        map_length([MapSource(arg="x", task_id="up", key="rows")], {"up": {}})


def test_exactly_the_limit_is_allowed() -> None:
    assert map_length([UP], {"up": [0] * MAX_MAP_LENGTH}) == MAX_MAP_LENGTH


@pytest.mark.parametrize(
    ("states", "gathered"),
    [
        ([TaskState.SUCCESS, TaskState.SUCCESS], TaskState.SUCCESS),
        ([TaskState.SUCCESS, TaskState.FAILED], TaskState.FAILED),
        ([TaskState.CANCELLED, TaskState.SUCCESS], TaskState.FAILED),
        ([TaskState.SUCCESS, TaskState.UP_FOR_RETRY], None),
        ([TaskState.RUNNING, TaskState.FAILED], None),
    ],
)
def test_the_mapped_task_state_once_its_instances_ended(states: list[TaskState], gathered: TaskState | None) -> None:
    assert gather_state(states) is gathered


# -- branches: what a decision may follow -------------------------------------------------------------
def branch_dag() -> object:
    with DAG("b") as dag:
        decide = PythonTask(task_id="start", python_callable=choose)
        pick = task.branch(choose)()
        decide >> pick
        left = PythonTask(task_id="left", python_callable=choose)
        with TaskGroup("right") as right:
            PythonTask(task_id="one", python_callable=choose)
            PythonTask(task_id="two", python_callable=choose)
        pick >> [left, right]
    return dag


@pytest.mark.parametrize(
    ("returned", "followed"),
    [("left", ("left",)), (["left", "left"], ("left",)), ("right", ("right.one", "right.two")), (None, ()), ([], ())],
)
def test_a_branch_follows_task_ids_or_a_groups_tasks(returned: object, followed: tuple[str, ...]) -> None:
    assert branch_dag().get_task("choose").follow(returned) == followed  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("returned", "message"),
    [("start", "not one of its direct downstream tasks \\(left, right.one, right.two\\)"), (3, "must return a task id")],
)
def test_a_branch_that_returns_something_else_fails(returned: object, message: str) -> None:
    with pytest.raises(BranchError, match=message):
        branch_dag().get_task("choose").follow(returned)  # type: ignore[attr-defined]


def test_a_branch_is_marked_in_its_spec() -> None:
    spec = branch_dag().to_spec()  # type: ignore[attr-defined]
    assert (spec.task_map["choose"].branch, spec.task_map["left"].branch) == (True, False)


# -- wait strategies as authored -----------------------------------------------------------------------
@pytest.mark.parametrize(("value", "message"), [(4, "from 1 to its 3 upstreams"), ("most", "'all', 'any', 'majority'")])
def test_a_bad_min_success_is_a_definition_error(value: object, message: str) -> None:
    with DAG("w") as dag:
        ups = [PythonTask(task_id=f"u{i}", python_callable=choose) for i in range(3)]
        ups >> PythonTask(task_id="join", python_callable=choose, min_success=value)
    with pytest.raises(DagDefinitionError, match=message):
        dag.to_spec()


def test_min_success_and_a_trigger_rule_together_are_refused() -> None:
    with DAG("w") as dag:
        PythonTask(task_id="u", python_callable=choose) >> PythonTask(
            task_id="join", python_callable=choose, min_success="any", trigger_rule="all_done"
        )
    with pytest.raises(DagDefinitionError, match="min_success replaces trigger_rule"):
        dag.to_spec()
