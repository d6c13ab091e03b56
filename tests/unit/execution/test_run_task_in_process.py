"""runtime.run_task called directly in this process on a tiny DAG file (no Dask, no database)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator import get_context
from orchestrator.execution.current import NoTaskContextError
from orchestrator.execution.runtime import Outcome, WorkItem, run_task

DAG_FILE = textwrap.dedent(
    """
    from orchestrator import DAG, get_context, task

    with DAG("tiny") as dag:
        @task
        def extract():
            return [1, 2, 3]

        @task
        def count(rows):
            return len(rows)

        count(extract())

        @task
        def boom():
            raise ValueError("kaput")

        @task
        def whoami():
            ctx = get_context()
            ctx.log.info("hello from %s try %s", ctx.task_id, ctx.try_number)
            return {"dag_id": ctx.dag_id, "run_id": ctx.run_id, "try_number": ctx.try_number,
                    "logical_date": ctx.logical_date.isoformat(), "params": ctx.params}

        @task
        def with_context_parameter(context):
            return context.task_id

        @task
        def not_json():
            return object()

        @task
        def big():
            return "x" * 100

        # a decorated function becomes a task when it is called
        boom(); whoami(); with_context_parameter(); not_json(); big()
    """
)


@pytest.fixture(scope="module")
def dag_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dags") / "tiny_dag.py"
    path.write_text(DAG_FILE)
    return path


def work(dag_file: Path | str, task_id: str, **kw: object) -> WorkItem:
    return WorkItem(
        key=f"tiny/run1/{task_id}/1",
        dag_id="tiny",
        run_id="run1",
        task_id=task_id,
        try_number=kw.pop("try_number", 1),  # type: ignore[arg-type]
        fileloc=str(dag_file),
        dags_root=None,
        **kw,  # type: ignore[arg-type]
    )


def upstream_done(task_id: str, status: str, result: object = None) -> Outcome:
    key = f"tiny/run1/{task_id}/1"
    return Outcome(key=key, task_id=task_id, try_number=1, status=status, result=result)  # type: ignore[arg-type]


def test_successful_task_returns_its_value_as_the_result(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "extract"))
    assert (outcome.status, outcome.result, outcome.error) == ("success", [1, 2, 3], None)
    assert outcome.start is not None and outcome.end is not None and outcome.start <= outcome.end


def test_upstream_results_are_passed_to_the_task(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "count", upstream_results={"extract": [1, 2, 3, 4]}))
    assert (outcome.status, outcome.result) == ("success", 4)


def test_result_of_a_chained_upstream_is_passed_to_the_task(dag_file: Path) -> None:
    item = work(dag_file, "count", chained_upstreams=("extract",))
    outcome = run_task(item, upstream_done("extract", "success", [7, 8]))
    assert (outcome.status, outcome.result) == ("success", 2)


def test_task_whose_chained_upstream_failed_is_not_run(tmp_path: Path) -> None:
    # the DAG file is not even read: the file named here does not exist
    item = work(tmp_path / "missing.py", "count", chained_upstreams=("extract",))
    outcome = run_task(item, upstream_done("extract", "failed"))
    assert (outcome.status, outcome.start, outcome.error) == ("not_run", None, None)


def test_raising_task_fails_with_the_error_and_its_traceback_in_the_log(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "boom"))
    assert (outcome.status, outcome.error) == ("failed", "ValueError: kaput")
    assert outcome.traceback is not None and "raise ValueError" in outcome.traceback
    assert "ValueError: kaput" in outcome.log


def test_task_sees_its_run_in_get_context(dag_file: Path) -> None:
    logical = datetime(2026, 1, 1, 9, tzinfo=UTC)
    item = work(dag_file, "whoami", try_number=3, logical_date=logical, params={"limit": 5})
    outcome = run_task(item)
    assert outcome.result == {
        "dag_id": "tiny",
        "run_id": "run1",
        "try_number": 3,
        "logical_date": logical.isoformat(),
        "params": {"limit": 5},
    }


def test_context_logger_lines_go_to_the_try_log(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "whoami", try_number=2, logical_date=datetime(2026, 1, 1, tzinfo=UTC)))
    assert "hello from whoami try 2" in outcome.log


def test_task_with_a_context_parameter_receives_the_context(dag_file: Path) -> None:
    assert run_task(work(dag_file, "with_context_parameter")).result == "with_context_parameter"


def test_context_is_gone_after_the_task_ran(dag_file: Path) -> None:
    run_task(work(dag_file, "whoami", logical_date=datetime(2026, 1, 1, tzinfo=UTC)))
    with pytest.raises(NoTaskContextError):
        get_context()


def test_result_that_is_not_json_fails_the_try(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "not_json"))
    assert outcome.status == "failed"
    assert outcome.error is not None and "not JSON-serializable" in outcome.error


def test_result_over_the_size_limit_fails_the_try(dag_file: Path) -> None:
    outcome = run_task(work(dag_file, "big", max_result_bytes=50))
    assert outcome.status == "failed"
    assert outcome.error is not None and "over the 50 byte limit" in outcome.error


def test_missing_dag_file_fails_the_try_naming_the_file(tmp_path: Path) -> None:
    outcome = run_task(work(tmp_path / "gone.py", "extract"))
    assert outcome.status == "failed"
    assert outcome.error is not None and "gone.py does not exist" in outcome.error


def test_dag_file_no_longer_defining_the_dag_fails_the_try(tmp_path: Path) -> None:
    path = tmp_path / "other_dag.py"
    path.write_text("from orchestrator import DAG\nDAG('something_else')\n")
    outcome = run_task(work(path, "extract"))
    assert outcome.status == "failed"
    assert outcome.error is not None and "no longer defines DAG 'tiny'" in outcome.error
