"""Analytics of a DAG's runs: how many, how many succeeded, how long they took (p50/p95) and which
steps are the bottlenecks (seed 000's "bottleneck identification"). Pure: rows in, figures out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.core.states import RunState


@dataclass(frozen=True)
class RunSample:
    """One run: its state, when it started and ended (once it did), and the version it is pinned to."""

    state: str
    start: datetime | None
    end: datetime | None
    version: int | None = None


@dataclass(frozen=True)
class TrySample:
    """One ended try of a step."""

    task_id: str
    state: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Durations:
    """Seconds: the median, the 95th percentile, the mean and the longest (None without samples)."""

    count: int
    p50: float | None
    p95: float | None
    mean: float | None
    max: float | None


@dataclass(frozen=True)
class StepStats:
    task_id: str
    tries: int
    failed_tries: int
    durations: Durations


@dataclass(frozen=True)
class VersionStats:
    """The runs pinned to one version."""

    version: int | None
    runs: int
    finished: int
    succeeded: int
    success_rate: float | None


@dataclass(frozen=True)
class RunStats:
    runs: int
    by_state: dict[str, int]
    finished: int
    succeeded: int
    success_rate: float | None
    """succeeded / finished (success, failed or cancelled runs); None before any run finished"""
    durations: Durations
    """of the runs that finished after starting"""
    slowest_steps: list[StepStats] = field(default_factory=list)
    """the steps with the longest p95 try duration, longest first"""
    versions: list[VersionStats] = field(default_factory=list)
    """the runs by the version they are pinned to, newest version first"""


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) of sorted values, interpolated linearly between closest ranks."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def durations(values: Iterable[float]) -> Durations:
    ordered = sorted(values)
    if not ordered:
        return Durations(0, None, None, None, None)
    return Durations(len(ordered), percentile(ordered, 50), percentile(ordered, 95), sum(ordered) / len(ordered), ordered[-1])


FINISHED = (RunState.SUCCESS.value, RunState.FAILED.value, RunState.CANCELLED.value)


def run_stats(runs: Sequence[RunSample], tries: Sequence[TrySample], *, slowest: int = 5) -> RunStats:
    """The figures of these runs and of their steps' ended tries; `slowest` steps are listed."""
    by_state = _count_states(runs)
    finished = sum(by_state.get(s, 0) for s in FINISHED)
    succeeded = by_state.get(RunState.SUCCESS.value, 0)
    run_seconds = [
        (r.end - r.start).total_seconds() for r in runs if r.state in FINISHED and r.start is not None and r.end is not None
    ]
    per_step: dict[str, list[TrySample]] = {}
    for t in tries:
        per_step.setdefault(t.task_id, []).append(t)
    steps = [
        StepStats(task_id, len(samples), sum(1 for t in samples if t.state == "failed"),
                  durations((t.end - t.start).total_seconds() for t in samples))
        for task_id, samples in per_step.items()
    ]
    steps.sort(key=lambda s: (-(s.durations.p95 or 0.0), -(s.durations.mean or 0.0), s.task_id))
    return RunStats(
        runs=len(runs), by_state=dict(sorted(by_state.items())), finished=finished, succeeded=succeeded,
        success_rate=succeeded / finished if finished else None, durations=durations(run_seconds), slowest_steps=steps[:slowest],
        versions=_by_version(runs),
    )


def _count_states(runs: Iterable[RunSample]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.state] = counts.get(run.state, 0) + 1
    return counts


def _by_version(runs: Sequence[RunSample]) -> list[VersionStats]:
    groups: dict[int | None, list[RunSample]] = {}
    for run in runs:
        groups.setdefault(run.version, []).append(run)
    out = []
    for version, group in sorted(groups.items(), key=lambda kv: -1 if kv[0] is None else kv[0], reverse=True):
        counts = _count_states(group)
        finished = sum(counts.get(s, 0) for s in FINISHED)
        succeeded = counts.get(RunState.SUCCESS.value, 0)
        out.append(VersionStats(version, len(group), finished, succeeded, succeeded / finished if finished else None))
    return out
