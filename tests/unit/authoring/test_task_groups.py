"""Task groups: prefixed ids, nesting, `>>` on a group's roots and leaves, and the DagSpec's groups."""

from __future__ import annotations

import pytest

from orchestrator import DAG, PythonTask, TaskGroup, task
from orchestrator.core.errors import DagDefinitionError, DuplicateTaskIdError


def noop() -> None:
    return None


@task
def step() -> int:
    return 1


def make(task_id: str) -> PythonTask:
    return PythonTask(task_id=task_id, python_callable=noop)


def test_a_task_made_inside_a_group_gets_the_group_id_as_prefix() -> None:
    with DAG("g"):
        with TaskGroup("extract"):
            fetch = make("fetch")
    assert fetch.task_id == "extract.fetch"


def test_nested_groups_join_their_ids_with_dots() -> None:
    with DAG("g"):
        with TaskGroup("extract"):
            with TaskGroup("api") as inner:
                fetch = make("fetch")
    assert (inner.group_id, fetch.task_id) == ("extract.api", "extract.api.fetch")


def test_decorated_tasks_called_twice_in_a_group_get_distinct_ids() -> None:
    with DAG("g") as dag:
        step()
        with TaskGroup("load"):
            step()
            step()
    assert sorted(dag.tasks) == ["load.step", "load.step__1", "step"]


def test_group_tasks_include_the_tasks_of_nested_groups() -> None:
    with DAG("g"):
        with TaskGroup("outer") as outer:
            a = make("a")
            with TaskGroup("inner"):
                b = make("b")
    assert outer.tasks == [a, b]


def test_roots_and_leaves_are_the_ends_of_the_group_chain() -> None:
    with DAG("g"):
        with TaskGroup("etl") as group:
            a, b, c = make("a"), make("b"), make("c")
            a >> [b, c]
    assert (group.roots, group.leaves) == ([a], [b, c])


def test_a_task_upstream_of_a_group_links_to_its_roots() -> None:
    with DAG("g"):
        start = make("start")
        with TaskGroup("etl") as group:
            a, b = make("a"), make("b")
            a >> b
        start >> group
    assert (a.upstream_ids, b.upstream_ids) == (["start"], ["etl.a"])


def test_a_group_upstream_of_a_task_links_from_its_leaves() -> None:
    with DAG("g"):
        with TaskGroup("etl") as group:
            make("a"), make("b")
        end = make("end")
        group >> end
    assert end.upstream_ids == ["etl.a", "etl.b"]


def test_a_group_links_to_another_group_leaves_to_roots() -> None:
    with DAG("g"):
        with TaskGroup("one") as one:
            a = make("a")
            b = make("b")
            a >> b
        with TaskGroup("two") as two:
            c = make("c")
        one >> two
    assert c.upstream_ids == ["one.b"]


def test_a_list_of_tasks_upstream_of_a_group_links_each() -> None:
    with DAG("g"):
        x, y = make("x"), make("y")
        with TaskGroup("etl") as group:
            a = make("a")
        [x, y] >> group
    assert a.upstream_ids == ["x", "y"]


def test_linking_an_empty_group_is_a_definition_error() -> None:
    with DAG("g"):
        start = make("start")
        group = TaskGroup("empty")
        with pytest.raises(DagDefinitionError, match="has no tasks"):
            start >> group


def test_two_groups_with_the_same_id_are_refused() -> None:
    with DAG("g"):
        TaskGroup("etl")
        with pytest.raises(DuplicateTaskIdError, match="etl"):
            TaskGroup("etl")


def test_a_group_cannot_share_a_task_id() -> None:
    with DAG("g"):
        make("etl")
        with pytest.raises(DuplicateTaskIdError, match="etl"):
            TaskGroup("etl")


@pytest.mark.parametrize("group_id", ["", "a.b", "with space", 3])
def test_a_bad_group_id_is_a_definition_error(group_id: object) -> None:
    with DAG("g"), pytest.raises(DagDefinitionError, match="group_id"):
        TaskGroup(group_id)  # type: ignore[arg-type]


def test_a_group_outside_a_dag_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="outside a DAG"):
        TaskGroup("etl")


def test_the_spec_keeps_groups_with_their_parents_and_tooltips() -> None:
    with DAG("g") as dag:
        with TaskGroup("extract", tooltip="pull the data"):
            with TaskGroup("api"):
                make("fetch")
    spec = dag.to_spec()
    assert [(g.group_id, g.parent, g.tooltip) for g in spec.task_groups] == [
        ("extract", None, "pull the data"),
        ("extract.api", "extract", None),
    ]
    assert spec.task_map["extract.api.fetch"].task_group == "extract.api"


def test_adding_a_group_around_a_task_makes_a_new_version() -> None:
    with DAG("g") as plain:
        make("a")
    with DAG("g") as grouped:
        with TaskGroup("etl"):
            make("a")
    assert plain.to_spec().version_hash != grouped.to_spec().version_hash
