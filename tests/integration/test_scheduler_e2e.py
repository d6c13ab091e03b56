"""End to end through the real scheduler and Dask, on SQLite and on PostgreSQL.

One scheduler (in a thread, on the shared LocalCluster) runs a folder of DAGs per database: a
data flow, a retry, trigger rules, a timeout and a cron DAG catching up. The tests then read
what the store recorded; each checks one behaviour.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.states import RUN_TERMINAL, RunState
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store import queries
from orchestrator.store.models import DagRun, TaskInstance

from .harness import SchedulerThread, events_of, make_config, run_row, task_rows, trigger, upgraded_sessions, write_dag

RETRY_DELAY_S = 1.5
CRON_RUNS = 5
CRON_MAX_ACTIVE = 2

DAG_FILES = {
    "dataflow.py": """
        from orchestrator import DAG, task
        from tests.fixtures import context_params, describe, numbers, total

        with DAG("dataflow", params={"limit": 10, "who": "dag"}) as dag:
            task(describe)(task(total)(task(numbers)(4)))
            task(context_params)()
    """,
    "flaky.py": f"""
        from datetime import timedelta
        from orchestrator import DAG, PythonTask
        from tests.fixtures import fail_on_first_try

        with DAG("flaky") as dag:
            PythonTask(task_id="flaky", python_callable=fail_on_first_try, retries=2,
                       retry_delay=timedelta(seconds={RETRY_DELAY_S}))
    """,
    "trigger_rules.py": """
        from orchestrator import DAG, PythonTask, TriggerRule
        from tests.fixtures import always_fail, succeed

        with DAG("trigger_rules") as dag:
            boom = PythonTask(task_id="boom", python_callable=always_fail)
            cleanup = PythonTask(task_id="cleanup", python_callable=succeed, trigger_rule=TriggerRule.ALL_DONE)
            consume = PythonTask(task_id="consume", python_callable=succeed)
            after = PythonTask(task_id="after_consume", python_callable=succeed)
            boom >> cleanup
            boom >> consume >> after
    """,
    "leaf_judged.py": """
        from orchestrator import DAG, PythonTask, TriggerRule
        from tests.fixtures import always_fail, succeed

        with DAG("leaf_judged") as dag:
            boom = PythonTask(task_id="boom", python_callable=always_fail)
            boom >> PythonTask(task_id="wrap_up", python_callable=succeed, trigger_rule=TriggerRule.ALL_DONE)
    """,
    "timeout.py": """
        from datetime import timedelta
        from orchestrator import DAG, PythonTask
        from tests.fixtures import sleep_for

        with DAG("timeout") as dag:
            PythonTask(task_id="slow", python_callable=sleep_for, op_args=[30], execution_timeout=timedelta(seconds=0.5))
    """,
}
MANUAL_CONF = {"dataflow": {"who": "run"}, "flaky": None, "trigger_rules": None, "leaf_judged": None, "timeout": None}

CRON_DAG = """
    from datetime import datetime
    from orchestrator import DAG, PythonTask
    from tests.fixtures import sleep_for

    with DAG("hourly_catchup", schedule="@hourly", start_date=datetime.fromisoformat("{start}"),
             end_date=datetime.fromisoformat("{end}"), catchup=True, max_active_runs={max_active}) as dag:
        PythonTask(task_id="tick", python_callable=sleep_for, op_args=[0.3])
"""


@dataclass(frozen=True)
class RetrySnapshot:
    """A task instance seen waiting for its retry."""

    dag_id: str
    task_id: str
    try_number: int
    end_date: datetime
    next_retry_at: datetime


@dataclass
class World:
    sessions: sessionmaker[Session]
    runs: dict[str, str]
    retry_snapshots: set[RetrySnapshot]
    cron_start: datetime


def _all_done(session: Session, manual: dict[str, str]) -> bool:
    rows = session.scalars(select(DagRun)).all()
    cron = [r for r in rows if r.dag_id == "hourly_catchup"]
    finished = {(r.dag_id, r.run_id) for r in rows if RunState(r.state) in RUN_TERMINAL}
    return len(cron) == CRON_RUNS and all((r.dag_id, r.run_id) in finished for r in cron) and all(
        (dag_id, run_id) in finished for dag_id, run_id in manual.items()
    )


def _watch(sched: SchedulerThread, sessions: sessionmaker[Session], manual: dict[str, str], timeout: float) -> set[RetrySnapshot]:
    """Wait for every run to end, noting each task seen up_for_retry on the way."""
    seen: set[RetrySnapshot] = set()
    deadline = time.monotonic() + timeout
    while True:
        sched.check()
        with sessions() as session:
            for ti in session.scalars(select(TaskInstance).where(TaskInstance.state == "up_for_retry")):
                seen.add(RetrySnapshot(ti.dag_id, ti.task_id, ti.try_number, ti.end_date, ti.next_retry_at))
            if _all_done(session, manual):
                return seen
        assert time.monotonic() < deadline, f"the runs did not all finish within {timeout} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def world(module_database_url: str, dask_address: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    home: Path = tmp_path_factory.mktemp("e2e")
    config = make_config(home, module_database_url)
    for name, source in DAG_FILES.items():
        write_dag(config.resolved_dags_folder, name, source)
    cron_start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    cron_end = cron_start + timedelta(hours=CRON_RUNS - 1)
    write_dag(
        config.resolved_dags_folder,
        "hourly_catchup.py",
        CRON_DAG.format(start=cron_start.isoformat(), end=cron_end.isoformat(), max_active=CRON_MAX_ACTIVE),
    )
    sessions = upgraded_sessions(module_database_url)
    try:
        with SchedulerThread(config, sessions, DaskExecutor(address=dask_address)) as sched:
            runs = {dag_id: trigger(sessions, dag_id, conf) for dag_id, conf in MANUAL_CONF.items()}
            snapshots = _watch(sched, sessions, runs, timeout=120)
        yield World(sessions, runs, snapshots, cron_start)
    finally:
        sessions.kw["bind"].dispose()


def _states(world: World, dag_id: str) -> dict[str, str]:
    return {tid: ti.state for tid, ti in task_rows(world.sessions, dag_id, world.runs[dag_id]).items()}


# -- data flow -------------------------------------------------------------------------------------
def test_run_with_data_flow_succeeds(world: World) -> None:
    assert run_row(world.sessions, "dataflow", world.runs["dataflow"]).state == "success"
    assert set(_states(world, "dataflow").values()) == {"success"}


def test_results_flow_downstream(world: World) -> None:
    tis = task_rows(world.sessions, "dataflow", world.runs["dataflow"])
    assert tis["numbers"].result == [1, 2, 3, 4]
    assert tis["total"].result == 10
    assert tis["describe"].result == {"total": 10, "double": 20}


def test_run_conf_overrides_dag_params_in_the_task_context(world: World) -> None:
    tis = task_rows(world.sessions, "dataflow", world.runs["dataflow"])
    assert tis["context_params"].result == {"limit": 10, "who": "run"}


# -- retries ---------------------------------------------------------------------------------------
def test_failed_try_is_retried_and_the_retry_succeeds(world: World) -> None:
    ti = task_rows(world.sessions, "flaky", world.runs["flaky"])["flaky"]
    assert (ti.state, ti.try_number) == ("success", 2)
    with world.sessions() as session:
        tries = [queries.get_try(session, "flaky", world.runs["flaky"], "flaky", n).state for n in (1, 2)]
    assert tries == ["failed", "success"]


def test_waiting_retry_records_next_retry_at(world: World) -> None:
    waiting = [s for s in world.retry_snapshots if s.dag_id == "flaky"]
    assert len(waiting) == 1
    assert waiting[0].try_number == 1
    assert waiting[0].next_retry_at - waiting[0].end_date == timedelta(seconds=RETRY_DELAY_S)


def test_retry_starts_no_earlier_than_next_retry_at(world: World) -> None:
    (waiting,) = [s for s in world.retry_snapshots if s.dag_id == "flaky"]
    with world.sessions() as session:
        second = queries.get_try(session, "flaky", world.runs["flaky"], "flaky", 2)
    assert second.start_date >= waiting.next_retry_at


def test_up_for_retry_is_recorded_as_an_event(world: World) -> None:
    events = [e for e in events_of(world.sessions, "flaky", world.runs["flaky"]) if e.kind == "task.up_for_retry"]
    assert [(e.task_id, e.try_number, e.from_state) for e in events] == [("flaky", 1, "running")]
    assert "failing on purpose" in (events[0].reason or "")


def test_each_try_keeps_its_own_log(world: World) -> None:
    with world.sessions() as session:
        first, second = (queries.get_try(session, "flaky", world.runs["flaky"], "flaky", n) for n in (1, 2))
    assert "running try 1" in first.log
    assert "RuntimeError: failing on purpose on try 1" in first.log
    assert "running try 2" in second.log
    assert "failing on purpose" not in second.log


# -- trigger rules and the run's outcome ------------------------------------------------------------
def test_all_done_task_runs_after_an_upstream_failure(world: World) -> None:
    states = _states(world, "trigger_rules")
    assert (states["boom"], states["cleanup"]) == ("failed", "success")


def test_upstream_failure_propagates_downstream(world: World) -> None:
    states = _states(world, "trigger_rules")
    assert (states["consume"], states["after_consume"]) == ("upstream_failed", "upstream_failed")


def test_run_fails_when_a_leaf_did_not_succeed(world: World) -> None:
    assert run_row(world.sessions, "trigger_rules", world.runs["trigger_rules"]).state == "failed"


def test_run_succeeds_when_its_leaves_succeed_despite_a_failed_task(world: World) -> None:
    assert _states(world, "leaf_judged") == {"boom": "failed", "wrap_up": "success"}
    assert run_row(world.sessions, "leaf_judged", world.runs["leaf_judged"]).state == "success"


def test_execution_timeout_fails_the_try(world: World) -> None:
    ti = task_rows(world.sessions, "timeout", world.runs["timeout"])["slow"]
    assert (ti.state, ti.try_number) == ("failed", 1)
    with world.sessions() as session:
        attempt = queries.get_try(session, "timeout", world.runs["timeout"], "slow", 1)
    assert "execution_timeout" in (attempt.error or "")


# -- the event log ---------------------------------------------------------------------------------
def test_every_transition_appended_an_event(world: World) -> None:
    with world.sessions() as session:
        runs = session.scalars(select(DagRun)).all()
        tis = session.scalars(select(TaskInstance)).all()
    checked = 0
    for run in runs:
        events = events_of(world.sessions, run.dag_id, run.run_id)
        run_path = [(e.from_state, e.to_state) for e in events if e.kind.startswith("run.")]
        assert run_path[0] == (None, "queued")
        for (_, before), (after_from, _) in zip(run_path, run_path[1:]):
            assert after_from == before, f"run {run.run_id}: a transition has no event ({run_path})"
        assert run_path[-1][1] == run.state
        for ti in (t for t in tis if (t.dag_id, t.run_id) == (run.dag_id, run.run_id)):
            path = [(e.from_state, e.to_state) for e in events if e.task_id == ti.task_id]
            state = "pending"
            for from_state, to_state in path:
                assert from_state == state, f"{ti.dag_id}.{ti.task_id}: a transition has no event ({path})"
                state = to_state
            assert state == ti.state
            checked += len(path)
    assert checked > 0


# -- cron ------------------------------------------------------------------------------------------
def _cron_runs_in_creation_order(world: World) -> list[str]:
    return [e.run_id for e in events_of(world.sessions, "hourly_catchup") if e.kind == "run.queued"]


def test_catchup_creates_missed_runs_oldest_first(world: World) -> None:
    logical_dates = [run_row(world.sessions, "hourly_catchup", r).logical_date for r in _cron_runs_in_creation_order(world)]
    assert logical_dates == [world.cron_start + timedelta(hours=i) for i in range(CRON_RUNS)]


def test_catchup_stays_within_max_active_runs(world: World) -> None:
    active: set[str] = set()
    most = 0
    outcomes: Counter[str] = Counter()
    for e in events_of(world.sessions, "hourly_catchup"):
        if e.kind == "run.queued":
            active.add(e.run_id)
        elif e.kind in ("run.success", "run.failed", "run.cancelled"):
            active.discard(e.run_id)
            outcomes[e.kind] += 1
        most = max(most, len(active))
    assert outcomes == {"run.success": CRON_RUNS}
    assert 0 < most <= CRON_MAX_ACTIVE
