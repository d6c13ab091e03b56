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

This module is the document: its shape and `parse_workflow`. A parsed workflow becomes its DAG in
orchestrator.declarative.compiler (`build_dag`); files are read in orchestrator.declarative.files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
)

from orchestrator.core.deadlines import Deadline
from orchestrator.core.durations import parse_duration
from orchestrator.core.edges import CONDITION_NAMES
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.expressions import ExpressionError, compile_expression
from orchestrator.core.states import TriggerRule
from orchestrator.core.templating import check_template

ITEM_NAMES = ("data", "params", "input")
"""What a foreach's items expression may read: the upstream step's result and the run's input."""
LOOP_NAMES = ("results", "params", "input")
"""What a loop's repeatUntil may read: the iteration's results by stepId and the run's input."""
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


class Shape(BaseModel):
    """A part of a workflow file: unknown fields are refused, and it does not change."""

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


class Transition(Shape):
    """An edge of `next`: go to `stepId` when `condition` holds (always without one)."""

    step_id: StepId = Field(validation_alias=AliasChoices("nextStepId", "stepId"))
    condition: Annotated[str, AfterValidator(_compiled(CONDITION_NAMES))] | None = None


class RetryPolicy(Shape):
    """`maxAttempts` counts every try (3: the first and two retries)."""

    max_attempts: int = Field(default=1, ge=1, le=100, alias="maxAttempts")
    delay: Duration | None = Field(default=None, validation_alias=AliasChoices("delay", "initialDelay"))
    strategy: Literal["fixed", "exponential"] = "fixed"
    max_delay: Duration | None = Field(default=None, alias="maxDelay")
    retry_on: list[str] = Field(default_factory=list, alias="retryOn")


class ErrorCondition(Shape):
    error_type: str | None = Field(default=None, alias="errorType")
    error_code: str | None = Field(default=None, alias="errorCode")
    next_step_id: StepId = Field(alias="nextStepId")


class ErrorHandler(Shape):
    conditions: list[ErrorCondition] = Field(min_length=1)


class OnFailure(Shape):
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


class Foreach(Shape):
    """Run the step once per item: `items` is a list, or an expression over `data` / `params` /
    `input` that gives one; each instance gets its item as the keyword argument `as`."""

    items: Annotated[list[Any] | str, PlainValidator(_items)]
    as_: str = Field(default="item", alias="as", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class Loop(Shape):
    """Repeat a branch until `repeatUntil` (over `results.<stepId>` of the iteration, and `params`)
    holds, at most `maxIterations` times."""

    repeat_until: Annotated[str, AfterValidator(_compiled(LOOP_NAMES))] = Field(alias="repeatUntil")
    max_iterations: int = Field(alias="maxIterations", ge=1, le=1000)


class Branch(Shape):
    branch_id: StepId = Field(alias="branchId")
    description: str | None = None
    loop: Loop | None = None
    steps: list[Step] = Field(min_length=1)


class DeadlineShape(Shape):
    """`deadline: {after: PT2H, reference: logical_date | run_start, notify: [{channel: email, ...}]}`."""

    after: Duration
    reference: Literal["logical_date", "run_start"] = "run_start"
    notify: list[dict[str, Any]] = Field(default_factory=list)

    def to_deadline(self) -> Deadline:
        return Deadline(after=self.after, reference=self.reference, notify=self.notify)


class Step(Shape):
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


class Transform(Shape):
    type: Literal["jmespath", "jsonata"] = Field(description="the expression's language: JMESPath or JSONata, over {type, payload, id}")
    expression: str


class Trigger(Shape):
    """Either `eventPattern` (an outside event type glob) or `schedule` (a cron expression)."""

    event_pattern: str | None = Field(default=None, alias="eventPattern")
    condition: str | None = None
    transform: Transform | None = None
    description: str | None = None
    schedule: str | None = None
    timezone: str = "UTC"
    start_date: datetime | None = Field(default=None, alias="startDate")
    catchup: bool = False


class ExecutionLog(Shape):
    """Seed 002's executionLog: `retention` (ISO 8601, e.g. P30D) is how long the workflow's finished
    runs are kept, with their logs and events, by the daily retention (orchestrator.operations.retention)."""

    retention: Duration


class Workflow(Shape):
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


# -- parsing a document --------------------------------------------------------------------------
def parse_workflow(document: Any) -> Workflow:
    """The document as a Workflow; WorkflowFileError naming every bad field's path."""
    if not isinstance(document, dict):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise WorkflowFileError([("", f"a workflow file must hold one object (workflowId, steps, ...), but it is {kind}")])
    try:
        return Workflow.model_validate(document)
    except ValidationError as exc:
        raise WorkflowFileError([(error_path(e["loc"]), error_message(e)) for e in exc.errors(include_url=False)]) from None


def error_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the file's path, such as `steps[1].retryPolicy`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "json-or-python")):  # pydantic's validator frames
            out += f".{part}" if out else str(part)
    return out


def error_message(error: Any) -> str:
    """A pydantic error in the file's words."""
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required"
    return re.sub(r"^(Value|Assertion) error, ", "", str(error["msg"]))


# -- a loop branch's repeatUntil, as its controller's callable ------------------------------------
# (it stays in this module: its module name is part of the loop controller's `callable` in the DAG's spec)
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
