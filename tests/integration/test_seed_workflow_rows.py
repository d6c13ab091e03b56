"""Seed 002's smaller rows through a real `orchestrator scheduler` process on SQLite: onFailure
routes by errorCode, JSONata event transforms, and per-workflow executionLog retention."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import external_events as event_store
from orchestrator.store.models import DagRun

from .harness import SchedulerProcess, cli_env, make_config, orch, task_rows, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

CODED = """
    workflowId: "{dag_id}"
    steps:
      - stepId: charge
        taskId: tests.fixtures:raise_coded
        input: {code: "{code}"}
        onFailure:
          errorHandler:
            conditions:
              - {errorCode: E42, nextStepId: card_declined}
              - {errorType: CodedError, nextStepId: other_code}
      - stepId: card_declined
        taskId: tests.fixtures:routed_error_seen
      - stepId: other_code
        taskId: tests.fixtures:routed_error_seen
"""
JSONATA = """
    workflowId: totals
    triggers:
      - eventPattern: "order.*"
        transform: {type: jsonata, expression: '{"order": payload.id, "total": $sum(payload.lines.price)}'}
    steps:
      - stepId: show
        taskId: tests.fixtures:context_params
"""

KEPT_BRIEFLY = """
    workflowId: brief
    executionLog: {retention: PT1S}
    steps:
      - stepId: work
        taskId: tests.fixtures:succeed
"""


@dataclass
class Home:
    path: Path
    sessions: sessionmaker[Session]
    scheduler: SchedulerProcess
    env: dict[str, str]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    path = tmp_path_factory.mktemp("seed_rows")
    for code in ("E42", "E7"):
        write_dag(path / "dags", f"coded_{code}.yaml", CODED.replace("{dag_id}", f"coded_{code}").replace("{code}", code))
    write_dag(path / "dags", "totals.yaml", JSONATA)
    write_dag(path / "dags", "brief.yaml", KEPT_BRIEFLY)
    url = f"sqlite:///{path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    sync_dag_folder(sessions, make_config(path, url))
    env = cli_env(path)
    scheduler = SchedulerProcess(env, path / "scheduler.log").start()
    try:
        scheduler.wait_registered(sessions)
        yield Home(path, sessions, scheduler, env)
    finally:
        scheduler.cleanup()


@pytest.mark.parametrize(("dag_id", "handler", "skipped"), [("coded_E42", "card_declined", "other_code"), ("coded_E7", "other_code", "card_declined")])
def test_on_failure_routes_by_error_code_before_error_type(home: Home, dag_id: str, handler: str, skipped: str) -> None:
    run_id = trigger(home.sessions, dag_id)
    wait_for_run(home.sessions, dag_id, run_id, timeout=120)
    tasks = task_rows(home.sessions, dag_id, run_id)
    assert {tid: t.state for tid, t in tasks.items()} == {"charge": "failed", handler: "success", skipped: "skipped"}
    code = dag_id.split("_")[1]
    assert tasks[handler].result == {"task_id": "charge", "error": f"CodedError: failed with code {code}", "error_type": "CodedError", "error_code": code}


def test_a_jsonata_transform_makes_the_conf_of_the_run_an_event_starts(home: Home) -> None:
    with home.sessions.begin() as s:
        event_store.post(s, "order.created", {"id": 7, "lines": [{"price": 2}, {"price": 3.5}]}, None, datetime.now(UTC), "test")

    def started() -> DagRun | None:
        with home.sessions() as s:
            return s.scalar(select(DagRun).where(DagRun.dag_id == "totals"))

    run = wait_until(started, timeout=60, what="the run the event starts")
    assert run.conf == {"order": 7, "total": 5.5}
    assert wait_for_run(home.sessions, "totals", run.run_id, timeout=120).state == "success"
    assert task_rows(home.sessions, "totals", run.run_id)["show"].result == {"order": 7, "total": 5.5}


def test_a_workflow_s_execution_log_retention_is_applied_by_db_clean_policy(home: Home) -> None:
    kept = trigger(home.sessions, "totals")  # declares no retention: stays
    gone = trigger(home.sessions, "brief")
    for dag_id, run_id in (("totals", kept), ("brief", gone)):
        wait_for_run(home.sessions, dag_id, run_id, timeout=120)

    def cleaned() -> str | None:
        result = orch(["db", "clean", "--policy", "--json"], home.env)
        assert result.returncode == 0, result.stderr
        return result.stdout if '"dag_run": 1' in result.stdout else None

    assert '"brief"' in wait_until(cleaned, timeout=60, what="the run older than its one second of retention to be purged")
    with home.sessions() as s:
        assert s.get(DagRun, ("brief", gone)) is None and s.get(DagRun, ("totals", kept)) is not None
