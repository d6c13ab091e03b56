"""Run priority on Dask (orchestrator.execution.dask_executor): with one worker thread busy, the packs
of a higher-priority run go before those of a lower one, whatever the order they were submitted
in; a cluster at an address that would break this (Dask's queuing) is named in a warning."""

from __future__ import annotations

import logging
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from distributed import LocalCluster

from orchestrator.execution.dask_executor import NO_QUEUING, SATURATION_ENV, DaskExecutor
from orchestrator.execution.executor import Completed, Started
from orchestrator.execution.runtime import WorkItem

DAGS = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import append_line

    for dag_id in ("low", "high"):
        with DAG(dag_id) as dag:
            for tid in ("a", "b", "c"):
                PythonTask(task_id=tid, python_callable=append_line, op_args=[{side!r}, f"{{dag_id}}_{{tid}}", 1.0 if tid == "a" else 0.05])
        globals()[dag_id] = dag
"""
RUN_ID = "manual__2026-12-07T06:00:00+00:00"  # Dask groups tasks by key prefix: here a run and its date


class Events:
    """An executor's event sink that can be waited on."""

    def __init__(self) -> None:
        self.started: set[str] = set()
        self.completed: list[Completed] = []
        self._changed = threading.Condition()

    def __call__(self, events: object) -> None:
        with self._changed:
            for event in events if isinstance(events, list) else [events]:
                if isinstance(event, Started):
                    self.started.add(event.key)
                elif isinstance(event, Completed):
                    self.completed.append(event)
            self._changed.notify_all()

    def wait(self, done: object, timeout: float = 60) -> None:
        with self._changed:
            assert self._changed.wait_for(done, timeout), f"timed out: started {self.started}, completed {self.completed}"  # type: ignore[arg-type]


def _item(dag_file: Path, dag_id: str, task_id: str, priority: int) -> WorkItem:
    return WorkItem(key=f"{dag_id}/{RUN_ID}/{task_id}/1/0", dag_id=dag_id, run_id=RUN_ID, task_id=task_id, try_number=1,
                    fileloc=str(dag_file), dags_root=None, priority=priority)


@pytest.mark.slow
def test_a_higher_priority_run_s_packs_go_first_though_submitted_after_a_lower_one_s(tmp_path: Path) -> None:
    side = tmp_path / "started.txt"
    dag_file = tmp_path / "runs.py"
    dag_file.write_text(textwrap.dedent(DAGS.format(side=str(side))).lstrip())
    events = Events()
    executor = DaskExecutor(workers=1, threads_per_worker=1)
    executor.start(events)
    try:
        probe = _item(dag_file, "high", "a", 10)
        executor.submit([probe])
        events.wait(lambda: probe.key in events.started)
        # while the worker's only thread is busy, as when a kind's first try (a probe) ends and the
        # tries held for it are let go: three of one run's tasks, then three of the other's
        later = [_item(dag_file, "high", t, 10) for t in "bc"] + [_item(dag_file, "low", t, -5) for t in "bac"]
        for work in later:
            executor.submit([work])
        events.wait(lambda: len(events.completed) == 6)
    finally:
        executor.close()
    assert [e.outcome.status for e in events.completed if e.outcome is not None] == ["success"] * 6
    started = side.read_text().split()
    assert started[0] == "high_a" and sorted(started[1:3]) == ["high_b", "high_c"], started


@pytest.fixture
def queuing_cluster() -> Iterator[str]:
    """An in-process cluster with Dask's default: root-ish tasks queued on the scheduler."""
    cluster = LocalCluster(n_workers=0, processes=False, dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def unqueued_cluster() -> Iterator[str]:
    """An in-process cluster started as the README asks of an outside one."""
    with dask.config.set(NO_QUEUING):
        cluster = LocalCluster(n_workers=0, processes=False, dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _start_and_close(address: str) -> None:
    executor = DaskExecutor(address)
    executor.start(Events())
    executor.close()


def test_connecting_to_a_cluster_that_queues_tasks_warns_how_to_turn_it_off(queuing_cluster: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="orchestrator.execution.dask_executor"):
        _start_and_close(queuing_cluster)
    assert any(SATURATION_ENV in r.getMessage() and "priority" in r.getMessage() for r in caplog.records), caplog.text


def test_connecting_to_a_cluster_without_queuing_warns_nothing(unqueued_cluster: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="orchestrator.execution.dask_executor"):
        _start_and_close(unqueued_cluster)
    assert not [r for r in caplog.records if SATURATION_ENV in r.getMessage()], caplog.text
