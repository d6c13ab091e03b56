"""Dependencies between DAGs: `depends_on=[DagDependency(...)]`, and the pure decisions about them.

A run of a DAG with `depends_on` starts only once each upstream is met:

- `same_interval`: a run of the upstream DAG with the same logical date succeeded;
- `latest`: the newest upstream run whose data interval ends at or before this run's data
  interval end succeeded (a newer failed or unfinished one is not covered by an older success);
- `window`: some upstream run whose logical date lies in `[end - window, end)` succeeded, where
  `end` is this run's data interval end.

With `task_id`, that task of the upstream run must have succeeded instead of the whole run. A run
waits (state `waiting`, with the reason) until its dependencies are met, and fails with the reason
once it has waited longer than a dependency's `timeout`.

Nothing here reads a database or a clock: the scheduler (scheduler/dependencies.py) gathers the
upstream runs' facts and passes `now` in. `find_cycles` finds cross-DAG cycles for the folder sync.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.errors import DagDefinitionError

DependencyMode = Literal["same_interval", "latest", "window"]
MODES: tuple[str, ...] = get_args(DependencyMode)
DEFAULT_TIMEOUT = timedelta(hours=6)
_ID = re.compile(r"[A-Za-z0-9_.\-]{1,250}")  # dag ids and task ids as the authoring API allows them


# -- authoring ------------------------------------------------------------------------------------
class DependencySpec(BaseModel):
    """The code-free form of a DagDependency, kept in the DagSpec."""

    model_config = ConfigDict(frozen=True)

    dag_id: str = Field(description="the upstream DAG")
    task_id: str | None = Field(default=None, description="the upstream task that must have succeeded (default: the whole run)")
    mode: DependencyMode = "same_interval"
    timeout_s: float | None = Field(default=DEFAULT_TIMEOUT.total_seconds(), description="waiting longer fails the run (null: no limit)")
    window_s: float | None = Field(default=None, description="mode window: how far before the data interval end to look")


@dataclass(frozen=True)
class DagDependency:
    """A run of the DAG waits until a run of `dag_id` (or its task `task_id`) succeeded.

    `mode` is "same_interval", "latest" or "window" (with `window=timedelta(...)`); see the
    module's docstring. Past `timeout` (a timedelta or seconds; None waits without limit) the run
    fails. Arguments are checked when the DAG is created.
    """

    dag_id: str
    task_id: str | None = None
    mode: str = "same_interval"
    timeout: timedelta | float | None = DEFAULT_TIMEOUT
    window: timedelta | float | None = None


def _positive_seconds(value: object, what: str) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{what} must be a timedelta or a number of seconds, not {value!r}")
    if not seconds > 0:
        raise ValueError(f"{what} must be positive, not {value!r}")
    return seconds


def _dependency_spec(dep: object) -> DependencySpec:
    """The checked spec of one dependency; ValueError saying what is wrong."""
    if not isinstance(dep, DagDependency):
        raise ValueError(f"expected a DagDependency, not {dep!r}")
    if not isinstance(dep.dag_id, str) or not _ID.fullmatch(dep.dag_id):
        raise ValueError(f"dag_id {dep.dag_id!r} is not a valid DAG id")
    if dep.task_id is not None and (not isinstance(dep.task_id, str) or not _ID.fullmatch(dep.task_id)):
        raise ValueError(f"task_id {dep.task_id!r} is not a valid task id")
    if dep.mode not in MODES:
        raise ValueError(f"mode {dep.mode!r} is not one of {', '.join(MODES)}")
    if dep.mode == "window" and dep.window is None:
        raise ValueError("mode 'window' needs window=timedelta(...)")
    if dep.mode != "window" and dep.window is not None:
        raise ValueError(f"window is only for mode 'window', not {dep.mode!r}")
    return DependencySpec(
        dag_id=dep.dag_id,
        task_id=dep.task_id,
        mode=dep.mode,  # type: ignore[arg-type]  # checked against MODES above
        timeout_s=None if dep.timeout is None else _positive_seconds(dep.timeout, "timeout"),
        window_s=None if dep.window is None else _positive_seconds(dep.window, "window"),
    )


def dependency_specs(dag_id: str, depends_on: Iterable[object] | None) -> tuple[DependencySpec, ...]:
    """The checked specs of a DAG's `depends_on`; DagDefinitionError naming the DAG otherwise."""
    if depends_on is None:
        return ()
    if isinstance(depends_on, (str, bytes, DagDependency)) or not isinstance(depends_on, Iterable):
        raise DagDefinitionError(f"DAG {dag_id!r}: depends_on must be a list of DagDependency, not {depends_on!r}")
    specs = []
    for i, dep in enumerate(depends_on):
        try:
            spec = _dependency_spec(dep)
        except ValueError as exc:
            raise DagDefinitionError(f"DAG {dag_id!r}: depends_on[{i}]: {exc}") from None
        if spec.dag_id == dag_id:
            raise DagDefinitionError(f"DAG {dag_id!r}: depends_on[{i}]: a DAG cannot depend on itself")
        specs.append(spec)
    return tuple(specs)


# -- deciding ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpstreamRun:
    """What the decision needs to know about one run of an upstream DAG."""

    run_id: str
    logical_date: datetime
    data_interval_end: datetime | None
    state: str
    task_state: str | None = None
    """The state of the dependency's task_id in this run (None: it has no such task instance yet)."""


@dataclass(frozen=True)
class WaitingRun:
    """The dates of the run whose dependencies are checked."""

    logical_date: datetime
    data_interval_end: datetime | None


@dataclass(frozen=True)
class Met:
    """Every dependency is met: the run starts."""


@dataclass(frozen=True)
class Wait:
    """Some dependency is not met yet: the run waits, showing `reason`."""

    reason: str


@dataclass(frozen=True)
class TimedOut:
    """A dependency was not met within its timeout: the run fails with `reason`."""

    reason: str


Decision = Met | Wait | TimedOut


def fmt_date(value: datetime) -> str:
    """A UTC time as the waiting reasons print it: 2026-11-22T00:00Z (seconds only when set)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ" if value.second or value.microsecond else "%Y-%m-%dT%H:%MZ")


def fmt_span(seconds: float) -> str:
    """A duration as 6h, 1h30m, 45s."""
    rest = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or f"{seconds:g}s"


def _end(run: WaitingRun) -> datetime:
    return run.data_interval_end or run.logical_date


def _candidates(dep: DependencySpec, run: WaitingRun, upstream: Sequence[UpstreamRun]) -> tuple[str, list[UpstreamRun]]:
    """What the dependency waits for, in words, and the upstream runs that can meet it."""
    end = _end(run)
    if dep.mode == "same_interval":
        return f"{dep.dag_id} run of {fmt_date(run.logical_date)}", [u for u in upstream if u.logical_date == run.logical_date]
    if dep.mode == "latest":
        before = [u for u in upstream if (u.data_interval_end or u.logical_date) <= end]
        newest = max((u.data_interval_end or u.logical_date for u in before), default=None)
        return (
            f"the latest {dep.dag_id} run at or before {fmt_date(end)}",
            [u for u in before if (u.data_interval_end or u.logical_date) == newest],
        )
    assert dep.window_s is not None, "a window dependency has a window"
    start = end - timedelta(seconds=dep.window_s)
    return f"a {dep.dag_id} run between {fmt_date(start)} and {fmt_date(end)}", [u for u in upstream if start <= u.logical_date < end]


def unmet_reason(dep: DependencySpec, run: WaitingRun, upstream: Sequence[UpstreamRun] | None) -> str | None:
    """None when `dep` is met by the `upstream` runs (None: the upstream DAG does not exist), else why not."""
    if upstream is None:
        return f"waiting for DAG {dep.dag_id}, which does not exist (yet)"
    target, candidates = _candidates(dep, run, upstream)
    if dep.task_id is not None:
        target = f"task {dep.task_id} of {target}"
    outcome = [u.task_state if dep.task_id is not None else u.state for u in candidates]
    if "success" in outcome:
        return None
    if not candidates:
        detail = "no such run yet"
    else:
        detail = ", ".join(f"{u.run_id} is {state or 'not started'}" for u, state in zip(candidates, outcome))
    return f"waiting for {target} ({dep.mode}) to succeed; {detail}"


def decide(
    deps: Sequence[tuple[DependencySpec, Sequence[UpstreamRun] | None]],
    run: WaitingRun,
    waiting_since: datetime | None,
    now: datetime,
) -> Decision:
    """Met, Wait (with every unmet dependency's reason) or TimedOut (the first whose timeout passed).

    `waiting_since` is when the run began waiting (None: it has not waited yet, so it starts now).
    """
    waited = (now - (waiting_since or now)).total_seconds()
    reasons = []
    for dep, upstream in deps:
        reason = unmet_reason(dep, run, upstream)
        if reason is None:
            continue
        if dep.timeout_s is not None and waited > dep.timeout_s:
            return TimedOut(f"timed out after {fmt_span(dep.timeout_s)}: {reason}")
        reasons.append(reason)
    return Wait("; ".join(reasons)) if reasons else Met()


def past_reason(previous_run_id: str | None, states: Mapping[str, str | None]) -> str | None:
    """None when the run may start as far as `depends_on_past` goes, else why it waits: each such
    task must have succeeded or been skipped in the DAG's previous run (none: nothing to wait for).
    `states` maps those tasks to their state in that run (None: not started)."""
    if previous_run_id is None:
        return None
    pending = {tid: state for tid, state in states.items() if state not in ("success", "skipped")}
    if not pending:
        return None
    detail = ", ".join(f"{tid} is {state or 'not started'}" for tid, state in sorted(pending.items()))
    return f"depends_on_past: waiting for the previous run {previous_run_id}: {detail}"


# -- cycles -------------------------------------------------------------------------------------------
def find_cycles(graph: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Every DAG on a cycle of `graph` (dag_id -> the dag_ids it depends on), with one cycle through it,
    as a path that ends where it starts: {"etl": ["etl", "report", "etl"], "report": [...]}.
    Names that are not keys (DAGs not known) end a path."""
    edges = {node: sorted(set(deps)) for node, deps in graph.items()}
    found: dict[str, list[str]] = {}
    for start in sorted(edges):
        # breadth first from `start`: the first way back to it is a shortest one
        parent: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in parent:
            nxt = []
            for node in frontier:
                for dep in edges.get(node, ()):
                    if dep not in parent:
                        parent[dep] = node
                        nxt.append(dep)
            frontier = nxt
        if start in parent:
            path = [start]
            node = parent[start]
            while node != start:
                path.append(node)
                node = parent[node]
            path.append(start)
            found[start] = path[::-1]
    return found


# -- starting another DAG -------------------------------------------------------------------------------
class TriggerSpec(BaseModel):
    """The code-free form of a TriggerDagRunTask: the scheduler itself starts the run of `dag_id`."""

    model_config = ConfigDict(frozen=True)

    dag_id: str = Field(description="the DAG to start a run of")
    conf: dict[str, Any] = Field(default_factory=dict, description="the child run's conf")
    wait: bool = Field(default=False, description="the task ends with the child run (else once the child is created)")
