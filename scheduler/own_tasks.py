"""Tasks the scheduler settles itself, without a worker: TriggerDagRunTask (scheduler/child_runs.py
settles it once its child run ended), ApprovalTask, WaitForEvent and deferrable sensors
(scheduler/waits.py settles them once decided, matched or fired), and tasks settled at once (an idempotency key's reuse).

This module keeps which of them are in progress, for those passes to look at, and makes the
outcomes that settle them; the tracker applies those like any try's end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.core.outcomes import SCHEDULER
from orchestrator.core.planner import TaskView
from orchestrator.core.states import TaskState
from orchestrator.execution.runtime import Outcome
from orchestrator.store.runs import RunKey

OwnTask = tuple[RunKey, str]


class OwnTasks:
    """The trigger and waiting tasks in progress in the runs one scheduler drives."""

    def __init__(self) -> None:
        # TriggerDagRunTask tries running in the scheduler itself
        self.triggering: set[OwnTask] = set()
        # ApprovalTask and WaitForEvent tries: all of them, those started since the waits' last
        # pass (to register) and those adopted from the store (to load)
        self.waiting: set[OwnTask] = set()
        self.started: set[OwnTask] = set()
        self.adopted: set[OwnTask] = set()

    def adopt(self, key: RunKey, task_id: str, task: Any, view: TaskView) -> None:
        """Take over a task found in progress in a run the tracker starts driving."""
        if view.state is TaskState.RUNNING and task.trigger is not None:
            self.triggering.add((key, task_id))
        if view.state in (TaskState.RUNNING, TaskState.WAITING) and task.wait is not None:
            # running: started, not yet registered as waiting; waiting: its request or wait is in the store
            self.waiting.add((key, task_id))
            (self.started if view.state is TaskState.RUNNING else self.adopted).add((key, task_id))

    def start_wait(self, key: RunKey, task_id: str) -> None:
        self.waiting.add((key, task_id))
        self.started.add((key, task_id))

    def forget(self, key: RunKey, task_id: str) -> None:
        """The task ended or its run is no longer driven here."""
        self.triggering.discard((key, task_id))
        self.forget_wait(key, task_id)

    def forget_wait(self, key: RunKey, task_id: str) -> None:
        self.waiting.discard((key, task_id))
        self.started.discard((key, task_id))
        self.adopted.discard((key, task_id))

    def take_started(self) -> list[OwnTask]:
        """The waiting tasks started since the last call, to register."""
        started, self.started = self.started, set()
        return sorted(started, key=_order)

    def take_adopted(self) -> list[OwnTask]:
        """The waiting tasks taken over from the store since the last call (a restart, a reload)."""
        adopted, self.adopted = self.adopted, set()
        return sorted(adopted, key=_order)


def _order(task: OwnTask) -> tuple[str, str, str]:
    return task[0].dag_id, task[0].run_id, task[1]


def settled_here(key: RunKey, task_id: str, try_number: int, status: str, now: datetime, **fields: Any) -> Outcome:
    """The outcome of a try that needs no worker, started and ended at once with `status` and
    `fields` (Outcome's); a failure's log is its error."""
    return Outcome(
        key=f"here:{key.dag_id}/{key.run_id}/{task_id}/{try_number}", task_id=task_id,
        try_number=try_number, status=status, start=now, end=now, worker=SCHEDULER,  # type: ignore[arg-type]
        **{"log": f"{fields.get('error')}\n" if status == "failed" else "", **fields},
    )


def wait_ended(
    key: RunKey, task_id: str, try_number: int, now: datetime, *, result: Any, error: str | None, error_type: str | None, log: str,
    skipped: bool = False,
) -> Outcome:
    """The outcome of a waiting task that ends: success with `result`, failed with `error`, or skipped."""
    return Outcome(
        key=f"wait:{key.dag_id}/{key.run_id}/{task_id}/{try_number}", task_id=task_id, try_number=try_number,
        status="skipped" if skipped else "success" if error is None else "failed", end=now, worker=SCHEDULER, result=result, error=error, log=log,
        error_type=error_type,
    )
