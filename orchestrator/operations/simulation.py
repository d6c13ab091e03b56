"""Simulation (seed 004's dry run): walk a run of a DAG without executing any task.

Each try's outcome comes from `Outcomes` (success by default; a failure with an error type, a
branch's choice, an approval's decision, an event's arrival, after a simulated duration). The walk
is the scheduler's own decisions on a virtual clock: `orchestrator.core.planner.plan_run` says what to
submit, settle, expand and gather, `orchestrator.core.outcomes.end_try` what each try's end changes
(retry policy, error routing, conditional edges, loops), `orchestrator.core.approvals.escalate` what
falls due on an open approval request, and the store's `Batch` applies every state change in
memory, checked against the state machine and recorded as the events a real run records. Nothing
is written anywhere.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.core.approval_escalation import escalate, next_due
from orchestrator.core.approvals import ApprovalSpec, failure
from orchestrator.core.approvals import Outcome as ApprovalOutcome
from orchestrator.core.approvals import result as approval_result
from orchestrator.core.errors import OrchestratorError, TaskTimeoutError
from orchestrator.core.event_waits import TIMEOUT_ERROR_TYPE, EventWaitSpec
from orchestrator.core.outcomes import SCHEDULER, Ended, end_try
from orchestrator.core.planner import Expand, FinishRun, Gather, Hold, Settle, Submit, TaskView, plan_run
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import RunState, TaskState
from orchestrator.execution.runtime import Outcome
from orchestrator.store.clearing import reset_task
from orchestrator.store.runs import Batch, RunKey

SIMULATED = "simulated"
"""The worker of a simulated try (and the run id of a simulated run)."""

MAX_STEPS = 100_000
"""A walk that takes more try ends than this stops (a loop that never ends under its outcomes)."""


MAX_SECONDS = 10 * 366 * 86400.0
"""The longest simulated duration or delay (ten years)."""


class SimulationInputError(OrchestratorError):
    """The outcomes given to a simulation are not valid; the message names the field."""


class TryOutcome(BaseModel):
    """How one simulated try of a task ends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["success", "failed"] = "success"
    error_type: str = Field(default="Exception", description="a failure's exception class name (retry_on, on_failure routes)")
    error_bases: tuple[str, ...] = Field(default=(), description="its base classes' names")
    error_code: str | None = Field(default=None, max_length=200, description="a failure's error code (on_failure routes by errorCode)")
    error: str | None = Field(default=None, description="a failure's message")
    result: Any = Field(default=None, description="what a success returns (conditional edges, mapping, loop controllers read it)")
    follow: tuple[str, ...] | None = Field(default=None, description="a branch's choice: the direct downstream tasks to follow")
    duration: float = Field(default=0.0, ge=0, le=MAX_SECONDS, description="seconds the try runs")
    decision: Literal["approve", "reject", "request_changes"] | None = Field(
        default=None, description="an ApprovalTask's decision (none: nobody decides; escalation and timeout apply)"
    )
    event: dict[str, Any] | None = Field(default=None, description="a WaitForEvent's arriving event payload (none: no event comes)")
    after: float = Field(default=0.0, ge=0, le=MAX_SECONDS, description="seconds until the decision or the event comes")


class Outcomes(BaseModel):
    """Every task's outcome: `tasks` by task_id (one outcome, or one per try, the last repeating),
    `default` for the others (success)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: TryOutcome = TryOutcome()
    tasks: dict[str, TryOutcome | list[TryOutcome]] = Field(default_factory=dict)

    def of(self, task_id: str, try_number: int) -> TryOutcome:
        """The outcome of try `try_number` (1-based) of `task_id`."""
        given = self.tasks.get(task_id, self.default)
        if isinstance(given, list):
            return given[min(try_number, len(given)) - 1] if given else self.default
        return given


def parse_outcomes(raw: Mapping[str, Any] | None, spec: DagSpec) -> Outcomes:
    """Outcomes from JSON/YAML data; SimulationInputError names each wrong field or unknown task."""
    try:
        outcomes = Outcomes.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SimulationInputError(f"the simulation's outcomes are not valid: {problems}") from None
    unknown = sorted(set(outcomes.tasks) - set(spec.task_map))
    if unknown:
        raise SimulationInputError(f"the outcomes name tasks that DAG {spec.dag_id!r} does not have: {', '.join(unknown)}")
    return outcomes


@dataclass
class SimulatedRun:
    """The run the planner and `end_try` read (orchestrator.core.outcomes.RunView)."""

    key: RunKey
    spec: DagSpec
    tasks: dict[str, TaskView]
    conf: dict[str, Any]
    logical_date: datetime | None

    @property
    def params(self) -> dict[str, Any]:
        return {**self.spec.params, **self.conf}


@dataclass
class Simulation:
    """What a simulated run did."""

    state: str
    started: datetime
    ended: datetime | None
    path: list[dict[str, Any]] = field(default_factory=list)
    """Each try, in the order it started: task_id, map_index, try_number, start, end, status."""
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    retries: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    stalled: str | None = None
    """Why the walk stopped before the run ended (a wait nobody settles), if it did."""

    def as_dict(self) -> dict[str, Any]:
        iso = _iso
        return {
            "state": self.state, "started": iso(self.started), "ended": iso(self.ended), "stalled": self.stalled,
            "path": [{**p, "start": iso(p["start"]), "end": iso(p["end"])} for p in self.path],
            "tasks": self.tasks,
            "retries": [{**r, "failed_at": iso(r["failed_at"]), "retry_at": iso(r["retry_at"])} for r in self.retries],
            "escalations": [{**e, "at": iso(e["at"])} for e in self.escalations],
            "deadlines": [{**d, "at": iso(d["at"])} for d in self.deadlines],
            "events": [
                {k: iso(v) if isinstance(v, datetime) else v for k, v in e.items() if k not in ("dag_id", "run_id")} for e in self.events
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(order=True)
class _Ending:
    at: datetime
    seq: int
    task_id: str = field(compare=False)
    map_index: int = field(compare=False)
    try_number: int = field(compare=False)
    outcome: Outcome = field(compare=False)


class _Walk:
    """One simulated run on a virtual clock: the scheduler's decisions, the outcomes' answers."""

    def __init__(self, spec: DagSpec, outcomes: Outcomes, conf: dict[str, Any], start: datetime) -> None:
        self.run = SimulatedRun(
            RunKey(spec.dag_id, SIMULATED), spec, {t.task_id: TaskView(max_tries=t.retries + 1) for t in spec.tasks}, conf, start,
        )
        self.outcomes = outcomes
        self.batch = Batch()
        self.now = start
        self.sim = Simulation(RunState.RUNNING.value, start, None)
        self.endings: list[_Ending] = []
        self.seq = itertools.count()
        self.state = RunState.RUNNING

    def walk(self) -> Simulation:
        self.batch.move_run(self.run.key, RunState.QUEUED, RunState.RUNNING, self.now, start_date=self.now)
        for _ in range(MAX_STEPS):
            if self._plan():
                self.sim.state, self.sim.ended = self.state.value, self.now
                break
            due = min((v.next_retry_at for v in self._views() if v.state is TaskState.UP_FOR_RETRY and v.next_retry_at), default=None)
            if self.endings and (due is None or self.endings[0].at <= due):
                self._end(heapq.heappop(self.endings))
            elif due is not None:
                self.now = max(self.now, due)
            else:
                waiting = [tid for tid, v in self.run.tasks.items() if v.state is TaskState.WAITING]
                self.sim.stalled = f"{', '.join(waiting) or 'the run'} waits for what no outcome brings"
                break
        else:
            self.sim.stalled = f"the walk took more than {MAX_STEPS} try ends (a loop that never ends under these outcomes?)"
        self.sim.tasks = {
            tid: {"state": v.state.value, "try_number": v.try_number, "result": v.result,
                  **({"instances": [{"state": i.state.value, "try_number": i.try_number} for i in v.instances]} if v.instances else {})}
            for tid, v in self.run.tasks.items()
        }
        self.sim.events = [dict(e) for e in self.batch.events]
        return self.sim

    def _views(self) -> list[TaskView]:
        return [i for v in self.run.tasks.values() for i in (v.instances or [v])]

    def _plan(self) -> bool:
        """Apply the planner's commands at `now`; True once the run finished."""
        key, spec = self.run.key, self.run.spec
        for command in plan_run(spec, self.run.tasks, self.now, chains=False):
            if isinstance(command, Expand):
                self.batch.expand(key, command.task_id, self.run.tasks[command.task_id], command.count, spec.task_map[command.task_id].retries + 1, self.now)
            elif isinstance(command, Submit):
                self._start(command)
            elif isinstance(command, Settle):
                view = self.run.tasks[command.task_id]
                if command.state is TaskState.FAILED:  # a mapped task whose input cannot be mapped, as the tracker records it
                    self.batch.move_task(key, command.task_id, view, TaskState.QUEUED, self.now, reason="its input is known: expanding it")
                self.batch.move_task(key, command.task_id, view, command.state, self.now, reason=command.reason)
            elif isinstance(command, Gather):
                view = self.run.tasks[command.task_id]
                self.batch.move_task(key, command.task_id, view, command.state, self.now, reason=command.reason, end_date=self.now,
                                     result=[i.result for i in view.instances])
            elif isinstance(command, FinishRun):
                self.batch.move_run(key, self.state, command.state, self.now, end_date=self.now)
                self.state = command.state
                return True
            else:  # pragma: no cover - no admission in a simulation, so nothing is held
                assert not isinstance(command, Hold)
        return False

    def _start(self, command: Submit) -> None:
        """The try starts now; its end is queued at the time its outcome says."""
        key, task = self.run.key, self.run.spec.task_map[command.task_id]
        view = self.run.tasks[command.task_id]
        if command.map_index >= 0:
            view = view.instances[command.map_index]
        try_number = view.try_number + 1
        worker = SCHEDULER if task.wait is not None or task.trigger is not None else SIMULATED
        self.batch.move_task(key, task.task_id, view, TaskState.QUEUED, self.now, reason=command.reason, next_retry_at=None, map_index=command.map_index)
        self.batch.move_task(key, task.task_id, view, TaskState.RUNNING, self.now, map_index=command.map_index,
                             try_number=try_number, start_date=self.now, end_date=None, worker=worker)
        given = self.outcomes.of(task.task_id, try_number)
        self.sim.path.append({"task_id": task.task_id, "map_index": command.map_index, "try_number": try_number, "start": self.now,
                              "end": None, "status": None})
        if isinstance(task.wait, ApprovalSpec):
            self.batch.move_task(key, task.task_id, view, TaskState.WAITING, self.now, reason="waiting for an approval decision")
            at, outcome = self._approval(task.task_id, task.wait, given, try_number)
        elif isinstance(task.wait, EventWaitSpec):
            self.batch.move_task(key, task.task_id, view, TaskState.WAITING, self.now, reason=f"waiting for a {task.wait.type} event")
            at, outcome = self._event(task.task_id, task.wait, given, try_number)
        else:
            at, outcome = self._try(task.task_id, task.execution_timeout_s, given, try_number, worker)
        if outcome is not None and at is not None:
            heapq.heappush(self.endings, _Ending(at, next(self.seq), task.task_id, command.map_index, try_number, outcome))

    def _outcome(self, task_id: str, try_number: int, end: datetime, worker: str, **fields: Any) -> Outcome:
        return Outcome(key=f"simulated/{task_id}/{try_number}", task_id=task_id, try_number=try_number, start=self.now, end=end,
                       worker=worker, **fields)

    def _try(self, task_id: str, timeout_s: float | None, given: TryOutcome, try_number: int, worker: str) -> tuple[datetime, Outcome]:
        if timeout_s is not None:
            at = self.now + timedelta(seconds=timeout_s)
            missed = given.duration > timeout_s
            self.sim.deadlines.append({"task_id": task_id, "try_number": try_number, "kind": "execution_timeout", "at": at, "missed": missed})
            if missed:
                bases = tuple(c.__name__ for c in TaskTimeoutError.__mro__[1:] if c not in (BaseException, object))
                return at, self._outcome(task_id, try_number, at, worker, status="failed", error_type=TaskTimeoutError.__name__,
                                         error_bases=bases, error=f"the task ran longer than its execution_timeout of {timeout_s:g} s")
        end = self.now + timedelta(seconds=given.duration)
        if given.status == "failed":
            return end, self._outcome(task_id, try_number, end, worker, status="failed", error_type=given.error_type,
                                      error_bases=given.error_bases, error_code=given.error_code, error=given.error or f"{given.error_type} (simulated)")
        return end, self._outcome(task_id, try_number, end, worker, status="success", result=given.result, follow=given.follow)

    def _approval(self, task_id: str, spec: ApprovalSpec, given: TryOutcome, try_number: int) -> tuple[datetime | None, Outcome | None]:
        """The decision comes `after` seconds, unless an escalation step or the timeout settles it first."""
        requested = self.now
        decided_at = requested + timedelta(seconds=given.after) if given.decision else None
        approvers, applied = spec.approvers, 0
        if spec.timeout is not None:
            at = requested + timedelta(seconds=spec.timeout)
            self.sim.deadlines.append({"task_id": task_id, "try_number": try_number, "kind": "approval_timeout", "at": at,
                                       "missed": decided_at is None or decided_at >= at})
        settled: tuple[datetime, ApprovalOutcome, str] | None = None
        while (due := next_due(spec, requested, applied)) is not None and (decided_at is None or due <= decided_at):
            done = escalate(spec, approvers, requested, applied, due)
            for step in done.steps:
                self.sim.escalations.append({"task_id": task_id, "try_number": try_number, "at": due, "step": step.number,
                                             "action": step.escalate.action.value, "to": list(step.to), "describe": step.describe()})
            approvers, applied = done.approvers, done.applied
            if done.outcome is not None:
                settled = (due, *done.outcome)
                break
        if settled is None and decided_at is not None and given.decision is not None:
            verdict = {"approve": ApprovalOutcome.APPROVED, "reject": ApprovalOutcome.REJECTED,
                       "request_changes": ApprovalOutcome.CHANGES_REQUESTED}[given.decision]
            settled = (decided_at, verdict, f"{verdict.value} (simulated)")
        if settled is None:
            return None, None
        at, verdict, reason = settled
        error_type = failure(spec, verdict)
        return at, self._outcome(task_id, try_number, at, SCHEDULER, status="success" if error_type is None else "failed",
                                 result=approval_result(verdict, reason, (), 0), error=None if error_type is None else reason,
                                 error_type=error_type)

    def _event(self, task_id: str, spec: EventWaitSpec, given: TryOutcome, try_number: int) -> tuple[datetime | None, Outcome | None]:
        """The event comes `after` seconds, unless the wait's timeout comes first."""
        arrives = self.now + timedelta(seconds=given.after) if given.event is not None else None
        if spec.timeout is not None:
            at = self.now + timedelta(seconds=spec.timeout)
            self.sim.deadlines.append({"task_id": task_id, "try_number": try_number, "kind": "event_timeout", "at": at,
                                       "missed": arrives is None or arrives > at})
            if arrives is None or arrives > at:
                error = f"no {spec.type} event came within {timedelta(seconds=round(spec.timeout))} (the timeout)"
                return at, self._outcome(task_id, try_number, at, SCHEDULER, status="failed", error=error, error_type=TIMEOUT_ERROR_TYPE)
        if arrives is None:
            return None, None
        return arrives, self._outcome(task_id, try_number, arrives, SCHEDULER, status="success", result=given.event)

    def _end(self, ending: _Ending) -> None:
        """A try ends: `end_try` decides, the batch applies (as the tracker's `_apply` does)."""
        self.now = max(self.now, ending.at)
        key, tid, index = self.run.key, ending.task_id, ending.map_index
        view = self.run.tasks[tid] if index < 0 else self.run.tasks[tid].instances[index]
        changes = end_try(self.run, tid, ending.try_number, Ended(ending.outcome), self.now, map_index=index)
        for move in changes.moves:
            self.batch.move_task(key, tid, view, move.to, move.at, reason=move.reason, map_index=index, **move.changes)
            if move.to is TaskState.UP_FOR_RETRY:
                self.sim.retries.append({"task_id": tid, "map_index": index, "try_number": ending.try_number, "failed_at": move.at,
                                         "retry_at": move.changes["next_retry_at"], "error": ending.outcome.error})
        for step in reversed(self.sim.path):
            if (step["task_id"], step["map_index"], step["try_number"]) == (tid, index, ending.try_number):
                step["end"], step["status"] = ending.outcome.end, ending.outcome.status
                break
        for note in changes.events:
            self.batch.events.append({"kind": note.kind, "at": note.at, "task_id": note.task_id, "try_number": note.try_number,
                                      "reason": note.reason, "payload": dict(note.payload)})
        if changes.repeat is not None:
            repeat, task = changes.repeat, self.run.spec.task_map[tid]
            for member in repeat.tasks:
                reset_task(self.batch, key, member, self.run.tasks[member], self.run.spec.task_map[member].retries, repeat.at, reason=repeat.reason)
            reset_task(self.batch, key, tid, self.run.tasks[tid], task.retries, repeat.at, reason=repeat.reason, result={"iteration": repeat.iteration})


def simulate(spec: DagSpec, outcomes: Outcomes, *, conf: Mapping[str, Any] | None = None, start: datetime) -> Simulation:
    """Walk a run of `spec` with `conf` from `start` on a virtual clock, each try ending as `outcomes` says.
    A state machine is refused: its path depends on the events sent to it, which outcomes do not describe."""
    if spec.machine is not None:
        raise SimulationInputError(
            f"DAG {spec.dag_id!r} is a state machine: simulation walks DAGs only. Feed events to the pure core "
            "(orchestrator.core.machine.start/react/advance) to see where a sequence of events leads"
        )
    try:
        return _Walk(spec, outcomes, dict(conf or {}), start).walk()
    except OverflowError:
        raise SimulationInputError(f"the simulated clock, started at {start.isoformat()}, runs past the year 9999: start earlier") from None
