"""Retry policy: how long to wait before the next try. Pure; no clock reads."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.spec import TaskSpec

DEFAULT_MAX_RETRY_DELAY = timedelta(days=1)


def retry_delay(task: TaskSpec, try_number: int) -> timedelta:
    """The wait after try `try_number` (1-based) failed, per the task's policy.

    `fixed` waits `retry_delay` every time; `exponential` doubles it per try. Either is capped
    by `max_retry_delay` (one day when unset), as Airflow does.
    """
    base = task.retry_delay_s
    cap = task.max_retry_delay_s if task.max_retry_delay_s is not None else DEFAULT_MAX_RETRY_DELAY.total_seconds()
    delay = base
    if task.retry_backoff == "exponential":
        # double step by step and stop at the cap: 2 ** try_number overflows a float for huge tries
        for _ in range(max(try_number - 1, 0)):
            if delay >= cap or delay <= 0:
                break
            delay *= 2
    return timedelta(seconds=min(delay, cap))


def may_retry(try_number: int, max_tries: int) -> bool:
    """Whether a task whose try `try_number` just failed gets another try."""
    return try_number < max_tries
