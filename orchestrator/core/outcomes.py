"""What the end of a try does: the scheduler's pure decision (STYLE.md, functional core).

`end_try` takes a run's state and one event about one try -- it ended (`Ended`), it was lost
with its worker (`Lost`), or it never ran because a chained upstream did not succeed (`NotRun`)
-- and returns every change that follows, as plain values: the task's state changes, the try's
row, the events beyond state changes, and the follow-ups (the breaker's call, how long it ran,
the assets it updated, the idempotency key it succeeded with, a loop's next iteration).
They are named tuples: immutable, and cheap to make for every try's end (a frozen dataclass costs
several times as much to build).

It reads no clock, store or executor and changes nothing it is given: the run tracker
(scheduler/tracker.py) applies the changes to one `Batch` and plans what comes next.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from orchestrator.core.edges import follow_edges
from orchestrator.core.error_routing import error_names
from orchestrator.core.idempotency import IdempotencyKeyError, render_key
from orchestrator.core.planner import TaskView
from orchestrator.core.retry import may_retry
from orchestrator.core.settlement import loop_iteration, settle_outcome
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import TASK_TERMINAL, TaskState
from orchestrator.core.templating import run_scope

if TYPE_CHECKING:  # types only: deciding needs neither the worker's runtime nor the store
    from orchestrator.execution.runtime import Outcome
    from orchestrator.store.runs import RunKey

SCHEDULER = "scheduler"
"""The `worker` of a try the scheduler runs or settles itself (a trigger task, an idempotency key's reuse)."""

MAX_LOSSES = 3
"""A task whose tries were lost with their worker this many times fails (it may be what kills it)."""


class RunView(Protocol):
    """What `end_try` reads of a run (scheduler.active_runs.ActiveRun)."""

    key: RunKey
    spec: DagSpec
    tasks: dict[str, TaskView]
    conf: dict[str, Any]
    logical_date: datetime | None

    @property
    def params(self) -> dict[str, Any]: ...


# -- events ------------------------------------------------------------------------------------
class Ended(NamedTuple):
    """The try ran to its end (or the scheduler settled it), as `outcome` says."""

    outcome: Outcome
    decision: tuple[bool, float | None] | None = None
    """A plugin's retry decision for a failed try that may retry (see `retry_question`)."""


class Lost(NamedTuple):
    """The executor lost the try with its worker, `losses` tries of the task having been lost before."""

    error: str
    losses: int = 0


class NotRun(NamedTuple):
    """The try never ran: a chained upstream did not succeed. `at`: when that was known, if said."""

    at: datetime | None = None


TryEvent = Ended | Lost | NotRun


# -- changes -----------------------------------------------------------------------------------
class Move(NamedTuple):
    """A task's state change (Batch.move_task), with the fields of its view that change along.
    Every move of `Changes.moves` is of the try's own task (or mapped instance)."""

    task_id: str
    to: TaskState
    at: datetime
    reason: str | None = None
    map_index: int = -1
    changes: Mapping[str, Any] = MappingProxyType({})


class TryStarted(NamedTuple):
    """A try row to insert, running: a try whose end came before its start was reported."""

    task_id: str
    try_number: int
    at: datetime
    worker: str | None
    map_index: int = -1


class TryClosed(NamedTuple):
    """A try row's end: `values` are the columns that change (state, end_date, error, ...)."""

    task_id: str
    try_number: int
    values: Mapping[str, Any]
    map_index: int = -1


class Note(NamedTuple):
    """An event of the run beyond its state changes (a loop controller's decision)."""

    kind: str
    at: datetime
    task_id: str
    try_number: int
    reason: str | None
    payload: Mapping[str, Any]


class BreakerCall(NamedTuple):
    """What the try tells the task's circuit breaker: a call that `succeeded` (True/False),
    or None: no call was made, so a probe it held is released."""

    succeeded: bool | None
    at: datetime


class KeySucceeded(NamedTuple):
    """A task with an idempotency key succeeded: the key is recorded with the try's result."""

    key: str
    try_number: int
    result: Any
    at: datetime


class KeyUnrendered(NamedTuple):
    """A task succeeded but its idempotency key cannot be rendered: nothing is recorded."""

    error: str


class Repeat(NamedTuple):
    """A loop controller said "not done": `tasks` (the group's finished ones) go back to pending,
    then the controller with `iteration` as its result."""

    tasks: tuple[str, ...]
    iteration: int
    reason: str
    at: datetime


class Changes(NamedTuple):
    """Everything one try event changes, in the order it is applied: moves, try rows, the breaker's
    call, the task's outlets, its idempotency key, events, then the loop's repeat."""

    moves: tuple[Move, ...] = ()
    tries: tuple[TryStarted | TryClosed, ...] = ()
    breaker: BreakerCall | None = None
    busy_s: float | None = None
    """How long the callable ran, to learn whether tasks like it are tiny (orchestrator.execution.packing)."""
    outlets: datetime | None = None
    """When the task's outlets (its assets) were updated, if they were: with its success."""
    key: KeySucceeded | KeyUnrendered | None = None
    events: tuple[Note, ...] = ()
    repeat: Repeat | None = None
    lost: bool = False
    """The try was lost with its worker (it counts towards MAX_LOSSES)."""


# -- the decision ------------------------------------------------------------------------------
def retry_question(view: TaskView, try_number: int, outcome: Outcome) -> int | None:
    """The try number to ask the plugins' retry decision about (`Ended.decision`), if try
    `try_number` of the task `view` shows ends as `outcome`: a failure its tries allow to retry."""
    tried = try_number if view.state is TaskState.QUEUED else view.try_number
    return tried if outcome.status == "failed" and may_retry(tried, view.max_tries) else None


def end_try(run: RunView, task_id: str, try_number: int, event: TryEvent, now: datetime, *, map_index: int = -1) -> Changes:
    """The changes that try `try_number` of `task_id` (instance `map_index` of a mapped task)
    ending as `event` says makes to `run`, whose views are as they were before it. `now` dates
    what the event does not."""
    view = run.tasks[task_id] if map_index < 0 else run.tasks[task_id].instances[map_index]
    if isinstance(event, NotRun):
        return Changes(
            moves=(Move(task_id, TaskState.PENDING, event.at or now, "a chained upstream did not succeed", map_index, {"key": None}),),
            breaker=BreakerCall(None, now),
        )
    if isinstance(event, Lost):
        return _lost(task_id, map_index, view, event, now)
    return _ended(run, task_id, try_number, map_index, view, event, now)


def _lost(task_id: str, map_index: int, view: TaskView, event: Lost, now: datetime) -> Changes:
    """One that never started goes back to be scheduled, using no try; one cut short ends failed
    and the task gets a new try, which is not one of its retries (MAX_LOSSES of them fail it)."""
    error, release = event.error, BreakerCall(None, now)
    if view.state is TaskState.QUEUED:
        move = Move(task_id, TaskState.SCHEDULED, now, f"{error}; it had not started", map_index, {"key": None})
        return Changes(moves=(move,), breaker=release)
    closed = TryClosed(task_id, view.try_number, {"state": TaskState.FAILED.value, "end_date": now, "error": error}, map_index)
    losses = event.losses + 1
    if losses >= MAX_LOSSES:
        why = f"{error}; its tries were lost {losses} times, so the task itself may be what kills its worker"
        move = Move(task_id, TaskState.FAILED, now, why, map_index, {"end_date": now, "key": None})
    else:
        move = Move(task_id, TaskState.SCHEDULED, now, f"{error}; it gets a new try", map_index, {"max_tries": view.max_tries + 1, "key": None})
    return Changes(moves=(move,), tries=(closed,), breaker=release, lost=True)


def _ended(run: RunView, task_id: str, try_number: int, map_index: int, view: TaskView, event: Ended, now: datetime) -> Changes:
    task = run.spec.task_map[task_id]
    outcome = event.outcome
    start = outcome.start or now
    end = outcome.end or start
    worker = outcome.worker
    moves: list[Move] = []
    tries: list[TryStarted | TryClosed] = []
    never_started = view.state is TaskState.QUEUED
    if never_started:
        # its start was never reported: it started when its outcome says
        moves.append(Move(task_id, TaskState.RUNNING, start, None, map_index, {
            "try_number": try_number, "start_date": start, "end_date": None, "worker": worker,
        }))
        tries.append(TryStarted(task_id, try_number, start, worker, map_index))
        # what settling reads of the view once that start is recorded (the view itself is not changed)
        view = TaskView(TaskState.RUNNING, try_number, view.max_tries, result=view.result)
    status, error = outcome.status, outcome.error
    busy_s = None
    if status in ("success", "failed") and worker != SCHEDULER:
        breaker = BreakerCall(status == "success", end)
        busy_s = outcome.busy_s if outcome.busy_s is not None else (end - start).total_seconds()
    else:
        breaker = BreakerCall(None, now)
    succeeded = status == "success"
    settlement = settle_outcome(  # a success reads neither error names nor a jitter seed: most tries skip making them
        task, view, status, end, error,
        error_types=() if succeeded else error_names(outcome.error_type, outcome.error_bases, outcome.error_code),
        seed=None if succeeded else f"{run.key.dag_id}/{run.key.run_id}/{task_id}" + (f"[{map_index}]" if map_index >= 0 else ""),
        decision=event.decision, result=outcome.result, started=start,
    )
    if status == "reschedule" and settlement.state is TaskState.FAILED:
        error = settlement.reason  # the sensor timed out: its try records why
    follow = outcome.follow if succeeded else None
    log = outcome.log
    if succeeded and task.next_conditions and map_index < 0:
        states = {tid: (v.state.value, v.result) for tid, v in run.tasks.items()}
        states[task_id] = (view.state.value, view.result)
        follow, notes = follow_edges(run.spec, task_id, outcome.result, run.params, states)
        log += "".join(f"{note}\n" for note in notes)
    moved: dict[str, Any] = {
        "end_date": end, "next_retry_at": settlement.next_retry_at, "key": None, "result": settlement.result, "follow": follow,
    }
    if settlement.state is TaskState.UP_FOR_RESCHEDULE:
        moved["max_tries"] = view.max_tries + 1  # a poke is a try, but not one of the task's retries
    moves.append(Move(task_id, settlement.state, end, settlement.reason, map_index, moved))
    tries.append(TryClosed(task_id, try_number, {
        "state": _try_state(status, settlement.state), "end_date": end, "error": error, "log": log,
        "worker": worker, **({"rendered": outcome.rendered} if outcome.rendered else {}),
    }, map_index))
    changes = Changes(moves=tuple(moves), tries=tuple(tries), breaker=breaker, busy_s=busy_s)
    if map_index >= 0:
        return changes
    settled = settlement.state is TaskState.SUCCESS
    if settled and task.outlets:
        changes = changes._replace(outlets=end)  # the assets' updates commit with the success itself
    if settled and task.idempotency_key is not None:
        try:
            changes = changes._replace(key=KeySucceeded(idempotency_key(run, task_id), try_number, settlement.result, end))
        except IdempotencyKeyError as exc:
            changes = changes._replace(key=KeyUnrendered(str(exc)))
    if task.loop is not None and settlement.state is not TaskState.UP_FOR_RETRY:
        payload = {"group_id": task.loop.group_id, "max_iterations": task.loop.max_iterations, **(settlement.result or {})}
        changes = changes._replace(events=(Note("loop.iteration", end, task_id, try_number, settlement.reason, payload),))
    if settlement.repeat:
        assert task.loop is not None
        following = loop_iteration(settlement.result) + 1
        finished = tuple(
            tid for tid in task.loop.tasks
            if (settlement.state if tid == task_id else run.tasks[tid].state) in TASK_TERMINAL
        )
        why = f"loop {task.loop.group_id}: iteration {following} of at most {task.loop.max_iterations}"
        changes = changes._replace(repeat=Repeat(finished, following, why, end))
    return changes


def _try_state(status: str, settled: TaskState) -> str:
    """The state a try row ends in: success or failed, a sensor's poke up_for_reschedule, a skip skipped."""
    if status == "success":
        return TaskState.SUCCESS.value
    if settled in (TaskState.UP_FOR_RESCHEDULE, TaskState.SKIPPED):
        return settled.value
    return TaskState.FAILED.value


def idempotency_key(run: RunView, task_id: str) -> str:
    """The task's idempotency key rendered for `run`; IdempotencyKeyError says why it cannot be."""
    template = run.spec.task_map[task_id].idempotency_key
    assert template is not None
    scope = run_scope(
        dag_id=run.key.dag_id, run_id=run.key.run_id, task_id=task_id, params=run.params, conf=run.conf, logical_date=run.logical_date,
    )
    return render_key(template, scope)
