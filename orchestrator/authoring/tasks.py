"""Tasks: the base class, `PythonTask`, the `@task` decorator and result references."""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.core.assets import Asset, outlet_uris
from orchestrator.core.compensation import compensation_task_id
from orchestrator.core.deadlines import Deadline, deadline_spec
from orchestrator.core.error_routing import is_error_mode, on_failure_spec
from orchestrator.core.errors import BranchError, DagDefinitionError
from orchestrator.authoring.linking import Linkable
from orchestrator.core.spec import MapSource, TaskSpec
from orchestrator.core.states import TriggerRule
from orchestrator.core.templating import check_template
from orchestrator.authoring.task_group import TaskGroup

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext
    from orchestrator.authoring.dag import DAG

_UNSET: Any = object()

_POLICY_DEFAULTS: dict[str, Any] = {
    "retries": 0,
    "retry_delay": timedelta(minutes=5),
    "retry_backoff": "fixed",
    "max_retry_delay": None,
    "execution_timeout": None,
    "trigger_rule": TriggerRule.ALL_SUCCESS,
    # resilience (issue 4): retry jitter and filtering, pools and priorities
    "retry_jitter": 0.0,
    "retry_on": (),
    "no_retry_on": (),
    "pool": None,
    "priority_weight": 1,
    # engine at scale (issue 11): a tiny task's tries go to Dask in batches (None: learned from its durations)
    "tiny": None,
    # callbacks (issue 4): called on the worker with the TaskContext once a try's outcome is known
    "on_success": None,
    "on_failure": None,
    "on_retry": None,
}

CALLBACKS = ("on_success", "on_failure", "on_retry")


_MAX_ID_LEN = 250  # the task_id columns are String(250)


def _valid_task_id(task_id: object) -> bool:
    if not isinstance(task_id, str) or not 0 < len(task_id) <= _MAX_ID_LEN:
        return False
    return task_id.replace("_", "a").replace("-", "a").replace(".", "a").isalnum()


def _seconds(value: timedelta | float | int | str | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        from orchestrator.core.durations import parse_duration

        try:
            return parse_duration(value)
        except ValueError as exc:
            raise DagDefinitionError(f"{name} must be a timedelta, a number of seconds or an ISO 8601 duration: {exc}") from None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise DagDefinitionError(f"{name} must be a timedelta, a number of seconds or an ISO 8601 duration, not {value!r}")
    if seconds < 0:
        raise DagDefinitionError(f"{name} must not be negative, got {value!r}")
    return seconds


class BaseTask(Linkable):
    """One step of a DAG. Subclasses implement `execute(context, upstream_results)`."""

    step_type = "base"
    template_fields: tuple[str, ...] = ()
    """Attributes rendered as Jinja templates (with Airflow's context) before each try runs."""
    branch = False
    """Whether the task's result names the direct downstream tasks to follow (see `follow`)."""

    def __init__(
        self,
        *,
        task_id: str,
        dag: DAG | None = None,
        retries: int = _UNSET,
        retry_delay: timedelta | float = _UNSET,
        retry_backoff: Literal["fixed", "exponential"] = _UNSET,
        max_retry_delay: timedelta | float | None = _UNSET,
        execution_timeout: timedelta | float | None = _UNSET,
        trigger_rule: TriggerRule | str = _UNSET,
        doc: str | None = None,
        conn_id: str | None = None,
        retry_jitter: float = _UNSET,
        retry_on: Sequence[type[BaseException] | str] = _UNSET,
        no_retry_on: Sequence[type[BaseException] | str] = _UNSET,
        pool: str | None = _UNSET,
        priority_weight: int = _UNSET,
        tiny: bool | None = _UNSET,
        on_success: Callable[[TaskContext], Any] | None = _UNSET,
        on_failure: Callable[[TaskContext], Any] | str | dict[Any, Any] | None = _UNSET,
        on_retry: Callable[[TaskContext], Any] | None = _UNSET,
        outlets: Sequence[Asset] | None = None,
        min_success: int | Literal["all", "any", "majority"] | None = None,
        compensate: BaseTask | XComArg | str | Callable[..., Any] | None = None,
        idempotency_key: str | None = None,
        doc_md: str | None = None,
        depends_on_past: bool = False,
        deadline: Deadline | None = None,
        on_deadline_miss: Callable[[TaskContext], Any] | None = None,
    ) -> None:
        """`on_failure` is either the failure callback (a callable) or the error transition after
        the last try ("fail", "continue", "stop" or {error type: handler task}, see
        orchestrator.core.error_routing). `compensate` names the task that undoes this one if the run
        fails (orchestrator.core.compensation); `idempotency_key` is a template whose rendered key runs
        at most once (orchestrator.core.idempotency). A task unfinished at its `deadline` is late
        (orchestrator.core.deadlines): `on_deadline_miss` is called with its context."""
        from orchestrator.authoring.dag import current_dag

        if not _valid_task_id(task_id):
            raise DagDefinitionError(
                f"task_id {task_id!r} is not valid: use 1-{_MAX_ID_LEN} letters, digits, '_', '-' and '.'"
            )
        self.dag = dag or current_dag()
        # made inside `with TaskGroup(...)`: the id carries the group's prefix
        self.task_group = self.dag.current_group() if self.dag is not None else None
        if self.task_group is not None:
            task_id = self.task_group.child_id(task_id)
            if len(task_id) > _MAX_ID_LEN:
                raise DagDefinitionError(f"task_id {task_id!r} is longer than {_MAX_ID_LEN} characters with its group's prefix")
        self.task_id = task_id
        self.doc = doc_md if doc_md is not None else doc
        if not isinstance(depends_on_past, bool):
            raise DagDefinitionError(f"task {task_id!r}: depends_on_past must be True or False, not {depends_on_past!r}")
        self.depends_on_past = depends_on_past
        self.deadline = deadline_spec(deadline, f"task {task_id!r}")
        if on_deadline_miss is not None and not callable(on_deadline_miss):
            raise DagDefinitionError(f"task {task_id!r}: on_deadline_miss must be callable, not {on_deadline_miss!r}")
        self.on_deadline_miss = on_deadline_miss
        # set by as_setup() / as_teardown() (orchestrator.authoring.setup_teardown)
        self.setup_teardown: Literal["setup", "teardown"] | None = None
        self.fail_dagrun = False
        if conn_id is not None and (not isinstance(conn_id, str) or not conn_id):
            raise DagDefinitionError(f"task {task_id!r}: conn_id must be a non-empty string, not {conn_id!r}")
        self.conn_id = conn_id
        self.outlets = outlet_uris(task_id, outlets or [])
        self._error_transition: Any = _UNSET
        if on_failure is not _UNSET and is_error_mode(on_failure):
            self._error_transition = on_failure_spec(task_id, on_failure)
            on_failure = _UNSET
        if idempotency_key is not None:
            if not isinstance(idempotency_key, str) or not idempotency_key.strip():
                raise DagDefinitionError(f"task {task_id!r}: idempotency_key must be a non-empty template string, not {idempotency_key!r}")
            check_template(idempotency_key, f"task {task_id!r}: idempotency_key")
        self.idempotency_key = idempotency_key
        self.min_success = min_success
        # set by PythonTask.expand/map: the arguments the task is mapped over
        self.mapped: tuple[MapSource, ...] = ()
        self._explicit: dict[str, Any] = {
            k: v
            for k, v in {
                "retries": retries,
                "retry_delay": retry_delay,
                "retry_backoff": retry_backoff,
                "max_retry_delay": max_retry_delay,
                "execution_timeout": execution_timeout,
                "trigger_rule": trigger_rule,
                "retry_jitter": retry_jitter,
                "retry_on": retry_on,
                "no_retry_on": no_retry_on,
                "pool": pool,
                "priority_weight": priority_weight,
                "tiny": tiny,
                "on_success": on_success,
                "on_failure": on_failure,
                "on_retry": on_retry,
            }.items()
            if v is not _UNSET
        }
        for name in CALLBACKS:
            if self._explicit.get(name) is not None and not callable(self._explicit[name]):
                raise DagDefinitionError(f"task {task_id!r}: {name} must be callable, not {self._explicit[name]!r}")
        self.upstream_ids: list[str] = []
        self._upstream_seen: set[str] = set()
        if self.dag is None:
            raise DagDefinitionError(
                f"task {task_id!r} was created outside a DAG: create it inside `with DAG(...):` or pass dag="
            )
        self.dag.add_task(self)
        if self.task_group is not None:
            self.task_group.add(self)
        self.compensate = None if compensate is None else compensation_task_id(self, compensate)

    # -- policy, with the DAG's default_args filling what the task leaves unset
    def policy(self, name: str) -> Any:
        if name in self._explicit:
            return self._explicit[name]
        assert self.dag is not None
        return self.dag.default_args.get(name, _POLICY_DEFAULTS[name])

    def callback(self, name: str) -> Callable[[TaskContext], Any] | None:
        """The task's `on_success`, `on_failure` or `on_retry` callback (its own or default_args'), if any."""
        fn = self.policy(name)
        if name == "on_failure" and is_error_mode(fn):
            return None  # default_args' on_failure is an error transition, not a callback
        if fn is not None and not callable(fn):
            raise DagDefinitionError(f"task {self.task_id!r}: {name} must be callable, not {fn!r}")
        return fn

    # -- dependencies
    def set_upstream(self, other: BaseTask | XComArg | TaskGroup | Sequence[BaseTask | XComArg | TaskGroup]) -> None:
        for t in _as_tasks(other, "leaves"):
            if t.dag is not self.dag:
                raise DagDefinitionError(f"cannot link {t.task_id!r} and {self.task_id!r}: they are in different DAGs")
            if t.task_id not in self._upstream_seen:  # a set: a join of thousands stays linear
                self._upstream_seen.add(t.task_id)
                self.upstream_ids.append(t.task_id)

    def set_downstream(self, other: BaseTask | XComArg | TaskGroup | Sequence[BaseTask | XComArg | TaskGroup]) -> None:
        for t in _as_tasks(other, "roots"):
            t.set_upstream(self)

    # -- execution and serialization
    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

    def follow(self, result: Any) -> tuple[str, ...] | None:
        """The direct downstream tasks to follow after a success with `result` (None: all)."""
        return None

    def downstream_ids(self) -> list[str]:
        """The ids of the tasks that list this one as an upstream."""
        assert self.dag is not None
        return [t.task_id for t in self.dag.tasks.values() if self.task_id in t.upstream_ids]

    def callable_ref(self) -> str | None:
        return None

    def args_repr(self) -> str:
        return ""

    def to_spec(self) -> TaskSpec:
        backoff = self.policy("retry_backoff")
        if backoff not in ("fixed", "exponential"):
            raise DagDefinitionError(f"task {self.task_id!r}: retry_backoff must be 'fixed' or 'exponential', not {backoff!r}")
        retries = self.policy("retries")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise DagDefinitionError(f"task {self.task_id!r}: retries must be a whole number >= 0, not {retries!r}")
        try:
            rule = TriggerRule(self.policy("trigger_rule"))
        except ValueError:
            allowed = ", ".join(r.value for r in TriggerRule)
            raise DagDefinitionError(
                f"task {self.task_id!r}: unknown trigger_rule {self.policy('trigger_rule')!r} (one of {allowed})"
            ) from None
        for name in CALLBACKS:
            self.callback(name)  # a non-callable in default_args is a definition error at parse time
        return TaskSpec(
            task_id=self.task_id,
            step_type=self.step_type,
            callable=self.callable_ref(),
            args_repr=self.args_repr(),
            upstream=tuple(self.upstream_ids),
            trigger_rule=rule,
            retries=retries,
            retry_delay_s=_seconds(self.policy("retry_delay"), "retry_delay") or 0.0,
            retry_backoff=backoff,
            max_retry_delay_s=_seconds(self.policy("max_retry_delay"), "max_retry_delay"),
            execution_timeout_s=_seconds(self.policy("execution_timeout"), "execution_timeout"),
            doc=self.doc,
            conn_id=self.conn_id,
            outlets=self.outlets,
            on_failure=self.error_transition(),
            compensate=self.compensate,
            idempotency_key=self.idempotency_key,
            task_group=self.task_group.group_id if self.task_group else None,
            branch=self.branch,
            min_success=self._min_success(rule),
            mapped=self.mapped,
            setup_teardown=self.setup_teardown,
            fail_dagrun=self.fail_dagrun,
            depends_on_past=self.depends_on_past or self.dag.default_args.get("depends_on_past", False) is True,
            deadline=self.deadline,
            on_deadline_miss=None if self.on_deadline_miss is None else _callable_ref(self.on_deadline_miss),
            **self._resilience_fields(),
        )

    def _min_success(self, rule: TriggerRule) -> int | str | None:
        """The wait strategy, checked against the task's upstreams; it replaces the trigger rule."""
        value = self.min_success
        if value is None:
            return None
        if rule is not TriggerRule.ALL_SUCCESS:
            raise DagDefinitionError(f"task {self.task_id!r}: min_success replaces trigger_rule; set one of them, not both")
        total = len(self.upstream_ids)
        if value in ("all", "any", "majority"):
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max(total, 1):
            raise DagDefinitionError(
                f"task {self.task_id!r}: min_success must be 'all', 'any', 'majority' or a number from 1 to its "
                f"{total} upstreams, not {value!r}"
            )
        return value

    def error_transition(self) -> str | dict[str, str] | None:
        """The task's `on_failure` mode or routes (its own or default_args'); None: fail as usual."""
        if self._error_transition is not _UNSET:
            return self._error_transition
        assert self.dag is not None
        default = self.dag.default_args.get("on_failure")
        return on_failure_spec(self.task_id, default) if is_error_mode(default) else None

    def _resilience_fields(self) -> dict[str, Any]:
        """Retry jitter and filters, pool and priority, checked; exception types become their names."""
        jitter = self.policy("retry_jitter")
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
            raise DagDefinitionError(f"task {self.task_id!r}: retry_jitter must be a fraction from 0 to 1, not {jitter!r}")
        weight = self.policy("priority_weight")
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise DagDefinitionError(f"task {self.task_id!r}: priority_weight must be a whole number, not {weight!r}")
        pool = self.policy("pool")
        if pool is not None and (not isinstance(pool, str) or not pool):
            raise DagDefinitionError(f"task {self.task_id!r}: pool must be a pool's name, not {pool!r}")
        tiny = self.policy("tiny")
        if tiny is not None and not isinstance(tiny, bool):
            raise DagDefinitionError(f"task {self.task_id!r}: tiny must be True, False or None (learned), not {tiny!r}")
        return {
            "tiny": tiny,
            "retry_jitter": float(jitter),
            "retry_on": _error_names(self.task_id, "retry_on", self.policy("retry_on")),
            "no_retry_on": _error_names(self.task_id, "no_retry_on", self.policy("no_retry_on")),
            "pool": pool,
            "priority_weight": weight,
        }

    @property
    def doc_md(self) -> str | None:
        """The task's documentation (Markdown); the same as `doc`."""
        return self.doc

    @doc_md.setter
    def doc_md(self, value: str | None) -> None:
        self.doc = value

    @property
    def output(self) -> XComArg:
        """The task's result, to pass to another task (Airflow's `.output`)."""
        return XComArg(self)

    def as_setup(self) -> BaseTask:
        """Mark the task a setup: clearing a task after it clears it too; see orchestrator.authoring.setup_teardown."""
        from orchestrator.authoring.setup_teardown import mark_setup

        mark_setup(self)
        return self

    def as_teardown(
        self, *, setups: BaseTask | XComArg | Sequence[BaseTask | XComArg] | None = None, on_failure_fail_dagrun: bool = False
    ) -> BaseTask:
        """Mark the task a teardown of `setups` (linked before it): it runs once its upstreams ended,
        failed or not, if a setup succeeded; its failure does not fail the run unless
        `on_failure_fail_dagrun`."""
        from orchestrator.authoring.setup_teardown import mark_teardown

        mark_teardown(self, setups, on_failure_fail_dagrun)
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_id!r}>"


def _error_names(task_id: str, name: str, value: Any) -> tuple[str, ...]:
    """Exception classes or their names as names (matched against a failed try's exception type
    and its base classes' names)."""
    items = [value] if isinstance(value, (str, type)) else list(value or ())
    names = []
    for item in items:
        if isinstance(item, type) and issubclass(item, BaseException):
            names.append(item.__name__)
        elif isinstance(item, str) and item:
            names.append(item.rsplit(".", 1)[-1])
        else:
            raise DagDefinitionError(f"task {task_id!r}: {name} lists exception types or their names, not {item!r}")
    return tuple(names)


class XComArg:
    """The future result of a task, passed as an argument to another task (wires the dependency)."""

    def __init__(self, task: BaseTask, key: str | int | None = None) -> None:
        self.task = task
        self.key = key

    def __getitem__(self, key: str | int) -> XComArg:
        return XComArg(self.task, key)

    def resolve(self, upstream_results: dict[str, Any]) -> Any:
        value = upstream_results[self.task.task_id]
        return value if self.key is None else value[self.key]

    def __rshift__(self, other: Any) -> Any:
        return self.task >> other

    def __lshift__(self, other: Any) -> Any:
        return self.task << other

    def __rrshift__(self, other: Any) -> BaseTask:
        return other >> self.task

    def __rlshift__(self, other: Any) -> BaseTask:
        return other << self.task

    def as_setup(self) -> XComArg:
        self.task.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool = False) -> XComArg:
        self.task.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> XComArg:
        """`with teardown_task(setup_task()):` puts the tasks made inside between the setups and the teardown."""
        from orchestrator.authoring.setup_teardown import enter_scope

        enter_scope(self.task)
        return self

    def __exit__(self, *exc: object) -> None:
        from orchestrator.authoring.setup_teardown import exit_scope

        exit_scope(self.task)

    def __repr__(self) -> str:
        suffix = "" if self.key is None else f"[{self.key!r}]"
        return f"<result of {self.task.task_id}{suffix}>"


def _as_tasks(obj: Any, group_side: Literal["roots", "leaves"]) -> list[BaseTask]:
    """The tasks `obj` stands for; a task group stands for its roots or its leaves (the side linked)."""
    if isinstance(obj, BaseTask):
        return [obj]
    if isinstance(obj, XComArg):
        return [obj.task]
    if isinstance(obj, TaskGroup):
        return obj.roots if group_side == "roots" else obj.leaves
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        out: list[BaseTask] = []
        for item in obj:
            out.extend(_as_tasks(item, group_side))
        return out
    raise DagDefinitionError(f"expected a task or a list of tasks, got {obj!r}")


def _xcom_refs(value: Any) -> list[XComArg]:
    if isinstance(value, XComArg):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _xcom_refs(v)]
    if isinstance(value, (list, tuple, set)):
        return [r for v in value for r in _xcom_refs(v)]
    return []


def _resolve(value: Any, upstream_results: dict[str, Any]) -> Any:
    if isinstance(value, XComArg):
        return value.resolve(upstream_results)
    if isinstance(value, dict):
        return {k: _resolve(v, upstream_results) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, upstream_results) for v in value)
    return value


def _callable_ref(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


class PythonTask(BaseTask):
    """Runs a Python callable. Results of other tasks in `op_args`/`op_kwargs` arrive resolved.

    If the callable has a parameter named `context`, it receives the TaskContext.
    """

    step_type = "python"
    template_fields = ("op_args", "op_kwargs", "templates_dict")

    def __init__(
        self,
        *,
        task_id: str,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        multiple_outputs: bool = False,
        context_kwargs: bool = False,
        **kwargs: Any,
    ) -> None:
        """`templates_dict` is rendered (orchestrator.execution.template_context) and given to a callable with
        a `templates_dict` parameter; `multiple_outputs` requires a dict result, whose keys
        downstream tasks pick with `result["key"]`; `context_kwargs` gives the callable Airflow's
        context names it has parameters for (`ti`, `ds`, ...), all of them to a `**kwargs`."""
        if not callable(python_callable):
            raise DagDefinitionError(f"task {task_id!r}: python_callable must be callable, got {python_callable!r}")
        if templates_dict is not None and not isinstance(templates_dict, dict):
            raise DagDefinitionError(f"task {task_id!r}: templates_dict must be a dict, not {type(templates_dict).__name__}")
        super().__init__(task_id=task_id, **kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        self.map_values: dict[str, Any] = {}  # one mapped instance's items (for_map_items)
        self.multiple_outputs = bool(multiple_outputs)
        self.context_kwargs = bool(context_kwargs)
        for ref in _xcom_refs([self.op_args, self.op_kwargs]):
            self.set_upstream(ref.task)
        try:
            self._params = dict(inspect.signature(python_callable).parameters)
        except (TypeError, ValueError):
            self._params = {}
        self._wants_context = "context" in self._params

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        args = _resolve(self.op_args, upstream_results)
        kwargs = {**_resolve(self.op_kwargs, upstream_results), **self.map_values}
        if self._wants_context and "context" not in kwargs:
            kwargs["context"] = context
        if self.templates_dict is not None and ("templates_dict" in self._params or any(p.kind is p.VAR_KEYWORD for p in self._params.values())):
            kwargs.setdefault("templates_dict", self.templates_dict)
        if self.context_kwargs:
            kwargs.update(self._context_arguments(context, len(args), kwargs))
        result = self.python_callable(*args, **kwargs)
        if self.multiple_outputs and result is not None and not isinstance(result, dict):
            raise TypeError(f"task {self.task_id!r} has multiple_outputs=True, so it must return a dict, not {type(result).__name__}")
        return result

    def _context_arguments(self, context: TaskContext, n_args: int, given: dict[str, Any]) -> dict[str, Any]:
        """Airflow's context names for the parameters the call leaves open (every name for `**kwargs`)."""
        from orchestrator.execution.template_context import airflow_context

        names = airflow_context(context)
        params = list(self._params.values())
        filled = {p.name for p in params[:n_args] if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)} | set(given)
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return {k: v for k, v in names.items() if k not in filled}
        return {p.name: names[p.name] for p in params if p.name in names and p.name not in filled and p.kind is not p.POSITIONAL_ONLY}

    # -- dynamic mapping: one instance per item, made by the scheduler once the items are known
    def expand(self, **mapped: XComArg | Sequence[Any]) -> PythonTask:
        """Map the task over lists: `expand(x=numbers())` runs it once per item of `numbers`'
        result, each instance with `x` set to its item (several arguments: every combination).

        A value is another task's result (or an item of it, `result["rows"]`) or a literal list
        of JSON values. Returns the task, whose result downstream is the list of the instances'.
        """
        if self.mapped:
            raise DagDefinitionError(f"task {self.task_id!r} is already mapped: give every mapped argument in one expand()")
        if not mapped:
            raise DagDefinitionError(f"task {self.task_id!r}: expand() needs at least one argument to map over")
        sources = []
        for name, value in mapped.items():
            self._check_mapped_arg(name)
            if isinstance(value, XComArg):
                self.set_upstream(value.task)
                sources.append(MapSource(arg=name, task_id=value.task.task_id, key=value.key))
            elif isinstance(value, (list, tuple)):
                sources.append(MapSource(arg=name, values=tuple(_json_values(self.task_id, name, value))))
            else:
                raise DagDefinitionError(
                    f"task {self.task_id!r}: expand({name}=...) takes another task's result or a list, not {type(value).__name__}"
                )
        from orchestrator.core.mapping import MappingError, map_length

        try:
            map_length([src for src in sources if src.values is not None], {})
        except MappingError as exc:
            raise DagDefinitionError(f"task {self.task_id!r}: {exc}") from None
        fixed = {ref.task.task_id for ref in _xcom_refs([self.op_args, self.op_kwargs])}
        both = sorted(fixed.intersection(src.task_id for src in sources if src.task_id))
        if both:
            raise DagDefinitionError(
                f"task {self.task_id!r} maps over the result of {both[0]!r} and also takes it as a fixed argument: "
                "each instance gets only its item, so pass the fixed value from another task"
            )
        self.mapped = tuple(sources)
        return self

    def expand_kwargs(self, kwargs_list: XComArg | Sequence[dict[str, Any]]) -> PythonTask:
        """Map the task over a list of dicts: one instance per dict, called with its items as
        keyword arguments (Airflow's `expand_kwargs`)."""
        from orchestrator.core.mapping import KWARGS

        if self.mapped:
            raise DagDefinitionError(f"task {self.task_id!r} is already mapped: give every mapped argument in one expand()")
        if isinstance(kwargs_list, XComArg):
            self.set_upstream(kwargs_list.task)
            self.mapped = (MapSource(arg=KWARGS, task_id=kwargs_list.task.task_id, key=kwargs_list.key),)
        elif isinstance(kwargs_list, (list, tuple)) and all(isinstance(d, dict) for d in kwargs_list):
            for d in kwargs_list:
                for name in d:
                    self._check_mapped_arg(name)
            self.mapped = (MapSource(arg=KWARGS, values=tuple(_json_values(self.task_id, "**", kwargs_list))),)
        else:
            raise DagDefinitionError(
                f"task {self.task_id!r}: expand_kwargs() takes another task's result or a list of dicts, not {kwargs_list!r}"
            )
        return self

    def map(self, items: XComArg | Sequence[Any]) -> PythonTask:
        """Map the task's first free positional parameter over `items` (see `expand`)."""
        try:
            params = [
                p.name for p in inspect.signature(self.python_callable).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "context"
            ]
        except (TypeError, ValueError):
            params = []
        free = [name for name in params[len(self.op_args):] if name not in self.op_kwargs]
        if not free:
            raise DagDefinitionError(f"task {self.task_id!r}: map() found no free positional parameter to map over; use expand(name=...)")
        return self.expand(**{free[0]: items})

    def _check_mapped_arg(self, name: str) -> None:
        if name in self.op_kwargs:
            raise DagDefinitionError(f"task {self.task_id!r}: {name!r} is both a fixed and a mapped argument")
        try:
            params = inspect.signature(self.python_callable).parameters
        except (TypeError, ValueError):
            return
        if name not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            raise DagDefinitionError(f"task {self.task_id!r}: {_callable_ref(self.python_callable)} has no parameter {name!r} to map over")

    def for_map_items(self, items: dict[str, Any]) -> PythonTask:
        """This task as one instance of its mapping: the mapped arguments set to `items`."""
        instance = copy.copy(self)
        # kept apart from op_kwargs: items are data, never rendered as templates
        instance.map_values = dict(items)
        return instance

    def callable_ref(self) -> str:
        return _callable_ref(self.python_callable)

    def args_repr(self) -> str:
        if not self.op_args and not self.op_kwargs:
            return ""
        return repr((self.op_args, self.op_kwargs))[:2000]


class BranchPythonTask(PythonTask):
    """A decision: the callable returns the id (or a list of ids) of the direct downstream tasks
    to follow; the others are skipped, and what only they lead to, as their trigger rules say.

    A task group's id stands for the group's tasks among the direct downstream; None or an
    empty list follows none. Anything else fails the task.
    """

    branch = True

    def expand(self, **mapped: XComArg | Sequence[Any]) -> PythonTask:
        raise DagDefinitionError(f"branch task {self.task_id!r} cannot be mapped: a decision is taken once")

    def follow(self, result: Any) -> tuple[str, ...]:
        chosen = [] if result is None else [result] if isinstance(result, str) else result
        if not isinstance(chosen, (list, tuple)) or not all(isinstance(c, str) for c in chosen):
            raise BranchError(f"branch task {self.task_id!r} must return a task id, a list of task ids or None, not {result!r}")
        downstream = self.downstream_ids()
        followed: list[str] = []
        for choice in chosen:
            in_group = [d for d in downstream if d.startswith(f"{choice}.")] if self.dag and choice in self.dag.task_groups else []
            if choice in downstream:
                followed.append(choice)
            elif in_group:
                followed.extend(in_group)
            else:
                raise BranchError(
                    f"branch task {self.task_id!r} returned {choice!r}, which is not one of its direct downstream tasks "
                    f"({', '.join(sorted(downstream)) or 'it has none'})"
                )
        return tuple(dict.fromkeys(followed))


class ShortCircuitPythonTask(PythonTask):
    """A condition: a truthy result lets the downstream run; a falsy one skips the direct
    downstream tasks, and what only they lead to, as the trigger rules say (Airflow's
    `ignore_downstream_trigger_rules=False`)."""

    branch = True

    def follow(self, result: Any) -> tuple[str, ...] | None:
        return None if result else ()


class TaskDecorator:
    """What `@task` returns: call it inside a DAG to add a PythonTask and get its result."""

    def __init__(self, fn: Callable[..., Any], task_kwargs: dict[str, Any], task_class: type[PythonTask] = PythonTask) -> None:
        self.fn = fn
        self.task_kwargs = task_kwargs
        self.task_class = task_class
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        return XComArg(self._make(args, kwargs))

    def _make(self, args: Sequence[Any], kwargs: dict[str, Any]) -> PythonTask:
        from orchestrator.authoring.dag import current_dag

        dag = self.task_kwargs.get("dag") or current_dag()
        if dag is None:
            raise DagDefinitionError(
                f"@task {self.fn.__name__!r} was called outside a DAG: call it inside `with DAG(...):`"
            )
        options = {k: v for k, v in self.task_kwargs.items() if k not in ("task_id", "dag")}
        task_id = dag.unique_task_id(self.task_kwargs.get("task_id") or self.fn.__name__)
        return self.task_class(task_id=task_id, python_callable=self.fn, op_args=args, op_kwargs=kwargs, dag=dag, **options)

    def expand(self, **mapped: XComArg | Sequence[Any]) -> XComArg:
        """Add the task mapped over lists (see `PythonTask.expand`); its result is the list of the instances'."""
        return self.partial().expand(**mapped)

    def map(self, items: XComArg | Sequence[Any]) -> XComArg:
        """Add the task mapped over `items` by its first parameter: `process.map(numbers())`."""
        return self.partial().map(items)

    def expand_kwargs(self, kwargs_list: XComArg | Sequence[dict[str, Any]]) -> XComArg:
        """Add the task mapped over a list of dicts of keyword arguments (see `PythonTask.expand_kwargs`)."""
        return self.partial().expand_kwargs(kwargs_list)

    def partial(self, *args: Any, **kwargs: Any) -> PartialTask:
        """Fix some arguments of every instance of a mapped task: `process.partial(y=1).expand(x=items)`."""
        return PartialTask(self, args, kwargs)

    def override(self, **task_kwargs: Any) -> TaskDecorator:
        """A copy with some task arguments changed, e.g. `extract.override(task_id="e2")()`."""
        return TaskDecorator(self.fn, {**self.task_kwargs, **task_kwargs}, self.task_class)


class PartialTask:
    """`@task`'s `partial(...)`: the fixed arguments of a task still to be mapped."""

    def __init__(self, decorator: TaskDecorator, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        self.decorator = decorator
        self.args = args
        self.kwargs = kwargs

    def expand(self, **mapped: XComArg | Sequence[Any]) -> XComArg:
        return XComArg(self.decorator._make(self.args, self.kwargs).expand(**mapped))

    def map(self, items: XComArg | Sequence[Any]) -> XComArg:
        return XComArg(self.decorator._make(self.args, self.kwargs).map(items))

    def expand_kwargs(self, kwargs_list: XComArg | Sequence[dict[str, Any]]) -> XComArg:
        return XComArg(self.decorator._make(self.args, self.kwargs).expand_kwargs(kwargs_list))


def task(fn: Callable[..., Any] | None = None, **task_kwargs: Any) -> Any:
    """Turn a function into a task factory: `@task` or `@task(retries=3, ...)`."""
    if fn is not None:
        return TaskDecorator(fn, task_kwargs)
    return lambda f: TaskDecorator(f, task_kwargs)


def _branch(fn: Callable[..., Any] | None = None, **task_kwargs: Any) -> Any:
    """`@task.branch`: the function returns the id(s) of the direct downstream tasks to follow."""
    if fn is not None:
        return TaskDecorator(fn, task_kwargs, BranchPythonTask)
    return lambda f: TaskDecorator(f, task_kwargs, BranchPythonTask)


def _short_circuit(fn: Callable[..., Any] | None = None, **task_kwargs: Any) -> Any:
    """`@task.short_circuit`: a falsy result skips the direct downstream tasks."""
    if fn is not None:
        return TaskDecorator(fn, task_kwargs, ShortCircuitPythonTask)
    return lambda f: TaskDecorator(f, task_kwargs, ShortCircuitPythonTask)


task.branch = _branch  # type: ignore[attr-defined]
task.short_circuit = _short_circuit  # type: ignore[attr-defined]


def _json_values(task_id: str, name: str, values: Sequence[Any]) -> list[Any]:
    """A literal list to map over, checked: it is kept in the DagSpec, so its items must be JSON values."""
    try:
        return list(json.loads(json.dumps(list(values))))
    except (TypeError, ValueError):
        raise DagDefinitionError(
            f"task {task_id!r}: the list given to expand({name}=...) must hold JSON values; compute other values in an upstream task"
        ) from None
