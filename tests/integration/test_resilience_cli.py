"""`orchestrator circuits list|reset`, `pools set|list|delete`, `tasks dead-letters` and `tasks retry`
(in-process through click's runner, on a real SQLite store): output, --json and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.circuit import Breaker, BreakerState
from orchestrator.core.config import load_config
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import circuits as circuit_store
from orchestrator.store.db import make_engine, make_sessionmaker
from orchestrator.store.models import AuditLog
from scheduler import testrun

from .harness import cli_env, run_row, write_dag
from .test_connections_cli import run

OPENED = datetime(2026, 1, 1, tzinfo=UTC)
FAILING_DAG = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import always_fail, succeed

    with DAG("failing") as dag:
        PythonTask(task_id="boom", python_callable=always_fail) >> PythonTask(task_id="after", python_callable=succeed)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = cli_env(tmp_path)
    assert run(["db", "upgrade"], env).returncode == 0
    return env


@pytest.fixture
def sessions(env: dict[str, str], tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    sessions = make_sessionmaker(make_engine(load_config(home=tmp_path).resolved_database_url))
    yield sessions
    sessions.kw["bind"].dispose()


@pytest.fixture
def failed_run(env: dict[str, str], sessions: sessionmaker[Session], tmp_path: Path) -> str:
    """The run_id of a finished `failing` run: `boom` failed after its last try, `after` never ran."""
    config = load_config(home=tmp_path, dags_folder=tmp_path / "dags")
    write_dag(config.resolved_dags_folder, "failing.py", FAILING_DAG)
    sync_dag_folder(sessions, config)
    return testrun.test_run(sessions, config, "failing", {}).run_id


def open_breaker(sessions: sessionmaker[Session], key: str = "billing_api") -> None:
    with sessions.begin() as s:
        circuit_store.save(s, [Breaker(key, BreakerState.OPEN, consecutive_failures=3, opened_at=OPENED)], OPENED)


def test_circuits_list_json_shows_each_breaker_and_its_state(env: dict[str, str], sessions: sessionmaker[Session]) -> None:
    open_breaker(sessions)
    listed = run(["circuits", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["key"], row["state"], row["consecutive_failures"], row["probe"]) == ("billing_api", "open", 3, None)
    assert datetime.fromisoformat(row["opened_at"]) == OPENED


def test_circuits_list_as_a_table_names_the_breaker(env: dict[str, str], sessions: sessionmaker[Session]) -> None:
    open_breaker(sessions)
    listed = run(["circuits", "list"], env)
    assert listed.returncode == 0 and "billing_api" in listed.stdout and "open" in listed.stdout


def test_circuits_reset_closes_the_breaker_and_is_audited(env: dict[str, str], sessions: sessionmaker[Session]) -> None:
    open_breaker(sessions)
    reset = run(["circuits", "reset", "billing_api"], env)
    assert reset.returncode == 0, reset.stderr
    assert [r["state"] for r in json.loads(run(["circuits", "list", "--json"], env).stdout)] == ["closed"]
    with sessions() as s:
        assert list(s.scalars(select(AuditLog.target).where(AuditLog.action == "circuit.reset"))) == ["circuit:billing_api"]


def test_resetting_an_unknown_breaker_exits_2(env: dict[str, str]) -> None:
    reset = run(["circuits", "reset", "nope"], env)
    assert reset.returncode == 2 and "nope" in reset.stderr


def test_pools_set_creates_then_changes_a_pool(env: dict[str, str]) -> None:
    assert run(["pools", "set", "db", "2", "--description", "the warehouse"], env).returncode == 0
    assert run(["pools", "set", "db", "5"], env).returncode == 0
    listed = run(["pools", "list", "--json"], env)
    assert listed.returncode == 0
    assert json.loads(listed.stdout) == [{"name": "db", "slots": 5, "description": "the warehouse"}]


def test_pools_list_as_a_table_names_each_pool(env: dict[str, str]) -> None:
    run(["pools", "set", "db", "2"], env)
    run(["pools", "set", "api", "1"], env)
    listed = run(["pools", "list"], env)
    assert listed.returncode == 0 and "db" in listed.stdout and "api" in listed.stdout


def test_pools_set_refuses_negative_slots_with_exit_2(env: dict[str, str]) -> None:
    refused = run(["pools", "set", "db", "--", "-1"], env)
    assert refused.returncode == 2
    assert json.loads(run(["pools", "list", "--json"], env).stdout) == []


def test_pools_delete_removes_the_pool_and_is_audited(env: dict[str, str], sessions: sessionmaker[Session]) -> None:
    run(["pools", "set", "db", "2"], env)
    run(["pools", "set", "api", "1"], env)
    deleted = run(["pools", "delete", "db"], env)
    assert deleted.returncode == 0, deleted.stderr
    assert [p["name"] for p in json.loads(run(["pools", "list", "--json"], env).stdout)] == ["api"]
    with sessions() as s:
        assert list(s.scalars(select(AuditLog.target).where(AuditLog.action == "pool.deleted"))) == ["pool:db"]


def test_deleting_an_unknown_pool_exits_2_naming_it(env: dict[str, str]) -> None:
    refused = run(["pools", "delete", "nope"], env)
    assert refused.returncode == 2 and "no pool 'nope'" in refused.stderr


def test_dead_letters_list_the_task_failed_after_its_last_try(env: dict[str, str], failed_run: str) -> None:
    listed = run(["tasks", "dead-letters", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["dag_id"], row["run_id"], row["task_id"], row["tries"]) == ("failing", failed_run, "boom", 1)
    assert "this task always fails" in row["error"]


def test_dead_letters_filter_by_dag(env: dict[str, str], failed_run: str) -> None:
    assert json.loads(run(["tasks", "dead-letters", "--dag", "other", "--json"], env).stdout) == []
    assert len(json.loads(run(["tasks", "dead-letters", "--dag", "failing", "--json"], env).stdout)) == 1


def test_retry_queues_the_dead_letter_and_its_downstream_again(env: dict[str, str], sessions: sessionmaker[Session], failed_run: str) -> None:
    retried = run(["tasks", "retry", "failing", failed_run, "boom"], env)
    assert retried.returncode == 0, retried.stderr
    assert "boom" in retried.stdout and "after" in retried.stdout
    assert json.loads(run(["tasks", "dead-letters", "--json"], env).stdout) == []
    assert run_row(sessions, "failing", failed_run).state == "queued"


def test_retrying_a_task_that_has_not_finished_exits_1(env: dict[str, str], failed_run: str) -> None:
    assert run(["tasks", "retry", "failing", failed_run, "boom"], env).returncode == 0
    again = run(["tasks", "retry", "failing", failed_run, "boom"], env)
    assert again.returncode == 1 and again.stderr.strip()


def test_retrying_an_unknown_task_exits_2(env: dict[str, str], failed_run: str) -> None:
    assert run(["tasks", "retry", "failing", failed_run, "nope"], env).returncode == 2
