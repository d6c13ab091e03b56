"""Airflow's operators as our step types: BashOperator is a ShellTask, PythonOperator a PythonTask, ..."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.airflow.compat import task_kwargs
from orchestrator.authoring.python_tasks import BranchPythonTask, PythonTask, ShortCircuitPythonTask
from orchestrator.plugins.steps.empty import EmptyTask
from orchestrator.plugins.steps.shell import ShellTask
from orchestrator.plugins.steps.trigger import TriggerDagRunTask


class BashOperator(ShellTask):
    """`bash_command` runs in bash after rendering (Jinja, Airflow's context); its result is the
    last line of its output. `env` replaces the environment unless `append_env=True`."""

    def __init__(
        self, *, task_id: str, bash_command: str, env: Mapping[str, str] | None = None, append_env: bool = False,
        cwd: str | None = None, output_encoding: str = "utf-8", skip_on_exit_code: Any = None, **kwargs: Any,
    ) -> None:
        ours, ignored = task_kwargs(kwargs, f"task {task_id!r}")
        super().__init__(
            task_id=task_id, command=["bash", "-c", bash_command], env=env, inherit_env=append_env or env is None,
            cwd=cwd, output="last_line", **ours,
        )
        self.ignored_airflow_args = ignored

    @property
    def bash_command(self) -> str:
        return self.command[2]


def _python_kwargs(task_id: str, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    ours, ignored = task_kwargs(kwargs, f"task {task_id!r}")
    ours.setdefault("context_kwargs", True)
    return ours, ignored


class PythonOperator(PythonTask):
    """Calls `python_callable(*op_args, **op_kwargs)`; parameters named like Airflow's context
    (`ti`, `ds`, ...) or a `**kwargs` receive it."""

    def __init__(self, *, task_id: str, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        ours, ignored = _python_kwargs(task_id, kwargs)
        super().__init__(task_id=task_id, python_callable=python_callable, **ours)
        self.ignored_airflow_args = ignored


class BranchPythonOperator(BranchPythonTask):
    """The callable returns the task id(s) to follow among the direct downstream tasks."""

    def __init__(self, *, task_id: str, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        ours, ignored = _python_kwargs(task_id, kwargs)
        super().__init__(task_id=task_id, python_callable=python_callable, **ours)
        self.ignored_airflow_args = ignored


class ShortCircuitOperator(ShortCircuitPythonTask):
    """A falsy result skips the direct downstream tasks (and what only they lead to)."""

    def __init__(self, *, task_id: str, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        ours, ignored = _python_kwargs(task_id, kwargs)
        super().__init__(task_id=task_id, python_callable=python_callable, **ours)
        self.ignored_airflow_args = ignored


class EmptyOperator(EmptyTask):
    """Does nothing: a join or a marker."""

    def __init__(self, *, task_id: str, **kwargs: Any) -> None:
        ours, ignored = task_kwargs(kwargs, f"task {task_id!r}")
        super().__init__(task_id=task_id, **ours)
        self.ignored_airflow_args = ignored


class TriggerDagRunOperator(TriggerDagRunTask):
    """Starts a run of `trigger_dag_id` with `conf`; `wait_for_completion` waits for its outcome."""

    def __init__(
        self, *, task_id: str, trigger_dag_id: str, conf: dict[str, Any] | None = None, wait_for_completion: bool = False,
        poke_interval: float | None = None, reset_dag_run: bool = False, allowed_states: Sequence[str] | None = None,
        failed_states: Sequence[str] | None = None, trigger_run_id: str | None = None, logical_date: Any = None,
        **kwargs: Any,
    ) -> None:
        ours, ignored = task_kwargs(kwargs, f"task {task_id!r}")
        super().__init__(task_id=task_id, dag_id=trigger_dag_id, conf=conf, wait=wait_for_completion, **ours)
        self.ignored_airflow_args = {
            **ignored,
            **{k: v for k, v in {
                "poke_interval": poke_interval, "reset_dag_run": reset_dag_run or None, "allowed_states": allowed_states,
                "failed_states": failed_states, "trigger_run_id": trigger_run_id, "logical_date": logical_date,
            }.items() if v is not None},
        }
