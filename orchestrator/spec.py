"""DagSpec and TaskSpec: the code-free form of a DAG shared by the store, scheduler, API and UI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.assets import AssetCondition
from orchestrator.dependencies import DependencySpec, TriggerSpec
from orchestrator.states import TriggerRule
from orchestrator.triggers import EventTriggerSpec


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
    # workflow dependencies (issue 5): the assets a success of the task updates
    outlets: tuple[str, ...] = Field(default=(), description="URIs of the assets each success of the task updates")

    # TriggerDagRunTask: the run of another DAG that the scheduler starts for this task
    trigger: TriggerSpec | None = Field(default=None, description="for TriggerDagRunTask: the DAG it starts (the scheduler runs it)")

    _HASHED_WHEN_SET: ClassVar[tuple[str, ...]] = ("outlets", "trigger")


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
        return self

    _HASHED_WHEN_SET: ClassVar[tuple[str, ...]] = ("on_success_callback", "on_failure_callback", "asset_schedule", "triggers", "depends_on")
    _CACHED: ClassVar[tuple[str, ...]] = ("version_hash", "task_map", "topo_index", "downstream", "leaves")

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
        for task in dumped["tasks"]:
            _drop_unset(task, TaskSpec._HASHED_WHEN_SET)
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
    def leaves(self) -> tuple[str, ...]:
        return tuple(tid for tid, down in self.downstream.items() if not down)


def _drop_unset(dumped: dict[str, Any], names: tuple[str, ...]) -> None:
    """Remove the fields among `names` left at None or empty."""
    for name in names:
        if dumped.get(name) in (None, [], {}):
            dumped.pop(name, None)
