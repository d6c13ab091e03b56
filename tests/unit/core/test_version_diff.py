"""The difference between two versions of a DAG: tasks added, removed and changed field by field."""

from __future__ import annotations

from typing import Any

from orchestrator import DAG, PythonTask
from orchestrator.core.versions import FieldChange, diff_specs
from tests.fixtures import succeed, total


def spec(*, schedule_desc: str = "v1", params: dict[str, Any] | None = None, extra: bool = False, retries: int = 0) -> dict[str, Any]:
    with DAG("d", description=schedule_desc, params=params or {"region": "eu", "limit": 10}) as dag:
        a = PythonTask(task_id="a", python_callable=succeed)
        b = PythonTask(task_id="b", python_callable=succeed, retries=retries)
        a >> b
        if extra:
            b >> PythonTask(task_id="c", python_callable=total, op_args=[[1]])
        else:
            PythonTask(task_id="old", python_callable=succeed)
    return dag.to_spec().model_dump(mode="json")


def test_the_same_spec_has_no_difference() -> None:
    assert diff_specs(spec(), spec()).empty


def test_tasks_added_and_removed_are_listed() -> None:
    diff = diff_specs(spec(), spec(extra=True))
    assert (diff.tasks_added, diff.tasks_removed) == (["c"], ["old"])


def test_a_changed_task_lists_each_changed_field_with_old_and_new() -> None:
    diff = diff_specs(spec(), spec(retries=3))
    (change,) = diff.tasks_changed
    assert change.task_id == "b"
    assert change.changes == [FieldChange(field="retries", old=0, new=3)]


def test_dag_level_changes_name_the_field_and_the_key_of_an_object_field() -> None:
    diff = diff_specs(spec(), spec(schedule_desc="v2", params={"region": "us", "limit": 10}))
    assert diff.dag == [FieldChange(field="description", old="v1", new="v2"), FieldChange(field="params.region", old="eu", new="us")]
    assert not diff.tasks_changed


def test_a_version_stored_before_a_field_existed_is_read_with_that_field_at_its_default() -> None:
    old = spec()
    old.pop("input_schema")
    for task in old["tasks"]:
        task.pop("next_conditions")
    assert diff_specs(old, spec()).empty


def test_a_key_removed_from_an_object_field_has_no_new_value() -> None:
    diff = diff_specs(spec(params={"region": "eu", "limit": 10}), spec(params={"region": "eu"}))
    assert diff.dag == [FieldChange(field="params.limit", old=10, new=None)]
