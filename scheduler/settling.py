"""The tries the scheduler starts and settles itself, without a worker: trigger tasks, waiting
tasks (approvals, events, deferred sensors) and tasks whose idempotency key already succeeded.

`SettlingHere` is a part of `scheduler.tracker.RunTracker`, kept apart as the seam it is: it
moves tasks through the tracker's own steps (`_mark_running`, `_complete`), so each such try
is recorded and settled like one a worker ran.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.core.outcomes import SCHEDULER
from orchestrator.core.planner import Submit
from orchestrator.core.states import TaskState
from orchestrator.execution.runtime import Outcome
from orchestrator.store.runs import Batch, RunKey
from scheduler.active_runs import ActiveRun
from scheduler.flights import Flight
from scheduler.keyed import KeyBook, reused_event
from scheduler.own_tasks import OwnTasks, settled_here, wait_ended


class SettlingHere:
    """The tracker's methods for tries settled in the scheduler (see the module's docstring)."""

    # the tracker's parts these methods use
    runs: dict[RunKey, ActiveRun]
    own: OwnTasks
    keys: KeyBook
    admission: Any
    _retries: dict[tuple[RunKey, str, int], datetime]
    _mark_running: Any
    _complete: Any
    _note_retry: Any
    _mark_dirty: Any

    @property
    def triggering(self) -> set[tuple[RunKey, str]]:
        """TriggerDagRunTask tries running in the scheduler itself: scheduler/child_runs.py settles them."""
        return self.own.triggering

    @property
    def waiting(self) -> set[tuple[RunKey, str]]:
        """ApprovalTask, WaitForEvent and deferrable sensor tries, settled by scheduler/waits.py."""
        return self.own.waiting

    @property
    def waits_started(self) -> set[tuple[RunKey, str]]:
        """The waiting tasks started since scheduler/waits.py last registered them."""
        return self.own.started

    # -- tries started and ended in the scheduler itself ------------------------------------------
    def _start_here(self, run: ActiveRun, command: Submit, batch: Batch, now: datetime) -> None:
        """Start a try that the scheduler runs (or settles) itself, without a worker."""
        tid = command.task_id
        view = run.tasks[tid]
        batch.move_task(run.key, tid, view, TaskState.QUEUED, now, reason=command.reason, next_retry_at=None)
        self._retries.pop((run.key, tid, -1), None)
        self._mark_running(run, Flight(run.key, tid, view.try_number + 1), view, now, SCHEDULER, batch)

    def settle_trigger(self, key: RunKey, task_id: str, outcome: Outcome, batch: Batch, now: datetime) -> None:
        """A try the scheduler runs itself (a trigger task's, or one settled by its idempotency key)
        ended as `outcome` says: settled (retries included) like a try the executor reports."""
        self.own.triggering.discard((key, task_id))
        run = self.runs[key]
        view = run.tasks[task_id]
        self._complete(run, Flight(key, task_id, view.try_number), view, outcome, None, batch, now)
        self._note_retry(key, task_id, view)
        self._mark_dirty(key, task_id)

    def begin_waiting(self, key: RunKey, task_id: str, reason: str, batch: Batch, now: datetime) -> None:
        """An ApprovalTask's request, a WaitForEvent's wait or a deferred sensor's trigger is registered:
        the task waits, holding no slot."""
        batch.move_task(key, task_id, self.runs[key].tasks[task_id], TaskState.WAITING, now, reason=reason)

    def settle_wait(
        self, key: RunKey, task_id: str, batch: Batch, now: datetime, *, result: Any, error: str | None, error_type: str | None, log: str,
        skipped: bool = False,
    ) -> None:
        """A waiting task ends: success with `result`, failed with `error` (of `error_type`, which
        `on_failure` may route), or `skipped` (a deferred sensor's soft_fail), settled like a try the
        executor reports (conditional edges, error routing, compensation). It has no retries."""
        self.own.forget_wait(key, task_id)
        run = self.runs[key]
        view = run.tasks[task_id]
        outcome = wait_ended(
            key, task_id, view.try_number, now, result=result, error=error, error_type=error_type, log=log, skipped=skipped,
        )
        self._complete(run, Flight(key, task_id, view.try_number), view, outcome, None, batch, now)
        if view.state is TaskState.FAILED and isinstance(result, dict):
            # what was decided stays on record, beside the failure record that on_failure routing reads
            # (the batch writes the view as it is at commit)
            view.result = {**result, **(view.result or {})}
        self._mark_dirty(key, task_id)

    def take_started_waits(self) -> list[tuple[RunKey, str]]:
        """The waiting tasks started since the last call, to register."""
        return self.own.take_started()

    def take_adopted_waits(self) -> list[tuple[RunKey, str]]:
        """The waiting tasks taken over from the store since the last call (a restart, a reload)."""
        return self.own.take_adopted()

    # -- idempotency keys (scheduler/keyed.py) ---------------------------------------------------
    def _settle_keyed(self, run: ActiveRun, commands: list[Any], batch: Batch, now: datetime) -> set[str]:
        """Tasks with an idempotency key about to be submitted: settled here when their key already
        succeeded (or cannot be rendered). Returns the ids of the tasks not to submit."""
        verdict = self.keys.judge(run, commands)
        if verdict is None:
            return set()
        for command, exc in verdict.unrendered:
            self._settle_here(run, command, "failed", batch, now, error=str(exc), error_type=type(exc).__name__)
        if verdict.held:
            self.admission.held.setdefault(run.key, set()).update(verdict.held)
        for command, record in verdict.reused:
            self._settle_here(run, command, "success", batch, now, result=record.result, log=record.describe() + "\n")
            batch.events.append(reused_event(run.key, command.task_id, run.tasks[command.task_id].try_number, record, now))
        return verdict.not_submitted

    def _settle_here(self, run: ActiveRun, command: Submit, status: str, batch: Batch, now: datetime, **fields: Any) -> None:
        """A try that needs no worker: started and ended at once with `status` and `fields` (Outcome's)."""
        self._start_here(run, command, batch, now)
        try_number = run.tasks[command.task_id].try_number
        self.settle_trigger(run.key, command.task_id, settled_here(run.key, command.task_id, try_number, status, now, **fields), batch, now)
