"""DagSpec: the code-free form of a DAG, and its version hash."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pydantic
import pytest

from orchestrator import DAG, DagSpec, PythonTask, TaskSpec, TriggerRule


def noop() -> None:
    return None


def other() -> None:
    return None


def build(
    *,
    schedule: str | None = "@daily",
    rule: TriggerRule = TriggerRule.ALL_SUCCESS,
    fn: Callable[[], None] = noop,
    extra_task: bool = False,
    link: bool = True,
    retries: int = 1,
) -> DagSpec:
    """The same small DAG each time, unless an argument changes one thing about it."""
    with DAG("report", schedule=schedule, start_date=datetime(2026, 1, 1), params={"limit": 10, "mode": "full"}) as dag:
        a = PythonTask(task_id="a", python_callable=fn)
        b = PythonTask(task_id="b", python_callable=noop, trigger_rule=rule, retries=retries)
        if link:
            a >> b
        if extra_task:
            PythonTask(task_id="c", python_callable=noop)
    dag.fileloc = "/dags/report.py"
    return dag.to_spec()


def test_version_hash_is_stable_for_the_same_dag() -> None:
    assert build().version_hash == build().version_hash


def test_version_hash_ignores_the_order_params_were_written_in() -> None:
    one = build().model_copy(update={"params": {"limit": 10, "mode": "full"}})
    two = build().model_copy(update={"params": {"mode": "full", "limit": 10}})
    assert one.version_hash == two.version_hash


def test_version_hash_changes_when_a_task_is_added() -> None:
    assert build(extra_task=True).version_hash != build().version_hash


def test_version_hash_changes_when_a_dependency_changes() -> None:
    assert build(link=False).version_hash != build().version_hash


def test_version_hash_changes_when_a_trigger_rule_changes() -> None:
    assert build(rule=TriggerRule.ALL_DONE).version_hash != build().version_hash


def test_version_hash_changes_when_the_retry_policy_changes() -> None:
    assert build(retries=2).version_hash != build().version_hash


def test_version_hash_changes_when_the_schedule_changes() -> None:
    assert build(schedule="@hourly").version_hash != build().version_hash


def test_version_hash_changes_when_a_task_calls_another_function() -> None:
    assert build(fn=other).version_hash != build().version_hash


def test_spec_round_trips_through_json_with_the_same_hash() -> None:
    spec = build()
    again = DagSpec.model_validate_json(spec.model_dump_json())
    assert again == spec and again.version_hash == spec.version_hash


def test_spec_lists_tasks_upstreams_first_and_knows_downstreams_and_leaves() -> None:
    spec = build(extra_task=True)
    order = [t.task_id for t in spec.tasks]
    assert order.index("a") < order.index("b")
    assert spec.downstream == {"a": ("b",), "b": (), "c": ()}
    assert set(spec.leaves) == {"b", "c"}


def test_spec_names_the_callable_it_runs_without_holding_code() -> None:
    spec = build()
    assert spec.task_map["a"].callable == f"{__name__}:noop"
    assert spec.task_map["a"].step_type == "python"


def test_copy_with_changes_gets_its_own_version_hash_and_derived_views() -> None:
    spec = build()
    assert spec.version_hash and spec.leaves == ("b",)  # computed and cached on the original
    changed = spec.model_copy(update={"tasks": build(extra_task=True).tasks})
    assert changed.version_hash == build(extra_task=True).version_hash != spec.version_hash
    assert set(changed.leaves) == {"b", "c"}


def test_a_spec_whose_task_lists_a_later_or_unknown_upstream_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="not a task listed before it"):
        DagSpec(dag_id="d", fileloc="f.py", tasks=(TaskSpec(task_id="b", upstream=("a",)), TaskSpec(task_id="a")))


def test_a_spec_with_a_repeated_task_id_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="appears twice"):
        DagSpec(dag_id="d", fileloc="f.py", tasks=(TaskSpec(task_id="a"), TaskSpec(task_id="a")))
