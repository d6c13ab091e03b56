"""State-machine workflows: the code-free machine and the pure decisions on one run of it.

A machine has named states, each with `on_enter` and `on_exit` actions (tasks of the DAG, run on
Dask like any task) and an optional SLA; transitions move the run from one state to another when
an event arrives (`event`) or when an action ends (`on_action`, with its `outcome`), if their
guard holds. A guard is an orchestrator.core.expressions expression over:

- `data`: the run's data (`context.run_data`), `params`: the run's params;
- `event`: the event's payload (an empty dict for a transition on an action);
- `roles`: the roles of whoever sent the event (an empty list for an action);
- `result`: the action's result (None for an event), `state`: the current state's name.

The functions here (`start`, `react`, `advance`, `sla_due`, `miss_sla`) read no clock and no
database: they take the run's `MachineRun` and return a `Decision` that the scheduler applies
(scheduler/machines.py), which the API uses to refuse an event at once, and that replay uses to
rebuild a run from its events. Transitions are tried in `priority` order (higher first), then in
the order they were declared; the first whose guard holds is taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.core.errors import OrchestratorError
from orchestrator.core.expressions import EvaluationError, Expression, ExpressionError, compile_expression

GUARD_NAMES = ("data", "params", "event", "roles", "result", "state")
"""The names a guard may read."""

SLA_MISSED_EVENT = "sla_missed"
"""The event a missed state SLA sends to the machine: a transition on it escalates."""

# the event-log kinds of machine runs (written by the scheduler and the API, folded by orchestrator.core.replay)
SENT_KIND = "machine.event"
"""An event sent to a machine run: payload {"event", "payload", "roles"}."""
STATE_KIND = "machine.state"
"""The run entered a state: payload {"from", "to", "via", "guard"}; `reason` says which transition."""
REJECTED_KIND = "machine.rejected"
"""A sent event that no transition accepted by the time the scheduler took it."""
SLA_MISSED_KIND = "machine.sla_missed"
"""The run stayed in a state past its SLA: payload {"state", "due"}."""
CORRELATION_FIELD = "correlation_id"
"""The payload field of a sent event whose value becomes the run's correlation id, when it has none yet."""


class MachineError(OrchestratorError):
    """A machine definition is not valid: says which state or transition and why."""


class StateSpec(BaseModel):
    """One named state: the actions run on entering and leaving it, its SLA, whether the run ends there."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=200)
    on_enter: tuple[str, ...] = Field(default=(), description="task ids of the actions run when the state is entered")
    on_exit: tuple[str, ...] = Field(default=(), description="task ids of the actions run when the state is left")
    sla_s: float | None = Field(default=None, gt=0, description="the run should leave the state within this many seconds")
    final: bool = Field(default=False, description="the run ends (successfully) once it is here and its on_enter actions ended")


class TransitionSpec(BaseModel):
    """A move from `source` to `target` on an event, or on the end of an action; `guard` must hold."""

    model_config = ConfigDict(frozen=True)

    source: str
    target: str
    event: str | None = Field(default=None, description="the event name that triggers it")
    on_action: str | None = Field(default=None, description="the action (task id) whose end triggers it")
    outcome: Literal["success", "failed"] = Field(default="success", description="for on_action: how the action must end")
    guard: str | None = Field(default=None, description="an expression over data, params, event, roles, result, state")
    priority: int = 0

    @model_validator(mode="after")
    def _one_trigger(self) -> TransitionSpec:
        if (self.event is None) == (self.on_action is None):
            raise ValueError(f"transition {self.source!r} -> {self.target!r} needs exactly one of event= or on_action=")
        if self.guard is not None:
            try:
                compile_expression(self.guard, GUARD_NAMES)
            except ExpressionError as exc:
                raise ValueError(f"transition {self.source!r} -> {self.target!r}: guard {exc}") from None
        return self

    @property
    def trigger(self) -> str:
        """How the transition is triggered, for display: the event name or `action:outcome`."""
        return self.event if self.event is not None else f"{self.on_action}:{self.outcome}"

    @property
    def label(self) -> str:
        """The edge label in the graph: the trigger and, in brackets, the guard."""
        return self.trigger + (f" [{self.guard}]" if self.guard else "")


class MachineSpec(BaseModel):
    """A finite state machine: its states, the initial one and the transitions between them."""

    model_config = ConfigDict(frozen=True)

    initial: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> MachineSpec:
        names = [s.name for s in self.states]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"state {dupes[0]!r} is declared twice")
        if self.initial not in names:
            raise ValueError(f"the initial state {self.initial!r} is not one of the states {names}")
        actions = {a for s in self.states for a in (*s.on_enter, *s.on_exit)}
        for t in self.transitions:
            for end in (t.source, t.target):
                if end not in names:
                    raise ValueError(f"transition {t.source!r} -> {t.target!r}: {end!r} is not a state")
            if t.on_action is not None and t.on_action not in actions:
                raise ValueError(f"transition {t.source!r} -> {t.target!r}: on_action {t.on_action!r} is no state's action")
        return self

    @cached_property
    def state_map(self) -> dict[str, StateSpec]:
        return {s.name: s for s in self.states}

    @cached_property
    def actions(self) -> tuple[str, ...]:
        """Every action's task id, once each, in declaration order."""
        return tuple(dict.fromkeys(a for s in self.states for a in (*s.on_enter, *s.on_exit)))

    def transitions_from(self, state: str) -> list[TransitionSpec]:
        """The transitions leaving `state`, in the order they are tried."""
        found = [t for t in self.transitions if t.source == state]
        return sorted(found, key=lambda t: -t.priority)  # stable: declaration order among equals


@dataclass(frozen=True)
class MachineRun:
    """Where one run of a machine stands: what the scheduler keeps (dag_run.machine) and replay rebuilds."""

    state: str | None = None
    entered_at: datetime | None = None
    awaiting: tuple[str, ...] = ()
    """Actions dispatched and not yet ended: their ends may trigger transitions."""
    sla_missed: bool = False
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state, "entered_at": None if self.entered_at is None else self.entered_at.isoformat(),
            "awaiting": list(self.awaiting), "sla_missed": self.sla_missed, "finished": self.finished,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> MachineRun:
        if not value:
            return cls()
        entered = value.get("entered_at")
        return cls(
            state=value.get("state"), entered_at=None if entered is None else datetime.fromisoformat(entered),
            awaiting=tuple(value.get("awaiting") or ()), sla_missed=bool(value.get("sla_missed")),
            finished=bool(value.get("finished")),
        )


@dataclass(frozen=True)
class Moved:
    """The run moved from `source` (None at the start) to `target`; `via` names what triggered it."""

    source: str | None
    target: str
    via: str
    guard: str | None = None


@dataclass(frozen=True)
class Decision:
    """What to do about one input: the new `run`, the actions to run (exit actions of the state left,
    then entry actions of the state entered), and how the run ends, if it does.
    `accepted` is False when nothing moved; `reason` says why (or which transition was taken)."""

    run: MachineRun
    accepted: bool
    reason: str
    moved: Moved | None = None
    run_actions: tuple[str, ...] = ()
    finish: Literal["success", "failed"] | None = None
    guard_errors: tuple[str, ...] = field(default=())


def _guard(source: str) -> Expression:
    return compile_expression(source, GUARD_NAMES)


def _scope(run: MachineRun, data: Mapping[str, Any], params: Mapping[str, Any], event: Mapping[str, Any],
           roles: Sequence[str], result: Any) -> dict[str, Any]:
    return {"data": dict(data), "params": dict(params), "event": dict(event), "roles": list(roles), "result": result,
            "state": run.state}


def _pick(candidates: list[TransitionSpec], scope: Mapping[str, Any]) -> tuple[TransitionSpec | None, list[str]]:
    """The first candidate whose guard holds; a guard that fails on its data counts as false, and says why."""
    errors: list[str] = []
    for t in candidates:
        if t.guard is None:
            return t, errors
        try:
            if _guard(t.guard).holds(scope):
                return t, errors
        except EvaluationError as exc:
            errors.append(str(exc))
    return None, errors


def _finished(machine: MachineSpec, run: MachineRun) -> Literal["success"] | None:
    state = machine.state_map[run.state] if run.state is not None else None
    return "success" if state is not None and state.final and not run.awaiting else None


def start(machine: MachineSpec, now: datetime) -> Decision:
    """The run starts: it enters the initial state, whose entry actions run."""
    initial = machine.state_map[machine.initial]
    run = MachineRun(state=initial.name, entered_at=now, awaiting=initial.on_enter)
    finish = _finished(machine, run)
    return Decision(
        replace(run, finished=finish is not None), True, f"started in {initial.name!r}",
        moved=Moved(None, initial.name, "start"), run_actions=initial.on_enter, finish=finish,
    )


def _take(machine: MachineSpec, run: MachineRun, t: TransitionSpec, awaiting: tuple[str, ...], now: datetime, why: str,
          errors: list[str]) -> Decision:
    leaving, entering = machine.state_map[t.source], machine.state_map[t.target]
    actions = (*leaving.on_exit, *entering.on_enter)
    moved_run = MachineRun(
        state=entering.name, entered_at=now, awaiting=tuple(dict.fromkeys((*awaiting, *actions))), sla_missed=False,
    )
    # exit actions still running when the final state is entered are waited for too
    finish = _finished(machine, moved_run)
    return Decision(
        replace(moved_run, finished=finish is not None), True, why, moved=Moved(t.source, t.target, t.trigger, t.guard),
        run_actions=actions, finish=finish, guard_errors=tuple(errors),
    )


def react(
    machine: MachineSpec, run: MachineRun, event: str, payload: Mapping[str, Any] | None = None, *,
    data: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None, roles: Sequence[str] = (),
    now: datetime,
) -> Decision:
    """An event arrived: the first transition from the current state on `event` whose guard holds is taken."""
    if run.finished or run.state is None:
        return Decision(run, False, "the machine is not running" if run.state is None else f"the run ended in {run.state!r}")
    candidates = [t for t in machine.transitions_from(run.state) if t.event == event]
    if not candidates:
        known = sorted({t.event for t in machine.transitions_from(run.state) if t.event is not None})
        return Decision(run, False, f"no transition from {run.state!r} on event {event!r} (it accepts: {', '.join(known) or 'none'})")
    scope = _scope(run, data or {}, params or {}, payload or {}, roles, None)
    chosen, errors = _pick(candidates, scope)
    if chosen is None:
        guards = "; ".join(t.guard or "" for t in candidates)
        detail = f" ({'; '.join(errors)})" if errors else ""
        return Decision(run, False, f"event {event!r} in {run.state!r}: no guard holds: {guards}{detail}", guard_errors=tuple(errors))
    return _take(machine, run, chosen, run.awaiting, now, f"event {event!r}: {chosen.source!r} -> {chosen.target!r}", errors)


def advance(
    machine: MachineSpec, run: MachineRun, action: str, outcome: Literal["success", "failed"], result: Any = None, *,
    data: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None, now: datetime,
) -> Decision:
    """An action ended: a transition from the current state on it (and its outcome) whose guard holds
    is taken. A failed action that no transition handles fails the run."""
    awaiting = tuple(a for a in run.awaiting if a != action)
    after = replace(run, awaiting=awaiting)
    if run.finished or run.state is None:
        return Decision(after, False, f"action {action!r} ended after the run ended")
    candidates = [t for t in machine.transitions_from(run.state) if t.on_action == action and t.outcome == outcome]
    chosen, errors = _pick(candidates, _scope(run, data or {}, params or {}, {}, (), result))
    if chosen is not None:
        return _take(machine, after, chosen, awaiting, now, f"action {action!r} {outcome}: {chosen.source!r} -> {chosen.target!r}", errors)
    if outcome == "failed":
        return Decision(replace(after, finished=True), False, f"action {action!r} failed in {run.state!r} and no transition handles it",
                        finish="failed", guard_errors=tuple(errors))
    finish = _finished(machine, after)
    return Decision(replace(after, finished=finish is not None), False, f"action {action!r} ended; {run.state!r} stays",
                    finish=finish, guard_errors=tuple(errors))


def sla_due(machine: MachineSpec, run: MachineRun) -> datetime | None:
    """When the current state's SLA is missed, if it has one not yet missed."""
    if run.finished or run.state is None or run.sla_missed or run.entered_at is None:
        return None
    sla = machine.state_map[run.state].sla_s
    return None if sla is None else run.entered_at + timedelta(seconds=sla)


def miss_sla(
    machine: MachineSpec, run: MachineRun, *, data: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
    now: datetime,
) -> Decision:
    """The current state's SLA passed: recorded, and the event `sla_missed` is sent to the machine
    (a transition on it escalates; without one the run stays where it is)."""
    missed = replace(run, sla_missed=True)
    decision = react(machine, missed, SLA_MISSED_EVENT, {"state": run.state}, data=data, params=params, now=now)
    if decision.accepted:
        return decision
    return Decision(missed, False, f"state {run.state!r} missed its SLA")
