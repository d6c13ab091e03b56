"""A DAG's input schema: checked when defined, and against a run's input (params, then conf)."""

from __future__ import annotations

from datetime import datetime

import pytest

from orchestrator import DAG
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.inputs import InvalidRunInputError, check_run_input, schema_defaults

SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "number", "minimum": 0}, "region": {"type": "string", "default": "eu"}},
    "required": ["amount"],
}


def spec(params: dict | None = None) -> dict:
    return {"input_schema": SCHEMA, "params": params or {}}


def test_a_conf_that_matches_passes() -> None:
    check_run_input("d", spec(), {"amount": 3})


def test_a_dag_without_a_schema_takes_any_conf() -> None:
    check_run_input("d", {"params": {}}, {"anything": [1, 2]})


def test_each_mismatch_is_reported_with_its_path() -> None:
    with pytest.raises(InvalidRunInputError) as caught:
        check_run_input("d", spec(), {"amount": -1, "region": 5})
    assert caught.value.problems == [
        {"path": "amount", "message": "-1 is less than the minimum of 0"},
        {"path": "region", "message": "5 is not of type 'string'"},
    ]
    assert "DAG 'd'" in str(caught.value) and "amount: -1 is less than the minimum of 0" in str(caught.value)


def test_a_missing_required_field_is_reported_on_the_whole_input() -> None:
    with pytest.raises(InvalidRunInputError, match=r"\(input\): 'amount' is a required property"):
        check_run_input("d", spec(), {})


def test_the_params_fill_what_the_conf_leaves_out() -> None:
    check_run_input("d", spec(params={"amount": 1}), {})


def test_the_property_defaults_are_the_params() -> None:
    assert schema_defaults(SCHEMA) == {"region": "eu"}


def test_a_dag_with_an_invalid_schema_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="not a valid JSON Schema"):
        DAG("d", input_schema={"type": "whatever"})


def test_a_scheduled_dag_needs_params_that_match_its_schema() -> None:
    with pytest.raises(DagDefinitionError, match="scheduled, so its params must match"):
        DAG("d", schedule="@daily", start_date=datetime(2026, 1, 1), input_schema=SCHEMA)
    DAG("ok", schedule="@daily", start_date=datetime(2026, 1, 1), input_schema=SCHEMA, params={"amount": 1})


def test_the_schema_is_kept_in_the_spec() -> None:
    assert DAG("d", input_schema=SCHEMA).to_spec().input_schema == SCHEMA
