"""TriggerDagRunTask: what it puts in the spec, what it refuses, and the run_id of its child run."""

from __future__ import annotations

import pytest

from orchestrator import DAG, TriggerDagRunTask, get_step_type
from orchestrator.core.dependencies import TriggerSpec
from orchestrator.core.errors import DagDefinitionError, OrchestratorError
from orchestrator.store.runs import RunKey
from scheduler.child_runs import child_run_id

PARENT = RunKey("etl", "scheduled__2026-11-22T00:00:00+00:00")


def test_the_spec_says_which_dag_to_start_with_what_conf_and_whether_to_wait() -> None:
    with DAG("etl") as dag:
        TriggerDagRunTask(task_id="kick", dag_id="report", conf={"region": "eu"}, wait=True, retries=2)
    spec = dag.to_spec().task_map["kick"]
    assert (spec.step_type, spec.trigger, spec.retries) == ("trigger_dag_run", TriggerSpec(dag_id="report", conf={"region": "eu"}, wait=True), 2)


def test_it_is_a_built_in_step_type() -> None:
    assert get_step_type("trigger_dag_run") is TriggerDagRunTask


def test_a_conf_that_is_not_json_is_a_definition_error_naming_dag_and_task() -> None:
    with DAG("etl"), pytest.raises(DagDefinitionError, match=r"^DAG 'etl', task 'kick': conf must be JSON"):
        TriggerDagRunTask(task_id="kick", dag_id="report", conf={"when": object()})


def test_wait_must_be_a_bool() -> None:
    with DAG("etl"), pytest.raises(DagDefinitionError, match="wait must be True or False"):
        TriggerDagRunTask(task_id="kick", dag_id="report", wait="yes")  # type: ignore[arg-type]


def test_it_never_runs_on_a_worker() -> None:
    with DAG("etl"):
        kick = TriggerDagRunTask(task_id="kick", dag_id="report")
    with pytest.raises(OrchestratorError, match="run by the scheduler"):
        kick.execute(None, {})  # type: ignore[arg-type]


def test_the_child_run_id_is_derived_from_the_parent_run_task_and_try() -> None:
    assert child_run_id(PARENT, "kick", 1) == "triggered__etl:kick:1:scheduled__2026-11-22T00:00:00+00:00"
    assert child_run_id(PARENT, "kick", 2) != child_run_id(PARENT, "kick", 1)


def test_a_child_run_id_that_would_be_too_long_is_hashed_to_fit() -> None:
    long_parent = RunKey("etl", "x" * 240)
    run_id = child_run_id(long_parent, "kick", 1)
    assert len(run_id) <= 250 and run_id.startswith("triggered__") and run_id == child_run_id(long_parent, "kick", 1)
