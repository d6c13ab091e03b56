"""The scheduler service: the loop that ties the store, the tracker and the executor together.

One thread does all decisions. Executor events arrive on a queue (pushed from Dask's threads)
and are handled the moment they arrive. The database is polled for what users, other schedulers
and cron add: what changed (new runs, clears, cancels, decisions, outside events) as soon as the
change counter moves (a thread checks it every `CHANGE_CHECK_S`), everything that goes by the
clock (cron, named schedules, shared pools and breakers) every `poll_interval_s`. A poll reads
only the runs changed since its cursor (scheduler/change_feed.py). Each pass writes ONE
transaction, then submits the work that transaction queued.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.deadlines import Watch
from orchestrator.core.states import RunState
from orchestrator.execution.collector import tuned_for_the_loop
from orchestrator.execution.executor import Executor, ExecutorEvent
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.operations.retention import start_retention
from orchestrator.plugins.listeners import ListenerThread
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import changes as change_store
from orchestrator.store import circuits as circuit_store
from orchestrator.store import events as event_store
from orchestrator.store import idempotency as idempotency_store
from orchestrator.store import jobs as job_store
from orchestrator.store import pools as pool_store
from orchestrator.store import runs as run_store
from orchestrator.store.db import READONLY_OPTION, try_decision_lock
from orchestrator.store.models import ChangeCounter, DagRun, SchedulerJob
from orchestrator.store.runs import Batch, RunKey
from scheduler import machines, run_starts
from scheduler.change_feed import ChangeFeed, QueuedRun
from scheduler.child_runs import settle_trigger_tasks
from scheduler.connections import connection_resolver
from scheduler.cron import create_due_runs, create_named_schedule_runs
from scheduler.run_clock import RunClock
from scheduler.spec_cache import SpecCache
from scheduler.tracker import Dispatch, RunTracker, active_run
from scheduler.triggerer import Triggerer
from scheduler.triggering import create_asset_runs, process_events
from scheduler.waits import WaitBook

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

CHANGE_CHECK_S = 0.015
"""How often a thread reads the change counter: a new trigger is noticed within this, not a poll interval."""
START_PER_POLL = 250
"""Runs started per poll at most, so a pass stays short (1,000 cron runs due together start over a few passes)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Stop:
    """Queue sentinel that wakes the loop to stop."""


class _Wake:
    """Queue sentinel that wakes the loop to poll: the change counter moved, or a poll left work."""


class Scheduler:
    """`orchestrator scheduler`: runs until `stop()` (or SIGTERM / SIGINT)."""

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        executor: Executor,
        *,
        clock: Clock = utcnow,
        exclusive: bool = True,
        sync_folder: bool = True,
        resolve_connection: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.executor = executor
        self.clock = clock
        self.exclusive = exclusive
        self.sync_folder = sync_folder
        resolve = resolve_connection or connection_resolver(config, sessions)
        self.tracker = RunTracker(config, executor, resolve)
        # breaker thresholds per connection come from its extras
        self.tracker.connection_extra = lambda conn_id: (resolve(conn_id) or {}).get("extra")
        self.tracker.idempotency_lookup = idempotency_store.lookup_in(sessions)
        self.events: queue.Queue[ExecutorEvent | list[ExecutorEvent] | _Stop | _Wake] = queue.Queue()
        self._stopping = threading.Event()
        self.specs = SpecCache()
        self._next_due: datetime | None = None  # the first next_run_at within spec_cache.SPEC_LOOKAHEAD_S
        self._pending = Batch()
        self._unwritten: list[Batch] = []
        self._started: list[RunKey] = []  # runs started in the pass being written
        self._unsent: list[Dispatch] = []
        self.job_id: int | None = None
        # plugins hear committed state changes on a thread of their own (never stalling this loop);
        # clashing registrations (two step types of one name) stop the start-up here
        self.plugins = load_plugins(config)
        self.plugins.check()
        # deferrable sensors wait in this scheduler's own event loop; a trigger that fires wakes the loop
        self.triggerer = Triggerer(self.plugins.trigger_types, wake=lambda: self.events.put(_Wake()))
        self.waits = WaitBook(self.triggerer)  # ApprovalTask, WaitForEvent, deferred sensors: registered and settled at each poll
        self.tracker.retry_decision = lambda task, try_number, error_type, error: self.plugins.pm.hook.orchestrator_retry_decision(
            task=task, try_number=try_number, error_type=error_type, error=error
        )
        self.plugins.resolve_connection = resolve  # deadline-miss notifications reach SMTP and HTTP connections
        self.listeners = ListenerThread(self.plugins)
        self._busy: tuple[float, int] = (0.0, 0)
        self._next_adoption_check = 0.0  # seconds spent deciding, passes, since the last heartbeat
        self.feed = ChangeFeed()
        # dagrun_timeout and deadlines of the runs this scheduler drives, in a due list
        self.run_times = RunClock(self.tracker, self.tracker.cancel, self._miss_recorded)
        self.tracker.on_track = self.run_times.watch
        self._next_full_poll = 0.0  # monotonic: when cron, named schedules and shared state are looked at next
        self._seen_seq = 0  # the change counter as the watch thread last read it
        self._backlog = False  # the last poll left work (events, runs to start) for the next one
        self.ready = threading.Event()

    # -- life cycle ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to stop cleanly (thread- and signal-safe)."""
        self._stopping.set()
        self.events.put(_Stop())

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def run(self) -> None:
        """Register, recover, then loop until stopped."""
        now = self.clock()
        with self.sessions.begin() as session:
            self.job_id = job_store.register(
                session, now, timedelta(seconds=self.config.scheduler_health_threshold_s), exclusive=self.exclusive
            )
        # beats from its own thread, so a slow start (cluster, first DAG scan) still counts as alive
        beat_thread = threading.Thread(target=self._heartbeat_loop, name="scheduler-heartbeat", daemon=True)
        beat_thread.start()
        # housekeeping (long logs to the log store, the daily retention policy) in its own thread, ended by _stopping
        start_retention(self.sessions, self.config, self._stopping, self.clock, self.plugins.log_store_types)
        folder_thread = watch_thread = None
        try:
            self.executor.start(self.events.put)
            self.triggerer.start()
            if self.sync_folder:
                self._sync_folder()
                folder_thread = threading.Thread(target=self._folder_loop, name="dag-folder-sync", daemon=True)
                folder_thread.start()
            self._recover()
            self.ready.set()
            log.info("scheduler %s running (executor: %s)", self.job_id, type(self.executor).__name__)
            watch_thread = threading.Thread(target=self._change_watch_loop, name="scheduler-change-watch", daemon=True)
            watch_thread.start()
            with tuned_for_the_loop():
                self._loop()
        finally:
            self._stopping.set()
            beat_thread.join()
            if watch_thread is not None:
                watch_thread.join()
            self._shutdown()
            if folder_thread is not None:
                folder_thread.join(timeout=self.config.dag_file_timeout_s + 5)

    def _heartbeat_loop(self) -> None:
        assert self.job_id is not None
        while not self._stopping.wait(self.config.heartbeat_interval_s):
            try:
                stats = self._stats()
                with self.sessions.begin() as session:
                    job_store.heartbeat(session, self.job_id, self.clock(), stats)
            except OperationalError as exc:
                log.error("cannot record the heartbeat (%s)", exc.orig)

    def _stats(self) -> dict[str, Any]:
        """What the health page and /metrics show about this scheduler."""
        busy_s, passes = self._busy
        self._busy = (0.0, 0)
        try:
            workers = [asdict(w) for w in self.executor.workers()] if self.ready.is_set() else []
        except Exception as exc:  # noqa: BLE001 - the cluster may be restarting; report, do not die
            log.warning("cannot list the Dask workers: %s", exc)
            workers = []
        return {
            "dask_workers": workers,
            "loop_ms": round(1000 * busy_s / passes, 3) if passes else 0.0,
            "queue_depth": self.events.qsize(),
            "active_runs": len(self.tracker.runs),
        }

    def _change_watch_loop(self) -> None:
        """Wake the loop when `changes_pending`: the change counter is read every CHANGE_CHECK_S
        (a one-row table), on a connection of its own (read-only: never SQLite's write lock)."""
        reader = self.sessions.kw["bind"].execution_options(**{READONLY_OPTION: True})
        read_seq = select(ChangeCounter.seq).where(ChangeCounter.id == change_store.COUNTER_ID)
        conn = None
        try:
            while not self._stopping.wait(CHANGE_CHECK_S):
                if not self._poll_wanted():
                    try:
                        conn = conn or reader.connect()
                        self._seen_seq = conn.execute(read_seq).scalar() or 0
                        conn.rollback()  # the next read takes a fresh snapshot
                    except OperationalError as exc:
                        log.debug("cannot read the change counter (%s)", exc.orig)
                        if conn is not None:
                            conn.invalidate()
                            conn.close()
                        conn = None
                if self.changes_pending() and self.events.empty():
                    self.events.put(_Wake())
        finally:
            if conn is not None:
                conn.close()

    def changes_pending(self) -> bool:
        """Whether the loop should poll now, before `poll_interval_s` is over: the change counter
        moved since the last poll's read, or `_poll_wanted`."""
        return self._poll_wanted() or self.feed.moved(self._seen_seq)

    def _poll_wanted(self) -> bool:
        """The last poll left work (events, runs to start), the tracker started waits to register
        (WaitForEvent, approvals, deferred sensors), a deferred sensor's trigger fired, or the full poll is due."""
        return (
            self._backlog or bool(self.tracker.waits_started) or self.triggerer.has_fired() or time.monotonic() >= self._next_full_poll
        )

    def _folder_loop(self) -> None:
        while not self._stopping.wait(self.config.dag_dir_scan_interval_s):
            self._sync_folder()

    def _sync_folder(self) -> None:
        try:
            sync_dag_folder(self.sessions, self.config, self.clock)
        except Exception:  # noqa: BLE001 - a bad pass is logged and retried next interval
            log.exception("scanning the DAG folder failed; trying again in %g s", self.config.dag_dir_scan_interval_s)

    def _recover(self) -> None:
        """Adopt the running runs that no live scheduler drives: after a restart, the runs this
        database's previous scheduler left; with several schedulers, those of one that stopped."""
        now = self.clock()
        batch = Batch()
        with self.sessions.begin() as session:
            self.tracker.load_shared(circuit_store.load(session), pool_store.slots(session))
            adopted = self._adopt(session, batch, now, self._alive(session, now))
            batch.write(session)
        self._publish([batch])
        if adopted:
            log.info("adopted %d running runs", len(adopted))

    def _alive(self, session: Session, now: datetime) -> set[int]:
        """The ids of the schedulers that heartbeat (this one included)."""
        return job_store.alive_job_ids(session, now, timedelta(seconds=self.config.scheduler_health_threshold_s)) | {self.job_id}

    def _adopt(self, session: Session, batch: Batch, now: datetime, alive: set[int]) -> list[RunKey]:
        """Take over the running runs whose scheduler stopped heartbeating: claimed row by row
        (FOR UPDATE SKIP LOCKED, so two schedulers never adopt the same run); their in-flight
        tries go back to be scheduled. Returns the runs adopted."""
        # the dead schedulers are few; their runs are found through the owner index, not by reading every running run
        dead = select(SchedulerJob.id).where(SchedulerJob.id.not_in(alive))
        rows = session.scalars(
            select(DagRun)
            .where(or_(DagRun.owner_job_id.is_(None), DagRun.owner_job_id.in_(dead)), DagRun.state == RunState.RUNNING.value)
            .where(DagRun.run_type != "test")  # driven by `orchestrator dags test` in its own process
            .with_for_update(skip_locked=True)
        ).all()
        change_store.touch(session, [(row.dag_id, row.run_id) for row in rows])  # their old owner, if alive after all, lets go
        for row in rows:
            key = RunKey(row.dag_id, row.run_id)
            run = active_run(row, self.specs.get(session, row.dag_id, row.version_hash), run_store.load_task_views(session, key))
            machines.attach(session, run, row.machine, row.run_data)
            self.tracker.reset_orphans(run, batch, now, reason="orphaned: the scheduler that ran it stopped")
            batch.update_run(key, RunState.RUNNING, owner_job_id=self.job_id)
            batch.events.append(
                event_store.event("run.adopted", now, dag_id=key.dag_id, run_id=key.run_id, reason=f"its scheduler {row.owner_job_id} stopped heartbeating", payload={"from_job": row.owner_job_id, "to_job": self.job_id})
            )
            self.tracker.track(run)
        return [RunKey(row.dag_id, row.run_id) for row in rows]

    def _shutdown(self) -> None:
        """Cancel in-flight work and put it back to be scheduled, so a restart resumes it."""
        now = self.clock()
        for key in self.tracker.inflight_keys():
            self.executor.cancel(key)
        batch = Batch()
        for run in self.tracker.runs.values():
            self.tracker.reset_orphans(run, batch, now, reason="the scheduler stopped")
        try:
            with self.sessions.begin() as session:
                for unwritten in [*self._unwritten, self._pending]:
                    unwritten.write(session)
                batch.write(session)
                if self.job_id is not None:
                    job_store.stop(session, self.job_id, now)
            self._publish([*self._unwritten, self._pending, batch])
        except OperationalError:
            log.exception("could not record the shutdown; the next scheduler will adopt the runs")
        self.executor.close()
        self.triggerer.close()
        self.listeners.close()

    # -- the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        """Handle events as they come; write them together at most every `commit_interval_s`,
        at once when work must be submitted (its queued state is committed first)."""
        next_poll = 0.0
        write_by: float | None = None
        while not self._stopping.is_set():
            deadline = min(next_poll, write_by if write_by is not None else next_poll)
            timeout = max(0.0, deadline - time.monotonic())
            wake = min(
                (w for w in (self.tracker.next_wakeup(), self.run_times.next_due(), self._next_due) if w is not None), default=None
            )
            if wake is not None:
                timeout = min(timeout, max(0.0, (wake - self.clock()).total_seconds()))
            events = self._drain(timeout)
            started = time.perf_counter()
            now = self.clock()
            for ev in events:
                self.tracker.on_event(ev, self._pending, now)
            self.tracker.wake_due(now)
            self._unsent.extend(self.run_times.tick(self._pending, now))
            self._unsent.extend(self.tracker.plan(self._pending, now))
            mono = time.monotonic()
            poll = mono >= next_poll or self.changes_pending() or self._cron_due(now)
            if self._pending and write_by is None:
                write_by = mono + self.config.commit_interval_s
            if not (poll or self._unsent or (write_by is not None and mono >= write_by)):
                continue
            written = [*self._unwritten, self._pending]
            try:
                with self.sessions.begin() as session:
                    for unwritten in written:
                        unwritten.write(session)
                    if poll:
                        # after our own writes, so what the store says is never older than our copy
                        self._pending = Batch()
                        self._poll(session, self._pending, now)
                        self._unsent.extend(self.tracker.plan(self._pending, now))
                        self._pending.write(session)
                        written.append(self._pending)
                self._unwritten.clear()
            except OperationalError as exc:
                # the database went away: keep every change and try again; nothing is submitted meanwhile
                log.error("cannot write to the database (%s); retrying", exc.orig)
                self._unwritten = [*written, *([] if any(b is self._pending for b in written) else [self._pending])]
                self._forget_started()
                self._pending, write_by = Batch(), None
                self._stopping.wait(1.0)
                continue
            self._started.clear()
            self._pending, write_by = Batch(), None
            self._publish(written)
            if poll:
                next_poll = time.monotonic() + self.config.poll_interval_s
            dispatches, self._unsent = self._unsent, []
            self.tracker.dispatch(dispatches)
            for key in self.tracker.take_finished():
                log.info("run %s/%s finished", key.dag_id, key.run_id)
            busy, passes = self._busy
            self._busy = (busy + time.perf_counter() - started, passes + 1)

    def _cron_due(self, now: datetime) -> bool:
        """A scheduled DAG fell due: its run is created at once, not at the next poll interval."""
        return self._next_due is not None and now >= self._next_due

    def _miss_recorded(self, watch: Watch) -> bool:
        """Whether a deadline miss is in the event log already (the run's previous scheduler saw it)."""
        with self.sessions() as session:
            return event_store.has_deadline_miss(session, watch.dag_id, watch.run_id, watch.task_id)

    def _forget_started(self) -> None:
        """Runs this pass started were rolled back with it: they are still queued in the store."""
        started, self._started = set(self._started), []
        self.feed.reset()  # the runs it started are queued again in the store: read them all next time
        for key in started:
            self.tracker.forget(key)
        self._unsent = [d for d in self._unsent if RunKey(d.work.dag_id, d.work.run_id) not in started]

    def _publish(self, batches: list[Batch]) -> None:
        """Hand the events of committed batches to the listener hooks (queued, never blocking)."""
        self.listeners.publish(row for b in batches for row in b.events)

    def _drain(self, timeout: float) -> list[ExecutorEvent]:
        try:
            first = self.events.get(timeout=timeout)
        except queue.Empty:
            return []
        items: list[Any] = []
        while True:
            if isinstance(first, list):  # events that arrived together (orchestrator.execution.executor.EventSink)
                items.extend(first)
            else:
                items.append(first)
            try:
                first = self.events.get_nowait()
            except queue.Empty:
                break
        if any(isinstance(i, _Stop) for i in items):
            self._stopping.set()
        return [i for i in items if not isinstance(i, (_Stop, _Wake))]

    # -- what the database says ------------------------------------------------------------------
    def _poll(self, session: Session, batch: Batch, now: datetime) -> None:
        """Act on what changed since the last poll; every `poll_interval_s`, also on what goes by the clock."""
        mono = time.monotonic()
        full = mono >= self._next_full_poll or self._cron_due(now)
        if full:
            self._next_full_poll = mono + self.config.poll_interval_s
        backlog = False
        # one scheduler at a time creates runs (several would create the same cron run twice)
        if try_decision_lock(session, "create-runs"):
            if full:
                create_due_runs(session, now, spec_of=self.specs.of_dag)
                create_named_schedule_runs(session, now)
            create_asset_runs(session, now)
            backlog = process_events(session, now).more
        if full:
            # breakers and pools are shared with other schedulers and the UI: the store's copy wins
            self.tracker.load_shared(circuit_store.load(session), pool_store.slots(session))
            self._next_due = self.specs.warm(session, now)
        self._notice(session)
        # after the reloads, which would take an adopted run's row (still its old owner's) for a loss
        alive = self._alive(session, now)
        if time.monotonic() >= self._next_adoption_check:
            self._next_adoption_check = time.monotonic() + self.config.heartbeat_interval_s
            # like runs started in this pass, adopted ones are forgotten if the pass is rolled back
            self._started.extend(self._adopt(session, batch, now, alive))
        # after the reloads, so that a run a user cancelled meanwhile triggers nothing
        settle_trigger_tasks(session, self.tracker, batch, now)
        self.waits.poll(session, self.tracker, batch, now)
        queued = self.feed.unstarted(self.tracker.runs)
        # one scheduler at a time starts runs (max_active_runs counts across all of them), taking
        # its share of what is queued, so the others take the rest at their next poll
        if queued and try_decision_lock(session, "start-runs"):
            share = -(-len(queued) // len(alive))
            backlog = self._start_queued(session, queued, batch, now, share=share, recheck_waiting=full) or backlog
        self.feed.finish(session, self.tracker.runs)
        self._backlog = backlog

    def _notice(self, session: Session) -> None:
        """Reload the runs this scheduler drives that someone else changed (a clear, a cancel, an adoption)."""
        changed = self.feed.read(session)
        rows = {RunKey(r.dag_id, r.run_id): r for r in changed.rows}
        keys = list(self.tracker.runs) if changed.everything else [k for k in rows if k in self.tracker.runs]
        for key in keys:
            row, run = rows.get(key), self.tracker.runs[key]
            if row is None or row.state != RunState.RUNNING.value or row.ext_change != run.ext_change or row.owner_job_id != self.job_id:
                self._reload(session, key)

    def _reload(self, session: Session, key: RunKey) -> None:
        """A user changed the run (clear, cancel): take the store's copy, keeping work still in flight."""
        row = session.get(DagRun, (key.dag_id, key.run_id))
        if row is None or row.state != RunState.RUNNING.value or row.owner_job_id != self.job_id:
            # ended, or adopted by another scheduler that took this one for dead
            stale = self.tracker.forget(key)
        else:
            views = run_store.load_task_views(session, key)
            run = active_run(row, self.specs.get(session, row.dag_id, row.version_hash), views)
            machines.attach(session, run, row.machine, row.run_data)
            stale = self.tracker.replace(run)
        for flight_key in stale:
            self.tracker.cancel(flight_key)

    def _start_queued(
        self, session: Session, queued: list[QueuedRun], batch: Batch, now: datetime, share: int, *, recheck_waiting: bool
    ) -> bool:
        """Start what `run_starts.start_queued` lets start, and drive those runs; returns whether
        runs that could start were left for the next poll."""
        started = run_starts.start_queued(
            session, queued, batch, now, specs=self.specs, feed=self.feed, driven=self.tracker.runs, owner=self.job_id,
            cap=min(share, START_PER_POLL), recheck_waiting=recheck_waiting,
        )
        for run in started.runs:
            self.tracker.track(run)
            self._started.append(run.key)
        return started.more
