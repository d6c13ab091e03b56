"""Idempotency keys and the sandboxed templates they are written in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator import DAG, PythonTask
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.idempotency import IdempotencyKeyError, render_key
from orchestrator.core.templating import TemplateRenderError, render_value, run_scope

SCOPE = run_scope(
    dag_id="shop", run_id="manual__1", task_id="charge", params={"order_id": 42, "region": "eu"}, conf={"order_id": 42},
    logical_date=datetime(2026, 11, 22, 6, tzinfo=UTC),
)


def noop() -> None:
    return None


def test_a_key_is_rendered_from_the_params() -> None:
    assert render_key("charge-{{ params.order_id }}", SCOPE) == "charge-42"


def test_a_key_may_use_the_conf_and_the_logical_date() -> None:
    assert render_key("{{ dag_id }}/{{ conf.order_id }}/{{ ds }}", SCOPE) == "shop/42/2026-11-22"


def test_a_key_longer_than_the_column_is_stored_as_its_hash() -> None:
    key = render_key("{{ 'x' * 300 }}", SCOPE)
    assert key.startswith("sha256:") and len(key) == len("sha256:") + 64


def test_a_key_naming_a_missing_param_cannot_be_rendered() -> None:
    with pytest.raises(IdempotencyKeyError, match="has no attribute 'customer'"):
        render_key("charge-{{ params.customer }}", SCOPE)


def test_a_key_that_renders_empty_is_refused() -> None:
    with pytest.raises(IdempotencyKeyError, match="rendered empty"):
        render_key("{{ '' }}", SCOPE)


def test_a_template_cannot_reach_python_objects() -> None:
    with pytest.raises(IdempotencyKeyError, match="unsafe"):
        render_key("{{ ().__class__.__base__ }}", SCOPE)


def test_a_template_cannot_build_huge_strings() -> None:
    with pytest.raises(TemplateRenderError, match="longer than 100000"):
        render_value("{{ 'x' * 10000000 }}", SCOPE)


def test_a_template_of_one_expression_keeps_its_type() -> None:
    assert render_value("{{ params.order_id }}", SCOPE) == 42


def test_a_template_with_text_around_it_is_text() -> None:
    assert render_value("order {{ params.order_id }}", SCOPE) == "order 42"


def test_the_key_template_is_part_of_the_task_spec() -> None:
    with DAG("keyed") as d:
        PythonTask(task_id="charge", python_callable=noop, idempotency_key="charge-{{ params.order_id }}")
    assert d.to_spec().task_map["charge"].idempotency_key == "charge-{{ params.order_id }}"


def test_a_key_that_is_not_a_valid_template_is_a_definition_error() -> None:
    with DAG("bad_key"), pytest.raises(DagDefinitionError, match="idempotency_key: 'charge-{{ params.order_id' is not a valid template"):
        PythonTask(task_id="charge", python_callable=noop, idempotency_key="charge-{{ params.order_id")
