"""The DAG: a context manager that collects tasks, and `chain`."""

from __future__ import annotations

import functools
import inspect
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.task_options import callable_ref_of
from orchestrator.core.assets import AnyOf, Asset, asset_condition
from orchestrator.core.deadlines import Deadline, deadline_spec, retention_seconds, timeout_seconds
from orchestrator.core.dependencies import DagDependency, dependency_specs
from orchestrator.core.error_routing import wire_error_handlers
from orchestrator.core.errors import CycleError, DagDefinitionError, DuplicateTaskIdError
from orchestrator.core.inputs import check_schema, input_problems
from orchestrator.core.params import split_params
from orchestrator.core.schedule import cron_expression, delta_cron, zone
from orchestrator.core.spec import DagSpec, error_flow_problem
from orchestrator.core.timetables import Timetable, register
from orchestrator.core.triggers import EventTrigger

if TYPE_CHECKING:
    from orchestrator.authoring.task_group import TaskGroup
    from orchestrator.authoring.tasks import BaseTask, XComArg
    from orchestrator.execution.context import TaskContext

_local = threading.local()
_DAG_ID = re.compile(r"[A-Za-z0-9_.\-]{1,250}")


def _stack() -> list[DAG]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current_dag() -> DAG | None:
    """The innermost DAG whose `with` block is open in this thread."""
    stack = _stack()
    return stack[-1] if stack else None


@contextmanager
def collect_dags() -> Iterator[list[DAG]]:
    """Record every DAG created in this thread while the block runs (used by the loader)."""
    previous = getattr(_local, "collector", None)
    found: list[DAG] = []
    _local.collector = found
    try:
        yield found
    finally:
        _local.collector = previous


class DAG:
    """A workflow: tasks and their dependencies, a schedule and run-level settings."""

    def __init__(
        self,
        dag_id: str,
        *,
        schedule: str | timedelta | Timetable | Sequence[Asset] | AnyOf | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        timezone: str = "UTC",
        default_args: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        max_active_runs: int | None = 16,
        description: str | None = None,
        max_active_tasks: int | None = None,
        params: dict[str, Any] | None = None,
        on_success_callback: Callable[[TaskContext], Any] | None = None,
        on_failure_callback: Callable[[TaskContext], Any] | None = None,
        triggers: Sequence[EventTrigger] | None = None,
        depends_on: Sequence[DagDependency] | None = None,
        input_schema: dict[str, Any] | None = None,
        doc_md: str | None = None,
        title: str | None = None,
        dagrun_timeout: timedelta | float | None = None,
        deadline: Deadline | None = None,
        on_deadline_miss: Callable[[TaskContext], Any] | None = None,
        log_retention: timedelta | float | str | None = None,
    ) -> None:
        """`schedule` is a cron string or preset, a `timedelta` (every N minutes, hours, a day or a
        week from `start_date`), assets, or None. `params` may hold `Param`s, whose JSON Schemas
        check a run's conf and draw its trigger form; `doc_md` is shown on the DAG's page.
        A run unfinished `dagrun_timeout` after its start fails; one unfinished at its `deadline`
        is late: the miss is recorded, `on_deadline_miss` called and the deadline's `notify` told.
        `log_retention` (a timedelta, seconds or ISO 8601 such as "P30D"): the scheduler's daily
        retention purges this DAG's finished runs older than that, with their logs and events."""
        if not isinstance(dag_id, str) or not _DAG_ID.fullmatch(dag_id):  # match() lets "id\n" through
            raise DagDefinitionError(f"dag_id {dag_id!r} is not valid: use 1-250 letters, digits, '_', '-' or '.'")
        if isinstance(schedule, Timetable):
            schedule = register(schedule)
        if isinstance(schedule, timedelta):
            zone(timezone)
            local_start = start_date.astimezone(zone(timezone)) if start_date and start_date.tzinfo else start_date
            schedule = delta_cron(schedule, local_start)
        # a list of assets (all) or AnyOf (any): runs when they were updated, no cron
        self.asset_schedule = None if schedule is None or isinstance(schedule, str) else asset_condition(dag_id, schedule)
        if isinstance(schedule, str):
            cron_expression(schedule)
            if start_date is None:
                raise DagDefinitionError(f"DAG {dag_id!r} has a schedule but no start_date")
        zone(timezone)
        if max_active_runs is not None and max_active_runs < 1:
            raise DagDefinitionError(f"DAG {dag_id!r}: max_active_runs must be at least 1 or None for unlimited")
        self.dag_id = dag_id
        self.schedule = schedule if isinstance(schedule, str) else None
        if triggers is not None and (not isinstance(triggers, (list, tuple)) or not all(isinstance(t, EventTrigger) for t in triggers)):
            raise DagDefinitionError(f"DAG {dag_id!r}: triggers must be a list of EventTrigger(...), not {triggers!r}")
        self.triggers = list(triggers or ())
        # runs of other DAGs each run waits for (checked here, so a mistake is an import error)
        self.depends_on = dependency_specs(dag_id, depends_on)
        self.start_date = start_date
        self.end_date = end_date
        self.catchup = catchup
        self.timezone = timezone
        self.default_args = dict(default_args or {})
        self.tags = list(tags or [])
        self.max_active_runs = max_active_runs
        if max_active_tasks is not None and (not isinstance(max_active_tasks, int) or max_active_tasks < 1):
            raise DagDefinitionError(f"DAG {dag_id!r}: max_active_tasks must be at least 1 or None for unlimited")
        self.max_active_tasks = max_active_tasks
        self.description = description
        self.params, param_schema = split_params(dag_id, dict(params or {}))
        if param_schema is not None and input_schema is None:
            input_schema = param_schema
        self.doc_md = doc_md
        self.title = title
        # the JSON Schema a run's input must match: checked here, and against params when runs need no conf
        self.input_schema = None if input_schema is None else check_schema(input_schema, f"DAG {dag_id!r}: input_schema")
        if self.input_schema is not None and (self.schedule or self.asset_schedule):
            problems = input_problems(self.input_schema, self.params)
            if problems:
                raise DagDefinitionError(
                    f"DAG {dag_id!r} is scheduled, so its params must match its input_schema: "
                    + "; ".join(f"{p['path']}: {p['message']}" for p in problems)
                )
        for name, fn in (("on_success_callback", on_success_callback), ("on_failure_callback", on_failure_callback)):
            if fn is not None and not callable(fn):
                raise DagDefinitionError(f"DAG {dag_id!r}: {name} must be callable, not {fn!r}")
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        if on_deadline_miss is not None and not callable(on_deadline_miss):
            raise DagDefinitionError(f"DAG {dag_id!r}: on_deadline_miss must be callable, not {on_deadline_miss!r}")
        self.on_deadline_miss = on_deadline_miss
        self.dagrun_timeout_s = timeout_seconds(dagrun_timeout, f"DAG {dag_id!r}")
        self.deadline = deadline_spec(deadline, f"DAG {dag_id!r}")
        self.log_retention_s = retention_seconds(log_retention, f"DAG {dag_id!r}")
        self.tasks: dict[str, BaseTask] = {}
        self.task_groups: dict[str, TaskGroup] = {}
        self._open_groups: list[TaskGroup] = []
        self._setup_scopes: list[tuple[BaseTask, set[str]]] = []  # open `with teardown(setup()):` blocks
        self.fileloc: str = ""
        collector = getattr(_local, "collector", None)
        if collector is not None:
            collector.append(self)

    def __enter__(self) -> DAG:
        _stack().append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _stack().pop()

    def add_task(self, t: BaseTask) -> None:
        if t.task_id in self.tasks:
            raise DuplicateTaskIdError(f"DAG {self.dag_id!r} already has a task with id {t.task_id!r}")
        if t.task_id in self.task_groups:
            raise DuplicateTaskIdError(f"DAG {self.dag_id!r} has a task group with id {t.task_id!r}: a task cannot share it")
        self.tasks[t.task_id] = t

    def unique_task_id(self, base: str) -> str:
        """`base`, or `base__1`, `base__2`, ... when taken (as repeated @task calls get).

        Inside a task group the id is checked with the group's prefix, which the task adds itself.
        """
        group = self.current_group()
        taken = (lambda tid: group.child_id(tid) in self.tasks) if group else (lambda tid: tid in self.tasks)
        if not taken(base):
            return base
        n = 1
        while taken(f"{base}__{n}"):
            n += 1
        return f"{base}__{n}"

    # -- task groups (see orchestrator.authoring.task_group)
    def add_group(self, group: TaskGroup) -> None:
        if group.group_id in self.task_groups:
            raise DuplicateTaskIdError(f"DAG {self.dag_id!r} already has a task group with id {group.group_id!r}")
        if group.group_id in self.tasks:
            raise DuplicateTaskIdError(f"DAG {self.dag_id!r} has a task with id {group.group_id!r}: a task group cannot share it")
        self.task_groups[group.group_id] = group

    def current_group(self) -> TaskGroup | None:
        """The innermost task group whose `with` block is open, which new tasks join."""
        return self._open_groups[-1] if self._open_groups else None

    def open_group(self, group: TaskGroup) -> None:
        if group.parent is not self.current_group():
            raise DagDefinitionError(
                f"task group {group.group_id!r} must be opened (with ...:) inside the group it was created in"
            )
        self._open_groups.append(group)

    def close_group(self, group: TaskGroup) -> None:
        self._open_groups.remove(group)

    def get_task(self, task_id: str) -> BaseTask:
        return self.tasks[task_id]

    def topological_order(self) -> list[str]:
        """Task ids with every task after its upstreams; raises CycleError on a cycle."""
        indegree = {tid: len(t.upstream_ids) for tid, t in self.tasks.items()}
        down: dict[str, list[str]] = {tid: [] for tid in self.tasks}
        for tid, t in self.tasks.items():
            for up in t.upstream_ids:
                down[up].append(tid)
        ready = deque(tid for tid, n in indegree.items() if n == 0)
        order: list[str] = []
        while ready:
            tid = ready.popleft()
            order.append(tid)
            for d in down[tid]:
                indegree[d] -= 1
                if indegree[d] == 0:
                    ready.append(d)
        if len(order) != len(self.tasks):
            stuck = sorted(tid for tid, n in indegree.items() if n > 0)
            raise CycleError(f"DAG {self.dag_id!r} has a cycle among tasks {', '.join(stuck)}")
        return order

    def to_spec(self) -> DagSpec:
        """The code-free DagSpec; validates the graph (cycles) and every task's settings."""
        wire_error_handlers(self)
        order = self.topological_order()
        tasks = tuple(self.tasks[tid].to_spec() for tid in order)
        problem = error_flow_problem(tasks)
        if problem is not None:
            raise DagDefinitionError(f"DAG {self.dag_id!r}: {problem}")
        return DagSpec(
            dag_id=self.dag_id,
            fileloc=self.fileloc,
            schedule=self.schedule,
            timezone=self.timezone,
            start_date=self.start_date,
            end_date=self.end_date,
            catchup=self.catchup,
            max_active_runs=self.max_active_runs,
            max_active_tasks=self.max_active_tasks,
            tags=tuple(self.tags),
            description=self.description,
            params=self.params,
            # only the references: the scheduler needs to know a callback exists, the worker runs it
            on_success_callback=_callable_ref(self.on_success_callback),
            on_failure_callback=_callable_ref(self.on_failure_callback),
            tasks=tasks,
            asset_schedule=self.asset_schedule,
            triggers=tuple(t.to_spec() for t in self.triggers),
            depends_on=self.depends_on,
            input_schema=self.input_schema,
            task_groups=tuple(g.to_spec() for g in self.task_groups.values()),
            doc_md=self.doc_md,
            title=self.title,
            dagrun_timeout_s=self.dagrun_timeout_s,
            deadline=self.deadline,
            on_deadline_miss_callback=_callable_ref(self.on_deadline_miss),
            log_retention_s=self.log_retention_s,
        )

    def __repr__(self) -> str:
        return f"<DAG {self.dag_id!r} ({len(self.tasks)} tasks)>"


def dag(fn: Callable[..., Any] | None = None, /, *, dag_id: str | None = None, **dag_kwargs: Any) -> Any:
    """`@dag(schedule=..., ...)` on a function: calling the function makes the DAG (id: the
    function's name; doc_md: its docstring) and runs the function inside it to add the tasks.
    Its keyword parameters' defaults become params (a `params=` entry wins)."""
    return dag_decorator(DAG, fn, dag_id, dag_kwargs)


def dag_decorator(cls: type[DAG], fn: Callable[..., Any] | None, dag_id: str | None, dag_kwargs: dict[str, Any]) -> Any:
    """`@dag` making DAGs of class `cls` (the Airflow names' DAG takes Airflow's arguments)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., DAG]:
        @functools.wraps(f)
        def make(*args: Any, **kwargs: Any) -> DAG:
            defaults = {
                name: p.default for name, p in inspect.signature(f).parameters.items()
                if p.default is not inspect.Parameter.empty
            }
            options = dict(dag_kwargs)
            options["params"] = {**defaults, **(options.get("params") or {})}
            options.setdefault("doc_md", inspect.getdoc(f))
            with cls(dag_id or f.__name__, **options) as made:
                f(*args, **kwargs)
            return made

        return make

    return decorate(fn) if fn is not None else decorate


def _callable_ref(fn: Callable[..., Any] | None) -> str | None:
    return None if fn is None else callable_ref_of(fn)


def chain(*elements: BaseTask | XComArg | Sequence[BaseTask | XComArg]) -> None:
    """Link elements in order: `chain(a, b, c)` is `a >> b >> c`.

    A list next to a task fans out or in; two lists next to each other must have the same
    length and are linked pairwise, as in Airflow.
    """
    for left, right in zip(elements, elements[1:]):
        left_is_list = isinstance(left, (list, tuple))
        right_is_list = isinstance(right, (list, tuple))
        if left_is_list and right_is_list:
            if len(left) != len(right):
                raise DagDefinitionError(
                    f"chain() cannot link lists of different lengths ({len(left)} and {len(right)})"
                )
            for a, b in zip(left, right):
                a >> b  # type: ignore[operator]
        else:
            left >> right  # type: ignore[operator]


