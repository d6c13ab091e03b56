"""Authoring state machines: Python (`StateMachine`) and YAML/JSON files compile to one DagSpec.machine;
run data as a task sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import Action, State, StateMachine, Transition
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.run_data import RunData, RunDataError
from orchestrator.core.spec import DagSpec
from orchestrator.declarative.workflow import WorkflowFileError
from orchestrator.execution.dagfile import import_dag_file
from tests.fixtures import archive_document, score_document

MACHINE_FILE = {
    "machineId": "doc_file",
    "version": "3",
    "initial": "draft",
    "actions": [
        {"actionId": "review", "taskId": "tests.fixtures:score_document", "retryPolicy": {"maxAttempts": 2}},
        {"actionId": "archive", "taskId": "tests.fixtures:archive_document"},
    ],
    "states": [
        {"name": "draft"},
        {"name": "review", "onEnter": ["review"], "sla": "PT4H"},
        {"name": "done", "onEnter": ["archive"], "final": True},
    ],
    "transitions": [
        {"from": "draft", "to": "review", "event": "submit"},
        {"from": "review", "to": "draft", "onAction": "review", "guard": "result.score < 2"},
        {"from": "review", "to": "done", "event": "approve", "guard": "'operator' in roles"},
    ],
}


def python_machine(dag_id: str = "doc_py") -> StateMachine:
    review = Action(score_document, id="review", task_options={"retries": 1})
    return StateMachine(
        dag_id,
        initial="draft",
        states=[
            State("draft"),
            State("review", on_enter=review, sla=4 * 3600),
            State("done", on_enter=Action(archive_document, id="archive"), final=True),
        ],
        transitions=[
            Transition("draft", "review", event="submit"),
            Transition("review", "draft", on_action=review, guard="result.score < 2"),
            Transition("review", "done", event="approve", guard="'operator' in roles"),
        ],
    )


def test_a_python_machine_compiles_its_actions_to_tasks_without_dependencies() -> None:
    spec = python_machine().to_spec()
    assert [(t.task_id, t.upstream, t.retries) for t in spec.tasks] == [("review", (), 1), ("archive", (), 0)]
    assert spec.machine is not None and spec.machine.initial == "draft"
    assert spec.machine.state_map["review"].sla_s == 4 * 3600


def test_the_machine_spec_survives_the_store_round_trip() -> None:
    spec = python_machine().to_spec()
    assert DagSpec.model_validate(json.loads(spec.model_dump_json())).machine == spec.machine


def test_a_yaml_or_json_machine_compiles_to_the_same_machine_as_python(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(MACHINE_FILE))
    [dag] = import_dag_file(path)
    from_file, from_python = dag.to_spec(), python_machine().to_spec()
    assert from_file.machine == from_python.machine
    assert from_file.version_label == "3"
    assert [(t.task_id, t.retries) for t in from_file.tasks] == [("review", 1), ("archive", 0)]


def test_a_machine_file_names_each_undeclared_action_by_path(tmp_path: Path) -> None:
    broken = {**MACHINE_FILE, "states": [{"name": "draft", "onEnter": ["nope"]}]}
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(broken))
    with pytest.raises(WorkflowFileError, match=r"states\[0\].onEnter\[0\]: no action 'nope' is declared under actions"):
        import_dag_file(path)


def test_a_machine_file_with_a_bad_guard_is_refused(tmp_path: Path) -> None:
    broken = {**MACHINE_FILE, "transitions": [{"from": "draft", "to": "review", "event": "go", "guard": "lambda: 1"}]}
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(broken))
    with pytest.raises(WorkflowFileError, match="guard"):
        import_dag_file(path)


def test_a_transition_to_an_unknown_state_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="'nowhere' is not a state"):
        StateMachine("m", states=[State("a")], transitions=[Transition("a", "nowhere", event="go")])


def test_two_different_actions_may_not_share_an_id() -> None:
    with pytest.raises(DagDefinitionError, match="two different actions have the id 'score_document'"):
        StateMachine("m", states=[State("a", on_enter=Action(score_document)), State("b", on_enter=Action(score_document))])


def test_an_action_needs_a_callable_or_a_step_type() -> None:
    with pytest.raises(DagDefinitionError, match="exactly one of a callable or step="):
        Action()


def test_run_data_set_is_recorded_as_a_change_and_read_back() -> None:
    data = RunData({"score": 1})
    data.set("score", 2)
    assert (data.get("score"), data.get("missing", "x"), data.changes) == (2, "x", {"score": 2})


def test_run_data_refuses_a_value_that_is_not_json() -> None:
    with pytest.raises(RunDataError, match="run variable 'when': the value must be JSON"):
        RunData().set("when", object())


def test_simulation_refuses_a_machine_saying_what_to_use_instead() -> None:
    from datetime import UTC, datetime

    from orchestrator.operations.simulation import Outcomes, SimulationInputError, simulate

    with pytest.raises(SimulationInputError, match="is a state machine: simulation walks DAGs only"):
        simulate(python_machine().to_spec(), Outcomes(), start=datetime(2026, 1, 1, tzinfo=UTC))
