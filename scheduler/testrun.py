"""`dags test`: one run of one DAG, in this process, through the same tracker as the scheduler."""

from __future__ import annotations

import queue
import time
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.errors import ConflictError
from orchestrator.execution.executor import ExecutorEvent, InProcessExecutor
from orchestrator.plugins.listeners import ListenerThread, publishing
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import idempotency as idempotency_store
from orchestrator.store import run_creation
from orchestrator.store import runs as run_store
from orchestrator.store.models import Dag, DagRun
from orchestrator.store.runs import Batch, RunKey
from scheduler.child_runs import settle_trigger_tasks
from scheduler.tracker import RunTracker, start_runs
from scheduler.triggerer import Triggerer
from scheduler.waits import WaitBook


def _now() -> datetime:
    return datetime.now(UTC)


def test_run(sessions: sessionmaker[Session], config: Config, dag_id: str, conf: dict, *, actor: str = "scheduler") -> RunKey:
    """Create a `test` run of `dag_id` and drive it to the end with the in-process executor;
    `actor` names who asked (the CLI passes `cli:<os user>`)."""
    with sessions() as session:
        dag = session.get(Dag, dag_id)
        if dag is not None and dag.spec.get("machine") is not None:
            raise ConflictError(
                f"DAG {dag_id!r} is a state machine: its runs move on events, which `dags test` cannot send. Trigger it "
                "(`dags trigger`) with a scheduler running, and send events with `runs send-event`"
            )
    events: queue.SimpleQueue[ExecutorEvent | list[ExecutorEvent]] = queue.SimpleQueue()
    executor = InProcessExecutor()
    executor.start(events.put)
    from scheduler.connections import connection_resolver

    tracker = RunTracker(config, executor, connection_resolver(config, sessions))
    # a test run's tries really run: they honour (and record) idempotency keys like the scheduler's
    tracker.idempotency_lookup = idempotency_store.lookup_in(sessions)
    plugins = load_plugins(config)
    # deferrable sensors wait in an event loop of this process (this loop looks again every poll interval)
    triggerer = Triggerer(plugins.trigger_types, wake=lambda: None)
    triggerer.start()
    waits = WaitBook(triggerer)
    # the plugins' listeners hear this run's committed changes, as they hear the scheduler's
    listeners = ListenerThread(plugins)
    now = _now()
    try:
        with publishing(sessions, listeners) as session:
            row: DagRun = run_creation.create_run(
                session, dag_id, run_id=f"test__{now.isoformat()}", run_type="test", logical_date=now,
                data_interval=None, conf=conf, now=now, actor=actor, check_input=True,
            )
            batch = Batch()
            (run,) = start_runs(session, [(row, run_store.spec_for_version(session, dag_id, row.version_hash))], batch, now)
            tracker.track(run)
            dispatches = tracker.plan(batch, now)
            batch.write(session)
        # after the run ends, its DAG callback may still be to dispatch and record
        while tracker.runs or dispatches:
            tracker.dispatch(dispatches)
            batch = Batch()
            now = _now()
            while not events.empty():
                got = events.get()
                for event in got if isinstance(got, list) else [got]:
                    tracker.on_event(event, batch, now)
            tracker.wake_due(now)
            dispatches = tracker.plan(batch, now)
            with publishing(sessions, listeners) as session:
                if tracker.triggering:  # TriggerDagRunTask: its child run is created (and watched) here
                    settle_trigger_tasks(session, tracker, batch, now)
                    dispatches += tracker.plan(batch, now)
                if tracker.waiting:  # ApprovalTask, WaitForEvent, deferred sensors: decided, matched by a scheduler, or fired here
                    waits.poll(session, tracker, batch, now)
                    dispatches += tracker.plan(batch, now)
                batch.write(session)
            tracker.take_finished()
            if not dispatches and tracker.runs and events.empty():
                wake = tracker.next_wakeup()
                if wake is not None:
                    time.sleep(max(0.0, (wake - _now()).total_seconds()))
                elif tracker.triggering or tracker.waiting:  # others decide: look again after a poll interval
                    time.sleep(config.poll_interval_s)
    finally:
        executor.close()
        triggerer.close()
        listeners.close()
    return run.key
