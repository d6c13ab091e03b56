"""Fixtures of the integration tests: one Dask LocalCluster shared by the in-process scheduler tests, and
a cluster of `dask scheduler` / `dask worker` processes per module for the tests about the cluster."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.execution.dask_executor import NO_QUEUING, SATURATION_ENV

from .harness import DASK, REPO_ROOT, free_port


@pytest.fixture(scope="session")
def dask_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a 2-worker LocalCluster (one thread each), started once per test session.

    Schedulers under test reach it by address, as `ORCH_DASK_ADDRESS` would, so each test pays
    for a client connection rather than a cluster start.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set(NO_QUEUING):  # as the README asks of an outside cluster
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            local_directory=str(tmp_path_factory.mktemp("dask")),
        )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@dataclass
class DaskProcesses:
    address: str
    worker_pids: set[int]
    log: Path
    """The scheduler's and the workers' output, to print when a test fails."""


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
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """`dask scheduler` and two single-threaded `dask worker` processes (no nanny: one pid per worker)."""
    from distributed import Client

    workdir = tmp_path_factory.mktemp("dask_cluster")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
           SATURATION_ENV: "inf"}
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
        yield DaskProcesses(address, {p.pid for p in procs[1:]}, workdir / "cluster.log")
    finally:
        _stop(procs[::-1])
        log.close()


_ENDED_RUN_STATES = ("success", "failed", "cancelled")


def _replay_differences(url: str) -> dict[tuple[str, str], list[str]]:
    """Every ended run of an orchestrator database, rebuilt from its events, against its rows."""
    from sqlalchemy import create_engine, inspect, select
    from sqlalchemy.orm import Session

    from orchestrator.core.errors import OrchestratorError
    from orchestrator.store import run_history
    from orchestrator.store.models import DagRun

    engine = create_engine(url)
    try:
        if not inspect(engine).has_table("dag_run"):
            return {}
        with Session(engine) as session:
            keys = session.execute(select(DagRun.dag_id, DagRun.run_id).where(DagRun.state.in_(_ENDED_RUN_STATES))).all()
            found = {}
            for dag_id, run_id in keys:
                try:
                    differences = run_history.replay_run(session, dag_id, run_id).differences
                except OrchestratorError as exc:  # e.g. the run's DAG version is not stored
                    differences = [f"cannot replay: {exc}"]
                if differences:
                    found[(dag_id, run_id)] = differences
            return found
    finally:
        engine.dispose()


def _is_sqlite(path: Path) -> bool:
    """Whether `path` is an SQLite database file (tests also make files and folders so named to break)."""
    try:
        with path.open("rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


_DATABASE_FIXTURES = ("database_url", "module_database_url")
"""The fixtures that give a test its database (SQLite or PostgreSQL, perhaps shared by its module)."""


@pytest.fixture(autouse=True)
def every_ended_run_replays_to_its_rows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Issue 14's replay check over the whole integration suite: after each test, every ended run
    in its databases (the database fixtures', on PostgreSQL too, and the SQLite files it left
    under its tmp_path) is rebuilt from its event rows alone and must match its stored rows. A
    test that changes rows behind the event log's back opts out with
    `@pytest.mark.rows_changed_behind_the_log`."""
    checked = request.node.get_closest_marker("rows_changed_behind_the_log") is None
    # asked for here, so a database the fixture drops at teardown is still there after the test
    urls = [request.getfixturevalue(name) for name in _DATABASE_FIXTURES if checked and name in request.fixturenames]
    yield
    if not checked:
        return
    urls += [f"sqlite:///{path}" for path in sorted(tmp_path.rglob("*.db")) if _is_sqlite(path)]
    found = {}
    for url in dict.fromkeys(urls):
        found.update({(url, *key): diff for key, diff in _replay_differences(url).items()})
    assert not found, f"runs whose replay differs from their stored rows: {found}"
