"""A task's options: the policy defaults a DAG's default_args can change, and the checks of ids, durations and error types."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from orchestrator.core.durations import duration_seconds
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.states import TriggerRule

UNSET: Any = object()
"""The default of an option not given: the DAG's default_args, then POLICY_DEFAULTS, decide it."""

POLICY_DEFAULTS: dict[str, Any] = {
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

MAX_ID_LEN = 250  # the task_id columns are String(250)


def valid_task_id(task_id: object) -> bool:
    """1 to MAX_ID_LEN letters, digits, '_', '-' and '.'."""
    if not isinstance(task_id, str) or not 0 < len(task_id) <= MAX_ID_LEN:
        return False
    return task_id.replace("_", "a").replace("-", "a").replace(".", "a").isalnum()


def seconds_of(value: timedelta | float | int | str | None, name: str) -> float | None:
    """A duration option (a timedelta, seconds or ISO 8601) in seconds; DagDefinitionError naming `name`."""
    if value is None:
        return None
    try:
        return duration_seconds(value, name)
    except ValueError as exc:
        raise DagDefinitionError(str(exc)) from None


def error_names(task_id: str, name: str, value: Any) -> tuple[str, ...]:
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


def callable_ref_of(fn: Callable[..., Any]) -> str:
    """`module:qualname`, how a DagSpec names a callable."""
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
