"""get_context(): the running task's context, and a clear error outside a task."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from orchestrator import TaskContext, get_context
from orchestrator.core.errors import OrchestratorError
from orchestrator.execution.current import NoTaskContextError, reset_context, set_context

LOGICAL = datetime(2026, 1, 1, 9, tzinfo=UTC)


def make_context() -> TaskContext:
    return TaskContext(
        dag_id="etl",
        task_id="extract",
        run_id="manual__1",
        try_number=2,
        logical_date=LOGICAL,
        data_interval_start=LOGICAL,
        data_interval_end=datetime(2026, 1, 1, 10, tzinfo=UTC),
        params={"limit": 5},
    )


def test_get_context_outside_a_task_raises_no_task_context_error() -> None:
    with pytest.raises(NoTaskContextError, match="only inside a running task"):
        get_context()


def test_no_task_context_error_is_an_orchestrator_error() -> None:
    assert issubclass(NoTaskContextError, OrchestratorError)


def test_get_context_returns_the_context_set_for_the_running_task() -> None:
    ctx = make_context()
    token = set_context(ctx)
    try:
        assert get_context() is ctx
    finally:
        reset_context(token)


def test_get_context_raises_again_once_the_task_context_is_reset() -> None:
    reset_context(set_context(make_context()))
    with pytest.raises(NoTaskContextError):
        get_context()


def test_context_supports_airflow_style_item_access() -> None:
    ctx = make_context()
    assert (ctx["ds"], ctx["task_id"], ctx["params"], ctx["try_number"]) == ("2026-01-01", "extract", {"limit": 5}, 2)


def test_context_ds_is_none_without_a_logical_date() -> None:
    assert TaskContext("d", "t", "r", 1, None, None, None)["ds"] is None


def test_context_unknown_item_raises_key_error() -> None:
    with pytest.raises(KeyError):
        make_context()["no_such_field"]


def test_context_logger_is_the_task_logger() -> None:
    ctx = make_context()
    assert ctx["logger"] is ctx.log is logging.getLogger("orchestrator.task")
