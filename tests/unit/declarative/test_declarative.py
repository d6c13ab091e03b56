"""Declarative workflows (seed 002's shape): the DagSpec a file makes, the errors naming the bad
field's path, and the edges a step's conditions follow."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from orchestrator.core.edges import follow_edges
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import TriggerRule
from orchestrator.declarative.compiler import build_dag
from orchestrator.declarative.files import load_workflow_file
from orchestrator.declarative.workflow import WorkflowFileError, parse_workflow

ORDER = """
workflowId: orders
name: Order approval
version: "2.1.0"
description: approve, then fulfil
tags: [demo]
inputSchema:
  type: object
  properties:
    amount: {type: number}
    region: {type: string, default: eu}
  required: [amount]
triggers:
  - eventPattern: "order.*"
    condition: "payload.amount > `0`"
    transform: {type: jmespath, expression: payload}
steps:
  - stepId: check
    taskId: tests.fixtures:succeed
    next:
      - {stepId: review, condition: data.amount > 1000}
      - {nextStepId: auto, condition: data.amount <= 1000}
  - stepId: review
    taskId: tests.fixtures:succeed
    retryPolicy: {maxAttempts: 3, delay: PT30S, strategy: exponential, maxDelay: PT5M, retryOn: [TimeoutError]}
    timeout: PT1H
    next: [{stepId: fulfil}]
  - stepId: auto
    taskId: tests.fixtures:succeed
    next: [{stepId: fulfil}]
  - stepId: fulfil
    parallelBranches:
      - branchId: billing
        steps:
          - stepId: charge
            taskId: shell
            input: {command: "echo charged"}
            next: [{stepId: receipt}]
          - stepId: receipt
            taskId: tests.fixtures:succeed
      - branchId: stock
        steps:
          - stepId: reserve
            taskId: tests.fixtures:succeed
    next: [{stepId: done}]
  - stepId: done
    taskId: tests.fixtures:succeed
"""


def spec_of(text: str) -> DagSpec:
    return build_dag(parse_workflow(yaml.safe_load(textwrap.dedent(text)))).to_spec()


def problems_of(text: str) -> str:
    with pytest.raises(WorkflowFileError) as caught:
        spec_of(text)
    return str(caught.value)


def with_steps(steps: str, head: str = "") -> str:
    return f"workflowId: wf\n{head}steps:\n" + textwrap.indent(textwrap.dedent(steps), "  ")


# -- the spec ----------------------------------------------------------------------------------
def test_the_workflow_fields_become_the_dag_settings() -> None:
    spec = spec_of(ORDER)
    assert (spec.dag_id, spec.title, spec.version_label, spec.description, spec.tags) == (
        "orders", "Order approval", "2.1.0", "approve, then fulfil", ("demo",)
    )


def test_the_input_schema_is_kept_and_its_property_defaults_are_the_params() -> None:
    spec = spec_of(ORDER)
    assert spec.input_schema is not None and spec.input_schema["required"] == ["amount"]
    assert spec.params == {"region": "eu"}


def test_an_event_pattern_becomes_an_event_trigger() -> None:
    (trigger,) = spec_of(ORDER).triggers
    assert (trigger.type, trigger.condition, trigger.transform) == ("order.*", "payload.amount > `0`", "payload")


def test_a_schedule_trigger_becomes_the_cron_schedule_with_its_timezone() -> None:
    spec = spec_of(with_steps("- {stepId: a, taskId: 'tests.fixtures:succeed'}", "triggers:\n  - {schedule: '0 6 * * *', timezone: Europe/Paris}\n"))
    assert (spec.schedule, spec.timezone, spec.catchup) == ("0 6 * * *", "Europe/Paris", False)
    assert spec.start_date is not None


def test_next_links_the_steps_and_keeps_the_conditions_on_the_deciding_step() -> None:
    tasks = spec_of(ORDER).task_map
    assert tasks["check"].next_conditions == {"review": "data.amount > 1000", "auto": "data.amount <= 1000"}
    assert tasks["review"].upstream == ("check",) and tasks["auto"].upstream == ("check",)


def test_parallel_branches_are_task_groups_that_fork_after_and_join_before_the_next_step() -> None:
    spec = spec_of(ORDER)
    tasks = spec.task_map
    assert {g.group_id for g in spec.task_groups} == {"billing", "stock"}
    assert tasks["billing.charge"].task_group == "billing"
    assert set(tasks["billing.charge"].upstream) == set(tasks["stock.reserve"].upstream) == {"review", "auto"}
    assert tasks["billing.receipt"].upstream == ("billing.charge",)
    assert set(tasks["done"].upstream) == {"billing.receipt", "stock.reserve"}


def test_a_step_that_several_steps_lead_to_runs_after_whichever_path_was_taken() -> None:
    tasks = spec_of(ORDER).task_map
    assert tasks["billing.charge"].trigger_rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    assert tasks["done"].trigger_rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    assert tasks["review"].trigger_rule is TriggerRule.ALL_SUCCESS


def test_an_explicit_trigger_rule_wins_over_the_join_default() -> None:
    spec = spec_of(with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', next: [{stepId: c}]}
        - {stepId: b, taskId: 'tests.fixtures:succeed', next: [{stepId: c}]}
        - {stepId: c, taskId: 'tests.fixtures:succeed', triggerRule: all_done}
    """))
    assert spec.task_map["c"].trigger_rule is TriggerRule.ALL_DONE


def test_the_retry_policy_and_timeout_become_the_task_policy() -> None:
    review = spec_of(ORDER).task_map["review"]
    assert (review.retries, review.retry_delay_s, review.retry_backoff, review.max_retry_delay_s) == (2, 30.0, "exponential", 300.0)
    assert (review.retry_on, review.execution_timeout_s) == (("TimeoutError",), 3600.0)


def test_a_step_type_gets_its_input_as_arguments_and_a_function_step_names_its_callable() -> None:
    tasks = spec_of(ORDER).task_map
    assert tasks["billing.charge"].step_type == "shell" and "echo charged" in tasks["billing.charge"].args_repr
    assert (tasks["check"].step_type, tasks["check"].callable) == ("python", "tests.fixtures:succeed")


def test_on_failure_maps_to_stop_continue_or_routes_to_handler_steps() -> None:
    spec = spec_of(with_steps("""
        - stepId: pay
          taskId: tests.fixtures:succeed
          onFailure:
            action: continue
            nextStepId: fallback
            errorHandler: {conditions: [{errorType: ValueError, nextStepId: fix}]}
        - {stepId: fix, taskId: 'tests.fixtures:succeed'}
        - {stepId: fallback, taskId: 'tests.fixtures:succeed'}
        - {stepId: other, taskId: 'tests.fixtures:succeed', onFailure: {action: continue}}
        - {stepId: last, taskId: 'tests.fixtures:succeed', onFailure: {action: stop}}
    """))
    tasks = spec.task_map
    assert tasks["pay"].on_failure == {"ValueError": "fix", "*": "fallback"}
    assert tasks["fix"].upstream == ("pay",) and tasks["fallback"].upstream == ("pay",)
    assert (tasks["other"].on_failure, tasks["last"].on_failure) == ("continue", "stop")


def test_the_same_file_as_json_gives_the_same_spec(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(yaml.safe_load(ORDER)))
    from_json = load_workflow_file(path).to_spec()
    assert from_json.model_copy(update={"fileloc": ""}).version_hash == spec_of(ORDER).version_hash


# -- errors name the path to the bad field -------------------------------------------------------
def test_a_bad_iso_duration_names_its_path() -> None:
    text = with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed'}
        - {stepId: b, taskId: 'tests.fixtures:succeed'}
        - {stepId: c, taskId: 'tests.fixtures:succeed', retryPolicy: {maxAttempts: 2, initialDelay: 5 minutes}}
    """)
    assert "steps[2].retryPolicy.initialDelay: '5 minutes' is not an ISO 8601 duration" in problems_of(text)


def test_an_unknown_field_names_its_path() -> None:
    assert "steps[0].retryPolicy.maxAttemps: unknown field" in problems_of(
        with_steps("- {stepId: a, taskId: 'tests.fixtures:succeed', retryPolicy: {maxAttemps: 3}}")
    )


def test_a_missing_required_field_names_its_path() -> None:
    assert "steps[0].stepId: required" in problems_of(with_steps("- {taskId: 'tests.fixtures:succeed'}"))


def test_an_unsafe_condition_names_its_path() -> None:
    text = with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', next: [{stepId: b, condition: "__import__('os')"}]}
        - {stepId: b, taskId: 'tests.fixtures:succeed'}
    """)
    assert "steps[0].next[0].condition: " in problems_of(text)


def test_next_to_a_step_that_does_not_exist_names_the_edge() -> None:
    assert "steps[0].next[0]: there is no step 'nowhere'" in problems_of(
        with_steps("- {stepId: a, taskId: 'tests.fixtures:succeed', next: [{stepId: nowhere}]}")
    )


def test_a_step_links_only_to_steps_of_its_own_list() -> None:
    text = with_steps("""
        - stepId: fork
          parallelBranches:
            - branchId: b1
              steps: [{stepId: inner, taskId: 'tests.fixtures:succeed', next: [{stepId: outer}]}]
        - {stepId: outer, taskId: 'tests.fixtures:succeed'}
    """)
    assert "steps[0].parallelBranches[0].steps[0].next[0]: there is no step 'outer' in this list of steps (it is steps[1]" in problems_of(text)


def test_a_step_id_used_twice_names_both() -> None:
    text = with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed'}
        - {stepId: a, taskId: 'tests.fixtures:succeed'}
    """)
    assert "steps[1].stepId: 'a' is also the stepId of steps[0]" in problems_of(text)


def test_an_unknown_step_type_names_the_task_id() -> None:
    assert "steps[0].taskId: no step type named 'teleport'" in problems_of(with_steps("- {stepId: a, taskId: teleport}"))


def test_a_function_that_does_not_exist_names_the_task_id() -> None:
    assert "steps[0].taskId: module 'tests.fixtures' has no 'nope'" in problems_of(with_steps("- {stepId: a, taskId: 'tests.fixtures:nope'}"))


def test_an_argument_the_step_type_does_not_take_names_the_input() -> None:
    assert "steps[0].input: got an unexpected keyword argument 'colour'" in problems_of(
        with_steps("- {stepId: a, taskId: shell, input: {command: 'true', colour: red}}")
    )


def test_task_policy_in_input_is_refused() -> None:
    assert "steps[0].input.retries: set through the step's own fields" in problems_of(
        with_steps("- {stepId: a, taskId: shell, input: {command: 'true', retries: 3}}")
    )


def test_a_cycle_of_next_links_is_refused() -> None:
    text = with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', next: [{stepId: b}]}
        - {stepId: b, taskId: 'tests.fixtures:succeed', next: [{stepId: a}]}
    """)
    assert "cycle" in problems_of(text)


def test_an_invalid_input_schema_is_refused() -> None:
    assert "inputSchema: not a valid JSON Schema" in problems_of(
        with_steps("- {stepId: a, taskId: 'tests.fixtures:succeed'}", "inputSchema: {type: 12}\n")
    )


def test_a_bad_cron_schedule_names_its_trigger() -> None:
    assert "triggers[0].schedule: schedule 'every day'" in problems_of(
        with_steps("- {stepId: a, taskId: 'tests.fixtures:succeed'}", "triggers: [{schedule: every day}]\n")
    )


def test_a_trigger_is_either_an_event_pattern_or_a_schedule() -> None:
    assert "triggers[0]: give either eventPattern" in problems_of(
        with_steps("- {stepId: a, taskId: 'tests.fixtures:succeed'}", "triggers: [{description: nothing}]\n")
    )


def test_routing_by_error_code_becomes_a_code_route() -> None:
    spec = spec_of(with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', onFailure: {errorHandler: {conditions: [
            {errorCode: E42, nextStepId: b}, {errorType: ValueError, nextStepId: c}]}}}
        - {stepId: b, taskId: 'tests.fixtures:succeed'}
        - {stepId: c, taskId: 'tests.fixtures:succeed'}
    """))
    assert spec.task_map["a"].on_failure == {"code:E42": "b", "ValueError": "c"}


def test_a_condition_with_both_error_type_and_error_code_is_refused() -> None:
    text = with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', onFailure: {errorHandler: {conditions: [
            {errorCode: E42, errorType: ValueError, nextStepId: b}]}}}
        - {stepId: b, taskId: 'tests.fixtures:succeed'}
    """)
    assert "steps[0].onFailure.errorHandler.conditions[0]: give errorType or errorCode, not both" in problems_of(text)


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    message = problems_of(with_steps("""
        - {stepId: a, taskId: teleport}
        - {stepId: b, taskId: 'tests.fixtures:nope'}
    """))
    assert "steps[0].taskId" in message and "steps[1].taskId" in message


def test_a_file_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(WorkflowFileError, match="must hold one object"):
        load_workflow_file(path)


def test_a_yaml_syntax_error_is_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("workflowId: x\nsteps: [\n")
    with pytest.raises(WorkflowFileError, match="not valid YAML.*line"):
        load_workflow_file(path)


def test_yaml_tags_that_make_python_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("workflowId: !!python/object/apply:os.system ['true']\nsteps: []\n")
    with pytest.raises(WorkflowFileError, match="not valid YAML"):
        load_workflow_file(path)


# -- conditions judged after a step succeeded ---------------------------------------------------
def states(**results: object) -> dict[str, tuple[str, object]]:
    return {tid.replace("__", "."): ("success", r) for tid, r in results.items()}


def test_the_edges_whose_condition_holds_are_followed() -> None:
    spec = spec_of(ORDER)
    assert follow_edges(spec, "check", {"amount": 5000}, {}, {}) == (("review",), [])
    assert follow_edges(spec, "check", {"amount": 10}, {}, {}) == (("auto",), [])


def test_a_step_without_conditions_follows_every_edge() -> None:
    assert follow_edges(spec_of(ORDER), "review", None, {}, {}) == (None, [])


def test_an_edge_without_a_condition_is_always_followed() -> None:
    spec = spec_of(with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', next: [{stepId: b, condition: 'false'}, {stepId: c}]}
        - {stepId: b, taskId: 'tests.fixtures:succeed'}
        - {stepId: c, taskId: 'tests.fixtures:succeed'}
    """))
    assert follow_edges(spec, "a", None, {}, {}) == (("c",), [])


def test_a_condition_that_cannot_be_judged_is_not_followed_and_says_why() -> None:
    follow, notes = follow_edges(spec_of(ORDER), "check", {"total": 5}, {}, {})
    assert follow == ()
    assert "edge to review could not be judged" in notes[0] and "no key 'amount'" in notes[0]


def test_conditions_read_the_run_input_and_other_steps_results_by_nested_id() -> None:
    spec = spec_of(with_steps("""
        - stepId: a
          taskId: tests.fixtures:succeed
          next:
            - {stepId: b, condition: "params.region == 'eu' and input.region == 'eu' and steps.billing.charge.result == 3"}
        - {stepId: b, taskId: 'tests.fixtures:succeed'}
    """))
    assert follow_edges(spec, "a", None, {"region": "eu"}, states(billing__charge=3)) == (("b",), [])


def test_an_unquoted_version_number_is_refused_with_a_hint() -> None:
    assert 'version: write the version in quotes ("1.1")' in problems_of(
        with_steps("- {stepId: a, taskId: 'tests.fixtures:succeed'}", "version: 1.10\n")
    )


# -- workflow patterns: foreach, minSuccess, loop, compensate, idempotencyKey ------------------------
def test_a_foreach_over_an_expression_maps_the_step_over_the_result_of_a_task_that_computes_the_items() -> None:
    tasks = spec_of(with_steps("""
        - {stepId: count, taskId: 'tests.fixtures:numbers', next: [{stepId: square}]}
        - {stepId: square, taskId: 'tests.fixtures:square', foreach: {items: "data", as: x}}
    """)).task_map
    assert tasks["square__items"].upstream == ("count",) and tasks["square__items"].args_repr == "data"
    assert tasks["square"].upstream == ("square__items",)
    assert [(m.arg, m.task_id) for m in tasks["square"].mapped] == [("x", "square__items")]


def test_a_foreach_over_a_list_maps_the_step_over_the_literal_items() -> None:
    square = spec_of(with_steps("""
        - {stepId: square, taskId: 'tests.fixtures:square', foreach: {items: [2, 3], as: x}}
    """)).task_map["square"]
    assert [(m.arg, m.values) for m in square.mapped] == [("x", (2, 3))]


def test_the_items_task_computes_the_list_from_data_and_params() -> None:
    dag = build_dag(parse_workflow(yaml.safe_load(with_steps("""
        - {stepId: square, taskId: 'tests.fixtures:square', foreach: {items: "data[params.which]", as: x}}
    """))))
    context = type("Context", (), {"params": {"which": "odd"}})()
    assert dag.get_task("square__items").execute(context, {"count": {"odd": [1, 3]}}) == [1, 3]


def test_a_foreach_item_the_function_does_not_take_names_the_as_field() -> None:
    assert "steps[0].foreach.as: tests.fixtures:square must take 'item'" in problems_of(with_steps("""
        - {stepId: square, taskId: 'tests.fixtures:square', foreach: {items: [1]}}
    """))


def test_a_foreach_on_a_step_type_is_refused_at_its_path() -> None:
    assert "steps[0].foreach: only a module:function step can run once per item" in problems_of(with_steps("""
        - {stepId: s, taskId: shell, input: {command: "echo"}, foreach: {items: [1]}}
    """))


def test_an_unsafe_foreach_expression_names_its_path() -> None:
    assert "steps[0].foreach.items" in problems_of(with_steps("""
        - {stepId: square, taskId: 'tests.fixtures:square', foreach: {items: "__import__('os')", as: x}}
    """))


def test_min_success_becomes_the_wait_strategy_instead_of_the_join_default() -> None:
    join = spec_of(with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', next: [{stepId: c}]}
        - {stepId: b, taskId: 'tests.fixtures:succeed', next: [{stepId: c}]}
        - {stepId: c, taskId: 'tests.fixtures:succeed', minSuccess: 1}
    """)).task_map["c"]
    assert (join.min_success, join.trigger_rule) == (1, TriggerRule.ALL_SUCCESS)


def test_min_success_over_the_number_of_upstream_steps_names_its_path() -> None:
    assert "steps[1].minSuccess: 2 is more than the 1 steps that lead to this one" in problems_of(with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', next: [{stepId: b}]}
        - {stepId: b, taskId: 'tests.fixtures:succeed', minSuccess: 2}
    """))


def test_min_success_with_a_trigger_rule_names_its_path() -> None:
    assert "steps[0].minSuccess: replaces triggerRule" in problems_of(with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', minSuccess: any, triggerRule: all_done}
    """))


def test_an_unknown_min_success_names_its_path() -> None:
    assert "steps[0].minSuccess" in problems_of(with_steps("""
        - {stepId: a, taskId: 'tests.fixtures:succeed', minSuccess: most}
    """))


LOOPING = """
    - stepId: reviewing
      parallelBranches:
        - branchId: review
          loop: {repeatUntil: "results.decide == params.wanted", maxIterations: 3}
          steps: [{stepId: decide, taskId: 'tests.fixtures:succeed'}]
      next: [{stepId: publish}]
    - {stepId: publish, taskId: 'tests.fixtures:succeed'}
"""


def test_a_loop_branch_is_a_loop_group_whose_controller_the_next_step_waits_for() -> None:
    tasks = spec_of(with_steps(LOOPING)).task_map
    loop = tasks["review.repeat_until"].loop
    assert loop is not None and (loop.tasks, loop.max_iterations) == (("review.decide",), 3)
    assert tasks["publish"].upstream == ("review.repeat_until",)


def test_the_loop_condition_reads_the_iterations_results_by_step_id_and_survives_pickling() -> None:
    import pickle

    dag = build_dag(parse_workflow(yaml.safe_load(with_steps(LOOPING))))
    repeat_until = pickle.loads(pickle.dumps(dag.get_task("review.repeat_until").python_callable))
    context = type("Context", (), {"params": {"wanted": "approved"}})()
    assert repeat_until({"review.decide": "approved"}, context) is True
    assert repeat_until({"review.decide": "rejected"}, context) is False


def test_an_unsafe_loop_condition_names_its_path() -> None:
    assert "steps[0].parallelBranches[0].loop.repeatUntil" in problems_of(with_steps(LOOPING.replace("results.decide", "results.__class__")))


def test_compensate_names_the_undoing_step_which_stays_outside_the_flow() -> None:
    tasks = spec_of(with_steps("""
        - stepId: fulfil
          parallelBranches:
            - branchId: pay
              steps:
                - {stepId: charge, taskId: 'tests.fixtures:succeed', compensate: refund}
                - {stepId: refund, taskId: 'tests.fixtures:succeed'}
          next: [{stepId: done}]
        - {stepId: done, taskId: 'tests.fixtures:succeed'}
    """)).task_map
    assert tasks["pay.charge"].compensate == "pay.refund"
    assert tasks["done"].upstream == ("pay.charge",) and tasks["pay.refund"].upstream == ()


def test_compensate_with_an_unknown_step_names_its_path() -> None:
    assert "steps[0].compensate: there is no step 'refund'" in problems_of(with_steps("""
        - {stepId: charge, taskId: 'tests.fixtures:succeed', compensate: refund}
    """))


def test_an_idempotency_key_becomes_the_tasks_key_template() -> None:
    charge = spec_of(with_steps("""
        - {stepId: charge, taskId: 'tests.fixtures:succeed', idempotencyKey: "charge-{{ params.order_id }}"}
    """)).task_map["charge"]
    assert charge.idempotency_key == "charge-{{ params.order_id }}"


def test_an_idempotency_key_that_is_not_a_template_names_its_path() -> None:
    assert "steps[0].idempotencyKey" in problems_of(with_steps("""
        - {stepId: charge, taskId: 'tests.fixtures:succeed', idempotencyKey: "charge-{{ params.order_id"}
    """))


def test_a_pattern_field_on_a_step_without_a_task_names_its_path() -> None:
    assert "steps[0].idempotencyKey: needs the step's own task" in problems_of(with_steps("""
        - stepId: fork
          idempotencyKey: k
          parallelBranches: [{branchId: a, steps: [{stepId: x, taskId: 'tests.fixtures:succeed'}]}]
    """))


def test_a_next_to_a_compensation_step_names_the_edge() -> None:
    assert "steps[0].next[0]: 'refund' is a compensation step" in problems_of(with_steps("""
        - {stepId: charge, taskId: 'tests.fixtures:succeed', compensate: refund, next: [{stepId: refund}]}
        - {stepId: refund, taskId: 'tests.fixtures:succeed'}
    """))


def test_execution_log_retention_becomes_the_dag_s_log_retention() -> None:
    spec = spec_of(with_steps("- {stepId: a, taskId: 'tests.fixtures:succeed'}", head="executionLog: {retention: P30D}\n"))
    assert spec.log_retention_s == 30 * 86400
