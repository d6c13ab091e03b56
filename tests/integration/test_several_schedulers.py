"""Several `orchestrator scheduler` processes on one PostgreSQL database and one Dask cluster.

Every scheduler claims whole runs: a queued run is started by exactly one of them, which then
drives all its tasks; a scheduler that stops heartbeating has its running runs adopted by another.
Executions are counted in a side-effect file that every try appends to as it starts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.store.models import Dag, DagRun, Event, SchedulerJob
from tests.conftest import temporary_postgres_database

from .harness import SchedulerProcess, cli_env, trigger, upgraded_sessions, wait_until, write_dag

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# W2 (start >> 500 >> join) and W4 (a 3-task DAG run 200 times) of the benchmark; the kill test
# uses fewer, slower tasks, so that runs are in flight when the scheduler dies
W2_W4 = (500, 200)
SLOW = (40, 16)
DAGS = """
    from orchestrator import DAG, PythonTask, chain
    from tests.fixtures import record_execution

    SIDE = {side!r}

    with DAG("fan", max_active_runs=None):
        chain(
            PythonTask(task_id="start", python_callable=record_execution, op_args=[SIDE]),
            [PythonTask(task_id=f"m{{i}}", python_callable=record_execution, op_args=[SIDE]) for i in range({width})],
            PythonTask(task_id="join", python_callable=record_execution, op_args=[SIDE]),
        )

    with DAG("three", max_active_runs=None):
        chain(*[PythonTask(task_id=f"t{{i}}", python_callable=record_execution, op_args=[SIDE, {sleep}]) for i in range(3)])
"""


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    with temporary_postgres_database("orch_multi") as url:
        yield url


def _start(n: int, home: Path, url: str, dask_address: str, sessions: sessionmaker[Session], **settings: object) -> list[SchedulerProcess]:
    env = cli_env(home, database_url=url, dask_address=dask_address, ship_code="never", **settings)
    schedulers = [SchedulerProcess(env, home / f"scheduler-{i}.log").start() for i in range(n)]
    for s in schedulers:
        s.wait_registered(sessions)
    return schedulers


def _expected(run_ids: dict[str, list[str]], width: int) -> Counter[str]:
    tasks = {"fan": ["start", *[f"m{i}" for i in range(width)], "join"], "three": ["t0", "t1", "t2"]}
    return Counter(f"{dag}/{run}/{task}" for dag, runs in run_ids.items() for run in runs for task in tasks[dag])


def _all_ended(sessions: sessionmaker[Session], total: int) -> bool:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(DagRun).where(DagRun.state.in_(("success", "failed")))) == total


def _workload(home: Path, sessions: sessionmaker[Session], size: tuple[int, int], sleep_s: float) -> tuple[Path, dict[str, list[str]]]:
    width, chain_runs = size
    side = home / "executions.txt"
    write_dag(home / "dags", "work.py", DAGS.format(side=str(side), width=width, sleep=sleep_s))
    wait_until(lambda: _dags_loaded(sessions), timeout=60, what="the DAGs to be parsed")
    runs = {"fan": [trigger(sessions, "fan")], "three": [trigger(sessions, "three") for _ in range(chain_runs)]}
    return side, runs


def _dags_loaded(sessions: sessionmaker[Session]) -> bool:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Dag)) == 2


@pytest.mark.parametrize("replicas", [2, 3])
def test_every_task_runs_exactly_once_with_several_schedulers(replicas: int, pg_url: str, dask_address: str, tmp_path: Path) -> None:
    sessions = upgraded_sessions(pg_url)
    schedulers = _start(replicas, tmp_path, pg_url, dask_address, sessions)
    try:
        side, runs = _workload(tmp_path, sessions, W2_W4, sleep_s=0.0)
        wait_until(lambda: _all_ended(sessions, 1 + W2_W4[1]), timeout=180, what="every run to end")
        with sessions() as s:
            states = Counter(s.scalars(select(DagRun.state)))
            owners = set(s.scalars(select(DagRun.owner_job_id)))
    finally:
        for sched in schedulers:
            sched.cleanup()
        sessions.kw["bind"].dispose()
    assert states == {"success": 1 + W2_W4[1]}
    executions = Counter(side.read_text().split())
    assert executions == _expected(runs, W2_W4[0])
    assert len(owners) >= 2, "the runs were all started by one scheduler"


def test_the_runs_of_a_killed_scheduler_are_finished_by_the_others(pg_url: str, dask_address: str, tmp_path: Path) -> None:
    sessions = upgraded_sessions(pg_url)
    schedulers = _start(2, tmp_path, pg_url, dask_address, sessions, scheduler_health_threshold_s=3)
    try:
        side, runs = _workload(tmp_path, sessions, SLOW, sleep_s=0.4)
        victim = schedulers[0]

        def victim_drives_a_run() -> bool:
            with sessions() as s:
                return s.scalar(
                    select(func.count()).select_from(DagRun).join(SchedulerJob, SchedulerJob.id == DagRun.owner_job_id)
                    .where(DagRun.state == "running", SchedulerJob.pid == victim.pid)
                ) > 0

        wait_until(victim_drives_a_run, timeout=60, what="the first scheduler to drive a run")
        victim.kill9()
        wait_until(lambda: _all_ended(sessions, 1 + SLOW[1]), timeout=180, what="every run to end")
        with sessions() as s:
            states = Counter(s.scalars(select(DagRun.state)))
            # tries the killed scheduler had handed to Dask (queued or running) are put back to be scheduled
            put_back = s.scalar(
                select(func.count()).select_from(Event).where(Event.kind == "task.scheduled", Event.reason.like("orphaned%"))
            )
    finally:
        for sched in schedulers:
            sched.cleanup()
        sessions.kw["bind"].dispose()
    assert states == {"success": 1 + SLOW[1]}
    executions = Counter(side.read_text().split())
    expected = _expected(runs, SLOW[0])
    assert set(executions) == set(expected)
    # a task runs again only when the killed scheduler had it in flight
    assert sum(executions.values()) - sum(expected.values()) <= put_back
