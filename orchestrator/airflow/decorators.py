"""Airflow's TaskFlow decorators over ours: `@task` (with `.branch`, `.short_circuit`), `@setup`,
`@teardown`. Their functions receive Airflow's context names they ask for (`ti`, `**kwargs`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.airflow.compat import task_kwargs
from orchestrator.authoring.python_tasks import BranchPythonTask, PartialTask, PythonTask, ShortCircuitPythonTask, TaskDecorator
from orchestrator.authoring.tasks import XComArg
from orchestrator.core.errors import DagDefinitionError
from orchestrator.plugins.steps.sensor import Sensor


class UnsupportedAirflowFeature(DagDefinitionError):
    """A DAG file uses an Airflow feature this orchestrator does not offer (named in the message)."""


class AirflowTaskDecorator(TaskDecorator):
    """`@task` as Airflow has it: Airflow's task arguments, the context given to the function."""

    role: str | None = None
    fail_dagrun = False

    def __init__(self, fn: Callable[..., Any], task_kwargs_: dict[str, Any], task_class: type[PythonTask] = PythonTask) -> None:
        super().__init__(fn, task_kwargs_, task_class)

    def _make(self, args: Sequence[Any], kwargs: dict[str, Any]) -> PythonTask:
        ours, ignored = task_kwargs(self.task_kwargs, f"@task {self.fn.__name__!r}")
        ours.setdefault("context_kwargs", True)
        made = TaskDecorator(self.fn, ours, self.task_class)._make(args, kwargs)
        made.ignored_airflow_args = ignored  # type: ignore[attr-defined]
        if self.role == "setup":
            made.as_setup()
        elif self.role == "teardown":
            made.as_teardown(on_failure_fail_dagrun=self.fail_dagrun)
        return made

    def override(self, **task_kwargs_: Any) -> AirflowTaskDecorator:
        copy = type(self)(self.fn, {**self.task_kwargs, **task_kwargs_}, self.task_class)
        copy.role, copy.fail_dagrun = self.role, self.fail_dagrun
        return copy

    def partial(self, *args: Any, **kwargs: Any) -> PartialTask:
        return PartialTask(self, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        return XComArg(self._make(args, kwargs))


def _decorator(task_class: type[PythonTask], role: str | None = None, fail_dagrun: bool = False) -> Callable[..., Any]:
    def make(fn: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        def wrap(f: Callable[..., Any]) -> AirflowTaskDecorator:
            deco = AirflowTaskDecorator(f, kwargs, task_class)
            deco.role, deco.fail_dagrun = role, fail_dagrun
            return deco

        return wrap(fn) if fn is not None else wrap

    return make


class _TaskNamespace:
    """`task`, `task.branch`, `task.short_circuit`; other `task.X` flavours raise a clear error."""

    def __init__(self) -> None:
        self._plain = _decorator(PythonTask)
        self.python = self._plain
        self.branch = _decorator(BranchPythonTask)
        self.short_circuit = _decorator(ShortCircuitPythonTask)

    def __call__(self, fn: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self._plain(fn, **kwargs)

    def sensor(self, fn: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """`@task.sensor(poke_interval=..., timeout=..., mode=...)`: the function is the poke (a bool
        or a PokeReturnValue), run as our Sensor."""
        return _decorator(Sensor)(fn, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise UnsupportedAirflowFeature(
            f"@task.{name} is not supported: run the code in a plain @task (it runs on a Dask worker), "
            "or as a BashOperator for a command"
        )


task = _TaskNamespace()


def setup(fn: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """`@setup`: a task that sets something up for the work after it (see orchestrator.authoring.setup_teardown)."""
    return _decorator(PythonTask, "setup")(fn, **kwargs)


def teardown(fn: Callable[..., Any] | None = None, *, on_failure_fail_dagrun: bool = False, **kwargs: Any) -> Any:
    """`@teardown`: runs once its upstreams ended, even when they failed, if its setup succeeded."""
    return _decorator(PythonTask, "teardown", on_failure_fail_dagrun)(fn, **kwargs)
