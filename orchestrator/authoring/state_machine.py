"""Authoring state-machine workflows in Python: `StateMachine`, `State`, `Transition`, `Action`.

    review = Action(check_document, retries=1)
    StateMachine(
        "document",
        initial="draft",
        states=[
            State("draft"),
            State("review", on_enter=[review], sla=timedelta(hours=4)),
            State("approved", final=True),
        ],
        transitions=[
            Transition("draft", "review", event="submit"),
            Transition("review", "draft", on_action=review, guard="result.score < 5"),   # a loop back
            Transition("review", "approved", event="approve", guard="'manager' in roles"),
        ],
    )

A StateMachine is a DAG whose tasks are the actions; the scheduler runs them when the machine
says so (orchestrator.core.machine holds the decisions), never by dependencies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

from orchestrator.authoring.dag import DAG
from orchestrator.authoring.python_tasks import PythonTask
from orchestrator.authoring.step_types import step_type
from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.machine import MachineSpec, StateSpec, TransitionSpec
from orchestrator.core.spec import DagSpec


class Action:
    """What a state runs on entry or exit: a Python callable (`Action(fn)`) or a step type with its
    arguments (`Action(step="shell", command="...")`); `id` is its task id (default: the callable's
    name, or the step type's). Task options (`retries`, `execution_timeout`...) go in `task_options`."""

    def __init__(
        self, fn: Callable[..., Any] | None = None, *, step: str | None = None, id: str | None = None,
        task_options: dict[str, Any] | None = None, **step_args: Any,
    ) -> None:
        if (fn is None) == (step is None):
            raise DagDefinitionError("Action needs exactly one of a callable or step=")
        if fn is not None and not callable(fn):
            raise DagDefinitionError(f"Action: {fn!r} is not callable")
        if fn is not None and step_args:
            raise DagDefinitionError(f"Action({getattr(fn, '__name__', fn)!r}): arguments {sorted(step_args)} are for step types only")
        self.fn = fn
        self.step = step
        self.id = id or (getattr(fn, "__name__", None) if fn is not None else step)
        if not self.id or self.id == "<lambda>":
            raise DagDefinitionError("Action: give it an id= (a lambda has no usable name)")
        self.task_options = dict(task_options or {})
        self.step_args = step_args

    def make_task(self, dag: DAG) -> BaseTask:
        """The action's task in `dag`."""
        if self.fn is not None:
            return PythonTask(task_id=self.id, python_callable=self.fn, dag=dag, **self.task_options)
        assert self.step is not None
        return step_type(self.step)(task_id=self.id, dag=dag, **self.task_options, **self.step_args)

    def __repr__(self) -> str:
        return f"Action({self.id!r})"


def _actions(value: Action | Sequence[Action] | None, where: str) -> tuple[Action, ...]:
    if value is None:
        return ()
    found = (value,) if isinstance(value, Action) else tuple(value)
    bad = [a for a in found if not isinstance(a, Action)]
    if bad:
        raise DagDefinitionError(f"{where}: {bad[0]!r} is not an Action(...)")
    return found


class State:
    """A named state: actions on entering and leaving it, an SLA, whether the run ends there."""

    def __init__(
        self, name: str, *, on_enter: Action | Sequence[Action] | None = None, on_exit: Action | Sequence[Action] | None = None,
        sla: timedelta | float | None = None, final: bool = False,
    ) -> None:
        self.name = name
        self.on_enter = _actions(on_enter, f"state {name!r} on_enter")
        self.on_exit = _actions(on_exit, f"state {name!r} on_exit")
        self.sla_s = sla.total_seconds() if isinstance(sla, timedelta) else (None if sla is None else float(sla))
        self.final = final


class Transition:
    """From `source` to `target` on `event`, or when the action `on_action` ended with `outcome`,
    if `guard` (an expression over data, params, event, roles, result, state) holds."""

    def __init__(
        self, source: str, target: str, *, event: str | None = None, on_action: Action | str | None = None,
        outcome: Literal["success", "failed"] = "success", guard: str | None = None, priority: int = 0,
    ) -> None:
        self.spec_args = {
            "source": source, "target": target, "event": event,
            "on_action": on_action.id if isinstance(on_action, Action) else on_action,
            "outcome": outcome, "guard": guard, "priority": priority,
        }


def machine_spec(initial: str | None, states: Sequence[State], transitions: Sequence[Transition]) -> MachineSpec:
    """The MachineSpec of authored states and transitions (the first state is the initial one by default)."""
    if not states:
        raise DagDefinitionError("a state machine needs at least one state")
    try:
        return MachineSpec(
            initial=initial or states[0].name,
            states=tuple(
                StateSpec(name=s.name, on_enter=tuple(a.id for a in s.on_enter), on_exit=tuple(a.id for a in s.on_exit),
                          sla_s=s.sla_s, final=s.final)
                for s in states
            ),
            transitions=tuple(TransitionSpec(**t.spec_args) for t in transitions),
        )
    except ValueError as exc:  # pydantic's ValidationError and the expression checks
        raise DagDefinitionError(f"state machine: {exc}") from None


class StateMachine(DAG):
    """A workflow that is a finite state machine: its actions are its tasks, run when states are
    entered or left. Takes the DAG's keyword arguments (schedule, params, tags...) too."""

    def __init__(
        self, dag_id: str, *, states: Sequence[State], transitions: Sequence[Transition] = (), initial: str | None = None,
        **dag_kwargs: Any,
    ) -> None:
        super().__init__(dag_id, **dag_kwargs)
        self.machine = machine_spec(initial, states, transitions)
        made: dict[str, Action] = {}
        for s in states:
            for action in (*s.on_enter, *s.on_exit):
                other = made.get(action.id)
                if other is not None and other is not action:
                    raise DagDefinitionError(f"state machine {dag_id!r}: two different actions have the id {action.id!r}")
                if other is None:
                    made[action.id] = action
                    action.make_task(self)

    version_label: str | None = None
    """The author's version of the machine (a machine file's `version`)."""

    def to_spec(self) -> DagSpec:
        spec = super().to_spec()
        return DagSpec.model_validate(spec.model_dump() | {"machine": self.machine.model_dump(), "version_label": self.version_label})
