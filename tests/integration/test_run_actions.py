"""What users do to runs while the scheduler drives them: cancel, clear; and what they can
watch: a running try's log, the scheduler's heartbeat report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.errors import ConflictError
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store import clearing as clearing_store
from orchestrator.store import runs as run_store
from orchestrator.store.models import SchedulerJob

from .harness import SchedulerThread, make_config, run_row, task_rows, tries_of, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

DAGS = {
    "long.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import sleep_for, succeed

        with DAG("long") as dag:
            PythonTask(task_id="wait", python_callable=sleep_for, op_args=[6]) >> PythonTask(task_id="after", python_callable=succeed)
    """,
    "gate.py": """
        import os
        from orchestrator import DAG, PythonTask
        from tests.fixtures import fail_unless_file_exists, succeed

        with DAG("gate") as dag:
            check = PythonTask(task_id="check", python_callable=fail_unless_file_exists,
                               op_args=[os.path.join(os.path.dirname(__file__), "..", "gate_open")])
            check >> PythonTask(task_id="report", python_callable=succeed)
    """,
    "chatty.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import print_slowly

        with DAG("chatty") as dag:
            PythonTask(task_id="talk", python_callable=print_slowly, op_args=[8, 0.5])
    """,
}


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, dask_address: str) -> Iterator[tuple[Path, sessionmaker[Session]]]:
    home = tmp_path_factory.mktemp("actions")
    for name, source in DAGS.items():
        write_dag(home / "dags", name, source)
    url = f"sqlite:///{home / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    with SchedulerThread(make_config(home, url), sessions, DaskExecutor(dask_address)):
        yield home, sessions


def test_cancelling_a_running_run_cancels_its_tasks_and_nothing_after_runs(env: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = env
    run_id = trigger(sessions, "long")
    def waiting_runs() -> bool:
        ti = task_rows(sessions, "long", run_id).get("wait")
        return ti is not None and ti.state == "running"

    wait_until(waiting_runs, timeout=60, what="'wait' to run")
    with sessions.begin() as s:
        run_store.cancel_run(s, "long", run_id, _now(), actor="tester")
    run = wait_for_run(sessions, "long", run_id)
    states = {tid: ti.state for tid, ti in task_rows(sessions, "long", run_id).items()}
    assert run.state == "cancelled"
    assert states == {"wait": "cancelled", "after": "cancelled"}


def test_cancelling_a_finished_run_is_a_conflict(env: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = env
    run_id = trigger(sessions, "chatty")
    wait_for_run(sessions, "chatty", run_id)
    with pytest.raises(ConflictError, match="already ended"), sessions.begin() as s:
        run_store.cancel_run(s, "chatty", run_id, _now(), actor="tester")


def test_clearing_a_failed_task_runs_it_and_its_downstream_again(env: tuple[Path, sessionmaker[Session]]) -> None:
    home, sessions = env
    run_id = trigger(sessions, "gate")
    assert wait_for_run(sessions, "gate", run_id).state == "failed"
    (home / "gate_open").write_text("open")
    with sessions.begin() as s:
        cleared = clearing_store.clear_task(s, "gate", run_id, "check", downstream=True, now=_now(), actor="tester")
    assert cleared == ["check", "report"]
    wait_until(lambda: run_row(sessions, "gate", run_id).state == "success", timeout=60, what="the cleared run to succeed")
    tis = task_rows(sessions, "gate", run_id)
    assert (tis["check"].state, tis["check"].try_number) == ("success", 2)
    assert tis["report"].state == "success"


def test_a_running_tries_log_grows_before_it_ends(env: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = env
    run_id = trigger(sessions, "chatty")

    def partial_log() -> str | None:
        tries = tries_of(sessions, "chatty", run_id)
        if tries and tries[0].state == "running" and "line 1" in tries[0].log:
            return tries[0].log
        return None

    seen = wait_until(partial_log, timeout=60, what="log lines of the running try")
    assert "line 7" not in seen
    wait_for_run(sessions, "chatty", run_id)
    assert "line 7" in tries_of(sessions, "chatty", run_id)[0].log


def test_the_heartbeat_reports_the_dask_workers(env: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = env

    def stats() -> dict | None:
        with sessions() as s:
            job = s.scalar(select(SchedulerJob).where(SchedulerJob.state == "running"))
            return job.stats if job is not None and job.stats and job.stats["dask_workers"] else None

    report = wait_until(stats, timeout=30, what="a heartbeat with stats")
    assert len(report["dask_workers"]) == 2
    assert {"loop_ms", "queue_depth", "active_runs"} <= set(report)


def test_clearing_a_task_of_a_run_not_started_yet_is_a_conflict(tmp_path: Path) -> None:
    write_dag(tmp_path / "dags", "gate.py", DAGS["gate.py"])
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    from orchestrator.operations.folder_sync import sync_dag_folder

    sync_dag_folder(sessions, make_config(tmp_path, url))
    run_id = trigger(sessions, "gate")
    with pytest.raises(ConflictError, match="has not started yet"), sessions.begin() as s:
        clearing_store.clear_task(s, "gate", run_id, "check", downstream=False, now=_now(), actor="tester")
