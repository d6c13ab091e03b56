"""Declarative workflows (YAML/JSON in the DAG folder) through the real loader, store and scheduler:
conditions taking one branch, parallel branches with a retry policy, import errors naming the
bad field, the input schema refusing a run's conf (CLI), the example workflow, and runs pinned to
the version they started with."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.inputs import InvalidRunInputError
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store.models import Dag, DagVersion, ImportError_
from scheduler.testrun import test_run as simulate

from .harness import (
    REPO_ROOT,
    SchedulerThread,
    cli_env,
    make_config,
    orch,
    run_row,
    task_rows,
    tries_of,
    trigger,
    upgraded_sessions,
    wait_for_run,
    wait_until,
    write_dag,
)

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
APPROVALS = """
    workflowId: approvals
    inputSchema:
      type: object
      properties: {amount: {type: number, minimum: 0}}
      required: [amount]
    steps:
      - stepId: check
        taskId: tests.fixtures:context_params
        next:
          - {stepId: manager, condition: data.amount > 1000}
          - {stepId: auto, condition: data.amount <= 1000}
      - {stepId: manager, taskId: 'tests.fixtures:succeed', next: [{stepId: done}]}
      - {stepId: auto, taskId: 'tests.fixtures:succeed', next: [{stepId: done}]}
      - {stepId: done, taskId: 'tests.fixtures:succeed'}
"""
FULFIL = """
    workflowId: fulfil
    steps:
      - stepId: start
        taskId: tests.fixtures:succeed
        parallelBranches:
          - branchId: payment
            steps:
              - stepId: charge
                taskId: tests.fixtures:fail_on_first_try
                retryPolicy: {maxAttempts: 2, delay: PT0S}
          - branchId: stock
            steps:
              - {stepId: reserve, taskId: shell, input: {command: "echo reserved"}}
        next: [{stepId: confirm}]
      - {stepId: confirm, taskId: 'tests.fixtures:succeed'}
"""


@pytest.fixture
def store(tmp_path: Path) -> tuple[Config, sessionmaker[Session]]:
    write_dag(tmp_path / "dags", "approvals.yaml", APPROVALS)
    write_dag(tmp_path / "dags", "fulfil.yml", FULFIL)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    return make_config(tmp_path, url), upgraded_sessions(url)


@contextmanager
def scheduler(store: tuple[Config, sessionmaker[Session]], **options: object) -> Iterator[SchedulerThread]:
    config, sessions = store
    with SchedulerThread(config, sessions, InProcessExecutor(), **({"clock": lambda: NOW} | options)) as running:
        yield running


def states(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> dict[str, str]:
    return {tid: row.state for tid, row in task_rows(sessions, dag_id, run_id).items()}


def test_a_condition_on_an_edge_takes_one_branch_through_the_scheduler(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    with scheduler(store):
        big = trigger(sessions, "approvals", {"amount": 5000})
        assert wait_for_run(sessions, "approvals", big).state == "success"
        small = trigger(sessions, "approvals", {"amount": 10})
        assert wait_for_run(sessions, "approvals", small).state == "success"
    assert states(sessions, "approvals", big) == {"check": "success", "manager": "success", "auto": "skipped", "done": "success"}
    assert states(sessions, "approvals", small) == {"check": "success", "manager": "skipped", "auto": "success", "done": "success"}


def test_a_condition_that_cannot_be_judged_is_not_followed_and_the_steps_log_says_why(
    store: tuple[Config, sessionmaker[Session]],
) -> None:
    _, sessions = store
    with scheduler(store):
        # no amount in the input (queued without the input schema's check): `data.amount` is missing
        run_id = trigger(sessions, "approvals", {})
        assert wait_for_run(sessions, "approvals", run_id).state == "success"
    assert states(sessions, "approvals", run_id) == {"check": "success", "manager": "skipped", "auto": "skipped", "done": "skipped"}
    (check_try,) = [t for t in tries_of(sessions, "approvals", run_id) if t.task_id == "check"]
    assert "the condition of the edge to manager could not be judged" in check_try.log
    assert "data has no key 'amount'" in check_try.log


def test_parallel_branches_run_after_their_step_and_join_before_the_next_one(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    # the wall clock: a retry is due when its try's real end plus the (zero) delay has passed
    with scheduler(store, clock=lambda: datetime.now(UTC)):
        run_id = trigger(sessions, "fulfil")
        assert wait_for_run(sessions, "fulfil", run_id).state == "success"
    rows = task_rows(sessions, "fulfil", run_id)
    assert {tid: r.state for tid, r in rows.items()} == {
        "start": "success", "payment.charge": "success", "stock.reserve": "success", "confirm": "success"
    }
    # the retry policy gave the failing first try a second one
    assert rows["payment.charge"].try_number == 2
    assert max(rows["payment.charge"].start_date, rows["stock.reserve"].start_date) <= rows["confirm"].start_date


def test_a_bad_workflow_file_is_an_import_error_naming_the_field(store: tuple[Config, sessionmaker[Session]]) -> None:
    config, sessions = store
    path = write_dag(config.resolved_dags_folder, "bad.yaml", """
        workflowId: bad
        steps:
          - {stepId: a, taskId: 'tests.fixtures:succeed'}
          - {stepId: b, taskId: 'tests.fixtures:succeed', retryPolicy: {maxAttempts: 3, initialDelay: soon}}
    """)
    report = sync_dag_folder(sessions, config)
    assert [r.path for r in report.errors] == [str(path)]
    with sessions() as s:
        error = s.get(ImportError_, str(path))
        assert error is not None
        assert "steps[1].retryPolicy.initialDelay: 'soon' is not an ISO 8601 duration" in error.message
        # the good workflow files beside it load as usual
        assert {d.dag_id for d in s.scalars(select(Dag).where(Dag.is_active.is_(True)))} == {"approvals", "fulfil"}


def test_the_example_workflow_runs_in_a_simulation_and_refuses_a_conf_without_its_required_input(tmp_path: Path) -> None:
    for name in ("order_approval.yaml", "order_steps.py"):
        (tmp_path / "dags").mkdir(exist_ok=True)
        shutil.copy(REPO_ROOT / "dags" / name, tmp_path / "dags" / name)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    config, sessions = make_config(tmp_path, url), upgraded_sessions(url)
    assert not sync_dag_folder(sessions, config).errors
    key = simulate(sessions, config, "order_approval", {"order_id": "o-1", "amount": 5000})
    assert run_row(sessions, "order_approval", key.run_id).state == "success"
    assert states(sessions, "order_approval", key.run_id) == {
        "validate": "success", "manager_review": "success", "auto_approve": "skipped", "reject": "skipped",
        "payment.charge": "success", "warehouse.reserve": "success", "confirm": "success",
    }
    with pytest.raises(InvalidRunInputError, match="'amount' is a required property"):
        simulate(sessions, config, "order_approval", {"order_id": "o-2"})


def test_editing_the_dag_mid_run_leaves_the_running_run_on_its_version(store: tuple[Config, sessionmaker[Session]], tmp_path: Path) -> None:
    config, sessions = store
    started, release = tmp_path / "started", tmp_path / "release"
    hold = f"{{stepId: hold, taskId: 'tests.fixtures:hold_until_file_exists', input: {{started: '{started}', release: '{release}'}}"
    write_dag(config.resolved_dags_folder, "pinned.yaml", f"""
        workflowId: pinned
        steps:
          - {hold}, next: [{{stepId: after}}]}}
          - {{stepId: after, taskId: 'tests.fixtures:succeed'}}
    """)
    with scheduler(store):
        first = trigger(sessions, "pinned")
        wait_until(started.exists, timeout=60, what="the first task to start")
        # while it runs: `after` gets retries and a new step follows it
        write_dag(config.resolved_dags_folder, "pinned.yaml", f"""
            workflowId: pinned
            steps:
              - {hold}, next: [{{stepId: after}}]}}
              - {{stepId: after, taskId: 'tests.fixtures:succeed', retryPolicy: {{maxAttempts: 4}}, next: [{{stepId: added}}]}}
              - {{stepId: added, taskId: 'tests.fixtures:succeed'}}
        """)
        sync_dag_folder(sessions, config, lambda: NOW)
        release.touch()
        assert wait_for_run(sessions, "pinned", first).state == "success"
        second = trigger(sessions, "pinned")
        assert wait_for_run(sessions, "pinned", second).state == "success"
    with sessions() as s:
        numbers = {v.version_hash: v.version_number for v in s.scalars(select(DagVersion).where(DagVersion.dag_id == "pinned"))}
    assert numbers[run_row(sessions, "pinned", first).version_hash] == 1
    assert numbers[run_row(sessions, "pinned", second).version_hash] == 2
    first_tasks = task_rows(sessions, "pinned", first)
    assert set(first_tasks) == {"hold", "after"} and first_tasks["after"].max_tries == 1
    second_tasks = task_rows(sessions, "pinned", second)
    assert set(second_tasks) == {"hold", "after", "added"} and second_tasks["after"].max_tries == 4


# -- the command line -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("declarative_cli")
    write_dag(home / "dags", "approvals.yaml", APPROVALS)
    upgraded_sessions(f"sqlite:///{home / 'orchestrator.db'}").kw["bind"].dispose()
    return home


def test_dags_trigger_refuses_a_conf_that_does_not_match_the_input_schema(cli_home: Path) -> None:
    result = orch(["dags", "trigger", "approvals", "--conf", '{"amount": -5}'], cli_env(cli_home))
    assert result.returncode != 0
    assert "does not match the input schema of DAG 'approvals'" in result.stderr
    assert "amount: -5 is less than the minimum of 0" in result.stderr


def test_dags_test_simulates_a_run_of_the_current_version_with_a_conf_that_matches(cli_home: Path) -> None:
    env = cli_env(cli_home)
    ok = orch(["dags", "test", "approvals", "--conf", '{"amount": 5000}'], env)
    assert ok.returncode == 0, ok.stderr
    outcomes = {line.split()[0]: line.split()[1] for line in ok.stdout.splitlines() if not line.startswith("run ")}
    assert outcomes == {"check": "success", "manager": "success", "auto": "skipped", "done": "success"}
    refused = orch(["dags", "test", "approvals", "--conf", "{}"], env)
    assert refused.returncode != 0 and "'amount' is a required property" in refused.stderr
