"""The authoring example of issue 2, as written there, builds the DAG it describes."""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator import DAG, PythonTask, TriggerRule, chain, get_context, task


def f(x: int) -> int:
    return x


def g() -> str:
    return get_context().task_id


def build() -> DAG:
    with DAG("etl", schedule="0 * * * *", start_date=datetime(2026, 1, 1), catchup=False,
             timezone="Europe/Berlin", default_args={"retries": 2}, tags=["demo"],
             max_active_runs=4, description="...", params={"limit": 10}) as dag:  # fmt: skip
        @task(retries=3, retry_delay=timedelta(seconds=5), retry_backoff="exponential",
              max_retry_delay=timedelta(minutes=5), execution_timeout=timedelta(minutes=1))  # fmt: skip
        def extract(): return [1, 2, 3]  # noqa: E704
        @task
        def load(rows): return len(rows)          # return values flow downstream (JSON)  # noqa: E704
        load(extract())                           # calling wires the dependency
        a = PythonTask(task_id="a", python_callable=f, op_kwargs={"x": 1})
        b = PythonTask(task_id="b", python_callable=g, trigger_rule=TriggerRule.ALL_DONE)
        c = PythonTask(task_id="c", python_callable=g)  # the issue leaves `c` to the reader
        a >> b; [a, b] >> c; chain(a, b, c)  # noqa: E702
    return dag


def test_issue_example_builds_a_spec_with_every_task() -> None:
    spec = build().to_spec()
    assert {t.task_id for t in spec.tasks} == {"extract", "load", "a", "b", "c"}


def test_issue_example_wires_the_dependencies_it_writes() -> None:
    spec = build().to_spec()
    upstream = {t.task_id: set(t.upstream) for t in spec.tasks}
    assert upstream == {"extract": set(), "load": {"extract"}, "a": set(), "b": {"a"}, "c": {"a", "b"}}


def test_issue_example_keeps_the_dag_settings() -> None:
    spec = build().to_spec()
    assert (spec.dag_id, spec.schedule, spec.timezone, spec.catchup) == ("etl", "0 * * * *", "Europe/Berlin", False)
    assert (spec.tags, spec.max_active_runs, spec.description, spec.params) == (("demo",), 4, "...", {"limit": 10})
    assert spec.start_date == datetime(2026, 1, 1)


def test_issue_example_task_policy_comes_from_the_decorator() -> None:
    extract = build().to_spec().task_map["extract"]
    assert (extract.retries, extract.retry_delay_s, extract.retry_backoff) == (3, 5.0, "exponential")
    assert (extract.max_retry_delay_s, extract.execution_timeout_s) == (300.0, 60.0)


def test_issue_example_default_args_fill_the_other_tasks() -> None:
    spec = build().to_spec()
    assert {t.task_id: t.retries for t in spec.tasks if t.task_id != "extract"} == {"load": 2, "a": 2, "b": 2, "c": 2}


def test_issue_example_trigger_rule_is_kept() -> None:
    assert build().to_spec().task_map["b"].trigger_rule is TriggerRule.ALL_DONE
