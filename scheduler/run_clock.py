"""The times of the runs this scheduler drives: `dagrun_timeout` and deadlines.

When the tracker takes a run, its timeout and its deadlines (the DAG's and its tasks') go into a
due list (orchestrator.core.deadlines.DueList, a heap); each pass takes only the entries that fell
due, and the loop sleeps no longer than the next one. Nothing scans the runs.

- A run past its `dagrun_timeout` fails as if a user marked it failed: started tasks failed,
  the others skipped, its work in flight cancelled, its on_failure_callback called.
- A run or task unfinished at its deadline is late: a `deadline.missed` event (with whom to
  notify) is appended in the pass's batch, its `on_deadline_miss` is called, and once the event
  is committed the listener thread hands it to the `orchestrator_on_deadline_missed` hook
  (the notify plugin's e-mail and webhook). A miss is recorded once per run and task, also
  across a scheduler restart (`recorded` asks the event log, an indexed read per miss).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from orchestrator.core.deadlines import Due, DueList, Watch, due_at, late
from orchestrator.core.states import TASK_TERMINAL, RunState
from orchestrator.store import events as event_store
from orchestrator.store.run_controls import fail_timed_out_run
from orchestrator.store.runs import Batch, RunKey
from scheduler.active_runs import ActiveRun
from scheduler.tracker import RunTracker
from scheduler.work import Dispatch

log = logging.getLogger(__name__)

Recorded = Callable[[Watch], bool]
"""Whether the event log already holds the miss of this watch (a restarted scheduler's run)."""


class RunClock:
    """The due list of the tracked runs' timeouts and deadlines, and what falls due does."""

    def __init__(self, tracker: RunTracker, cancel: Callable[[str], None], recorded: Recorded) -> None:
        self.tracker = tracker
        self.cancel = cancel
        self.recorded = recorded
        self.due: DueList = DueList()

    def watch(self, run: ActiveRun) -> None:
        """Put the run's timeout and deadlines in the due list (the tracker calls it for each run it
        takes; a run taken again after a reload is in it twice, harmlessly: see `tick`)."""
        spec = run.spec
        if spec.dagrun_timeout_s is not None and run.start_date is not None:
            self.due.push(run.start_date + timedelta(seconds=spec.dagrun_timeout_s), Watch(*run.key, "timeout"))
        deadlines = [(None, spec.deadline)] + [(t.task_id, t.deadline) for t in spec.tasks if t.deadline is not None]
        for task_id, deadline in deadlines:
            if deadline is None:
                continue
            at = due_at(deadline, run.logical_date, run.start_date)
            if at is not None:
                self.due.push(at, Watch(*run.key, "deadline", task_id))

    def next_due(self) -> datetime | None:
        return self.due.next_due()

    def tick(self, batch: Batch, now: datetime) -> list[Dispatch]:
        """Act on what fell due at `now`; returns callback work to submit after the commit."""
        dispatches: list[Dispatch] = []
        seen: set[Watch] = set()
        for due in late(self.due.take_due(now), self._finished):
            watch: Watch = due.item
            if watch in seen or RunKey(watch.dag_id, watch.run_id) not in self.tracker.runs:
                continue  # the same entry twice, or a run this pass timed out
            seen.add(watch)
            run = self.tracker.runs[RunKey(watch.dag_id, watch.run_id)]
            if watch.kind == "timeout":
                dispatches.extend(self._time_out(run, batch, now))
            elif not self.recorded(watch):
                dispatches.extend(self._miss(run, watch, due, batch, now))
        return dispatches

    def _finished(self, watch: Watch) -> bool | None:
        run = self.tracker.runs.get(RunKey(watch.dag_id, watch.run_id))
        if run is None:
            return None
        if watch.task_id is None:
            return False  # a tracked run has not ended
        view = run.tasks.get(watch.task_id)
        return view is not None and view.state in TASK_TERMINAL

    def _time_out(self, run: ActiveRun, batch: Batch, now: datetime) -> list[Dispatch]:
        limit = timedelta(seconds=run.spec.dagrun_timeout_s or 0)
        reason = f"the run exceeded its dagrun_timeout ({limit})"
        log.info("run %s/%s: %s", run.key.dag_id, run.key.run_id, reason)
        fail_timed_out_run(batch, run.key, run.tasks, now, reason)
        for key in self.tracker.forget(run.key):
            self.cancel(key)
        run.state = RunState.FAILED
        return self.tracker.callbacks.work(run)

    def _miss(self, run: ActiveRun, watch: Watch, due: Due, batch: Batch, now: datetime) -> list[Dispatch]:
        deadline = run.spec.deadline if watch.task_id is None else run.spec.task_map[watch.task_id].deadline
        assert deadline is not None
        what = "run" if watch.task_id is None else f"task {watch.task_id}"
        row = event_store.deadline_missed(
            watch.dag_id, watch.run_id, now, task_id=watch.task_id, deadline=due.at,
            reason=f"the {what} had not finished {timedelta(seconds=deadline.after_s)} after its {deadline.reference.replace('_', ' ')}",
        )
        row["payload"]["notify"] = [t.model_dump(exclude_none=True) for t in deadline.notify]
        batch.events.append(row)
        log.info("run %s/%s: the %s missed its deadline (%s)", watch.dag_id, watch.run_id, what, due.at.isoformat())
        return self.tracker.callbacks.deadline_work(run, watch.task_id)
