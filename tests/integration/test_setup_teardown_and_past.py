"""Setup/teardown with Airflow's semantics and depends_on_past, through the real scheduler loop
(SQLite, tasks in-process): a teardown runs after failed work; the run's state ignores a
teardown's failure unless it says otherwise; clearing work clears its setup and teardown; a run
whose previous run's depends_on_past task failed waits, naming it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.execution.executor import InProcessExecutor
from orchestrator.store import clearing as clearing_store

from .harness import SchedulerThread, make_config, run_row, task_rows, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

DAGS = """
    from orchestrator import DAG, PythonTask
    from orchestrator.airflow import setup, task, teardown
    from tests.fixtures import always_fail, succeed

    with DAG("work_fails") as work_fails:
        @setup
        def make(): return "cluster-1"
        @teardown
        def remove(cluster): return f"removed {cluster}"
        made = make()
        made >> PythonTask(task_id="work", python_callable=always_fail) >> remove(made)

    with DAG("teardown_fails") as teardown_fails:
        s = PythonTask(task_id="s", python_callable=succeed).as_setup()
        t = PythonTask(task_id="t", python_callable=always_fail).as_teardown(setups=s)
        s >> PythonTask(task_id="work", python_callable=succeed) >> t

    with DAG("teardown_fails_the_run") as loud:
        s = PythonTask(task_id="s", python_callable=succeed).as_setup()
        t = PythonTask(task_id="t", python_callable=always_fail).as_teardown(setups=s, on_failure_fail_dagrun=True)
        s >> PythonTask(task_id="work", python_callable=succeed) >> t

    with DAG("setup_fails") as setup_fails:
        s = PythonTask(task_id="s", python_callable=always_fail).as_setup()
        t = PythonTask(task_id="t", python_callable=succeed).as_teardown(setups=s)
        s >> PythonTask(task_id="work", python_callable=succeed) >> t

    with DAG("past", params={"fail": False}, default_args={"depends_on_past": True}) as past:
        @task
        def maybe_fail(params=None):
            if params["fail"]:
                raise RuntimeError("asked to fail")
            return "ok"
        maybe_fail()
"""


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    write_dag(tmp_path / "dags", "st.py", DAGS)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    made = upgraded_sessions(url)
    with SchedulerThread(make_config(tmp_path, url, dag_dir_scan_interval_s=0.5), made, InProcessExecutor()):
        yield made


def _run(sessions: sessionmaker[Session], dag_id: str, conf: dict | None = None) -> tuple[str, dict[str, str]]:
    run_id = trigger(sessions, dag_id, conf)
    state = wait_for_run(sessions, dag_id, run_id).state
    return state, {tid: ti.state for tid, ti in task_rows(sessions, dag_id, run_id).items()}


def test_a_teardown_runs_after_its_work_failed_and_the_run_fails_by_the_work(sessions: sessionmaker[Session]) -> None:
    state, tasks = _run(sessions, "work_fails")
    assert (state, tasks["work"], tasks["remove"]) == ("failed", "failed", "success")


def test_a_failing_teardown_leaves_the_run_successful(sessions: sessionmaker[Session]) -> None:
    state, tasks = _run(sessions, "teardown_fails")
    assert (state, tasks["work"], tasks["t"]) == ("success", "success", "failed")


def test_a_teardown_with_on_failure_fail_dagrun_fails_the_run(sessions: sessionmaker[Session]) -> None:
    assert _run(sessions, "teardown_fails_the_run")[0] == "failed"


def test_a_teardown_whose_setup_failed_is_skipped(sessions: sessionmaker[Session]) -> None:
    state, tasks = _run(sessions, "setup_fails")
    assert (state, tasks["work"], tasks["t"]) == ("failed", "upstream_failed", "skipped")


def test_clearing_the_work_clears_its_setup_and_teardown(sessions: sessionmaker[Session]) -> None:
    run_id = trigger(sessions, "teardown_fails")
    wait_for_run(sessions, "teardown_fails", run_id)
    with sessions.begin() as s:
        cleared = clearing_store.clear_task(s, "teardown_fails", run_id, "work", downstream=False, now=datetime.now(UTC), actor="test")
    assert sorted(cleared) == ["s", "t", "work"]
    wait_for_run(sessions, "teardown_fails", run_id)
    assert {ti.try_number for ti in task_rows(sessions, "teardown_fails", run_id).values()} == {2}


def test_a_run_waits_while_its_previous_runs_depends_on_past_task_failed(sessions: sessionmaker[Session]) -> None:
    assert _run(sessions, "past", {"fail": True})[0] == "failed"
    second = trigger(sessions, "past", {"fail": False})
    row = wait_until(lambda: (r := run_row(sessions, "past", second)).state == "waiting" and r, timeout=30, what="the run to wait")
    assert "depends_on_past" in row.state_reason and "maybe_fail is failed" in row.state_reason
