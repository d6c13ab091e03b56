"""Declarative workflows: YAML and JSON files in the DAG folder, in the shape of seed 002.

A workflow file becomes a `DAG` with real tasks, so the loader, the store, the scheduler and the
runtime treat it exactly like a Python DAG file (the runtime rebuilds it from the file to run a
step). The file's shape::

    workflowId: order_approval          # the dag_id
    name: Order approval                # shown as the DAG's title
    version: "1.2.0"                    # the author's version label
    description: ...
    tags: [orders]
    inputSchema: {type: object, ...}    # JSON Schema of the run's input; property defaults are its params
    triggers:
      - schedule: "0 6 * * *"           # at most one cron trigger (timezone, startDate, catchup)
        timezone: Europe/Paris
      - eventPattern: "order.*"         # outside events (POST /api/v1/events), as EventTrigger
        condition: "payload.amount > `0`"   # JMESPath, optional
        transform: {type: jmespath, expression: payload}   # or type: jsonata (the jsonata-python package)
    steps:
      - stepId: check
        taskId: shell                   # a step type (python, shell, http, sql, notify, trigger_dag_run,
                                        #   a plugin's...) or module:function from the DAG folder
        input: {command: "echo 1"}      # the step type's arguments (or the function's keyword arguments)
        next:
          - stepId: approve             # (or nextStepId, as in seed 002)
            condition: data.amount > 1000   # orchestrator.core.expressions; no condition: always followed
        retryPolicy: {maxAttempts: 3, delay: PT5M, strategy: exponential, maxDelay: PT1H}
        timeout: PT1H
        deadline: {after: PT2H, reference: run_start}   # expected finish (orchestrator.core.deadlines);
                                        #   also on the workflow, beside dagrunTimeout: PT6H and
                                        #   executionLog: {retention: P30D} (its finished runs' retention)
        triggerRule: all_success        # optional; a step that several steps lead to defaults to
                                        #   none_failed_min_one_success (it runs after whichever path ran)
        onFailure:                      # stop the run | continue | retry (needs retryPolicy), and/or route
          action: continue              #   errors by errorType (class name) or errorCode (its error_code/code) to handler steps
          nextStepId: cleanup
          errorHandler: {conditions: [{errorType: ValueError, nextStepId: fix_input}]}
        idempotencyKey: "check-{{ params.order_id }}"   # runs at most once per rendered key, across runs
        compensate: undo_check          # the step that undoes this one if the run fails after it succeeded
      - stepId: fan_out
        parallelBranches:               # each branch is a task group; its steps link with `next`
          - branchId: billing
            steps: [...]
          - branchId: review
            loop: {repeatUntil: "results.decide == 'approved'", maxIterations: 3}
            steps: [{stepId: decide, ...}]
        next: [{stepId: done}]          # after every branch ends
      - stepId: done
        taskId: orders:total            # only a module:function step has foreach
        foreach: {items: "data.lines", as: line}   # once per item; `line=<item>` in each instance
        minSuccess: majority            # all | any | majority | N of the steps leading here (not with triggerRule)

A step with `parallelBranches` and a `taskId` runs its task, then the branches; without `taskId` it
is only the fork and join of its branches. A function step gets its `input` as keyword arguments,
plus `data` (its upstream step's result; a dict by step when there are several), `params` (the run's
input) and `context`, for those of them it names as parameters.

Conditions are judged by the scheduler once the step succeeded (orchestrator.core.edges), over `data` (the
step's result), `params` / `input` (the run's input) and `steps.<id>.result` / `.state`; one that
cannot be judged (a missing key...) counts as false and says why in the step's log. The graph and
the conditions are pinned to the run's version; the step's code and `input` are read from the file
when the step runs, as a Python DAG's code is.

Workflow patterns, each an existing Python feature:

- `foreach` maps the step (`PythonTask.expand`, orchestrator.core.mapping): `items` is a list, or an
  expression over `data` / `params` / `input` that a task `<stepId>__items` evaluates before the
  step (the step's upstreams, triggerRule and minSuccess are that task's); the step runs once per
  item with the item as the keyword argument `as` (default `item`), and the step after it gets
  the list of the instances' results, in order.
- `minSuccess` is the step's wait strategy (`min_success`, orchestrator.core.states): how many of the
  steps leading to it must succeed. It replaces the join default and cannot go with triggerRule.
- `loop` on a branch makes it a `LoopGroup` (orchestrator.authoring.loops): after each iteration its
  controller (`<branchId>.repeat_until`) judges `repeatUntil` over `results.<stepId>` (the
  iteration's results) and `params` / `input`; false runs the branch again, up to
  `maxIterations`, after which the controller fails (so do the steps after the fork). One that
  cannot be judged fails the controller too. What follows the fork waits for the controller.
- `compensate: <stepId>` (orchestrator.core.compensation): that step runs only if the run fails after
  this one succeeded; it stays outside the flow (nothing may lead to it, and it leads nowhere).
- `idempotencyKey` (orchestrator.core.idempotency): a template over the run's params, conf and date.
- A sub-workflow is the `sub_dag` step type: `input: {dag_id: child, input: {...}, output: {...}}`.
  Approvals are the `approval` step type.

Every problem is an import error naming the path to the bad field, e.g.
`steps[2].retryPolicy.delay: 'PT5X' is not an ISO 8601 duration ...`.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError, field_validator,
)

from orchestrator.authoring.dag import DAG
from orchestrator.core.deadlines import Deadline
from orchestrator.core.durations import parse_duration
from orchestrator.core.edges import CONDITION_NAMES
from orchestrator.core.error_routing import CODE_PREFIX
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.expressions import ExpressionError, compile_expression
from orchestrator.core.inputs import check_schema, schema_defaults
from orchestrator.authoring.loops import LoopGroup
from orchestrator.core.mapping import MappingError, map_length
from orchestrator.core.schedule import cron_expression, zone
from orchestrator.core.spec import DagSpec, MapSource
from orchestrator.core.states import TriggerRule
from orchestrator.authoring.task_group import TaskGroup
from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.templating import check_template
from orchestrator.core.triggers import EventTrigger

WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")
ITEM_NAMES = ("data", "params", "input")
"""What a foreach's items expression may read: the upstream step's result and the run's input."""
LOOP_NAMES = ("results", "params", "input")
"""What a loop's repeatUntil may read: the iteration's results by stepId and the run's input."""
DEFAULT_START = datetime(2000, 1, 1, tzinfo=UTC)
"""The start of a cron trigger without startDate (without catchup only the newest interval runs)."""
MAX_REPORTED = 10


class WorkflowFileError(DagDefinitionError):
    """A workflow file does not have the expected shape; the message names the path to each bad field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        shown = [f"{path}: {message}" if path else message for path, message in problems[:MAX_REPORTED]]
        more = len(problems) - MAX_REPORTED
        super().__init__("; ".join(shown) + (f"; and {more} more" if more > 0 else ""))


# -- the file's shape ----------------------------------------------------------------------------
def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be an ISO 8601 duration such as 'PT5M' or a number of seconds, not {value!r}")
    return value


Duration = Annotated[float, Field(ge=0), BeforeValidator(_duration)]
"""An ISO 8601 duration ("PT5M") or a number of seconds, as seconds."""
StepId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,100}$")]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compiled(names: tuple[str, ...]) -> Callable[[str], str]:
    """A validator: the value compiles as an expression over `names` (reported at its field's path)."""

    def check(value: str) -> str:
        try:
            compile_expression(value, names)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return value

    return check


class Transition(_Shape):
    """An edge of `next`: go to `stepId` when `condition` holds (always without one)."""

    step_id: StepId = Field(validation_alias=AliasChoices("nextStepId", "stepId"))
    condition: Annotated[str, AfterValidator(_compiled(CONDITION_NAMES))] | None = None


class RetryPolicy(_Shape):
    """`maxAttempts` counts every try (3: the first and two retries)."""

    max_attempts: int = Field(default=1, ge=1, le=100, alias="maxAttempts")
    delay: Duration | None = Field(default=None, validation_alias=AliasChoices("delay", "initialDelay"))
    strategy: Literal["fixed", "exponential"] = "fixed"
    max_delay: Duration | None = Field(default=None, alias="maxDelay")
    retry_on: list[str] = Field(default_factory=list, alias="retryOn")


class ErrorCondition(_Shape):
    error_type: str | None = Field(default=None, alias="errorType")
    error_code: str | None = Field(default=None, alias="errorCode")
    next_step_id: StepId = Field(alias="nextStepId")


class ErrorHandler(_Shape):
    conditions: list[ErrorCondition] = Field(min_length=1)


class OnFailure(_Shape):
    """What the step's last failed try does: `stop` the run at once, `continue` as if it succeeded,
    `retry` (the retryPolicy's tries), or route errors by type (`errorHandler`, `nextStepId` for any
    other type) to handler steps, which then run. Without onFailure the step fails as usual."""

    action: Literal["continue", "stop", "retry"] = "stop"
    next_step_id: StepId | None = Field(default=None, alias="nextStepId")
    error_handler: ErrorHandler | None = Field(default=None, alias="errorHandler")


def _items(value: Any) -> Any:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return _compiled(ITEM_NAMES)(value)
    raise ValueError(f"must be a list, or an expression over data, params and input that gives one, not {value!r}")


def _min_success(value: Any) -> Any:
    if value in ("all", "any", "majority") or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(f"must be all, any, majority or a number of steps (1 or more), not {value!r}")


class Foreach(_Shape):
    """Run the step once per item: `items` is a list, or an expression over `data` / `params` /
    `input` that gives one; each instance gets its item as the keyword argument `as`."""

    items: Annotated[list[Any] | str, PlainValidator(_items)]
    as_: str = Field(default="item", alias="as", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class Loop(_Shape):
    """Repeat a branch until `repeatUntil` (over `results.<stepId>` of the iteration, and `params`)
    holds, at most `maxIterations` times."""

    repeat_until: Annotated[str, AfterValidator(_compiled(LOOP_NAMES))] = Field(alias="repeatUntil")
    max_iterations: int = Field(alias="maxIterations", ge=1, le=1000)


class Branch(_Shape):
    branch_id: StepId = Field(alias="branchId")
    description: str | None = None
    loop: Loop | None = None
    steps: list[Step] = Field(min_length=1)


class DeadlineShape(_Shape):
    """`deadline: {after: PT2H, reference: logical_date | run_start, notify: [{channel: email, ...}]}`."""

    after: Duration
    reference: Literal["logical_date", "run_start"] = "run_start"
    notify: list[dict[str, Any]] = Field(default_factory=list)

    def to_deadline(self) -> Deadline:
        return Deadline(after=self.after, reference=self.reference, notify=self.notify)


class Step(_Shape):
    step_id: StepId = Field(alias="stepId")
    task_id: str | None = Field(default=None, alias="taskId", min_length=1)
    name: str | None = None
    description: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    next: list[Transition] = Field(default_factory=list)
    parallel_branches: list[Branch] = Field(default_factory=list, alias="parallelBranches")
    retry_policy: RetryPolicy | None = Field(default=None, alias="retryPolicy")
    timeout: Duration | None = None
    on_failure: OnFailure | None = Field(default=None, alias="onFailure")
    trigger_rule: TriggerRule | None = Field(default=None, alias="triggerRule")
    foreach: Foreach | None = None
    min_success: Annotated[Literal["all", "any", "majority"] | int, PlainValidator(_min_success)] | None = Field(
        default=None, alias="minSuccess"
    )
    compensate: StepId | None = None
    idempotency_key: str | None = Field(default=None, alias="idempotencyKey", min_length=1)
    deadline: DeadlineShape | None = None

    @field_validator("idempotency_key")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_template(value, "the idempotency key")
            except DagDefinitionError as exc:
                raise ValueError(str(exc)) from None
        return value


class Transform(_Shape):
    type: Literal["jmespath", "jsonata"] = Field(description="the expression's language: JMESPath or JSONata, over {type, payload, id}")
    expression: str


class Trigger(_Shape):
    """Either `eventPattern` (an outside event type glob) or `schedule` (a cron expression)."""

    event_pattern: str | None = Field(default=None, alias="eventPattern")
    condition: str | None = None
    transform: Transform | None = None
    description: str | None = None
    schedule: str | None = None
    timezone: str = "UTC"
    start_date: datetime | None = Field(default=None, alias="startDate")
    catchup: bool = False


class ExecutionLog(_Shape):
    """Seed 002's executionLog: `retention` (ISO 8601, e.g. P30D) is how long the workflow's finished
    runs are kept, with their logs and events, by the daily retention (orchestrator.operations.retention)."""

    retention: Duration


class Workflow(_Shape):
    workflow_id: str = Field(alias="workflowId", pattern=r"^[A-Za-z0-9_.\-]{1,250}$")
    name: str | None = None
    version: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    input_schema: dict[str, Any] | None = Field(default=None, alias="inputSchema")
    triggers: list[Trigger] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    dagrun_timeout: Duration | None = Field(default=None, alias="dagrunTimeout")
    deadline: DeadlineShape | None = None
    execution_log: ExecutionLog | None = Field(default=None, alias="executionLog")

    @field_validator("version", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(f'write the version in quotes ("{value}"): YAML reads an unquoted 1.10 as the number 1.1')
        return value


# -- reading a file ------------------------------------------------------------------------------
def is_workflow_file(path: Path) -> bool:
    return path.suffix.lower() in WORKFLOW_SUFFIXES


def read_document(path: Path) -> Any:
    """The file's content as data: YAML (safe_load: no Python objects) or JSON."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise WorkflowFileError([("", f"not valid JSON: {exc}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkflowFileError([("", f"not valid YAML: {' '.join(str(exc).split())}")]) from None


def parse_workflow(document: Any) -> Workflow:
    """The document as a Workflow; WorkflowFileError naming every bad field's path."""
    if not isinstance(document, dict):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise WorkflowFileError([("", f"a workflow file must hold one object (workflowId, steps, ...), but it is {kind}")])
    try:
        return Workflow.model_validate(document)
    except ValidationError as exc:
        raise WorkflowFileError([(_path(e["loc"]), _message(e)) for e in exc.errors(include_url=False)]) from None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "json-or-python")):  # pydantic's validator frames
            out += f".{part}" if out else str(part)
    return out


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required"
    return re.sub(r"^(Value|Assertion) error, ", "", str(error["msg"]))


def load_workflow_file(path: Path) -> DAG:
    """The DAG a workflow file describes, with `fileloc` set; WorkflowFileError when it is not valid.

    `module:function` steps import their module as it is found on sys.path: the loader
    (orchestrator.execution.dagfile) puts the DAG folder there first, so helper modules beside the file work.
    """
    document = read_document(path)
    if isinstance(document, dict) and "states" in document:  # a state machine (orchestrator.declarative.machine)
        from orchestrator.declarative.machine import build_machine

        dag: DAG = build_machine(document)
    else:
        dag = build_dag(parse_workflow(document))
    dag.fileloc = str(path)
    return dag


# -- building the DAG ----------------------------------------------------------------------------
class WorkflowDag(DAG):
    """A DAG from a workflow file. Its spec also carries what only a workflow file says: the name and
    version, the conditions on edges, and the join rule of steps that several steps lead to."""

    def __init__(self, dag_id: str, *, title: str | None, version_label: str | None, **kwargs: Any) -> None:
        super().__init__(dag_id, **kwargs)
        self.title = title
        self.version_label = version_label
        self.conditions: dict[str, dict[str, str]] = {}  # task_id -> {downstream task_id: condition}
        self.joins: set[str] = set()  # tasks that several steps lead to, without their own triggerRule

    def to_spec(self) -> DagSpec:
        spec = super().to_spec()
        tasks = [
            t.model_dump()
            | ({"next_conditions": self.conditions[t.task_id]} if t.task_id in self.conditions else {})
            # the join after a decision or parallel branches: it runs after whichever paths were taken
            | ({"trigger_rule": TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS} if t.task_id in self.joins else {})
            for t in spec.tasks
        ]
        return DagSpec.model_validate(spec.model_dump() | {"tasks": tasks, "title": self.title, "version_label": self.version_label})


class FunctionStep(BaseTask):
    """A step that calls `module:function` with the step's `input` as keyword arguments, and
    `data`, `params`, `context` for those the function names."""

    step_type = "python"

    def __init__(self, *, task_id: str, ref: str, function: Callable[..., Any], arguments: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        self.ref = ref
        self.function = function
        self.arguments = dict(arguments)
        try:
            self._wants = frozenset(inspect.signature(function).parameters) & {"data", "params", "context"}
        except (TypeError, ValueError):
            self._wants = frozenset()

    def execute(self, context: Any, upstream_results: dict[str, Any]) -> Any:
        extra: dict[str, Any] = {}
        if "data" in self._wants:
            extra["data"] = _data(upstream_results)
        if "params" in self._wants:
            extra["params"] = context.params
        if "context" in self._wants:
            extra["context"] = context
        return self.function(**{**self.arguments, **extra})

    def callable_ref(self) -> str:
        return self.ref

    def args_repr(self) -> str:
        return repr(self.arguments)[:2000] if self.arguments else ""

    def accepts(self, name: str) -> bool:
        """Whether the function takes `name` as a keyword argument (a foreach's item)."""
        try:
            params = inspect.signature(self.function).parameters
        except (TypeError, ValueError):
            return True
        return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def for_map_items(self, items: dict[str, Any]) -> FunctionStep:
        """This step as one instance of its foreach: its item added to the keyword arguments."""
        instance = copy.copy(self)
        instance.arguments = {**self.arguments, **items}
        return instance


class ForeachItems(BaseTask):
    """The task before a foreach step whose items are an expression: its result is the list the
    step is mapped over, the expression evaluated over `data`, `params` and `input`."""

    step_type = "python"

    def __init__(self, *, task_id: str, expression: str, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        self.expression = expression

    def execute(self, context: Any, upstream_results: dict[str, Any]) -> Any:
        scope = {"data": _data(upstream_results), "params": context.params, "input": context.params}
        return compile_expression(self.expression, ITEM_NAMES).evaluate(scope)

    def args_repr(self) -> str:
        return self.expression


@dataclass(frozen=True)
class RepeatUntil:
    """A loop branch's `repeat_until`: its repeatUntil expression over `results` (the iteration's
    results by stepId), `params` and `input`. A plain object, so the controller's callable can be
    pickled; an expression that cannot be judged fails the controller, which ends the loop."""

    expression: str

    def __call__(self, results: dict[str, Any], context: Any) -> bool:
        # full task ids are "<branch>.<stepId>"; stepIds are unique across the workflow
        by_step = {task_id.rsplit(".", 1)[-1]: result for task_id, result in results.items()}
        scope = {"results": by_step, "params": context.params, "input": context.params}
        return compile_expression(self.expression, LOOP_NAMES).holds(scope)


def _data(upstream_results: dict[str, Any]) -> Any:
    """A step's `data`: its upstream step's result; a dict by task id when there are several."""
    return next(iter(upstream_results.values())) if len(upstream_results) == 1 else (upstream_results or None)


@dataclass
class _Node:
    """One step in the DAG: its own task (if it has a taskId), where it starts (entries) and ends (exits)."""

    path: str
    step: Step
    own: BaseTask | None = None
    entries: list[BaseTask] = field(default_factory=list)
    exits: list[BaseTask] = field(default_factory=list)


class _Builder:
    def __init__(self, dag: WorkflowDag, workflow: Workflow) -> None:
        self.dag = dag
        self.problems: list[tuple[str, str]] = []
        # stepId -> the task id of its own task (None without taskId), known before any task is made
        self.task_ids: dict[str, str | None] = {}
        for prefix, step in _walk(workflow.steps, ""):
            self.task_ids.setdefault(step.step_id, prefix + step.step_id if step.task_id is not None else None)
        # steps that compensate another: outside the flow, so never an entry or exit of their list
        self.compensators = {step.compensate for _, step in _walk(workflow.steps, "") if step.compensate is not None}
        self.nodes: dict[str, _Node] = {}  # stepId -> its node: step ids are unique across the workflow
        self.incoming: dict[str, int] = {}  # task_id -> how many `next` edges lead to it
        self.dangling: list[tuple[str, str]] = []  # (path of a `next` edge, the stepId it names that its list lacks)

    def check_min_success(self) -> None:
        """Report each minSuccess that its step's upstreams cannot meet, or that a triggerRule contradicts."""
        for node in self.nodes.values():
            wanted = node.step.min_success
            if wanted is None or node.own is None:
                continue
            if node.step.trigger_rule is not None:
                self.problems.append((f"{node.path}.minSuccess", "replaces triggerRule: set one of them, not both"))
            ups = len(node.entries[0].upstream_ids)
            if isinstance(wanted, int) and wanted > max(ups, 1):
                self.problems.append((f"{node.path}.minSuccess", f"{wanted} is more than the {ups} steps that lead to this one"))

    def check_compensators(self) -> None:
        """Report each `next` from or to a compensation step: it runs only when the run fails."""
        for node in self.nodes.values():
            for j, edge in enumerate(node.step.next):
                if node.step.step_id in self.compensators or edge.step_id in self.compensators:
                    undo = node.step.step_id if node.step.step_id in self.compensators else edge.step_id
                    self.problems.append((f"{node.path}.next[{j}]", f"{undo!r} is a compensation step: it runs only when "
                                                                    "the run fails, so no step leads to it and it leads nowhere"))

    def check_dangling(self) -> None:
        """Report each `next` to a step its list does not have (saying where it is, if anywhere)."""
        for where, step_id in self.dangling:
            elsewhere = self.nodes.get(step_id)
            hint = f" (it is {elsewhere.path}: a step links only to steps of its own list)" if elsewhere else ""
            self.problems.append((where, f"there is no step {step_id!r} in this list of steps{hint}"))

    def steps(self, steps: list[Step], path: str) -> tuple[list[BaseTask], list[BaseTask]]:
        """Make the tasks of one list of steps and link them; returns the list's entries and exits."""
        nodes: dict[str, _Node] = {}
        for i, step in enumerate(steps):
            here = f"{path}[{i}]"
            if step.step_id in self.nodes:
                self.problems.append((f"{here}.stepId", f"{step.step_id!r} is also the stepId of {self.nodes[step.step_id].path}"))
                continue
            nodes[step.step_id] = self.nodes[step.step_id] = self.node(step, here)
        targets: set[str] = set()
        for node in nodes.values():
            for j, edge in enumerate(node.step.next):
                target = nodes.get(edge.step_id)
                if target is None:
                    self.dangling.append((f"{node.path}.next[{j}]", edge.step_id))
                    continue
                targets.add(edge.step_id)
                self.link(node.exits, target.entries, edge.condition)
        flow = {sid: n for sid, n in nodes.items() if sid not in self.compensators}
        entries = [t for sid, n in flow.items() if sid not in targets for t in n.entries]
        exits = [t for n in flow.values() if not n.step.next for t in n.exits]
        return entries, exits

    def node(self, step: Step, here: str) -> _Node:
        node = _Node(here, step)
        if step.task_id is None and not step.parallel_branches:
            self.problems.append((f"{here}.taskId", "required (only a step with parallelBranches may leave it out)"))
            return node
        if step.task_id is None and step.on_failure is not None:
            self.problems.append((f"{here}.onFailure", "a step without taskId cannot fail by itself: put onFailure on its branches' steps"))
        for name, value in (("foreach", step.foreach), ("minSuccess", step.min_success), ("compensate", step.compensate),
                            ("idempotencyKey", step.idempotency_key)):
            if step.task_id is None and value is not None:
                self.problems.append((f"{here}.{name}", "needs the step's own task: put it on a step with a taskId"))
        node.own, feeder = self.task(step, here) if step.task_id is not None else (None, None)
        entries: list[BaseTask] = []
        exits: list[BaseTask] = []
        for b, branch in enumerate(step.parallel_branches):
            where = f"{here}.parallelBranches[{b}]"
            try:
                if branch.loop is None:
                    group: TaskGroup = TaskGroup(branch.branch_id, tooltip=branch.description, dag=self.dag)
                else:
                    group = LoopGroup(branch.branch_id, repeat_until=RepeatUntil(branch.loop.repeat_until),
                                      max_iterations=branch.loop.max_iterations, tooltip=branch.description, dag=self.dag)
            except DagDefinitionError as exc:
                self.problems.append((f"{where}.branchId", str(exc)))
                continue
            try:
                with group:
                    first, last = self.steps(branch.steps, f"{where}.steps")
            except DagDefinitionError as exc:  # a loop branch none of whose steps could be made
                self.problems.append((f"{where}.steps", str(exc)))
                continue
            entries += first
            # what follows a loop waits for its controller: the loop's last iteration
            exits += [group.controller] if isinstance(group, LoopGroup) and group.controller is not None else last
        if node.own is not None:
            self.link([node.own], entries, None)
            node.entries, node.exits = [feeder or node.own], exits or [node.own]
        else:
            node.entries, node.exits = entries, exits
        return node

    def link(self, ups: list[BaseTask], downs: list[BaseTask], condition: str | None) -> None:
        for down in downs:
            for up in ups:
                down.set_upstream(up)
                self.incoming[down.task_id] = self.incoming.get(down.task_id, 0) + 1
                if condition is not None:
                    self.dag.conditions.setdefault(up.task_id, {})[down.task_id] = condition

    def task(self, step: Step, here: str) -> tuple[BaseTask | None, BaseTask | None]:
        """The step's own task, and the task computing its foreach items if it has one; (None, None)
        (with the problem recorded) when they cannot be made."""
        assert step.task_id is not None
        reserved = sorted(set(step.input) & _RESERVED)
        if reserved:
            self.problems.append((f"{here}.input.{reserved[0]}", "set through the step's own fields (retryPolicy, timeout, ...), not input"))
            return None, None
        options = _task_options(step)
        if step.on_failure is not None:
            on_failure = self.on_failure(step.on_failure, step, f"{here}.onFailure")
            if on_failure is not None:
                options["on_failure"] = on_failure
        if step.compensate is not None:
            compensator = self.task_ids.get(step.compensate)
            if compensator is None:
                self.problems.append((f"{here}.compensate", f"there is no step {step.compensate!r} with a taskId to undo this one"))
            else:
                options["compensate"] = compensator
        if step.foreach is not None and ":" not in step.task_id:
            self.problems.append((f"{here}.foreach", "only a module:function step can run once per item"))
            return None, None
        feeder = None
        try:
            if step.foreach is not None and isinstance(step.foreach.items, str):
                # the step's upstreams, trigger rule and wait strategy go to the task that computes its items
                moved = {k: options.pop(k) for k in ("trigger_rule", "min_success") if k in options}
                feeder = ForeachItems(task_id=f"{step.step_id}__items", expression=step.foreach.items, dag=self.dag, **moved)
            if ":" in step.task_id:
                own: BaseTask = FunctionStep(
                    task_id=step.step_id, ref=step.task_id, function=_import_function(step.task_id), arguments=step.input,
                    dag=self.dag, **options,
                )
            else:
                own = _step_type(step.task_id)(task_id=step.step_id, dag=self.dag, **step.input, **options)
        except _TaskIdError as exc:
            self.problems.append((f"{here}.taskId", str(exc)))
            return None, None
        except TypeError as exc:
            self.problems.append((f"{here}.input", _type_error(exc)))
            return None, None
        except DagDefinitionError as exc:
            self.problems.append((here, str(exc)))
            return None, None
        if step.foreach is not None and isinstance(own, FunctionStep):
            self.foreach(own, feeder, step.foreach, f"{here}.foreach")
        return own, feeder

    def foreach(self, own: FunctionStep, feeder: BaseTask | None, foreach: Foreach, here: str) -> None:
        """Map the step over its items: a literal list, or the result of the task computing them."""
        name = foreach.as_
        if name in own.arguments or name in ("data", "params", "context") or not own.accepts(name):
            self.problems.append((f"{here}.as", f"{own.ref} must take {name!r} as a keyword argument that input does not set "
                                                "(and not data, params or context): each instance gets its item there"))
            return
        if feeder is not None:
            own.set_upstream(feeder)
            own.mapped = (MapSource(arg=name, task_id=feeder.task_id),)
            return
        assert isinstance(foreach.items, list)
        source = MapSource(arg=name, values=tuple(foreach.items))
        try:
            map_length([source], {})
        except MappingError as exc:
            self.problems.append((f"{here}.items", str(exc)))
            return
        own.mapped = (source,)

    def on_failure(self, on_failure: OnFailure, step: Step, here: str) -> str | dict[str, str] | None:
        """The step's onFailure as its task's `on_failure` (orchestrator.core.error_routing): stop, continue,
        or routes by error type to handler steps; None for the default (and for retry, which the
        retryPolicy does)."""
        if on_failure.action == "retry":
            if step.retry_policy is None or step.retry_policy.max_attempts < 2:
                self.problems.append((f"{here}.action", "retry needs a retryPolicy with maxAttempts of 2 or more"))
            return None
        wanted: dict[str, tuple[str, str]] = {}  # error type -> (handler stepId, where it is named)
        for i, condition in enumerate(on_failure.error_handler.conditions if on_failure.error_handler else ()):
            where = f"{here}.errorHandler.conditions[{i}]"
            if condition.error_code is not None and condition.error_type is not None:
                self.problems.append((where, "give errorType or errorCode, not both: a condition matches one (use two conditions)"))
                continue
            key = CODE_PREFIX + condition.error_code if condition.error_code is not None else condition.error_type or "*"
            wanted.setdefault(key, (condition.next_step_id, f"{where}.nextStepId"))
        if on_failure.next_step_id is not None:
            wanted.setdefault("*", (on_failure.next_step_id, f"{here}.nextStepId"))
        routes: dict[str, str] = {}
        for error_type, (step_id, where) in wanted.items():
            handler = self.task_ids.get(step_id)
            if handler is None:
                self.problems.append((where, f"there is no step {step_id!r} with a taskId to handle the error"))
            else:
                routes[error_type] = handler
        # routes win over the action: an error no route matches fails the step
        return routes or on_failure.action


class _TaskIdError(Exception):
    """A step's taskId names no step type or no importable function."""


_RESERVED = frozenset(p for p in inspect.signature(BaseTask.__init__).parameters if p not in ("self", "conn_id", "kwargs"))


def _task_options(step: Step) -> dict[str, Any]:
    """BaseTask arguments from the step's own fields."""
    options: dict[str, Any] = {}
    doc = " — ".join(x for x in (step.name, step.description) if x)
    if doc:
        options["doc"] = doc
    policy = step.retry_policy
    if policy is not None:
        options["retries"] = policy.max_attempts - 1
        options["retry_backoff"] = policy.strategy
        if policy.delay is not None:
            options["retry_delay"] = policy.delay
        if policy.max_delay is not None:
            options["max_retry_delay"] = policy.max_delay
        if policy.retry_on:
            options["retry_on"] = policy.retry_on
    if step.timeout is not None:
        options["execution_timeout"] = step.timeout
    if step.trigger_rule is not None:
        options["trigger_rule"] = step.trigger_rule
    if step.min_success is not None:
        options["min_success"] = step.min_success
    if step.idempotency_key is not None:
        options["idempotency_key"] = step.idempotency_key
    if step.deadline is not None:
        options["deadline"] = step.deadline.to_deadline()
    return options


def _import_function(ref: str) -> Callable[..., Any]:
    module_name, _, qualname = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any failure to import is the file's problem
        raise _TaskIdError(f"cannot import module {module_name!r} (from the DAG folder or installed): {type(exc).__name__}: {exc}") from None
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise _TaskIdError(f"module {module_name!r} has no {qualname!r}")
    if not callable(target):
        raise _TaskIdError(f"{ref!r} is not a function")
    return target  # type: ignore[no-any-return]


def _step_type(name: str) -> type[BaseTask]:
    from orchestrator.plugins.manager import PluginError, get_step_type

    try:
        return get_step_type(name)
    except PluginError as exc:
        raise _TaskIdError(f"{exc}, and it is not module:function") from None


def _type_error(exc: TypeError) -> str:
    text = str(exc)
    # "HttpTask.__init__() got an unexpected keyword argument 'x'" -> which argument, for which step type
    return re.sub(r"^\S*?__init__\(\) ", "", text)


def _schedule(workflow: Workflow, problems: list[tuple[str, str]]) -> dict[str, Any]:
    """DAG arguments from the triggers: the cron schedule (one at most) and the EventTriggers."""
    out: dict[str, Any] = {"triggers": []}
    for i, trigger in enumerate(workflow.triggers):
        here = f"triggers[{i}]"
        if (trigger.event_pattern is None) == (trigger.schedule is None):
            problems.append((here, "give either eventPattern (an outside event) or schedule (a cron expression)"))
            continue
        if trigger.schedule is not None:
            if "schedule" in out:
                problems.append((f"{here}.schedule", "a workflow has at most one cron schedule"))
                continue
            if trigger.catchup and trigger.start_date is None:
                problems.append((f"{here}.startDate", "required with catchup: the first interval to run"))
                continue
            checks = ((f"{here}.schedule", lambda: cron_expression(str(trigger.schedule))), (f"{here}.timezone", lambda: zone(trigger.timezone)))
            if not all(_recorded(problems, where, check) for where, check in checks):
                continue
            start = trigger.start_date or DEFAULT_START
            out.update(schedule=trigger.schedule, timezone=trigger.timezone, catchup=trigger.catchup,
                       start_date=start if start.tzinfo else start.replace(tzinfo=UTC))
            continue
        try:
            out["triggers"].append(
                EventTrigger(str(trigger.event_pattern), condition=trigger.condition,
                             transform=trigger.transform.expression if trigger.transform else None,
                             transform_language=trigger.transform.type if trigger.transform else "jmespath")
            )
        except DagDefinitionError as exc:
            problems.append((here, str(exc)))
    return out


def _recorded(problems: list[tuple[str, str]], where: str, check: Callable[[], Any]) -> bool:
    """Run `check`; a DagDefinitionError becomes a problem at `where`. Returns whether it passed."""
    try:
        check()
    except DagDefinitionError as exc:
        problems.append((where, str(exc)))
        return False
    return True


def build_dag(workflow: Workflow) -> WorkflowDag:
    """The DAG of a parsed workflow; WorkflowFileError listing what does not fit together."""
    problems: list[tuple[str, str]] = []
    input_schema = None
    if workflow.input_schema is not None:
        try:
            input_schema = check_schema(workflow.input_schema, "inputSchema")
        except DagDefinitionError as exc:
            problems.append(("", str(exc)))
    arguments = _schedule(workflow, problems)
    try:
        dag = WorkflowDag(
            workflow.workflow_id, title=workflow.name, version_label=workflow.version, description=workflow.description,
            tags=workflow.tags, input_schema=input_schema, params=schema_defaults(input_schema or {}),
            dagrun_timeout=workflow.dagrun_timeout or None, deadline=workflow.deadline.to_deadline() if workflow.deadline else None,
            log_retention=workflow.execution_log.retention if workflow.execution_log else None, **arguments,
        )
    except DagDefinitionError as exc:
        raise WorkflowFileError([*problems, ("", str(exc))]) from None
    builder = _Builder(dag, workflow)
    builder.steps(workflow.steps, "steps")
    builder.check_dangling()
    builder.check_min_success()
    builder.check_compensators()
    problems += builder.problems
    if problems:
        raise WorkflowFileError(problems)
    # a step's own join rule (triggerRule or minSuccess) is on its entry task
    explicit = {
        n.entries[0].task_id for n in builder.nodes.values()
        if n.own is not None and (n.step.trigger_rule is not None or n.step.min_success is not None)
    }
    dag.joins = {tid for tid, n in builder.incoming.items() if n > 1} - explicit
    try:
        dag.to_spec()  # the graph as a whole: cycles, failure routes that do not fit it
    except DagDefinitionError as exc:
        raise WorkflowFileError([("steps", str(exc))]) from None
    except ValidationError as exc:
        raise WorkflowFileError([("steps", re.sub(r"^Value error, ", "", e["msg"])) for e in exc.errors(include_url=False)]) from None
    return dag


# -- conditions on edges, judged by the scheduler when a step succeeds ---------------------------
def _walk(steps: list[Step], prefix: str) -> Iterator[tuple[str, Step]]:
    """Every step (branches' too) with the task id prefix of its branch ("billing." inside billing)."""
    for step in steps:
        yield prefix, step
        for branch in step.parallel_branches:
            yield from _walk(branch.steps, f"{prefix}{branch.branch_id}.")
