"""The context of the task running in this thread: set by the runtime, read by `get_context()`."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

from orchestrator.core.errors import OrchestratorError

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext


_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar("orchestrator_task_context", default=None)


class NoTaskContextError(OrchestratorError):
    """get_context() was called outside a running task."""


def get_context() -> TaskContext:
    """The context of the task that is running in this thread; raises outside a task."""
    ctx = _current.get()
    if ctx is None:
        raise NoTaskContextError("get_context() works only inside a running task")
    return ctx


def current_context() -> TaskContext | None:
    """The running task's context, or None outside a task."""
    return _current.get()


def set_context(ctx: TaskContext | None) -> contextvars.Token[TaskContext | None]:
    """Make `ctx` the current task context (used by the runtime); returns a token to reset."""
    return _current.set(ctx)


def reset_context(token: contextvars.Token[TaskContext | None]) -> None:
    _current.reset(token)
