"""The change cursor: a scheduler notices what others change (a new run, a cancel, a clear, an
unpause) through the change counter, without waiting for its poll interval, and a poll when
nothing changed reads no run. On PostgreSQL, a writer that commits late is not skipped."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import changes as change_store
from orchestrator.store import clearing as clearing_store
from orchestrator.store import dags as dag_store
from orchestrator.store import run_creation
from orchestrator.store import runs as run_store
from orchestrator.store.runs import RunKey
from scheduler.change_feed import ChangeFeed

from .harness import SchedulerThread, make_config, run_row, task_rows, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

QUICK = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("quick") as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""
WAITS = """
    from orchestrator import DAG, WaitForEvent

    with DAG("waits") as dag:
        WaitForEvent("thing.done", task_id="wait")
"""
NEVER_DUE_S = 600.0  # the poll interval: cron and friends are looked at once, at the start


@dataclass
class Home:
    config: Config
    sessions: sessionmaker[Session]


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Home]:
    write_dag(tmp_path / "dags", "quick.py", QUICK)
    write_dag(tmp_path / "dags", "waits.py", WAITS)
    sessions = upgraded_sessions(database_url)
    config = make_config(tmp_path, database_url, poll_interval_s=NEVER_DUE_S, heartbeat_interval_s=60.0)
    sync_dag_folder(sessions, config)
    yield Home(config, sessions)
    sessions.kw["bind"].dispose()


def _scheduler(home: Home) -> SchedulerThread:
    return SchedulerThread(home.config, home.sessions, InProcessExecutor(), sync_folder=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _task_waits(home: Home, run_id: str) -> bool:
    task = task_rows(home.sessions, "waits", run_id).get("wait")
    return task is not None and task.state == "waiting"


# -- what the scheduler notices, long before its poll interval ---------------------------------------
def test_a_new_trigger_starts_without_waiting_for_the_poll_interval(home: Home) -> None:
    with _scheduler(home) as sched:
        run_id = trigger(home.sessions, "quick")
        assert wait_for_run(home.sessions, "quick", run_id, timeout=NEVER_DUE_S / 10).state == "success"
        assert sched.scheduler.feed.queued == {}, "a started run is no longer in the scheduler's copy of the queue"


def test_a_cancelled_run_is_let_go_by_its_scheduler(home: Home) -> None:
    with _scheduler(home) as sched:
        run_id = trigger(home.sessions, "waits")
        wait_until(lambda: _task_waits(home, run_id), timeout=30, what="the task to wait")
        with home.sessions.begin() as s:
            run_store.cancel_run(s, "waits", run_id, _now(), "test")
        wait_until(lambda: RunKey("waits", run_id) not in sched.scheduler.tracker.runs, timeout=30, what="the scheduler to let go")
    assert run_row(home.sessions, "waits", run_id).state == "cancelled"
    assert task_rows(home.sessions, "waits", run_id)["wait"].state == "cancelled"


def test_a_cleared_task_runs_again(home: Home) -> None:
    with _scheduler(home):
        run_id = trigger(home.sessions, "quick")
        wait_for_run(home.sessions, "quick", run_id)
        with home.sessions.begin() as s:
            clearing_store.clear_task(s, "quick", run_id, "work", downstream=False, now=_now(), actor="test")
        wait_until(lambda: task_rows(home.sessions, "quick", run_id)["work"].try_number == 2, timeout=30, what="the second try")
        assert wait_for_run(home.sessions, "quick", run_id).state == "success"


def test_a_run_queued_while_its_dag_was_paused_starts_when_it_is_unpaused(home: Home) -> None:
    with home.sessions.begin() as s:
        dag_store.set_paused(s, "quick", True, _now(), actor="test")
    with _scheduler(home) as sched:
        run_id = trigger(home.sessions, "quick")
        wait_until(lambda: RunKey("quick", run_id) in sched.scheduler.feed.queued, timeout=30, what="the scheduler to see the run")
        assert run_row(home.sessions, "quick", run_id).state == "queued"
        with home.sessions.begin() as s:
            dag_store.set_paused(s, "quick", False, _now(), actor="test")
        assert wait_for_run(home.sessions, "quick", run_id).state == "success"


# -- what a poll reads -----------------------------------------------------------------------------------
class Statements:
    """The SQL the scheduler's own thread sends, recorded by an engine listener."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.engine = sessions.kw["bind"]
        self.sql: list[str] = []
        event.listen(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        if threading.current_thread().name == "test-scheduler":
            self.sql.append(statement)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def on(self, table: str) -> list[str]:
        return [s for s in self.sql if re.search(rf"\b{table}\b", s)]


def test_a_poll_reads_no_run_when_nothing_changed_and_only_the_changed_run_otherwise(home: Home) -> None:
    often = Home(home.config.model_copy(update={"poll_interval_s": 0.05}), home.sessions)  # full polls, often
    statements = Statements(home.sessions)
    try:
        with _scheduler(often) as sched:
            waiting = [trigger(home.sessions, "waits") for _ in range(3)]
            wait_until(lambda: all(_task_waits(home, r) for r in waiting), timeout=30, what="the tasks to wait")
            polls_before = len(statements.on("change_counter"))
            statements.sql.clear()
            wait_until(lambda: len(statements.on("change_counter")) >= 5, timeout=30, what="five polls")
            assert statements.on("dag_run") == []
            with home.sessions.begin() as s:
                run_store.cancel_run(s, "waits", waiting[0], _now(), "test")
            wait_until(lambda: RunKey("waits", waiting[0]) not in sched.scheduler.tracker.runs, timeout=30, what="the cancel to be seen")
    finally:
        statements.close()
    assert polls_before > 0
    assert statements.on("dag_run"), "the cancelled run was read"
    assert all(waiting[1] not in s and waiting[2] not in s for s in statements.sql)


# -- the cursor in the store ---------------------------------------------------------------------------------
def test_a_rolled_back_change_leaves_the_counter_as_it_was(home: Home) -> None:
    with home.sessions() as s:
        before = change_store.current(s)
    with pytest.raises(RuntimeError), home.sessions.begin() as s:
        trigger_in = run_creation.create_run(s, "quick", run_id="gone", run_type="manual", logical_date=_now(), data_interval=None,
                                          conf=None, now=_now(), actor="test")
        assert trigger_in.run_id == "gone"
        raise RuntimeError("the writer fails")
    with home.sessions() as s:
        assert change_store.current(s) == before
    run_id = trigger(home.sessions, "quick")
    with home.sessions() as s:
        assert change_store.current(s) == before + 1
        assert [(r.run_id, r.change_seq) for r in change_store.changed_runs(s, before, before + 1)] == [(run_id, before + 1)]


@pytest.mark.postgres
def test_a_writer_that_commits_late_is_not_skipped_by_the_cursor(tmp_path: Path, postgres_server: str) -> None:
    from tests.conftest import temporary_postgres_database

    with temporary_postgres_database() as url:
        write_dag(tmp_path / "dags", "quick.py", QUICK)
        sessions = upgraded_sessions(url)
        try:
            sync_dag_folder(sessions, make_config(tmp_path, url))
            _late_writer_scenario(sessions)
        finally:
            sessions.kw["bind"].dispose()


def _late_writer_scenario(sessions: sessionmaker[Session]) -> None:
    """A queues run "early" and holds its COMMIT; B queues "late" meanwhile. A reader between
    them must see neither (B waits for A on the counter row), and then both."""
    feed = ChangeFeed()
    with sessions() as s:
        feed.read(s)
    hold, holding = threading.Event(), threading.Event()

    def delay_commit(conn: object) -> None:
        if threading.current_thread().name == "writer-a":
            holding.set()
            assert hold.wait(30), "the test never released writer A"

    engine = sessions.kw["bind"]
    event.listen(engine, "commit", delay_commit)
    errors: list[BaseException] = []

    def write(run_id: str) -> None:
        try:
            trigger_run(sessions, run_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    a = threading.Thread(target=write, args=("early",), name="writer-a")
    b = threading.Thread(target=write, args=("late",), name="writer-b")
    try:
        a.start()
        assert holding.wait(30), "writer A did not reach its commit"
        b.start()
        b.join(0.5)
        assert b.is_alive(), "writer B committed while A held the counter"
        with sessions() as s:
            assert feed.read(s).rows == []
    finally:
        hold.set()
        a.join(30)
        b.join(30)
        event.remove(engine, "commit", delay_commit)
    assert errors == []
    with sessions() as s:
        feed.read(s)
    assert {k.run_id for k in feed.queued} == {"early", "late"}


def trigger_run(sessions: sessionmaker[Session], run_id: str) -> None:
    now = _now()
    with sessions.begin() as s:
        run_creation.create_run(s, "quick", run_id=run_id, run_type="manual", logical_date=now, data_interval=None, conf=None, now=now, actor="test")
