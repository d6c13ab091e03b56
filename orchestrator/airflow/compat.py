"""Airflow's argument names translated to ours, and those we accept without acting on them.

`task_kwargs` turns a BaseOperator's / `@task`'s keyword arguments into a BaseTask's; `DAG`
takes Airflow's DAG arguments. What has no meaning here (owner, email, queue, sla, ...) is
accepted and kept in `ignored_airflow_args`, which `orchestrator dags check-airflow` reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.authoring.dag import DAG as _DAG
from orchestrator.authoring.dag import dag_decorator
from orchestrator.core.errors import DagDefinitionError

RENAMED_TASK_ARGS = {
    "on_failure_callback": "on_failure",
    "on_success_callback": "on_success",
    "on_retry_callback": "on_retry",
    "doc_md": "doc",
    "doc_rst": "doc",
    "doc_json": "doc",
    "doc_yaml": "doc",
}

IGNORED_TASK_ARGS = frozenset({
    "owner", "email", "email_on_failure", "email_on_retry", "queue", "sla", "executor_config", "do_xcom_push",
    "wait_for_downstream", "max_active_tis_per_dag", "max_active_tis_per_dagrun", "weight_rule", "run_as_user",
    "start_date", "end_date", "task_display_name", "resources", "inlets", "map_index_template", "task_concurrency",
    "ignore_downstream_trigger_rules", "show_return_value_in_logs", "executor", "retry_exponential_backoff_base",
    "on_execute_callback", "on_skipped_callback", "params", "provide_context",
})
"""Accepted and kept, with no effect here (see the README's migration guide)."""

IGNORED_DAG_ARGS = frozenset({
    "dag_display_name", "orientation", "render_template_as_native_obj", "template_searchpath", "user_defined_macros",
    "user_defined_filters", "is_paused_upon_creation", "access_control", "owner_links", "sla_miss_callback",
    "default_view", "jinja_environment_kwargs", "max_consecutive_failed_dag_runs", "fail_fast", "fail_stop",
    "auto_register", "concurrency", "template_undefined",
})


def task_kwargs(kwargs: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(our BaseTask arguments, the ignored Airflow ones) for Airflow task arguments."""
    ours: dict[str, Any] = {}
    ignored: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in IGNORED_TASK_ARGS:
            ignored[name] = value
        elif name == "retry_exponential_backoff":
            ours["retry_backoff"] = "exponential" if value else "fixed"
        elif name == "max_retry_delay":
            ours[name] = value
        elif name in RENAMED_TASK_ARGS:
            target = RENAMED_TASK_ARGS[name]
            if isinstance(value, (list, tuple)):
                value = _all_of(value, f"{where}: {name}")
            ours[target] = value
        else:
            ours[name] = value
    return ours, ignored


def _all_of(callbacks: list[Callable[..., Any]] | tuple[Callable[..., Any], ...], what: str) -> Callable[..., Any]:
    """Airflow takes a list of callbacks; ours is one callable that calls each in order."""
    if not all(callable(c) for c in callbacks):
        raise DagDefinitionError(f"{what}: every callback in the list must be callable")

    def call_each(context: Any) -> None:
        for callback in callbacks:
            callback(context)

    call_each.__qualname__ = "+".join(getattr(c, "__qualname__", "?") for c in callbacks)
    call_each.__module__ = getattr(callbacks[0], "__module__", "?") if callbacks else "?"
    return call_each


def default_args(args: dict[str, Any] | None) -> dict[str, Any]:
    ours, _ignored = task_kwargs(dict(args or {}), "default_args")
    return ours


class DAG(_DAG):
    """Airflow's `DAG`: ours, taking Airflow's arguments (`schedule_interval`, `dag_display_name`,
    callbacks in default_args, ...)."""

    def __init__(self, dag_id: str | None = None, description: str | None = None, *args: Any, **kwargs: Any) -> None:
        if args:
            raise DagDefinitionError(f"DAG {dag_id!r}: give the arguments after the description by name (schedule=..., start_date=...)")
        if dag_id is None:
            dag_id = kwargs.pop("dag_id", None)
        if "schedule_interval" in kwargs:
            if "schedule" in kwargs:
                raise DagDefinitionError(f"DAG {dag_id!r}: give schedule or schedule_interval, not both")
            kwargs["schedule"] = kwargs.pop("schedule_interval")
        ignored = {k: kwargs.pop(k) for k in list(kwargs) if k in IGNORED_DAG_ARGS}
        if ignored.get("dag_display_name"):
            kwargs.setdefault("title", ignored["dag_display_name"])
        kwargs["default_args"] = default_args(kwargs.get("default_args"))
        super().__init__(dag_id, description=description, **kwargs)  # type: ignore[arg-type]
        self.ignored_airflow_args = ignored


def dag(fn: Callable[..., Any] | None = None, /, *, dag_id: str | None = None, **dag_kwargs: Any) -> Any:
    """Airflow's `@dag`, making an Airflow-argument DAG (see orchestrator.authoring.dag.dag)."""
    return dag_decorator(DAG, fn, dag_id, dag_kwargs)
