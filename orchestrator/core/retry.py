"""Retry policy: whether a failed try is retried and how long to wait first. Pure; no clock reads.

Jitter is drawn from a generator seeded by the caller (the task instance's identity), so a given
task instance and try always get the same delay: replayable, and testable without mocks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

from orchestrator.core.spec import TaskSpec

DEFAULT_MAX_RETRY_DELAY = timedelta(days=1)


def retry_delay(task: TaskSpec, try_number: int, seed: str | None = None) -> timedelta:
    """The wait after try `try_number` (1-based) failed, per the task's policy.

    `fixed` waits `retry_delay` every time; `exponential` doubles it per try. Either is capped
    by `max_retry_delay` (one day when unset), as Airflow does. With `retry_jitter` j the delay
    is then scaled by a factor in [1 - j, 1 + j], drawn from `seed` and the try, and capped again.
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
    delay = min(delay, cap)
    if task.retry_jitter > 0 and delay > 0:
        rng = random.Random(f"{seed}/{try_number}")
        delay = min(delay * (1 + rng.uniform(-task.retry_jitter, task.retry_jitter)), cap)
    return timedelta(seconds=delay)


def retryable(task: TaskSpec, error_types: Iterable[str]) -> bool:
    """Whether an error may be retried by the task's `retry_on` / `no_retry_on` (names matched
    against the exception's class and its base classes, `error_types`). `no_retry_on` wins."""
    names = set(error_types)
    if names & set(task.no_retry_on):
        return False
    return not task.retry_on or bool(names & set(task.retry_on))


def may_retry(try_number: int, max_tries: int) -> bool:
    """Whether a task whose try `try_number` just failed gets another try."""
    return try_number < max_tries
