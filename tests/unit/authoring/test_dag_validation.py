"""Malformed DAGs raise the specific DagDefinitionError, with a message that says what to fix."""

from __future__ import annotations

from datetime import datetime

import pytest

from orchestrator import DAG, PythonTask, task
from orchestrator.core.errors import CycleError, DagDefinitionError, DuplicateTaskIdError


def noop() -> None:
    return None


def python_task(task_id: str, dag: DAG | None = None, **kwargs: object) -> PythonTask:
    return PythonTask(task_id=task_id, python_callable=noop, dag=dag, **kwargs)


def test_duplicate_task_id_raises_duplicate_task_id_error_naming_dag_and_task() -> None:
    dag = DAG("dup")
    python_task("load", dag)
    with pytest.raises(DuplicateTaskIdError, match="'dup'.*'load'"):
        python_task("load", dag)


def test_cycle_raises_cycle_error_naming_the_tasks_in_it() -> None:
    dag = DAG("loop")
    a, b, c, d = (python_task(i, dag) for i in "abcd")
    a >> b >> c >> b
    c >> d
    with pytest.raises(CycleError, match="b, c") as info:
        dag.to_spec()
    assert "'a'" not in str(info.value) and "loop" in str(info.value)


def test_task_depending_on_itself_is_a_cycle() -> None:
    dag = DAG("self_loop")
    a = python_task("a", dag)
    a >> a
    with pytest.raises(CycleError):
        dag.to_spec()


@pytest.mark.parametrize("dag_id", ["", "has space", "slash/es", "ünïcode", "x" * 251, "etl\n", 42])
def test_invalid_dag_id_raises_naming_the_allowed_characters(dag_id: object) -> None:
    with pytest.raises(DagDefinitionError, match="letters, digits"):
        DAG(dag_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("dag_id", ["etl", "Team-A.daily_report", "x" * 250])
def test_valid_dag_id_is_accepted(dag_id: str) -> None:
    assert DAG(dag_id).dag_id == dag_id


@pytest.mark.parametrize("task_id", ["", "has space", "a/b", "a:b", "x" * 251, None])
def test_invalid_task_id_raises_naming_the_allowed_characters(task_id: object) -> None:
    with pytest.raises(DagDefinitionError, match="task_id .* is not valid"):
        python_task(task_id, DAG("d"))  # type: ignore[arg-type]


def test_task_outside_a_dag_raises_saying_where_to_create_it() -> None:
    with pytest.raises(DagDefinitionError, match="outside a DAG.*with DAG"):
        python_task("orphan")


def test_decorated_task_called_outside_a_dag_raises() -> None:
    @task
    def orphan() -> None:
        return None

    with pytest.raises(DagDefinitionError, match="'orphan' was called outside a DAG"):
        orphan()


def test_unknown_trigger_rule_raises_listing_the_known_ones() -> None:
    dag = DAG("d")
    python_task("t", dag, trigger_rule="sometimes")
    with pytest.raises(DagDefinitionError, match="'sometimes'.*all_success.*always"):
        dag.to_spec()


def test_unknown_trigger_rule_in_default_args_raises() -> None:
    dag = DAG("d", default_args={"trigger_rule": "whenever"})
    python_task("t", dag)
    with pytest.raises(DagDefinitionError, match="'whenever'"):
        dag.to_spec()


@pytest.mark.parametrize("retries", [-1, 1.5, "3", True, None])
def test_bad_retries_raise_asking_for_a_whole_number(retries: object) -> None:
    dag = DAG("d")
    python_task("t", dag, retries=retries)
    with pytest.raises(DagDefinitionError, match="retries must be a whole number >= 0"):
        dag.to_spec()


def test_bad_retry_backoff_raises_naming_the_choices() -> None:
    dag = DAG("d")
    python_task("t", dag, retry_backoff="linear")
    with pytest.raises(DagDefinitionError, match="'fixed' or 'exponential'"):
        dag.to_spec()


@pytest.mark.parametrize("setting", ["retry_delay", "max_retry_delay", "execution_timeout"])
def test_duration_that_is_not_a_timedelta_or_seconds_raises(setting: str) -> None:
    dag = DAG("d")
    python_task("t", dag, **{setting: "5 minutes"})
    with pytest.raises(DagDefinitionError, match=f"{setting} must be a timedelta"):
        dag.to_spec()


@pytest.mark.parametrize("setting", ["retry_delay", "max_retry_delay", "execution_timeout"])
def test_negative_duration_raises(setting: str) -> None:
    dag = DAG("d")
    python_task("t", dag, **{setting: -5})
    with pytest.raises(DagDefinitionError, match=f"{setting} must not be negative"):
        dag.to_spec()


def test_python_callable_that_is_not_callable_raises() -> None:
    with pytest.raises(DagDefinitionError, match="python_callable must be callable"):
        PythonTask(task_id="t", python_callable="noop", dag=DAG("d"))  # type: ignore[arg-type]


def test_max_active_runs_below_one_raises() -> None:
    with pytest.raises(DagDefinitionError, match="max_active_runs"):
        DAG("d", max_active_runs=0)


def test_schedule_of_the_wrong_type_raises() -> None:
    with pytest.raises(DagDefinitionError, match="schedule must be None, a cron string or a preset"):
        DAG("d", schedule=3600, start_date=datetime(2026, 1, 1))  # type: ignore[arg-type]
