"""A Dask cluster started by hand (`dask scheduler` + two `dask worker`), used through ORCH_DASK_ADDRESS."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .harness import DASK, REPO_ROOT, SchedulerProcess, cli_env, free_port, orch, task_rows, upgraded_sessions, write_dag

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
class Cluster:
    address: str
    worker_pids: set[int]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`dask scheduler` and two single-threaded `dask worker` processes (no nanny: one pid per worker)."""
    from distributed import Client

    workdir = tmp_path_factory.mktemp("dask_cluster")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    address = f"tcp://127.0.0.1:{free_port()}"
    log = (workdir / "cluster.log").open("ab")
    procs = [
        subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    ]
    try:
        for i in (1, 2):
            procs.append(
                subprocess.Popen(
                    [str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard", "--no-nanny", "--host", "127.0.0.1",
                     "--name", f"worker-{i}", "--local-directory", str(workdir / f"worker-{i}")],
                    cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                )
            )
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield Cluster(address, {p.pid for p in procs[1:]})
    finally:
        _stop(procs[::-1])
        log.close()


@dataclass
class Outcome:
    trigger: subprocess.CompletedProcess[str]
    results: dict[str, object]


@pytest.fixture(scope="module")
def fan_out_run(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
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


def test_tasks_run_in_the_clusters_worker_processes(fan_out_run: Outcome, cluster: Cluster) -> None:
    pids = {fan_out_run.results[tid] for tid in FAN_OUT}
    assert pids and pids <= cluster.worker_pids
