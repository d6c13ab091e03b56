"""SubDagTask: its spec, and the pure mapping of the parent's input to the child's conf and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator import DAG, PythonTask, SubDagTask, XComArg
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.spec import ResultRef, SubDagSpec
from orchestrator.core.templating import TemplateRenderError, run_scope
from orchestrator.plugins.steps.subdag import child_conf, pick_output

SCOPE = run_scope(
    dag_id="orders", run_id="r1", task_id="price", params={"sku": "A-1", "qty": 3}, conf={}, logical_date=datetime(2026, 1, 1, tzinfo=UTC)
)


def count() -> dict[str, int]:
    return {"n": 3}


def test_a_subdag_task_waits_for_its_child_and_keeps_its_mapping_in_the_spec() -> None:
    with DAG("orders") as d:
        counted = PythonTask(task_id="count", python_callable=count)
        SubDagTask(
            task_id="price", dag_id="pricing", input={"sku": "{{ params.sku }}", "n": XComArg(counted)["n"], "vat": 0.2},
            output={"amount": "quote.amount"},
        )
    spec = d.to_spec().task_map["price"]
    assert (spec.step_type, spec.trigger.dag_id, spec.trigger.wait, spec.upstream) == ("sub_dag", "pricing", True, ("count",))  # type: ignore[union-attr]
    assert spec.subdag == SubDagSpec(
        input={"sku": "{{ params.sku }}", "vat": 0.2}, input_from={"n": ResultRef(task_id="count", key="n")}, output={"amount": "quote.amount"},
    )


def test_the_child_conf_is_the_input_rendered_over_the_parent_run() -> None:
    sub = SubDagSpec(input={"sku": "{{ params.sku }}", "qty": "{{ params.qty }}", "label": "sku {{ params.sku }}", "vat": 0.2},
                     input_from={"n": ResultRef(task_id="count", key="n")})
    assert child_conf({"source": "orders"}, sub, SCOPE, {"count": {"n": 7}}) == {
        "source": "orders", "sku": "A-1", "qty": 3, "label": "sku A-1", "vat": 0.2, "n": 7,
    }


def test_an_input_naming_a_missing_param_cannot_make_the_conf() -> None:
    with pytest.raises(TemplateRenderError, match="params.customer is undefined"):
        child_conf({}, SubDagSpec(input={"c": "{{ params.customer }}"}), SCOPE, {})


def test_the_output_picks_values_from_the_childs_task_results() -> None:
    sub = SubDagSpec(output={"amount": "quote.amount", "lines": "length(items)", "missing": "nowhere.x"})
    assert pick_output(sub, {"quote": {"amount": 12.5}, "items": [1, 2]}) == {"amount": 12.5, "lines": 2, "missing": None}


def test_an_output_that_is_not_jmespath_is_a_definition_error() -> None:
    with DAG("bad_output"), pytest.raises(DagDefinitionError, match="output 'amount' is not a JMESPath expression"):
        SubDagTask(task_id="price", dag_id="pricing", output={"amount": "quote.["})


def test_retry_needs_retries() -> None:
    with DAG("retry_without_retries") as d:
        SubDagTask(task_id="price", dag_id="pricing", on_child_failure="retry")
    with pytest.raises(DagDefinitionError, match="on_child_failure='retry' needs retries=N"):
        d.to_spec()


def test_retries_go_only_with_retry() -> None:
    with DAG("retries_without_retry"), pytest.raises(DagDefinitionError, match="retries start new child runs"):
        SubDagTask(task_id="price", dag_id="pricing", retries=2)


def test_default_retries_do_not_start_new_children_unless_asked() -> None:
    with DAG("default_retries", default_args={"retries": 3}) as d:
        SubDagTask(task_id="price", dag_id="pricing")
        SubDagTask(task_id="again", dag_id="pricing", on_child_failure="retry")
    spec = d.to_spec()
    assert (spec.task_map["price"].retries, spec.task_map["again"].retries) == (0, 3)


def test_an_unknown_failure_choice_is_a_definition_error() -> None:
    with DAG("bad_choice"), pytest.raises(DagDefinitionError, match="on_child_failure must be one of fail_parent, continue, retry"):
        SubDagTask(task_id="price", dag_id="pricing", on_child_failure="ignore")  # type: ignore[arg-type]
