"""One repeat's world: a temp ORCH_HOME, a fresh database, and the real scheduler in a thread."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config, load_config
from orchestrator.core.states import RunState
from orchestrator.store import run_creation
from orchestrator.store.db import make_engine, make_sessionmaker, upgrade
from orchestrator.store.models import DagRun

if TYPE_CHECKING:
    from scheduler.service import Scheduler

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
_ENDED = (RunState.SUCCESS.value, RunState.FAILED.value)


@dataclass
class Env:
    home: Path
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dags_folder(self) -> Path:
        return self.config.resolved_dags_folder


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def fresh_env(db: str, workers: int) -> Iterator[Env]:
    """A temp ORCH_HOME with an upgraded, empty database (SQLite in the home, or a new PG database)."""
    home = Path(tempfile.mkdtemp(prefix="orch-bench-"))
    (home / "dags").mkdir()
    saved_home = os.environ.get("ORCH_HOME")
    os.environ["ORCH_HOME"] = str(home)
    pg_name = None
    engine = None
    try:
        if db == "postgres":
            pg_name = f"orch_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            _pg(f'CREATE DATABASE "{pg_name}"')
            url = PG_URL.format(name=pg_name)
        else:
            url = f"sqlite:///{home / 'orchestrator.db'}"
        config = load_config(home=home, dags_folder=home / "dags", database_url=url, dask_workers=workers, dask_threads_per_worker=1)
        engine = make_engine(url)
        upgrade(engine)
        yield Env(home, config, engine, make_sessionmaker(engine))
    finally:
        if engine is not None:
            engine.dispose()
        if pg_name is not None:
            _pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        if saved_home is None:
            os.environ.pop("ORCH_HOME", None)
        else:
            os.environ["ORCH_HOME"] = saved_home
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def running_scheduler(
    env: Env, workers: int, ready_timeout_s: float = 120.0, on_created: Callable[[Scheduler], None] | None = None
) -> Iterator[Scheduler]:
    """The real scheduler (DaskExecutor on a LocalCluster) running in a background thread.

    `on_created` sees the scheduler before it starts (to instrument it).
    """
    from orchestrator.execution.dask_executor import DaskExecutor
    from scheduler.service import Scheduler  # noqa: F811 - the runtime import

    executor = DaskExecutor(None, workers=workers, threads_per_worker=1)
    sched = Scheduler(env.config, env.sessions, executor, exclusive=True)
    if on_created is not None:
        on_created(sched)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            sched.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the waiting thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="bench-scheduler", daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout_s
    while not sched.ready.wait(0.05):
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            sched.stop()
            thread.join(30)
            raise RuntimeError(f"the scheduler did not become ready: {failure[0] if failure else 'timeout'}")
    try:
        yield sched
    finally:
        sched.stop()
        thread.join(60)
        if thread.is_alive():
            raise RuntimeError("the scheduler thread did not stop within 60 s")
        if failure:
            raise RuntimeError(f"the scheduler failed: {failure[0]!r}") from failure[0]


def now() -> datetime:
    return datetime.now(UTC)


def trigger(env: Env, dag_id: str, run_id: str | None = None) -> str:
    """Queue a manual run as `orchestrator dags trigger` does: one transaction, create_run."""
    at = now()
    with env.sessions.begin() as session:
        run = run_creation.create_run(
            session, dag_id, run_id=run_id, run_type="manual", logical_date=at, data_interval=None, conf=None, now=at, actor="bench"
        )
        return run.run_id


def trigger_batch(env: Env, dag_id: str, run_ids: Sequence[str]) -> list[str]:
    """Queue manual runs in one transaction, as `POST /dags/{dag_id}/runs/batch` does."""
    from orchestrator.store import run_batches

    at = now()
    with env.sessions.begin() as session:
        runs = run_batches.plan(session, dag_id, [run_batches.RunRequest(run_id=r) for r in run_ids], at)
        run_creation.queue_runs(session, runs, at, actor="bench")
    return [r.run_id for r in runs]


def wait_runs(env: Env, dag_id: str, run_ids: Sequence[str], timeout_s: float, poll_s: float = 0.05) -> list[DagRun]:
    """Poll the store until every run has ended; returns their rows."""
    deadline = time.monotonic() + timeout_s
    ids = list(run_ids)
    while True:
        with env.sessions() as session:
            ended = session.scalar(
                select(func.count()).select_from(DagRun).where(DagRun.dag_id == dag_id, DagRun.state.in_(_ENDED))
                .where(DagRun.run_id.in_(ids))
            )
            if ended == len(ids):
                return list(session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id.in_(ids))))
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - (ended or 0)} of {len(ids)} runs of {dag_id} had not ended after {timeout_s:g} s")
        time.sleep(poll_s)
