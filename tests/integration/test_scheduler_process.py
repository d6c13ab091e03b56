"""`orchestrator scheduler` as a process (on SQLite): kill -9 and restart, SIGTERM and restart, exclusivity.

Tasks append a line to a side-effect file as they start, so the tests can count how often each
task really ran.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store.models import SchedulerJob

from .harness import (
    SchedulerProcess,
    cli_env,
    events_of,
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

HEALTH_THRESHOLD_S = 2.0
CHAIN = ["t1", "t2", "t3", "t4"]

CHAIN_DAG = """
    from orchestrator import DAG, PythonTask, chain
    from tests.fixtures import append_line

    with DAG("{dag_id}") as dag:
        chain(*[
            PythonTask(task_id=tid, python_callable=append_line, op_args=[{side!r}, tid, {sleep_s}])
            for tid in {tasks!r}
        ])
"""


@dataclass
class Home:
    path: Path
    side_file: Path
    env: dict[str, str]
    sessions: sessionmaker[Session]

    def scheduler(self) -> SchedulerProcess:
        return SchedulerProcess(self.env, self.path / "scheduler.log")

    def lines(self) -> Counter[str]:
        return Counter(self.side_file.read_text().split()) if self.side_file.exists() else Counter()


def _home(path: Path, dag_id: str, tasks: list[str], sleep_s: float, health_threshold_s: float = 30.0) -> Home:
    """A home with one chain DAG, an upgraded SQLite database, the DAG already synced."""
    side = path / "side_effects.txt"
    write_dag(path / "dags", f"{dag_id}.py", CHAIN_DAG.format(dag_id=dag_id, side=str(side), sleep_s=sleep_s, tasks=tasks))
    url = f"sqlite:///{path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    sync_dag_folder(sessions, make_config(path, url))
    env = cli_env(path, heartbeat_interval_s=0.2, scheduler_health_threshold_s=health_threshold_s)
    return Home(path, side, env, sessions)


def _states(home: Home, dag_id: str, run_id: str) -> dict[str, str]:
    return {tid: ti.state for tid, ti in task_rows(home.sessions, dag_id, run_id).items()}


def _job(home: Home, pid: int) -> SchedulerJob:
    with home.sessions() as session:
        job = session.scalar(select(SchedulerJob).where(SchedulerJob.pid == pid))
        assert job is not None
        return job


# -- kill -9 ------------------------------------------------------------------------------------------
@dataclass
class Crash:
    home: Home
    run_id: str
    succeeded_before_kill: set[str]
    final_state: str


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    """kill -9 the scheduler once a task has succeeded and the next one runs; then restart it."""
    home = _home(tmp_path_factory.mktemp("crash"), "crash_chain", CHAIN, sleep_s=1.0, health_threshold_s=HEALTH_THRESHOLD_S)
    first, second = home.scheduler(), home.scheduler()
    try:
        first.start().wait_registered(home.sessions)
        run_id = trigger(home.sessions, "crash_chain")

        def mid_run() -> bool:
            states = _states(home, "crash_chain", run_id)
            return "success" in states.values() and "running" in states.values()

        wait_until(mid_run, timeout=60, what="a task to succeed and the next one to run")
        first.kill9()
        first.cleanup()
        succeeded = {tid for tid, state in _states(home, "crash_chain", run_id).items() if state == "success"}
        assert succeeded != set(CHAIN), "the run ended before the kill; the scenario tests nothing"
        # the dead scheduler counts as alive until its heartbeat is older than the health threshold
        last_beat = _job(home, first.pid).last_heartbeat
        wait_until(
            lambda: datetime.now(UTC) - last_beat > timedelta(seconds=HEALTH_THRESHOLD_S + 0.5),
            timeout=30, what="the killed scheduler's heartbeat to go stale",
        )
        second.start()
        final = wait_for_run(home.sessions, "crash_chain", run_id, timeout=90)
    finally:
        first.cleanup()
        second.cleanup()
    yield Crash(home, run_id, succeeded, final.state)
    home.sessions.kw["bind"].dispose()


def test_run_completes_after_kill_9_and_restart(crash: Crash) -> None:
    assert crash.final_state == "success"
    assert set(_states(crash.home, "crash_chain", crash.run_id).values()) == {"success"}


def test_tasks_that_succeeded_before_kill_9_do_not_run_again(crash: Crash) -> None:
    lines = crash.home.lines()
    assert crash.succeeded_before_kill
    assert {tid: lines[tid] for tid in crash.succeeded_before_kill} == {tid: 1 for tid in crash.succeeded_before_kill}
    assert all(lines[tid] >= 1 for tid in CHAIN)


# -- SIGTERM, and a second scheduler ------------------------------------------------------------------
@dataclass
class Stop:
    home: Home
    run_id: str
    second_scheduler: subprocess.CompletedProcess[str]
    first_pid: int
    exit_code: int
    job_state: str
    states_after_stop: dict[str, str]
    stop_reasons: list[str | None]
    open_tries_after_stop: list[tuple[str, int, str]]


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stop]:
    """A scheduler that was sent SIGTERM while a task ran (and that refused a second scheduler first)."""
    home = _home(tmp_path_factory.mktemp("sigterm"), "slow_chain", ["long", "after"], sleep_s=3.0)
    first = home.scheduler()
    try:
        first.start().wait_registered(home.sessions)
        second = orch(["scheduler"], home.env, timeout=60)
        run_id = trigger(home.sessions, "slow_chain")
        wait_until(
            lambda: _states(home, "slow_chain", run_id).get("long") == "running", timeout=60, what="the long task to run"
        )
        code = first.terminate()
    finally:
        first.cleanup()
    stop_events = [e for e in events_of(home.sessions, "slow_chain", run_id) if e.actor == "scheduler" and e.to_state == "scheduled"]
    yield Stop(
        home=home,
        run_id=run_id,
        second_scheduler=second,
        first_pid=first.pid,
        exit_code=code,
        job_state=_job(home, first.pid).state,
        states_after_stop=_states(home, "slow_chain", run_id),
        stop_reasons=[e.reason for e in stop_events],
        open_tries_after_stop=[
            (t.task_id, t.try_number, t.state) for t in tries_of(home.sessions, "slow_chain", run_id) if t.end_date is None
        ],
    )
    home.sessions.kw["bind"].dispose()


def test_second_scheduler_on_the_same_sqlite_database_is_refused(stopped: Stop) -> None:
    assert stopped.second_scheduler.returncode == 1
    assert f"another scheduler is running (pid {stopped.first_pid}" in stopped.second_scheduler.stderr
    assert "Traceback" not in stopped.second_scheduler.stderr


def test_sigterm_stops_the_scheduler_with_exit_code_0(stopped: Stop) -> None:
    assert stopped.exit_code == 0


def test_sigterm_marks_the_scheduler_job_stopped(stopped: Stop) -> None:
    assert stopped.job_state == "stopped"


def test_sigterm_puts_in_flight_tasks_back_to_be_scheduled(stopped: Stop) -> None:
    assert stopped.states_after_stop["long"] == "scheduled"
    assert run_row(stopped.home.sessions, "slow_chain", stopped.run_id).state == "running"
    assert any("stopped" in (reason or "") for reason in stopped.stop_reasons)


def test_restart_after_sigterm_finishes_the_run(stopped: Stop) -> None:
    restarted = stopped.home.scheduler()
    try:
        restarted.start()
        final = wait_for_run(stopped.home.sessions, "slow_chain", stopped.run_id, timeout=90)
    finally:
        restarted.cleanup()
    assert final.state == "success"
    assert _states(stopped.home, "slow_chain", stopped.run_id) == {"long": "success", "after": "success"}


# -- tries cut short by a stop, and a scheduler that is still starting -------------------------------
def test_restart_after_kill_9_closes_the_tries_the_crash_interrupted(crash: Crash) -> None:
    open_tries = [(t.task_id, t.try_number, t.state) for t in tries_of(crash.home.sessions, "crash_chain", crash.run_id) if t.end_date is None]
    assert open_tries == []


def test_sigterm_closes_the_try_it_interrupted(stopped: Stop) -> None:
    # the try of "long" that SIGTERM cut short must not stay "running" with no end for ever
    assert stopped.open_tries_after_stop == []


def test_second_scheduler_is_refused_while_the_first_is_still_starting(tmp_path: Path) -> None:
    home = _home(tmp_path, "quick", ["only"], sleep_s=0.0, health_threshold_s=1.0)
    # the first scheduler's start-up (LocalCluster, then this file's 5 s import) outlasts the threshold
    (home.path / "dags" / "slow_to_import.py").write_text("import time\ntime.sleep(5)\n")
    first, second = home.scheduler(), SchedulerProcess(home.env, home.path / "second.log")
    try:
        first.start().wait_registered(home.sessions)
        time.sleep(1.5)  # past the health threshold, while the first is still starting
        second.start()

        def decided() -> bool:
            with home.sessions() as session:
                registered = session.scalar(select(SchedulerJob.id).where(SchedulerJob.pid == second.pid)) is not None
            return registered or second.proc.poll() is not None

        wait_until(decided, timeout=60, what="the second scheduler to start or give up")
        assert second.proc.poll() == 1, f"a second scheduler started next to a running one:\n{second.log()[-2000:]}"
        assert "another scheduler is running" in second.log()
    finally:
        second.cleanup()
        first.cleanup()
        home.sessions.kw["bind"].dispose()
