"""@task: bare and with arguments, unique ids for repeated calls, result wiring; default_args."""

from __future__ import annotations

from datetime import timedelta

from orchestrator import DAG, PythonTask, TriggerRule, XComArg, task


@task
def step(x: int = 0) -> int:
    return x + 1


@task(retries=4, retry_delay=timedelta(seconds=7), trigger_rule="all_done")
def careful() -> str:
    return "ok"


def test_bare_task_decorator_adds_a_python_task_named_after_the_function() -> None:
    with DAG("d") as dag:
        result = step()
    assert isinstance(result, XComArg)
    assert list(dag.tasks) == ["step"]
    assert isinstance(dag.tasks["step"], PythonTask)


def test_decorated_function_keeps_its_name_and_plain_function() -> None:
    assert step.__name__ == "step"
    assert step.fn(1) == 2


def test_task_decorator_with_arguments_sets_the_task_policy() -> None:
    with DAG("d") as dag:
        careful()
    spec = dag.to_spec().task_map["careful"]
    assert (spec.retries, spec.retry_delay_s, spec.trigger_rule) == (4, 7.0, TriggerRule.ALL_DONE)


def test_task_decorator_with_empty_parentheses_works_like_bare() -> None:
    @task()
    def plain() -> None:
        return None

    with DAG("d") as dag:
        plain()
    assert list(dag.tasks) == ["plain"]


def test_repeated_calls_give_step_step__1_step__2() -> None:
    with DAG("d") as dag:
        step()
        step()
        step()
    assert list(dag.tasks) == ["step", "step__1", "step__2"]


def test_repeated_call_ids_are_counted_per_dag() -> None:
    with DAG("one") as one:
        step()
        step()
    with DAG("two") as two:
        step()
    assert (list(one.tasks), list(two.tasks)) == (["step", "step__1"], ["step"])


def test_explicit_task_id_is_used_and_also_made_unique() -> None:
    with DAG("d") as dag:
        step.override(task_id="inc")()
        step.override(task_id="inc")()
    assert list(dag.tasks) == ["inc", "inc__1"]


def test_passing_a_result_as_an_argument_wires_the_dependency() -> None:
    with DAG("d") as dag:
        step(step())
    assert dag.tasks["step__1"].upstream_ids == ["step"]


def test_results_nested_in_lists_and_keyword_dicts_wire_dependencies() -> None:
    @task
    def gather(items: list[int], extra: dict[str, int]) -> int:
        return sum(items) + sum(extra.values())

    with DAG("d") as dag:
        a, b, c = step(), step(), step()
        gather([a, b], extra={"c": c})
    assert set(dag.tasks["gather"].upstream_ids) == {"step", "step__1", "step__2"}


def test_upstream_results_reach_the_callable_resolved() -> None:
    @task
    def gather(items: list[int], extra: dict[str, int]) -> int:
        return sum(items) + 10 * extra["c"]

    with DAG("d") as dag:
        a, b = step(), step()
        gather([a, b["n"]], extra={"c": a})
    t = dag.tasks["gather"]
    assert t.execute(None, {"step": 1, "step__1": {"n": 2}}) == 13  # type: ignore[arg-type]


def test_python_task_results_in_op_kwargs_wire_dependencies() -> None:
    with DAG("d") as dag:
        first = step()
        PythonTask(task_id="p", python_callable=lambda x: x, op_kwargs={"x": first})
    assert dag.tasks["p"].upstream_ids == ["step"]


# -- default_args ------------------------------------------------------------------------------


def test_default_args_fill_settings_a_task_leaves_unset() -> None:
    defaults = {"retries": 2, "retry_delay": timedelta(seconds=9), "trigger_rule": "none_failed"}
    with DAG("d", default_args=defaults) as dag:
        step()
    spec = dag.to_spec().task_map["step"]
    assert (spec.retries, spec.retry_delay_s, spec.trigger_rule) == (2, 9.0, TriggerRule.NONE_FAILED)


def test_explicit_task_settings_win_over_default_args() -> None:
    with DAG("d", default_args={"retries": 2, "retry_delay": 60}) as dag:
        careful()
    spec = dag.to_spec().task_map["careful"]
    assert (spec.retries, spec.retry_delay_s) == (4, 7.0)


def test_explicit_setting_equal_to_the_builtin_default_still_wins() -> None:
    with DAG("d", default_args={"retries": 2}) as dag:
        PythonTask(task_id="p", python_callable=print, retries=0)
    assert dag.to_spec().task_map["p"].retries == 0


def test_without_default_args_tasks_get_the_builtin_policy() -> None:
    with DAG("d") as dag:
        step()
    spec = dag.to_spec().task_map["step"]
    assert (spec.retries, spec.retry_delay_s, spec.retry_backoff, spec.trigger_rule) == (
        0,
        300.0,
        "fixed",
        TriggerRule.ALL_SUCCESS,
    )
    assert (spec.max_retry_delay_s, spec.execution_timeout_s) == (None, None)


def test_default_args_keys_the_orchestrator_does_not_use_are_ignored() -> None:
    with DAG("d", default_args={"owner": "data-team", "retries": 1}) as dag:
        step()
    assert dag.to_spec().task_map["step"].retries == 1
