"""Conditional edges: which downstream tasks a succeeded task's `next` conditions let through.

A declarative step's edges may carry a condition (orchestrator.declarative.workflow writes them into the
TaskSpec's `next_conditions`). They are compiled once per DAG version (`DagSpec.edges`, a cached
value of the spec) and judged by the scheduler when the step succeeds, so nothing on the
completion path parses expressions or imports the workflow-file module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.core.expressions import EvaluationError, Expression, ExpressionError, compile_expression

if TYPE_CHECKING:
    from orchestrator.core.spec import DagSpec

CONDITION_NAMES = ("data", "params", "input", "steps")
"""What an edge condition may read: the step's result, the run's input (twice named), every step."""


@dataclass(frozen=True)
class Edge:
    """The edge from a task with conditions to one of its downstream tasks."""

    downstream: str
    condition: Expression | None = None
    """None: followed whatever happened (an edge without a condition)."""
    problem: str | None = None
    """Why the condition cannot be compiled (the edge is never followed), if it cannot."""


def compile_edges(spec: DagSpec) -> dict[str, tuple[Edge, ...]]:
    """task_id -> its edges, in downstream order, for every task with `next` conditions."""
    edges: dict[str, tuple[Edge, ...]] = {}
    for task in spec.tasks:
        if not task.next_conditions:
            continue
        compiled = []
        for down in spec.downstream[task.task_id]:
            source = task.next_conditions.get(down)
            if source is None:
                compiled.append(Edge(down))
                continue
            try:
                compiled.append(Edge(down, compile_expression(source, CONDITION_NAMES)))
            except ExpressionError as exc:
                compiled.append(Edge(down, problem=str(exc)))
        edges[task.task_id] = tuple(compiled)
    return edges


def follow_edges(
    spec: DagSpec, task_id: str, result: Any, params: Mapping[str, Any], states: Mapping[str, tuple[str, Any]]
) -> tuple[tuple[str, ...] | None, list[str]]:
    """Which direct downstream tasks a succeeded step's `next` conditions let through (None: all,
    when it has no conditions), and a note for each condition that could not be judged (it counts
    as false). `states` is task_id -> (state, result) of every task of the run.

    A condition reads `data` (the step's result), `params` / `input` (the run's input) and `steps`
    (`steps.<id>.result` / `.state`; a step in a parallel branch is `steps.<branch>.<id>`).
    """
    edges = spec.edges.get(task_id)
    if edges is None:
        return None, []
    scope = {"data": result, "params": params, "input": params, "steps": _steps_scope(states)}
    follow: list[str] = []
    notes: list[str] = []
    for edge in edges:
        problem = edge.problem
        if problem is None:
            try:
                if edge.condition is None or edge.condition.holds(scope):
                    follow.append(edge.downstream)
                continue
            except EvaluationError as exc:
                problem = str(exc)
        notes.append(f"the condition of the edge to {edge.downstream} could not be judged, so it is not followed: {problem}")
    return tuple(follow), notes


def _steps_scope(states: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """{"a": {"state", "result"}, "branch": {"b": {...}}}: dotted task ids (task groups) nest."""
    scope: dict[str, Any] = {}
    for task_id, (state, result) in states.items():
        *groups, name = task_id.split(".")
        level = scope
        for group in groups:
            level = level.setdefault(group, {})
        level[name] = {"state": state, "result": result}
    return scope
