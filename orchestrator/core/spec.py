"""DagSpec and TaskSpec: the code-free form of a DAG shared by the store, scheduler, API and UI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.core.approvals import ApprovalSpec
from orchestrator.core.assets import AssetCondition
from orchestrator.core.deadlines import DeadlineSpec
from orchestrator.core.dependencies import DependencySpec, TriggerSpec
from orchestrator.core.edges import Edge, compile_edges
from orchestrator.core.event_waits import EventWaitSpec
from orchestrator.core.machine import MachineSpec
from orchestrator.core.sensors import SensorSpec, TriggerWaitSpec
from orchestrator.core.states import TriggerRule
from orchestrator.core.triggers import EventTriggerSpec


class MapSource(BaseModel):
    """One argument a mapped task is expanded over: an upstream's result (or an item of it) or a literal list."""

    model_config = ConfigDict(frozen=True)

    arg: str = Field(description="the keyword argument that receives one item per instance")
    task_id: str | None = Field(default=None, description="the upstream whose result is the list")
    key: str | int | None = Field(default=None, description="the item of the upstream's result that is the list, if not all of it")
    values: tuple[Any, ...] | None = Field(default=None, description="a literal list (JSON values) given at authoring time")


class LoopSpec(BaseModel):
    """The controller task of a loop-back group (orchestrator.authoring.loops.LoopGroup): while its callable
    says the group is not done, the group's tasks run again, up to `max_iterations` times."""

    model_config = ConfigDict(frozen=True)

    group_id: str = Field(description="the task group that repeats")
    tasks: tuple[str, ...] = Field(description="the group's tasks, cleared for each new iteration")
    max_iterations: int = Field(ge=1, description="the group fails once this many iterations did not satisfy the condition")


class ResultRef(BaseModel):
    """The result of an upstream task (or one item of it), resolved by the scheduler."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    key: str | int | None = None


class SubDagSpec(BaseModel):
    """What a SubDagTask adds to its trigger: the child's input, the output it picks, what a failed child does."""

    model_config = ConfigDict(frozen=True)

    input: dict[str, Any] = Field(default_factory=dict, description="child conf key -> a JSON value or a template (orchestrator.core.templating)")
    input_from: dict[str, ResultRef] = Field(default_factory=dict, description="child conf key -> an upstream task's result")
    output: dict[str, str] = Field(default_factory=dict, description="result key -> JMESPath over the child run's task results by task_id")
    on_child_failure: Literal["fail_parent", "continue", "retry"] = "fail_parent"


class TaskSpec(BaseModel):
    """One task of a DAG: what it is, what it waits for and how it is retried."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    step_type: str = "python"
    callable: str | None = Field(default=None, description="module:qualname of a Python callable, for display")
    args_repr: str = ""
    upstream: tuple[str, ...] = ()
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    retries: int = 0
    retry_delay_s: float = 300.0
    retry_backoff: Literal["fixed", "exponential"] = "fixed"
    max_retry_delay_s: float | None = None
    execution_timeout_s: float | None = None
    doc: str | None = None
    conn_id: str | None = Field(default=None, description="the named connection the task uses; also its circuit-breaker key")
    # resilience (issue 4, helper R): retry filtering and jitter, pools and priorities
    retry_jitter: float = Field(default=0.0, ge=0.0, le=1.0, description="each retry delay varies by up to this fraction, randomly")
    retry_on: tuple[str, ...] = Field(default=(), description="exception type names that may be retried (empty: any)")
    no_retry_on: tuple[str, ...] = Field(default=(), description="exception type names that are never retried")
    pool: str | None = Field(default=None, description="the pool whose slots limit how many such tasks run at once")
    priority_weight: int = Field(default=1, description="higher runs first among the ready tasks")
    tiny: bool | None = Field(
        default=None, description="its tries take milliseconds: they go to Dask in batches (None: learned from their durations)"
    )
    # workflow dependencies (issue 5): the assets a success of the task updates
    outlets: tuple[str, ...] = Field(default=(), description="URIs of the assets each success of the task updates")

    # TriggerDagRunTask: the run of another DAG that the scheduler starts for this task
    trigger: TriggerSpec | None = Field(default=None, description="for TriggerDagRunTask: the DAG it starts (the scheduler runs it)")

    # task groups (issue 6): the innermost group the task was made in (its id starts with the group's)
    task_group: str | None = Field(default=None, description="full id of the innermost task group holding the task")

    # declarative workflows (issue 6): `next` edges with a condition, judged when the task succeeds
    next_conditions: dict[str, str] = Field(
        default_factory=dict, description="downstream task_id -> the condition (orchestrator.core.expressions) under which it is followed"
    )

    # decisions, wait strategies and dynamic mapping (issue 6)
    branch: bool = Field(default=False, description="the task's outcome names the direct downstream tasks to follow (@task.branch)")
    min_success: int | Literal["all", "any", "majority"] | None = Field(
        default=None, description="run once this many direct upstreams succeeded (N, all, any or majority), instead of a trigger rule"
    )
    mapped: tuple[MapSource, ...] = Field(
        default=(), description="the arguments the task is mapped over: one instance per item (per combination) at run time"
    )

    # error transitions, compensation, idempotency, loop-back, sub-workflows (issue 6)
    on_failure: Literal["continue", "stop"] | dict[str, str] | None = Field(
        default=None,
        description="after the last try failed: None fails as usual, continue lets the downstream run, stop fails the run at "
        "once, or {error type name or '*': handler task_id} routes the error to that task",
    )
    compensate: str | None = Field(default=None, description="the task that undoes this one when the run fails after it succeeded")
    idempotency_key: str | None = Field(default=None, description="a template: a try whose rendered key already succeeded is not run again")
    loop: LoopSpec | None = Field(default=None, description="set on a loop-back group's controller task")
    subdag: SubDagSpec | None = Field(default=None, description="for SubDagTask: input and output mapping, what a failed child does")

    # human approvals and waits for events (issue 6): the scheduler settles the task, no worker runs it
    wait: Annotated[ApprovalSpec | EventWaitSpec | TriggerWaitSpec, Field(discriminator="kind")] | None = Field(
        default=None, description="for ApprovalTask, WaitForEvent and a deferrable sensor: the decision, the outside event "
        "or the trigger the task waits for",
    )
    # sensors (issue 12): how a sensor that runs on workers pokes (a deferrable one has `wait` instead)
    sensor: SensorSpec | None = Field(default=None, description="for a sensor on workers: its mode, interval, timeout and backoff")

    # Airflow authoring (issue 12): setup/teardown, depends_on_past
    setup_teardown: Literal["setup", "teardown"] | None = Field(
        default=None, description="a setup, or a teardown (runs once its upstreams ended if a setup of it succeeded)"
    )
    fail_dagrun: bool = Field(default=False, description="for a teardown: its failure fails the run (else the run's state ignores it)")
    deadline: DeadlineSpec | None = Field(default=None, description="when the task should have finished (orchestrator.core.deadlines)")
    on_deadline_miss: str | None = Field(default=None, description="module:qualname of the task's deadline-miss callback, if any")
    depends_on_past: bool = Field(
        default=False, description="runs only once the same task of the DAG's previous run (by logical date) succeeded or was skipped"
    )

    @field_validator("on_failure", mode="before")
    @classmethod
    def _fail_is_the_default(cls, value: Any) -> Any:
        return None if value == "fail" else value

    _HASHED_WHEN_SET: ClassVar[tuple[str, ...]] = (
        "outlets", "trigger", "task_group", "next_conditions", "branch", "min_success", "mapped",
        "on_failure", "compensate", "idempotency_key", "loop", "subdag", "wait", "tiny", "setup_teardown", "fail_dagrun",
        "depends_on_past", "sensor", "deadline", "on_deadline_miss",
    )

    @property
    def decides_downstream(self) -> bool:
        """Whether the task's outcome may skip some of its direct downstream (a branch, conditional edges):
        nothing is chained to it, since what follows it is known only once it ended."""
        return self.branch or bool(self.next_conditions)


class TaskGroupSpec(BaseModel):
    """A task group: drawn as one collapsible box around its tasks."""

    model_config = ConfigDict(frozen=True)

    group_id: str = Field(description="full id, the enclosing groups' ids joined with '.'")
    parent: str | None = Field(default=None, description="full id of the enclosing group, if any")
    tooltip: str | None = None


class DagSpec(BaseModel):
    """A DAG without its code: enough for the scheduler to decide and the UI to draw."""

    model_config = ConfigDict(frozen=True)

    dag_id: str
    fileloc: str
    schedule: str | None = None
    timezone: str = "UTC"
    start_date: datetime | None = None
    end_date: datetime | None = None
    catchup: bool = False
    max_active_runs: int | None = 16
    max_active_tasks: int | None = Field(default=None, description="tasks of this DAG in flight at once, across its runs")
    tags: tuple[str, ...] = ()
    description: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    tasks: tuple[TaskSpec, ...] = ()
    on_success_callback: str | None = Field(default=None, description="module:qualname of the DAG's success callback, if any")
    on_failure_callback: str | None = Field(default=None, description="module:qualname of the DAG's failure callback, if any")
    # workflow dependencies (issue 5): asset schedules and outside events
    asset_schedule: AssetCondition | None = Field(default=None, description="run when all (or any) of these assets were updated")
    triggers: tuple[EventTriggerSpec, ...] = Field(default=(), description="outside events that start a run")
    depends_on: tuple[DependencySpec, ...] = Field(default=(), description="runs of other DAGs that each run waits for")
    task_groups: tuple[TaskGroupSpec, ...] = Field(default=(), description="task groups, each listed after its parent")
    # declarative workflows and versions (issue 6)
    input_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema that a run's input (params, then conf) must match")
    title: str | None = Field(default=None, description="a human-readable name (a workflow file's `name`)")
    version_label: str | None = Field(default=None, description="the author's version of the DAG (a workflow file's `version`)")
    doc_md: str | None = Field(default=None, description="the DAG's documentation in Markdown, shown on its page")
    # day-two operations (issue 13): run timeout and deadlines
    dagrun_timeout_s: float | None = Field(default=None, description="a run still unfinished this long after its start fails")
    deadline: DeadlineSpec | None = Field(default=None, description="when a run should have finished (orchestrator.core.deadlines)")
    on_deadline_miss_callback: str | None = Field(default=None, description="module:qualname of the DAG's deadline-miss callback, if any")
    # state-machine workflows (issue 14): the tasks are the machine's actions, run when it says so
    machine: MachineSpec | None = Field(default=None, description="the finite state machine the run follows (orchestrator.core.machine)")
    # seed 002's executionLog retention: the DAG's own retention of its finished runs (orchestrator.operations.retention)
    log_retention_s: float | None = Field(
        default=None, gt=0, description="finished runs older than this many seconds are purged with their logs and events (the daily policy)"
    )

    @model_validator(mode="after")
    def _tasks_in_topological_order(self) -> DagSpec:
        """Every upstream is a task of the DAG listed before its downstream (the planner relies on it)."""
        seen: set[str] = set()
        for t in self.tasks:
            if t.task_id in seen:
                raise ValueError(f"task id {t.task_id!r} appears twice")
            missing = [u for u in t.upstream if u not in seen]
            if missing:
                raise ValueError(f"task {t.task_id!r} lists upstream {missing[0]!r}, which is not a task listed before it")
            seen.add(t.task_id)
        groups: set[str] = set()
        for g in self.task_groups:
            if g.parent is not None and g.parent not in groups:
                raise ValueError(f"task group {g.group_id!r} lists parent {g.parent!r}, which is not a group listed before it")
            groups.add(g.group_id)
        strays = [t.task_id for t in self.tasks if t.task_group is not None and t.task_group not in groups]
        if strays:
            raise ValueError(f"task {strays[0]!r} is in a task group that the DAG does not list")
        problem = error_flow_problem(self.tasks)
        if problem is not None:
            raise ValueError(problem)
        if self.machine is not None:
            unknown = [a for a in self.machine.actions if a not in seen]
            if unknown:
                raise ValueError(f"the machine's action {unknown[0]!r} is not a task of the DAG")
            wired = [t.task_id for t in self.tasks if t.upstream]
            if wired:
                raise ValueError(f"task {wired[0]!r} of a state machine has upstream tasks: a machine's actions run when states say so")
        return self

    _HASHED_WHEN_SET: ClassVar[tuple[str, ...]] = (
        "on_success_callback", "on_failure_callback", "asset_schedule", "triggers", "depends_on", "task_groups",
        "input_schema", "title", "version_label", "doc_md", "dagrun_timeout_s", "deadline", "on_deadline_miss_callback",
        "machine",
        "log_retention_s",
    )
    _CACHED: ClassVar[tuple[str, ...]] = (
        "version_hash", "task_map", "topo_index", "downstream", "leaves", "error_handlers", "compensations", "flow_leaves", "edges",
    )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> DagSpec:
        """A copy whose derived values are recomputed: cached ones would describe the original."""
        copied = super().model_copy(update=update, deep=deep)
        for name in self._CACHED:
            copied.__dict__.pop(name, None)
        return copied

    @cached_property
    def version_hash(self) -> str:
        """A short hash of everything in the spec: a new hash means a new DAG version."""
        dumped = self.model_dump(mode="json")
        # fields added later count only when set, so DAGs without them keep their version hash
        _drop_unset(dumped, self._HASHED_WHEN_SET)
        for trigger in dumped.get("triggers") or ():
            _drop_default(trigger, NEW_DEFAULTS)
        for task in dumped["tasks"]:
            _drop_unset(task, TaskSpec._HASHED_WHEN_SET)
            if isinstance(task.get("wait"), dict):
                _drop_default(task["wait"], NEW_DEFAULTS)
        canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @cached_property
    def task_map(self) -> dict[str, TaskSpec]:
        return {t.task_id: t for t in self.tasks}

    @cached_property
    def topo_index(self) -> dict[str, int]:
        """task_id -> its position in `tasks`, which lists every task after its upstreams."""
        return {t.task_id: i for i, t in enumerate(self.tasks)}

    @cached_property
    def downstream(self) -> dict[str, tuple[str, ...]]:
        """task_id -> the ids of the tasks that list it as an upstream."""
        down: dict[str, list[str]] = {t.task_id: [] for t in self.tasks}
        for t in self.tasks:
            for up in t.upstream:
                down[up].append(t.task_id)
        return {k: tuple(v) for k, v in down.items()}

    @cached_property
    def edges(self) -> dict[str, tuple[Edge, ...]]:
        """task_id -> its conditional edges, compiled once per DAG version (tasks with `next_conditions`)."""
        return compile_edges(self)

    @cached_property
    def leaves(self) -> tuple[str, ...]:
        return tuple(tid for tid, down in self.downstream.items() if not down)

    @cached_property
    def error_handlers(self) -> dict[str, tuple[str, ...]]:
        """handler task_id -> the tasks whose `on_failure` routes errors to it (they are its upstreams)."""
        handlers: dict[str, list[str]] = {}
        for t in self.tasks:
            if isinstance(t.on_failure, dict):
                for handler in dict.fromkeys(t.on_failure.values()):
                    handlers.setdefault(handler, []).append(t.task_id)
        return {k: tuple(v) for k, v in handlers.items()}

    @cached_property
    def compensations(self) -> dict[str, str]:
        """compensation task_id -> the task it undoes. Compensation tasks run only when a run fails."""
        return {t.compensate: t.task_id for t in self.tasks if t.compensate is not None}

    @cached_property
    def flow_leaves(self) -> tuple[str, ...]:
        """The leaves that judge a run's outcome: tasks with no downstream but compensation tasks and
        teardowns (whose failure does not count, unless they say `fail_dagrun`)."""
        aside = set(self.compensations) | {
            t.task_id for t in self.tasks if t.setup_teardown == "teardown" and not t.fail_dagrun
        }
        return tuple(
            tid for tid, down in self.downstream.items() if tid not in aside and all(d in aside for d in down)
        )


NEW_DEFAULTS: dict[str, Any] = {"transform_language": "jmespath", "strategy": "count", "weights": {}, "threshold": None}
"""Nested fields added later (an event trigger's, an approval's), dropped from the hash at these defaults."""


def _drop_default(dumped: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    for name, default in defaults.items():
        if name in dumped and dumped[name] == default:
            del dumped[name]


def _drop_unset(dumped: dict[str, Any], names: tuple[str, ...]) -> None:
    """Remove the fields among `names` left at None, empty or False."""
    for name in names:
        if dumped.get(name) in (None, [], {}, False):
            dumped.pop(name, None)


def error_flow_problem(tasks: Sequence[TaskSpec]) -> str | None:
    """What is wrong with the tasks' error handlers, compensations and loops, if anything.

    A handler runs only when an error is routed to it, so its upstreams are exactly the tasks
    routing to it; a compensation task runs only after the run failed, so nothing waits for it.
    """
    by_id = {t.task_id: t for t in tasks}
    handlers: dict[str, list[str]] = {}
    for t in tasks:
        for handler in dict.fromkeys(t.on_failure.values()) if isinstance(t.on_failure, dict) else ():
            if handler not in by_id or handler == t.task_id:
                return f"task {t.task_id!r}: on_failure routes to {handler!r}, which is not another task of the DAG"
            if t.task_id not in by_id[handler].upstream:
                return f"task {t.task_id!r}: its error handler {handler!r} must list it as an upstream"
            handlers.setdefault(handler, []).append(t.task_id)
        for tid in t.loop.tasks if t.loop is not None else ():
            if tid not in by_id:
                return f"loop group {t.loop.group_id!r} lists task {tid!r}, which is not a task of the DAG"
    for handler, sources in handlers.items():
        others = [u for u in by_id[handler].upstream if u not in sources]
        if others:
            return f"error handler {handler!r} runs only when an error is routed to it: it cannot also wait for {others[0]!r}"
    compensated: dict[str, str] = {}
    for t in tasks:
        comp = t.compensate
        if comp is None:
            continue
        if comp not in by_id or comp == t.task_id:
            return f"task {t.task_id!r}: compensate names {comp!r}, which is not another task of the DAG"
        if comp in compensated:
            return f"task {comp!r} compensates both {compensated[comp]!r} and {t.task_id!r}: give each its own"
        if comp in handlers:
            return f"task {comp!r} cannot be both an error handler and a compensation task"
        compensated[comp] = t.task_id
    for t in tasks:
        waits_for = [u for u in t.upstream if u in compensated]
        if waits_for:
            return f"compensation task {waits_for[0]!r} runs only when the run fails: no task may wait for it ({t.task_id!r} does)"
    return None
