"""State machines in YAML/JSON workflow files, compiled to the same StateMachine as Python authoring.

    machineId: document
    initial: draft
    actions:
      - {actionId: review, taskId: "helpers:score_document", retryPolicy: {maxAttempts: 2}}
      - {actionId: notify, taskId: notify, input: {channel: webhook, url: "..."}}
    states:
      - {name: draft}
      - {name: review, onEnter: [review], sla: PT4H}
      - {name: done, onEnter: [notify], final: true}
    transitions:
      - {from: draft, to: review, event: submit}
      - {from: review, to: draft, onAction: review, guard: "result.score < 5"}
      - {from: review, to: done, event: approve, guard: "'operator' in roles"}

A file with `states` is a machine; any other workflow file is a DAG of steps (orchestrator.declarative.workflow).
An action's `taskId` is `module:function` or a step type, as a step's is; its `input` gives the
function's keyword arguments or the step type's. Problems are reported with their paths, all at once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from orchestrator.authoring.dag import DAG
from orchestrator.authoring.state_machine import Action, State, StateMachine, Transition, machine_spec
from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.machine import GUARD_NAMES
from orchestrator.declarative.step_tasks import FunctionStep, TaskIdError, import_function, resolve_step_type, type_error_text
from orchestrator.declarative.workflow import Duration, RetryPolicy, Shape, WorkflowFileError, error_message, error_path


class ActionShape(Shape):
    action_id: str = Field(alias="actionId", pattern=r"^[A-Za-z0-9_\-]{1,100}$")
    task_id: str = Field(alias="taskId", min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)
    retry_policy: RetryPolicy | None = Field(default=None, alias="retryPolicy")
    timeout: Duration | None = None


class StateShape(Shape):
    name: str = Field(min_length=1, max_length=200)
    on_enter: list[str] = Field(default_factory=list, alias="onEnter")
    on_exit: list[str] = Field(default_factory=list, alias="onExit")
    sla: Duration | None = None
    final: bool = False
    description: str | None = None


class TransitionShape(Shape):
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    event: str | None = None
    on_action: str | None = Field(default=None, alias="onAction")
    outcome: Literal["success", "failed"] = "success"
    guard: str | None = Field(default=None, description=f"an expression over {', '.join(GUARD_NAMES)}")
    priority: int = 0


class MachineShape(Shape):
    machine_id: str = Field(alias="machineId", pattern=r"^[A-Za-z0-9_.\-]{1,250}$")
    name: str | None = None
    version: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    initial: str | None = None
    actions: list[ActionShape] = Field(default_factory=list)
    states: list[StateShape] = Field(min_length=1)
    transitions: list[TransitionShape] = Field(default_factory=list)


def is_machine_document(document: Any) -> bool:
    """Whether a workflow file's content describes a state machine (it has `states`)."""
    return isinstance(document, dict) and "states" in document


def parse_machine(document: Any) -> MachineShape:
    """The document as a MachineShape; WorkflowFileError naming every bad field's path."""
    try:
        return MachineShape.model_validate(document)
    except ValidationError as exc:
        raise WorkflowFileError([(error_path(e["loc"]), error_message(e)) for e in exc.errors(include_url=False)]) from None


class _FileAction(Action):
    """An action of a file: makes its task as a workflow step of that `taskId` would be made."""

    def __init__(self, shape: ActionShape) -> None:  # noqa: D107 - no callable or step object: the shape says what to make
        self.id = shape.action_id
        self.shape = shape

    def make_task(self, dag: DAG) -> BaseTask:
        shape = self.shape
        options: dict[str, Any] = {}
        if shape.retry_policy is not None:
            options.update(retries=shape.retry_policy.max_attempts - 1, retry_backoff=shape.retry_policy.strategy)
            if shape.retry_policy.delay is not None:
                options["retry_delay"] = shape.retry_policy.delay
        if shape.timeout is not None:
            options["execution_timeout"] = shape.timeout
        if ":" in shape.task_id:
            return FunctionStep(task_id=self.id, ref=shape.task_id, function=import_function(shape.task_id), arguments=shape.input,
                                dag=dag, **options)
        return resolve_step_type(shape.task_id)(task_id=self.id, dag=dag, **shape.input, **options)


def build_machine(document: Any) -> StateMachine:
    """The StateMachine a machine file describes; WorkflowFileError lists every problem with its path."""
    shape = parse_machine(document)
    problems: list[tuple[str, str]] = []
    actions: dict[str, _FileAction] = {}
    for i, a in enumerate(shape.actions):
        if a.action_id in actions:
            problems.append((f"actions[{i}].actionId", f"{a.action_id!r} is declared twice"))
        actions[a.action_id] = _FileAction(a)
    for i, s in enumerate(shape.states):
        for field_name, ids in (("onEnter", s.on_enter), ("onExit", s.on_exit)):
            for j, action_id in enumerate(ids):
                if action_id not in actions:
                    problems.append((f"states[{i}].{field_name}[{j}]", f"no action {action_id!r} is declared under actions"))
    if problems:
        raise WorkflowFileError(problems)
    states = [
        State(s.name, on_enter=[actions[a] for a in s.on_enter], on_exit=[actions[a] for a in s.on_exit], sla=s.sla, final=s.final)
        for s in shape.states
    ]
    transitions = [
        Transition(t.source, t.target, event=t.event, on_action=t.on_action, outcome=t.outcome, guard=t.guard, priority=t.priority)
        for t in shape.transitions
    ]
    try:
        machine_spec(shape.initial, states, transitions)
    except DagDefinitionError as exc:
        raise WorkflowFileError([("", str(exc))]) from None
    try:
        dag = StateMachine(
            shape.machine_id, states=states, transitions=transitions, initial=shape.initial, tags=shape.tags,
            description=shape.description, title=shape.name,
        )
    except TaskIdError as exc:
        raise WorkflowFileError([("actions", str(exc))]) from None
    except TypeError as exc:
        raise WorkflowFileError([("actions", type_error_text(exc))]) from None
    dag.version_label = shape.version
    return dag
