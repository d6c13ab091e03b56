"""Retry delays and pools through the real scheduler (in a thread) and Dask, read from what the store recorded.

Retry delays: the scheduler gets a clock the test pins forward, so minutes-long delays are
checked from each failed try's `next_retry_at` without sleeping through them. Pools: tasks of
two DAGs share a 1-slot pool on a 2-worker cluster; their recorded intervals must not overlap.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store import pools as pool_store
from orchestrator.store.models import TaskInstance

from .harness import SchedulerThread, is_finished, make_config, run_row, trigger, upgraded_sessions, write_dag

pytestmark = pytest.mark.slow

RETRY_DAGS = """
    from datetime import timedelta
    from orchestrator import DAG, PythonTask
    from tests.fixtures import always_fail

    with DAG("fixed_retries") as dag:
        PythonTask(task_id="t", python_callable=always_fail, retries=3, retry_delay=timedelta(minutes=10))
    with DAG("exponential_retries") as dag2:
        PythonTask(task_id="t", python_callable=always_fail, retries=4, retry_delay=timedelta(minutes=10),
                   retry_backoff="exponential", max_retry_delay=timedelta(minutes=25))
"""
POOL_DAG = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import note_interval

    with DAG("{dag_id}") as dag:
        for i in range(2):
            PythonTask(task_id=f"t{{i}}", python_callable=note_interval, op_args=[{path!r}, 0.3], pool="single")
"""


class PinnedClock:
    """Wall time, or a later instant the test pins it to: a retry comes due when the test says so.

    Pinned to a try's `next_retry_at` exactly, the clock lets that retry start; the next try
    ends (by the worker's wall clock) after the previous one, so its own `next_retry_at` is
    later still and waits for the test again.
    """

    def __init__(self) -> None:
        self._pinned = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return max(datetime.now(UTC), self._pinned)

    def pin(self, at: datetime) -> None:
        with self._lock:
            self._pinned = max(self._pinned, at)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _recorded_delays(sessions: sessionmaker[Session], sched: SchedulerThread, clock: PinnedClock, dag_id: str, run_id: str) -> list[timedelta]:
    """next_retry_at - end_date of each failed try, seen while the task waits; then the clock is pinned to it."""
    delays: dict[int, timedelta] = {}
    deadline = time.monotonic() + 120
    while not is_finished(sessions, dag_id, run_id):
        sched.check()
        assert time.monotonic() < deadline, f"{dag_id} did not finish"
        with sessions() as s:
            ti = s.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)).one_or_none()
            if ti is not None and ti.state == "up_for_retry" and ti.try_number not in delays:
                delays[ti.try_number] = ti.next_retry_at - ti.end_date
                clock.pin(_aware(ti.next_retry_at))
        time.sleep(0.05)
    return [delays[n] for n in sorted(delays)]


@pytest.fixture
def retry_world(database_url: str, dask_address: str, tmp_path: Path):  # noqa: ANN201 - yields (sessions, sched, clock)
    config = make_config(tmp_path, database_url)
    write_dag(config.resolved_dags_folder, "retries.py", RETRY_DAGS)
    sessions = upgraded_sessions(database_url)
    clock = PinnedClock()
    try:
        sched = SchedulerThread(config, sessions, DaskExecutor(address=dask_address))
        sched.scheduler.clock = clock  # the harness builds the Scheduler with the wall clock
        with sched:
            yield sessions, sched, clock
    finally:
        sessions.kw["bind"].dispose()


def test_fixed_retry_delays_are_recorded_as_next_retry_at(retry_world) -> None:  # noqa: ANN001
    sessions, sched, clock = retry_world
    run_id = trigger(sessions, "fixed_retries")
    assert _recorded_delays(sessions, sched, clock, "fixed_retries", run_id) == [timedelta(minutes=10)] * 3
    assert run_row(sessions, "fixed_retries", run_id).state == "failed"


def test_exponential_retry_delays_double_up_to_the_max_delay(retry_world) -> None:  # noqa: ANN001
    sessions, sched, clock = retry_world
    run_id = trigger(sessions, "exponential_retries")
    assert _recorded_delays(sessions, sched, clock, "exponential_retries", run_id) == [
        timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=25), timedelta(minutes=25),
    ]


def _overlaps(intervals: list[tuple[float, float]]) -> int:
    """How many pairs of intervals overlap."""
    return sum(1 for i, a in enumerate(intervals) for b in intervals[i + 1 :] if a[0] < b[1] and b[0] < a[1])


def test_a_one_slot_pool_runs_tasks_of_two_dags_one_at_a_time(database_url: str, dask_address: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, database_url)
    notes = tmp_path / "intervals.txt"
    for dag_id in ("pool_a", "pool_b"):
        write_dag(config.resolved_dags_folder, f"{dag_id}.py", POOL_DAG.format(dag_id=dag_id, path=str(notes)))
    sessions = upgraded_sessions(database_url)
    try:
        with sessions.begin() as s:
            pool_store.set_pool(s, "single", 1, datetime.now(UTC), actor="test")
        with SchedulerThread(config, sessions, DaskExecutor(address=dask_address)) as sched:
            runs = {dag_id: trigger(sessions, dag_id) for dag_id in ("pool_a", "pool_b")}
            deadline = time.monotonic() + 120
            while not all(is_finished(sessions, d, r) for d, r in runs.items()):
                sched.check()
                assert time.monotonic() < deadline, "the pool runs did not finish"
                time.sleep(0.05)
        assert {run_row(sessions, d, r).state for d, r in runs.items()} == {"success"}
        intervals = [tuple(map(float, line.split())) for line in notes.read_text().splitlines()]
        assert len(intervals) == 4
        assert _overlaps(intervals) == 0
    finally:
        sessions.kw["bind"].dispose()
