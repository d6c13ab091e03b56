"""A workflow's steps made into the tasks, task groups and edges (with their conditions) of its DAG.

`WorkflowDag` is the DAG of a workflow file; `_Builder` fills it from the steps and records every
problem with its path. orchestrator.declarative.compiler (`build_dag`) drives it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from orchestrator.authoring.dag import DAG
from orchestrator.authoring.loops import LoopGroup
from orchestrator.authoring.task_group import TaskGroup
from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.error_routing import CODE_PREFIX
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.mapping import MappingError, map_length
from orchestrator.core.spec import DagSpec, MapSource
from orchestrator.core.states import TriggerRule
from orchestrator.declarative.step_tasks import (
    ForeachItems,
    FunctionStep,
    TaskIdError,
    import_function,
    resolve_step_type,
    type_error_text,
)
from orchestrator.declarative.workflow import Foreach, OnFailure, RepeatUntil, Step, Workflow


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
                    task_id=step.step_id, ref=step.task_id, function=import_function(step.task_id), arguments=step.input,
                    dag=self.dag, **options,
                )
            else:
                own = resolve_step_type(step.task_id)(task_id=step.step_id, dag=self.dag, **step.input, **options)
        except TaskIdError as exc:
            self.problems.append((f"{here}.taskId", str(exc)))
            return None, None
        except TypeError as exc:
            self.problems.append((f"{here}.input", type_error_text(exc)))
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


# -- conditions on edges, judged by the scheduler when a step succeeds ---------------------------
def _walk(steps: list[Step], prefix: str) -> Iterator[tuple[str, Step]]:
    """Every step (branches' too) with the task id prefix of its branch ("billing." inside billing)."""
    for step in steps:
        yield prefix, step
        for branch in step.parallel_branches:
            yield from _walk(branch.steps, f"{prefix}{branch.branch_id}.")
