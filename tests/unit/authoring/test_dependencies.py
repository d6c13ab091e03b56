"""Wiring dependencies: `>>`, `<<`, lists of tasks and results, and chain()."""

from __future__ import annotations

import pytest

from orchestrator import DAG, PythonTask, chain, task
from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.errors import DagDefinitionError


def noop() -> None:
    return None


def tasks(dag: DAG, *ids: str) -> list[BaseTask]:
    return [PythonTask(task_id=i, python_callable=noop, dag=dag) for i in ids]


def upstream(dag: DAG) -> dict[str, set[str]]:
    return {tid: set(t.upstream_ids) for tid, t in dag.tasks.items()}


def test_rshift_makes_the_right_task_downstream() -> None:
    dag = DAG("d")
    a, b = tasks(dag, "a", "b")
    a >> b
    assert upstream(dag) == {"a": set(), "b": {"a"}}


def test_lshift_makes_the_right_task_upstream() -> None:
    dag = DAG("d")
    a, b = tasks(dag, "a", "b")
    a << b
    assert upstream(dag) == {"a": {"b"}, "b": set()}


def test_rshift_returns_its_right_side_so_lines_read_left_to_right() -> None:
    dag = DAG("d")
    a, b, c = tasks(dag, "a", "b", "c")
    assert (a >> b >> c) is c
    assert upstream(dag) == {"a": set(), "b": {"a"}, "c": {"b"}}


def test_task_into_a_list_fans_out() -> None:
    dag = DAG("d")
    a, b, c = tasks(dag, "a", "b", "c")
    a >> [b, c]
    assert upstream(dag) == {"a": set(), "b": {"a"}, "c": {"a"}}


def test_list_into_a_task_fans_in() -> None:
    dag = DAG("d")
    a, b, c = tasks(dag, "a", "b", "c")
    [a, b] >> c
    assert upstream(dag) == {"a": set(), "b": set(), "c": {"a", "b"}}


def test_list_lshift_a_task_makes_the_task_upstream_of_the_list() -> None:
    dag = DAG("d")
    a, b, c = tasks(dag, "a", "b", "c")
    [a, b] << c
    assert upstream(dag) == {"a": {"c"}, "b": {"c"}, "c": set()}


def test_linking_twice_records_the_dependency_once() -> None:
    dag = DAG("d")
    a, b = tasks(dag, "a", "b")
    a >> b
    a >> b
    assert dag.tasks["b"].upstream_ids == ["a"]


def test_results_can_be_linked_like_tasks() -> None:
    with DAG("d") as dag:

        @task
        def one() -> int:
            return 1

        @task
        def two() -> int:
            return 2

        first, second = one(), two()
        first >> second
    assert upstream(dag) == {"one": set(), "two": {"one"}}


def test_linking_something_that_is_not_a_task_raises() -> None:
    dag = DAG("d")
    (a,) = tasks(dag, "a")
    with pytest.raises(DagDefinitionError, match="expected a task"):
        a >> "b"


def test_linking_tasks_of_different_dags_raises() -> None:
    (a,) = tasks(DAG("one"), "a")
    (b,) = tasks(DAG("two"), "b")
    with pytest.raises(DagDefinitionError, match="different DAGs"):
        a >> b


def test_chain_links_tasks_in_order() -> None:
    dag = DAG("d")
    chain(*tasks(dag, "a", "b", "c"))
    assert upstream(dag) == {"a": set(), "b": {"a"}, "c": {"b"}}


def test_chain_fans_out_to_and_in_from_a_list() -> None:
    dag = DAG("d")
    a, b, c, d = tasks(dag, "a", "b", "c", "d")
    chain(a, [b, c], d)
    assert upstream(dag) == {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}


def test_chain_links_two_adjacent_lists_pairwise() -> None:
    dag = DAG("d")
    a, b, c, d, e, f = tasks(dag, "a", "b", "c", "d", "e", "f")
    chain(a, [b, c], [d, e], f)
    assert upstream(dag) == {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b"}, "e": {"c"}, "f": {"d", "e"}}


def test_chain_of_lists_with_different_lengths_raises_naming_both_lengths() -> None:
    dag = DAG("d")
    a, b, c = tasks(dag, "a", "b", "c")
    with pytest.raises(DagDefinitionError, match=r"different lengths \(2 and 1\)"):
        chain([a, b], [c])


def test_chain_accepts_results_of_decorated_tasks() -> None:
    with DAG("d") as dag:

        @task
        def step() -> None:
            return None

        chain(step(), [step(), step()])
    assert upstream(dag) == {"step": set(), "step__1": {"step"}, "step__2": {"step"}}
