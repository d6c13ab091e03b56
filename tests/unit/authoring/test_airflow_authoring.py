"""The Airflow names build our own model: specs, links, params, schedules, setup/teardown scopes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import orchestrator
from orchestrator import DagSpec
from orchestrator.airflow import (
    DAG,
    BashOperator,
    EmptyOperator,
    Label,
    Param,
    PythonOperator,
    ShortCircuitOperator,
    TriggerDagRunOperator,
    UnsupportedAirflowFeature,
    cross_downstream,
    dag,
    pendulum,
    setup,
    task,
    task_group,
    teardown,
)
from orchestrator.core.clearing import clear_scope
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.mapping import KWARGS, MappingError, map_items, map_length, source_list
from orchestrator.core.schedule import delta_cron
from orchestrator.core.spec import MapSource
from orchestrator.core.states import UpstreamSummary, Verdict, evaluate_teardown
from orchestrator.core.templating import ds_add, ds_format


def _spec(d: DAG) -> DagSpec:
    return d.to_spec()


def test_from_orchestrator_import_dag_gives_the_decorator() -> None:
    from orchestrator import dag as decorator

    assert callable(decorator) and decorator is orchestrator.dag and decorator.__module__ == "orchestrator.authoring.dag"


def test_the_dag_decorator_names_the_dag_after_the_function_and_documents_it() -> None:
    @dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1), tags=["t"])
    def documented(limit: int = 5) -> None:
        """### Notes"""

        @task
        def one() -> int:
            return 1

        one()

    spec = _spec(documented())
    assert (spec.dag_id, spec.doc_md, spec.params, spec.tags) == ("documented", "### Notes", {"limit": 5}, ("t",))


def test_airflow_dag_arguments_map_onto_ours() -> None:
    with DAG("args", schedule_interval="@daily", start_date=datetime(2024, 1, 1), dag_display_name="Nice",
             default_args={"owner": "me", "email": ["x@y"], "retries": 2, "on_failure_callback": print}) as d:
        EmptyOperator(task_id="e")
    spec = _spec(d)
    assert (spec.schedule, spec.title, spec.tasks[0].retries) == ("@daily", "Nice", 2)
    assert d.ignored_airflow_args == {"dag_display_name": "Nice"}


def test_a_timedelta_schedule_becomes_cron_from_the_start_time() -> None:
    assert delta_cron(timedelta(days=1), datetime(2024, 1, 1, 6, 30)) == "30 6 * * *"
    assert delta_cron(timedelta(hours=6), datetime(2024, 1, 1, 2, 15)) == "15 2-23/6 * * *"
    assert delta_cron(timedelta(minutes=15), datetime(2024, 1, 1, 0, 5)) == "5-59/15 * * * *"
    assert delta_cron(timedelta(weeks=1), datetime(2024, 1, 3)) == "0 0 * * 3"


def test_a_timedelta_without_a_cron_form_is_refused_saying_what_works() -> None:
    with pytest.raises(DagDefinitionError, match="minutes dividing an hour"):
        delta_cron(timedelta(days=3), datetime(2024, 1, 1))


def test_params_with_types_become_the_input_schema_and_their_defaults_the_params() -> None:
    with DAG("p", params={"names": Param(["a"], type="array", title="Names"), "n": 3, "must": Param(type="string")}) as d:
        EmptyOperator(task_id="e")
    spec = _spec(d)
    assert spec.params == {"names": ["a"], "n": 3}
    assert spec.input_schema == {
        "type": "object",
        "properties": {"names": {"type": "array", "title": "Names", "default": ["a"]}, "n": {"default": 3}, "must": {"type": "string"}},
        "required": ["must"],
    }


def test_a_label_between_tasks_links_them() -> None:
    with DAG("l") as d:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> Label("yes") >> b
    assert d.tasks["b"].upstream_ids == ["a"]


def test_cross_downstream_links_every_pair() -> None:
    with DAG("x") as d:
        ups = [EmptyOperator(task_id=f"u{i}") for i in range(2)]
        downs = [EmptyOperator(task_id=f"d{i}") for i in range(2)]
        cross_downstream(ups, downs)
    assert [sorted(d.tasks[t].upstream_ids) for t in ("d0", "d1")] == [["u0", "u1"], ["u0", "u1"]]


def test_operators_are_our_step_types() -> None:
    with DAG("ops") as d:
        BashOperator(task_id="b", bash_command="echo {{ ds }}", owner="me", email_on_failure=True)
        PythonOperator(task_id="p", python_callable=print, on_failure_callback=[print, print])
        ShortCircuitOperator(task_id="s", python_callable=bool)
        TriggerDagRunOperator(task_id="t", trigger_dag_id="other", wait_for_completion=True)
    spec = _spec(d).task_map
    assert [spec[t].step_type for t in "bpst"] == ["shell", "python", "python", "trigger_dag_run"]
    assert spec["s"].branch and spec["t"].trigger is not None and spec["t"].trigger.wait
    assert d.tasks["b"].ignored_airflow_args == {"owner": "me", "email_on_failure": True}


def test_task_group_calls_get_numbered_group_ids() -> None:
    @task_group
    def section() -> None:
        EmptyOperator(task_id="inside")

    with DAG("g") as d:
        section()
        section()
    assert sorted(d.tasks) == ["section.inside", "section__1.inside"]


def test_an_unsupported_task_flavour_names_itself() -> None:
    with pytest.raises(UnsupportedAirflowFeature, match="@task.virtualenv"):
        task.virtualenv(requirements=["numpy"])


def test_the_teardown_context_puts_the_block_between_setup_and_teardown() -> None:
    with DAG("st") as d:
        @setup
        def up() -> str:
            return "c"

        @teardown
        def down(c: str) -> None: ...

        @task
        def work() -> None: ...

        with down(up()):
            work()
    spec = _spec(d).task_map
    assert spec["work"].upstream == ("up",) and set(spec["down"].upstream) == {"up", "work"}
    assert (spec["up"].setup_teardown, spec["down"].setup_teardown) == ("setup", "teardown")


def test_clearing_work_brings_its_setups_and_their_teardowns() -> None:
    with DAG("c") as d:
        s = EmptyOperator(task_id="s").as_setup()
        t = EmptyOperator(task_id="t").as_teardown(setups=s)
        s >> EmptyOperator(task_id="w1") >> EmptyOperator(task_id="w2") >> t
        EmptyOperator(task_id="alone")
    assert clear_scope(_spec(d), ["w2"]) == ["w2", "s", "t"]
    assert clear_scope(_spec(d), ["alone"]) == ["alone"]


def test_a_teardown_runs_when_all_ended_if_a_setup_succeeded() -> None:
    ended = UpstreamSummary(total=2, success=1, failed=1)
    assert evaluate_teardown(ended, UpstreamSummary(total=1, success=1)) is Verdict.RUN
    assert evaluate_teardown(ended, UpstreamSummary(total=1, failed=1)) is Verdict.SKIP
    assert evaluate_teardown(UpstreamSummary(total=2, success=1), UpstreamSummary(total=1, success=1)) is Verdict.WAIT


def test_a_quiet_teardown_is_not_a_leaf_that_judges_the_run() -> None:
    with DAG("leaves") as d:
        s = EmptyOperator(task_id="s").as_setup()
        t = EmptyOperator(task_id="t").as_teardown(setups=s)
        s >> EmptyOperator(task_id="w") >> t
    assert _spec(d).flow_leaves == ("w",)


def test_expand_kwargs_maps_each_dict_onto_the_arguments() -> None:
    sources = (MapSource(arg=KWARGS, task_id="up"),)
    results = {"up": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}
    assert map_length(sources, results) == 2 and map_items(sources, results, 1) == {"a": 3, "b": 4}


def test_expand_kwargs_over_something_not_dicts_names_the_item() -> None:
    with pytest.raises(MappingError, match="item 1 is 5"):
        source_list(MapSource(arg=KWARGS, task_id="up"), {"up": [{"a": 1}, 5]})


def test_macros_add_days_and_reformat_dates() -> None:
    assert (ds_add("2024-02-28", 2), ds_add("2024-01-01", -1)) == ("2024-03-01", "2023-12-31")
    assert ds_format("2024-02-28", "%Y-%m-%d", "%d/%m/%Y") == "28/02/2024"
