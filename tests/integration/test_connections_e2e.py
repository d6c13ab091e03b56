"""Connections end to end: the scheduler resolves a task's connection, a real Dask worker runs the
task, which reads it with get_connection; its secrets never reach the stored log, live or final."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.connections import Connection
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store import connections as connection_store
from orchestrator.store.models import TaskTry

from .harness import SchedulerThread, make_config, task_rows, tries_of, trigger, upgraded_sessions, wait_for_run, write_dag

PASSWORD = "Tr0ub4dor&3-horse-battery"
TOKEN = "tok-5e6f7a8b9c"
WAREHOUSE = Connection(
    conn_id="warehouse", conn_type="postgresql", host="db.internal", port=6543, login="etl", password=PASSWORD,
    schema="sales", extra={"api_token": TOKEN, "sslmode": "require"},
)
HOLD_S = 2.5  # longer than the worker's 1 s log pump interval, so a live chunk is sent

DAG_FILES = {
    "reads.py": f"""
        from orchestrator import DAG, PythonTask
        from tests.fixtures import print_connection_secret

        with DAG("reads") as dag:
            PythonTask(task_id="read", python_callable=print_connection_secret, op_args=["warehouse", {HOLD_S}], conn_id="warehouse")
    """,
    "raises.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import raise_connection_secret

        with DAG("raises") as dag:
            PythonTask(task_id="boom", python_callable=raise_connection_secret, op_args=["warehouse"], conn_id="warehouse")
    """,
    "unknown.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("unknown") as dag:
            PythonTask(task_id="needs", python_callable=succeed, conn_id="nowhere")
            PythonTask(task_id="independent", python_callable=succeed)
    """,
}


@dataclass
class World:
    sessions: sessionmaker[Session]
    runs: dict[str, str]
    live_logs: list[str]  # the read task's log as stored while it was running


def _running_log(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> str | None:
    with sessions() as s:
        row = s.get(TaskTry, (dag_id, run_id, "read", -1, 1))
        return row.log if row is not None and row.state == "running" else None


@pytest.fixture(scope="module")
def world(dask_address: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    home: Path = tmp_path_factory.mktemp("conn_e2e")
    config = make_config(home, f"sqlite:///{home / 'orchestrator.db'}")
    for name, source in DAG_FILES.items():
        write_dag(config.resolved_dags_folder, name, source)
    sessions = upgraded_sessions(config.resolved_database_url)
    with sessions.begin() as s:
        connection_store.create(s, WAREHOUSE, connection_store.crypter(config), time_now())
    live: list[str] = []
    with SchedulerThread(config, sessions, DaskExecutor(dask_address)) as sched:
        runs = {dag_id: trigger(sessions, dag_id) for dag_id in ("reads", "raises", "unknown")}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sched.check()
            text = _running_log(sessions, "reads", runs["reads"])
            if text and "connecting as" in text:
                live.append(text)
                break
            time.sleep(0.05)
        for dag_id, run_id in runs.items():
            wait_for_run(sessions, dag_id, run_id)
        sched.check()
    return World(sessions, runs, live)


def time_now():  # noqa: ANN201
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _only_try(world: World, dag_id: str, task_id: str) -> TaskTry:
    (row,) = [t for t in tries_of(world.sessions, dag_id, world.runs[dag_id]) if t.task_id == task_id]
    return row


def test_a_task_reads_its_connection_with_get_connection_on_a_dask_worker(world: World) -> None:
    ti = task_rows(world.sessions, "reads", world.runs["reads"])["read"]
    assert ti.state == "success"
    assert ti.result == {"host": "db.internal", "port": 6543, "login": "etl", "schema": "sales"}


def test_the_stored_log_masks_the_password_and_secret_extras_the_task_printed(world: World) -> None:
    log = _only_try(world, "reads", "read").log
    assert "connecting as etl with password *** and token ***" in log
    assert PASSWORD not in log and TOKEN not in log


def test_the_live_log_masks_the_password_while_the_task_runs(world: World) -> None:
    assert world.live_logs, "the running try's log never showed the printed line"
    assert "connecting as etl with password ***" in world.live_logs[0]
    assert PASSWORD not in world.live_logs[0]


def test_an_error_carrying_the_password_is_stored_masked(world: World) -> None:
    row = _only_try(world, "raises", "boom")
    assert row.state == "failed"
    assert row.error == "RuntimeError: could not log in with ***"
    assert PASSWORD not in row.log


def test_an_unknown_connection_fails_the_try_naming_it_and_the_rest_runs(world: World) -> None:
    tasks = task_rows(world.sessions, "unknown", world.runs["unknown"])
    assert tasks["needs"].state == "failed"
    assert tasks["independent"].state == "success"
    error = _only_try(world, "unknown", "needs").error or ""
    assert "unknown connection 'nowhere'" in error and "ORCH_CONN_NOWHERE" in error
