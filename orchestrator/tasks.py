"""Tasks: the base class, `PythonTask`, the `@task` decorator and result references."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.assets import Asset, outlet_uris
from orchestrator.errors import DagDefinitionError
from orchestrator.spec import TaskSpec
from orchestrator.states import TriggerRule

if TYPE_CHECKING:
    from orchestrator.context import TaskContext
    from orchestrator.dag import DAG

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
        from orchestrator.durations import parse_duration

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


class BaseTask:
    """One step of a DAG. Subclasses implement `execute(context, upstream_results)`."""

    step_type = "base"

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
        on_success: Callable[[TaskContext], Any] | None = _UNSET,
        on_failure: Callable[[TaskContext], Any] | None = _UNSET,
        on_retry: Callable[[TaskContext], Any] | None = _UNSET,
        outlets: Sequence[Asset] | None = None,
    ) -> None:
        from orchestrator.dag import current_dag

        if not _valid_task_id(task_id):
            raise DagDefinitionError(
                f"task_id {task_id!r} is not valid: use 1-{_MAX_ID_LEN} letters, digits, '_', '-' and '.'"
            )
        self.task_id = task_id
        self.doc = doc
        if conn_id is not None and (not isinstance(conn_id, str) or not conn_id):
            raise DagDefinitionError(f"task {task_id!r}: conn_id must be a non-empty string, not {conn_id!r}")
        self.conn_id = conn_id
        self.outlets = outlet_uris(task_id, outlets or [])
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
        self.dag = dag or current_dag()
        if self.dag is None:
            raise DagDefinitionError(
                f"task {task_id!r} was created outside a DAG: create it inside `with DAG(...):` or pass dag="
            )
        self.dag.add_task(self)

    # -- policy, with the DAG's default_args filling what the task leaves unset
    def policy(self, name: str) -> Any:
        if name in self._explicit:
            return self._explicit[name]
        assert self.dag is not None
        return self.dag.default_args.get(name, _POLICY_DEFAULTS[name])

    def callback(self, name: str) -> Callable[[TaskContext], Any] | None:
        """The task's `on_success`, `on_failure` or `on_retry` callback (its own or default_args'), if any."""
        fn = self.policy(name)
        if fn is not None and not callable(fn):
            raise DagDefinitionError(f"task {self.task_id!r}: {name} must be callable, not {fn!r}")
        return fn

    # -- dependencies
    def set_upstream(self, other: BaseTask | XComArg | Sequence[BaseTask | XComArg]) -> None:
        for t in _as_tasks(other):
            if t.dag is not self.dag:
                raise DagDefinitionError(f"cannot link {t.task_id!r} and {self.task_id!r}: they are in different DAGs")
            if t.task_id not in self.upstream_ids:
                self.upstream_ids.append(t.task_id)

    def set_downstream(self, other: BaseTask | XComArg | Sequence[BaseTask | XComArg]) -> None:
        for t in _as_tasks(other):
            t.set_upstream(self)

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> BaseTask:
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> BaseTask:
        self.set_downstream(other)
        return self

    # -- execution and serialization
    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

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
            **self._resilience_fields(),
        )

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
        return {
            "retry_jitter": float(jitter),
            "retry_on": _error_names(self.task_id, "retry_on", self.policy("retry_on")),
            "no_retry_on": _error_names(self.task_id, "no_retry_on", self.policy("no_retry_on")),
            "pool": pool,
            "priority_weight": weight,
        }

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

    def __repr__(self) -> str:
        suffix = "" if self.key is None else f"[{self.key!r}]"
        return f"<result of {self.task.task_id}{suffix}>"


def _as_tasks(obj: Any) -> list[BaseTask]:
    if isinstance(obj, BaseTask):
        return [obj]
    if isinstance(obj, XComArg):
        return [obj.task]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        out: list[BaseTask] = []
        for item in obj:
            out.extend(_as_tasks(item))
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

    def __init__(
        self,
        *,
        task_id: str,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(python_callable):
            raise DagDefinitionError(f"task {task_id!r}: python_callable must be callable, got {python_callable!r}")
        super().__init__(task_id=task_id, **kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        for ref in _xcom_refs([self.op_args, self.op_kwargs]):
            self.set_upstream(ref.task)
        try:
            self._wants_context = "context" in inspect.signature(python_callable).parameters
        except (TypeError, ValueError):
            self._wants_context = False

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        args = _resolve(self.op_args, upstream_results)
        kwargs = _resolve(self.op_kwargs, upstream_results)
        if self._wants_context and "context" not in kwargs:
            kwargs["context"] = context
        return self.python_callable(*args, **kwargs)

    def callable_ref(self) -> str:
        return _callable_ref(self.python_callable)

    def args_repr(self) -> str:
        if not self.op_args and not self.op_kwargs:
            return ""
        return repr((self.op_args, self.op_kwargs))[:2000]


class TaskDecorator:
    """What `@task` returns: call it inside a DAG to add a PythonTask and get its result."""

    def __init__(self, fn: Callable[..., Any], task_kwargs: dict[str, Any]) -> None:
        self.fn = fn
        self.task_kwargs = task_kwargs
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        from orchestrator.dag import current_dag

        dag = self.task_kwargs.get("dag") or current_dag()
        if dag is None:
            raise DagDefinitionError(
                f"@task {self.fn.__name__!r} was called outside a DAG: call it inside `with DAG(...):`"
            )
        options = {k: v for k, v in self.task_kwargs.items() if k not in ("task_id", "dag")}
        task_id = dag.unique_task_id(self.task_kwargs.get("task_id") or self.fn.__name__)
        t = PythonTask(task_id=task_id, python_callable=self.fn, op_args=args, op_kwargs=kwargs, dag=dag, **options)
        return XComArg(t)

    def override(self, **task_kwargs: Any) -> TaskDecorator:
        """A copy with some task arguments changed, e.g. `extract.override(task_id="e2")()`."""
        return TaskDecorator(self.fn, {**self.task_kwargs, **task_kwargs})


def task(fn: Callable[..., Any] | None = None, **task_kwargs: Any) -> Any:
    """Turn a function into a task factory: `@task` or `@task(retries=3, ...)`."""
    if fn is not None:
        return TaskDecorator(fn, task_kwargs)
    return lambda f: TaskDecorator(f, task_kwargs)
