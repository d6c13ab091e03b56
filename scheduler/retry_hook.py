"""The plugins' retry-decision hook (`orchestrator_retry_decision`), asked safely."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

RetryHook = Callable[[Any, int, "str | None", "str | None"], Any]
"""(task, try_number, error_type, error) -> (retry, delay_s) or None: the plugins' answer."""


def ask(hook: RetryHook, task: Any, try_number: int, error_type: str | None, error: str | None) -> tuple[bool, float | None] | None:
    """The hook's (retry, delay_s), or None; a hook that raises or answers nonsense is ignored
    (the task's own retry policy decides), so a broken plugin never stops the scheduler."""
    try:
        answer = hook(task, try_number, error_type, error)
    except Exception:  # noqa: BLE001 - a broken plugin must not stop the scheduler
        log.exception("the retry-decision hook failed for task %s; using the task's policy", task.task_id)
        return None
    if answer is None:
        return None
    try:
        retry, delay = answer
        return bool(retry), None if delay is None else float(delay)
    except (TypeError, ValueError):
        log.error("the retry-decision hook answered %r for task %s, not (retry, delay_s); ignored", answer, task.task_id)
        return None
