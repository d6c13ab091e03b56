"""A Dask cluster started by hand (`dask scheduler` + two `dask worker`), used through ORCH_DASK_ADDRESS."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import DaskProcesses
from .harness import SchedulerProcess, cli_env, orch, task_rows, upgraded_sessions, write_dag

pytestmark = pytest.mark.slow

FAN_OUT = ["pid_1", "pid_2", "pid_3", "pid_4"]
FAN_OUT_DAG = f"""
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed, worker_pid

    with DAG("fan_out") as dag:
        [PythonTask(task_id=tid, python_callable=worker_pid) for tid in {FAN_OUT!r}] >> PythonTask(
            task_id="join", python_callable=succeed
        )
"""


@dataclass
class Outcome:
    trigger: subprocess.CompletedProcess[str]
    results: dict[str, object]


@pytest.fixture(scope="module")
def fan_out_run(cluster: DaskProcesses, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    """`orchestrator scheduler` with ORCH_DASK_ADDRESS set, and `dags trigger fan_out --wait`."""
    home: Path = tmp_path_factory.mktemp("cluster_home")
    write_dag(home / "dags", "fan_out.py", FAN_OUT_DAG)
    sessions = upgraded_sessions(f"sqlite:///{home / 'orchestrator.db'}")
    env = cli_env(home, dask_address=cluster.address)
    scheduler = SchedulerProcess(env, home / "scheduler.log")
    try:
        scheduler.start().wait_registered(sessions)
        result = orch(["dags", "trigger", "fan_out", "--wait"], env, timeout=120)
        run_id = result.stdout.strip()
        results = {tid: ti.result for tid, ti in task_rows(sessions, "fan_out", run_id).items()} if run_id else {}
        yield Outcome(result, results)
    finally:
        scheduler.cleanup()
        sessions.kw["bind"].dispose()


def test_run_succeeds_on_a_cluster_started_with_dask_scheduler_and_workers(fan_out_run: Outcome) -> None:
    assert fan_out_run.trigger.returncode == 0, fan_out_run.trigger.stderr
    assert fan_out_run.results["join"] == "ok"


def test_tasks_run_in_the_clusters_worker_processes(fan_out_run: Outcome, cluster: DaskProcesses) -> None:
    pids = {fan_out_run.results[tid] for tid in FAN_OUT}
    assert pids and pids <= cluster.worker_pids
