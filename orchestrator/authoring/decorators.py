"""The decorators: `@task` (with `.branch` and `.short_circuit`) and `@task_group`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from orchestrator.authoring.dag import current_dag
from orchestrator.authoring.python_tasks import BranchPythonTask, ShortCircuitPythonTask, TaskDecorator
from orchestrator.authoring.task_group import TaskGroup
from orchestrator.authoring.tasks import BaseTask, XComArg
from orchestrator.core.errors import DagDefinitionError


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


def task_group(fn: Callable[..., Any] | None = None, /, *, group_id: str | None = None, tooltip: str | None = None) -> Any:
    """`@task_group`: each call of the function makes a TaskGroup (id: the function's name, then
    `name__1`, `name__2`, ...; tooltip: its docstring) and adds the function's tasks inside it.
    The call returns what the function returned if that is a task or a result, else the group."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def make(*args: Any, **kwargs: Any) -> Any:
            dag = current_dag()
            if dag is None:
                raise DagDefinitionError(f"@task_group {f.__name__!r} was called outside a DAG: call it inside `with DAG(...):`")
            base = group_id or f.__name__
            parent = dag.current_group()
            taken = lambda gid: (f"{parent.group_id}.{gid}" if parent else gid) in dag.task_groups  # noqa: E731
            gid, n = base, 0
            while taken(gid):
                n += 1
                gid = f"{base}__{n}"
            with TaskGroup(gid, tooltip=tooltip if tooltip is not None else inspect.getdoc(f), dag=dag) as group:
                out = f(*args, **kwargs)
            return out if isinstance(out, (BaseTask, XComArg, TaskGroup)) else group

        return make

    return decorate(fn) if fn is not None else decorate
