"""Helpers for the integration tests: DAG files, waiting, the scheduler in a thread or a process, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config, load_config
from orchestrator.core.states import RUN_TERMINAL, RunState
from orchestrator.execution.executor import Executor
from orchestrator.store import run_creation
from orchestrator.store.db import make_engine, make_sessionmaker, upgrade
from orchestrator.store.models import DagRun, Event, SchedulerJob, TaskInstance, TaskTry

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ORCHESTRATOR = BIN / "orchestrator"
DASK = BIN / "dask"

T = TypeVar("T")


# -- files and waiting ---------------------------------------------------------------------------
def write_dag(folder: Path, name: str, source: str) -> Path:
    """Write a DAG file (dedented) into `folder` and return its resolved path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path.resolve()


def wait_until(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- configuration and database ---------------------------------------------------------------
def make_config(home: Path, database_url: str, **overrides: Any) -> Config:
    """A config for tests: the DAG folder is home/dags, polls are quick."""
    settings: dict[str, Any] = {
        "home": home,
        "dags_folder": home / "dags",
        "database_url": database_url,
        "poll_interval_s": 0.05,
        "heartbeat_interval_s": 0.5,
        "dag_dir_scan_interval_s": 60.0,
    }
    settings.update(overrides)
    return load_config(**settings)


def upgraded_sessions(database_url: str) -> sessionmaker[Session]:
    """Sessions on `database_url` after bringing its schema to head."""
    engine = make_engine(database_url)
    upgrade(engine)
    return make_sessionmaker(engine)


def trigger(sessions: sessionmaker[Session], dag_id: str, conf: dict[str, Any] | None = None) -> str:
    """Queue a manual run (as `dags trigger` does) and return its run_id."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        run = run_creation.create_run(
            session, dag_id, run_id=None, run_type="manual", logical_date=now, data_interval=None, conf=conf, now=now, actor="test"
        )
        return run.run_id


def run_row(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> DagRun:
    with sessions() as session:
        row = session.get(DagRun, (dag_id, run_id))
        assert row is not None, f"no run {dag_id}/{run_id}"
        return row


def task_rows(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> dict[str, TaskInstance]:
    with sessions() as session:
        rows = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
        return {r.task_id: r for r in rows}


def tries_of(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> list[TaskTry]:
    """Every try of every task of a run."""
    with sessions() as session:
        stmt = select(TaskTry).where(TaskTry.dag_id == dag_id, TaskTry.run_id == run_id)
        return list(session.scalars(stmt.order_by(TaskTry.task_id, TaskTry.try_number)))


def events_of(sessions: sessionmaker[Session], dag_id: str, run_id: str | None = None) -> list[Event]:
    """Events of a DAG (or one run), in the order they were appended."""
    stmt = select(Event).where(Event.dag_id == dag_id)
    if run_id is not None:
        stmt = stmt.where(Event.run_id == run_id)
    with sessions() as session:
        return list(session.scalars(stmt.order_by(Event.id)))


def is_finished(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> bool:
    return RunState(run_row(sessions, dag_id, run_id).state) in RUN_TERMINAL


def wait_for_run(sessions: sessionmaker[Session], dag_id: str, run_id: str, timeout: float = 60) -> DagRun:
    wait_until(lambda: is_finished(sessions, dag_id, run_id), timeout=timeout, what=f"run {dag_id}/{run_id} to finish")
    return run_row(sessions, dag_id, run_id)


# -- the scheduler in a thread --------------------------------------------------------------------
class SchedulerThread:
    """scheduler.service.Scheduler running in a background thread (a context manager)."""

    def __init__(self, config: Config, sessions: sessionmaker[Session], executor: Executor, **options: Any) -> None:
        """`options` go to the Scheduler (e.g. an injected `clock`)."""
        from scheduler.service import Scheduler

        self.scheduler = Scheduler(config, sessions, executor, **options)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-scheduler", daemon=True)

    def _run(self) -> None:
        try:
            self.scheduler.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc

    def __enter__(self) -> SchedulerThread:
        self._thread.start()
        wait_until(lambda: self.scheduler.ready.is_set() or not self._thread.is_alive(), timeout=120, what="the scheduler to start")
        self.check()
        return self

    def check(self) -> None:
        """Re-raise what the scheduler thread died of, if it died."""
        if self.error is not None:
            raise AssertionError(f"the scheduler thread failed: {self.error!r}") from self.error

    def __exit__(self, *exc: object) -> None:
        self.scheduler.stop()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the scheduler thread did not stop within 60 s"
        self.check()


# -- the CLI and the scheduler as processes --------------------------------------------------------
def cli_env(home: Path, **settings: Any) -> dict[str, str]:
    """Environment for an `orchestrator` subprocess: home/dags as DAG folder, quick polls."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    values: dict[str, Any] = {
        "home": home,
        "dags_folder": home / "dags",
        "poll_interval_s": 0.05,
        "heartbeat_interval_s": 0.5,
        "dask_workers": 1,
    }
    values.update(settings)
    env.update({f"ORCH_{k.upper()}": str(v) for k, v in values.items() if v is not None})
    return env


def orch(args: Sequence[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `orchestrator ARGS` to completion."""
    return subprocess.run([str(ORCHESTRATOR), *args], env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class SchedulerProcess:
    """`orchestrator scheduler` as a subprocess in its own session (so its workers can be reaped)."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SchedulerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(ORCHESTRATOR), "scheduler"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_registered(self, sessions: sessionmaker[Session], timeout: float = 60) -> None:
        """Until its scheduler_job row says running (it has claimed the database)."""

        def registered() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the scheduler exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            with sessions() as session:
                return session.scalar(select(SchedulerJob).where(SchedulerJob.pid == self.pid, SchedulerJob.state == "running")) is not None

        wait_until(registered, timeout=timeout, what="the scheduler process to register")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code."""
        assert self.proc is not None
        os.kill(self.pid, signal.SIGTERM)
        return self.proc.wait(timeout)

    def cleanup(self) -> None:
        """Stop it if it still runs, and kill whatever it left in its session (Dask workers)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class OutputReader:
    """Collects a process's stderr lines in a thread, so a test can wait for a message."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, fragment: str, timeout: float) -> str:
        return wait_until(lambda: fragment in self.text() and self.text(), timeout=timeout, what=f"{fragment!r} on stderr")
