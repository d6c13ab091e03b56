"""Event triggers: a glob over the type, a JMESPath condition and transform over {type, payload, id}."""

from __future__ import annotations

import pytest

from orchestrator import DAG, EventTrigger
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.triggers import EventTriggerSpec, TriggerOutcome, evaluate, first_match

ORDER = {"type": "order.created", "payload": {"id": "A-1", "amount": 1500, "lines": [1, 2]}, "id": "sender-1"}


def spec(type: str = "order.*", condition: str | None = None, transform: str | None = None) -> EventTriggerSpec:
    return EventTrigger(type, condition=condition, transform=transform).to_spec()


# -- matching ---------------------------------------------------------------------------------------
def test_a_matching_type_without_condition_or_transform_starts_a_run_with_the_payload() -> None:
    assert evaluate(spec(), ORDER) == TriggerOutcome(conf=ORDER["payload"])


def test_a_type_outside_the_glob_does_not_match() -> None:
    assert evaluate(spec("invoice.*"), ORDER) is None


def test_the_glob_is_case_sensitive() -> None:
    assert evaluate(spec("Order.*"), ORDER) is None


def test_a_true_condition_matches() -> None:
    assert evaluate(spec(condition="payload.amount > `1000`"), ORDER) is not None


def test_a_false_condition_does_not_match() -> None:
    assert evaluate(spec(condition="payload.amount > `2000`"), ORDER) is None


def test_a_condition_on_a_missing_field_does_not_match() -> None:
    assert evaluate(spec(condition="payload.customer.vip"), ORDER) is None


def test_zero_is_true_as_in_jmespath() -> None:
    assert evaluate(spec(condition="payload.zero"), {**ORDER, "payload": {"zero": 0}}) is not None


def test_the_condition_sees_the_sender_s_id() -> None:
    assert evaluate(spec(condition="id == 'sender-1'"), ORDER) is not None


def test_the_transform_makes_the_conf() -> None:
    assert evaluate(spec(transform="{order_id: payload.id, kind: type}"), ORDER) == TriggerOutcome(conf={"order_id": "A-1", "kind": "order.created"})


def test_a_transform_that_is_not_an_object_is_an_error() -> None:
    outcome = evaluate(spec(transform="payload.lines"), ORDER)
    assert outcome is not None and outcome.conf is None
    assert outcome.error == "trigger 'order.*': the transform gave list, but a run's conf must be a JSON object"


def test_a_condition_that_fails_at_run_time_is_an_error_not_a_match() -> None:
    outcome = evaluate(spec(condition="length(payload.amount) > `1`"), ORDER)
    assert outcome is not None and outcome.conf is None
    assert outcome.error is not None and "length()" in outcome.error


def test_the_first_matching_trigger_of_a_dag_decides() -> None:
    triggers = [spec("invoice.*"), spec(transform="{first: `true`}"), spec(transform="{second: `true`}")]
    assert first_match(triggers, ORDER) == TriggerOutcome(conf={"first": True})


def test_a_failing_trigger_keeps_the_dag_from_starting() -> None:
    outcome = first_match([spec(transform="payload.lines"), spec()], ORDER)
    assert outcome is not None and outcome.error is not None


def test_no_matching_trigger_is_no_answer() -> None:
    assert first_match([spec("invoice.*")], ORDER) is None


# -- authoring ---------------------------------------------------------------------------------------
def test_a_condition_that_is_not_jmespath_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match=r"condition 'payload.\[' is not valid JMESPath"):
        EventTrigger("order.*", condition="payload.[")


def test_a_transform_calling_an_unknown_function_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match=r"transform .* calls nope\(\), which JMESPath does not have"):
        EventTrigger("order.*", transform="{a: nope(payload)}")


def test_a_function_called_with_the_wrong_number_of_arguments_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match=r"calls length\(\) with 2 arguments; it takes 1"):
        EventTrigger("order.*", condition="length(payload, payload)")


def test_an_empty_type_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="type must be a glob"):
        EventTrigger("")


def test_a_dag_keeps_its_triggers_in_its_spec() -> None:
    dag = DAG("orders", triggers=[EventTrigger("order.*", condition="payload.amount > `1000`", transform="{order_id: payload.id}")])
    assert dag.to_spec().triggers == (EventTriggerSpec(type="order.*", condition="payload.amount > `1000`", transform="{order_id: payload.id}"),)


def test_triggers_must_be_a_list_of_event_triggers() -> None:
    with pytest.raises(DagDefinitionError, match="triggers must be a list of EventTrigger"):
        DAG("orders", triggers=EventTrigger("order.*"))  # type: ignore[arg-type]
