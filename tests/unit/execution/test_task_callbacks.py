"""Task and DAG callbacks, run in this process by runtime.run_task (no Dask, no database).

Callbacks print what they saw: a try's output is its log, so the log shows which callback ran.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator import DAG, PythonTask
from orchestrator.core.errors import DagDefinitionError
from orchestrator.execution.runtime import DAG_CALLBACK_TASK_ID, WorkItem, run_task

DAG_FILE = textwrap.dedent(
    """
    from orchestrator import DAG, PythonTask, task

    def said(name):
        def callback(context):
            print(f"{name}: {context.task_id} try {context.try_number} exception={context.exception!r}")
        return callback

    def broken_callback(context):
        raise RuntimeError("the callback itself fails")

    def ok():
        return "fine"

    def boom():
        raise ValueError("kaput")

    def run_ended(context):
        print(f"run {context.run_id} ended {context.run_state}")

    with DAG("cb", on_success_callback=run_ended, on_failure_callback=broken_callback,
             default_args={"on_failure": said("default on_failure")}) as dag:
        PythonTask(task_id="ok", python_callable=ok, on_success=said("on_success"), on_failure=said("on_failure"))
        PythonTask(task_id="boom", python_callable=boom, on_failure=said("on_failure"), on_retry=said("on_retry"))
        PythonTask(task_id="no_retry", python_callable=boom, no_retry_on=[ValueError],
                   on_failure=said("on_failure"), on_retry=said("on_retry"))
        PythonTask(task_id="bad_callback", python_callable=ok, on_success=broken_callback)
        PythonTask(task_id="from_default_args", python_callable=boom)

        @task(on_success=said("decorated on_success"))
        def decorated():
            return 1

        decorated()
    """
)


@pytest.fixture(scope="module")
def dag_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dags") / "callbacks_dag.py"
    path.write_text(DAG_FILE)
    return path


def work(dag_file: Path, task_id: str, **kw: object) -> WorkItem:
    return WorkItem(
        key=f"cb/run1/{task_id}", dag_id="cb", run_id="run1", task_id=task_id, try_number=kw.pop("try_number", 1),  # type: ignore[arg-type]
        fileloc=str(dag_file), dags_root=None, **kw,  # type: ignore[arg-type]
    )


def test_on_success_runs_with_the_context_after_a_successful_try(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "ok"))
    assert outcome.status == "success"
    assert "on_success: ok try 1 exception=None" in outcome.log
    assert "on_failure" not in outcome.log


def test_on_failure_runs_with_the_exception_after_the_last_try(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "boom", try_number=2, max_tries=2))
    assert outcome.status == "failed"
    assert "on_failure: boom try 2 exception=ValueError('kaput')" in outcome.log
    assert "on_retry" not in outcome.log


def test_on_retry_runs_instead_when_tries_are_left(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "boom", try_number=1, max_tries=2))
    assert "on_retry: boom try 1 exception=ValueError('kaput')" in outcome.log
    assert "on_failure" not in outcome.log


def test_an_error_that_no_retry_on_excludes_runs_on_failure_even_with_tries_left(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "no_retry", try_number=1, max_tries=3))
    assert "on_failure: no_retry try 1" in outcome.log
    assert "on_retry" not in outcome.log


def test_a_failing_callback_is_logged_and_never_changes_the_outcome(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "bad_callback"))
    assert outcome.status == "success" and outcome.result == "fine" and outcome.error is None
    assert "on_success callback failed (the try's outcome stands): RuntimeError: the callback itself fails" in outcome.log


def test_default_args_give_tasks_their_callbacks(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "from_default_args"))
    assert "default on_failure: from_default_args try 1" in outcome.log


def test_task_decorator_passes_callbacks_on(dag_file: Path) -> None:
    assert "decorated on_success: decorated try 1" in run_task(work(dag_file, "decorated")).log


def test_a_dag_callback_item_calls_the_dags_callback_for_how_the_run_ended(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, DAG_CALLBACK_TASK_ID, dag_callback="success"))
    assert outcome.status == "success"
    assert "run run1 ended success" in outcome.log


def test_a_failing_dag_callback_fails_its_item_with_the_error_in_the_log(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, DAG_CALLBACK_TASK_ID, dag_callback="failed"))
    assert outcome.status == "failed"
    assert "RuntimeError: the callback itself fails" in (outcome.error or "")
    assert "Traceback" in outcome.log


def test_a_callback_must_be_callable() -> None:
    with DAG("bad_cb"), pytest.raises(DagDefinitionError, match="on_failure must be callable"):
        PythonTask(task_id="t", python_callable=print, on_failure=42)  # a string is an error transition (error_routing)


def test_a_non_callable_callback_in_default_args_fails_when_the_dag_is_parsed() -> None:
    with DAG("bad_default", default_args={"on_retry": 42}) as dag:
        PythonTask(task_id="t", python_callable=print)
    with pytest.raises(DagDefinitionError, match="on_retry must be callable"):
        dag.to_spec()


def test_the_spec_names_the_dags_callbacks_and_they_count_in_the_version_hash() -> None:
    def plain() -> DAG:
        with DAG("same") as dag:
            PythonTask(task_id="t", python_callable=print)
        return dag

    with_callback = plain()
    with_callback.on_failure_callback = print
    spec = with_callback.to_spec()
    assert spec.on_failure_callback == "builtins:print" and spec.on_success_callback is None
    assert spec.version_hash != plain().to_spec().version_hash
