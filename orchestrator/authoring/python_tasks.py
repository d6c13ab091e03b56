"""Python tasks: `PythonTask` runs a callable; the branch and short-circuit forms choose what follows it."""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.task_options import callable_ref_of
from orchestrator.authoring.tasks import BaseTask, XComArg, resolve_xcoms, xcom_refs_in
from orchestrator.core.errors import BranchError, DagDefinitionError
from orchestrator.core.spec import MapSource

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext


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
        for ref in xcom_refs_in([self.op_args, self.op_kwargs]):
            self.set_upstream(ref.task)
        try:
            self._params = dict(inspect.signature(python_callable).parameters)
        except (TypeError, ValueError):
            self._params = {}
        self._wants_context = "context" in self._params

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        args = resolve_xcoms(self.op_args, upstream_results)
        kwargs = {**resolve_xcoms(self.op_kwargs, upstream_results), **self.map_values}
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
        names = context.airflow_names()
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
        fixed = {ref.task.task_id for ref in xcom_refs_in([self.op_args, self.op_kwargs])}
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
            raise DagDefinitionError(f"task {self.task_id!r}: {callable_ref_of(self.python_callable)} has no parameter {name!r} to map over")

    def for_map_items(self, items: dict[str, Any]) -> PythonTask:
        """This task as one instance of its mapping: the mapped arguments set to `items`."""
        instance = copy.copy(self)
        # kept apart from op_kwargs: items are data, never rendered as templates
        instance.map_values = dict(items)
        return instance

    def callable_ref(self) -> str:
        return callable_ref_of(self.python_callable)

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


def _json_values(task_id: str, name: str, values: Sequence[Any]) -> list[Any]:
    """A literal list to map over, checked: it is kept in the DagSpec, so its items must be JSON values."""
    try:
        return list(json.loads(json.dumps(list(values))))
    except (TypeError, ValueError):
        raise DagDefinitionError(
            f"task {task_id!r}: the list given to expand({name}=...) must hold JSON values; compute other values in an upstream task"
        ) from None


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


def _compensation_task(task: BaseTask, value: Callable[..., Any]) -> str:
    """A callable given as `compensate=`: a PythonTask `<task_id>__compensate` beside `task`, called with its result."""
    assert task.dag is not None
    group = task.dag.current_group()  # the task's own: the new one is made in the same group
    local = task.task_id[len(group.group_id) + 1 :] if group is not None else task.task_id
    fn = value.fn if isinstance(value, TaskDecorator) else value  # an @task function is called as a plain one
    made = PythonTask(task_id=f"{local}__compensate", python_callable=fn, op_args=[XComArg(task)], dag=task.dag)
    return made.task_id


BaseTask.compensation_from_callable = staticmethod(_compensation_task)
