"""orchestrator.operations.simulation: a run walked on a virtual clock by the scheduler's own decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import DAG, ApprovalTask, Escalate, PythonTask, TriggerRule, task
from orchestrator.operations.simulation import SimulationInputError, parse_outcomes, simulate
from tests.fixtures import choose_by_param, numbers, square, succeed, total

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _spec(dag: DAG):  # noqa: ANN202 - a DagSpec
    return dag.to_spec()


def _chain() -> DAG:
    with DAG("sim_chain", default_args={"retries": 2, "retry_delay": timedelta(minutes=5)}) as dag:
        PythonTask(task_id="extract", python_callable=succeed) >> PythonTask(task_id="load", python_callable=succeed)
    return dag


def test_by_default_every_task_succeeds_in_dag_order() -> None:
    sim = simulate(_spec(_chain()), parse_outcomes(None, _spec(_chain())), start=T0)
    assert sim.state == "success"
    assert [(p["task_id"], p["try_number"], p["status"]) for p in sim.path] == [("extract", 1, "success"), ("load", 1, "success")]
    assert sim.events[0]["kind"] == "run.running" and sim.events[-1]["kind"] == "run.success"


def test_a_failing_try_is_retried_at_the_time_the_retry_policy_says() -> None:
    spec = _spec(_chain())
    outcomes = parse_outcomes({"tasks": {"extract": [{"status": "failed", "error_type": "TimeoutError", "duration": 60}, {}]}}, spec)
    sim = simulate(spec, outcomes, start=T0)
    assert sim.state == "success"
    assert sim.retries == [{"task_id": "extract", "map_index": -1, "try_number": 1, "failed_at": T0 + timedelta(minutes=1),
                            "retry_at": T0 + timedelta(minutes=6), "error": "TimeoutError (simulated)"}]
    assert sim.tasks["extract"]["try_number"] == 2


def test_a_task_failing_every_try_fails_the_run_and_its_downstream() -> None:
    spec = _spec(_chain())
    sim = simulate(spec, parse_outcomes({"tasks": {"extract": {"status": "failed"}}}, spec), start=T0)
    assert (sim.state, sim.tasks["extract"]["state"], sim.tasks["load"]["state"]) == ("failed", "failed", "upstream_failed")
    assert len(sim.retries) == 2


def test_a_branch_follows_the_choice_given() -> None:
    with DAG("sim_branch") as dag:
        decide = task.branch(choose_by_param)()
        join = PythonTask(task_id="join", python_callable=succeed, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        decide >> [PythonTask(task_id="left", python_callable=succeed), PythonTask(task_id="right", python_callable=succeed)] >> join
    spec = _spec(dag)
    sim = simulate(spec, parse_outcomes({"tasks": {"choose_by_param": {"follow": ["left"]}}}, spec), start=T0)
    assert {t: v["state"] for t, v in sim.tasks.items()} == {
        "choose_by_param": "success", "left": "success", "right": "skipped", "join": "success"}


def test_a_mapped_task_gets_one_instance_per_item_of_its_input() -> None:
    with DAG("sim_map") as dag:
        task(total)(task(square).map(task(numbers)(3)))
    spec = _spec(dag)
    sim = simulate(spec, parse_outcomes({"tasks": {"numbers": {"result": [1, 2, 3]}}}, spec), start=T0)
    assert sim.state == "success"
    assert [i["state"] for i in sim.tasks["square"]["instances"]] == ["success"] * 3


def test_an_approval_left_undecided_escalates_then_times_out() -> None:
    with DAG("sim_approval") as dag:
        ApprovalTask(task_id="sign_off", approvers=["alice"], timeout=timedelta(hours=8), escalation=[
            Escalate(after=timedelta(hours=1), action="reassign", to=["carol"])]) >> PythonTask(task_id="order", python_callable=succeed)
    spec = _spec(dag)
    sim = simulate(spec, parse_outcomes(None, spec), start=T0)
    assert [(e["action"], e["at"]) for e in sim.escalations] == [("reassign", T0 + timedelta(hours=1))]
    assert sim.deadlines == [{"task_id": "sign_off", "try_number": 1, "kind": "approval_timeout", "at": T0 + timedelta(hours=8), "missed": True}]
    assert (sim.state, sim.tasks["sign_off"]["state"], sim.tasks["order"]["state"]) == ("failed", "failed", "upstream_failed")


def test_an_approval_decided_in_time_lets_the_run_go_on() -> None:
    with DAG("sim_approved") as dag:
        ApprovalTask(task_id="sign_off", approvers=["alice"]) >> PythonTask(task_id="order", python_callable=succeed)
    spec = _spec(dag)
    sim = simulate(spec, parse_outcomes({"tasks": {"sign_off": {"decision": "approve", "after": 600}}}, spec), start=T0)
    assert (sim.state, sim.ended) == ("success", T0 + timedelta(minutes=10))


def test_an_approval_nobody_decides_without_a_timeout_stalls_the_walk() -> None:
    with DAG("sim_stalled") as dag:
        ApprovalTask(task_id="sign_off", approvers=["alice"])
    spec = _spec(dag)
    sim = simulate(spec, parse_outcomes(None, spec), start=T0)
    assert (sim.state, sim.stalled) == ("running", "sign_off waits for what no outcome brings")


def test_a_try_longer_than_its_execution_timeout_fails_as_timed_out() -> None:
    with DAG("sim_timeout") as dag:
        PythonTask(task_id="slow", python_callable=succeed, execution_timeout=timedelta(seconds=30))
    spec = _spec(dag)
    sim = simulate(spec, parse_outcomes({"tasks": {"slow": {"duration": 31}}}, spec), start=T0)
    assert sim.tasks["slow"]["state"] == "failed"
    assert sim.deadlines[0]["missed"] is True


def test_outcomes_naming_an_unknown_task_or_field_are_refused_with_the_name() -> None:
    spec = _spec(_chain())
    with pytest.raises(SimulationInputError, match="does not have: nope"):
        parse_outcomes({"tasks": {"nope": {}}}, spec)
    with pytest.raises(SimulationInputError, match="tasks.extract.*status: Input should be 'success' or 'failed'"):
        parse_outcomes({"tasks": {"extract": {"status": "maybe"}}}, spec)
