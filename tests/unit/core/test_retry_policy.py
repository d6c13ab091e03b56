"""The retry policy: fixed and exponential delays, their cap, and whether another try is allowed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.core.retry import DEFAULT_MAX_RETRY_DELAY, may_retry, retry_delay
from orchestrator.core.spec import TaskSpec


def _task(**policy: object) -> TaskSpec:
    return TaskSpec(task_id="t", retries=5, **policy)


@pytest.mark.parametrize("try_number", [1, 2, 5])
def test_fixed_backoff_waits_retry_delay_after_every_try(try_number: int) -> None:
    assert retry_delay(_task(retry_delay_s=30, retry_backoff="fixed"), try_number) == timedelta(seconds=30)


@pytest.mark.parametrize(("try_number", "seconds"), [(1, 10), (2, 20), (3, 40), (4, 80)])
def test_exponential_backoff_doubles_the_delay_per_try(try_number: int, seconds: int) -> None:
    assert retry_delay(_task(retry_delay_s=10, retry_backoff="exponential"), try_number) == timedelta(seconds=seconds)


def test_exponential_delay_is_capped_by_max_retry_delay() -> None:
    task = _task(retry_delay_s=10, retry_backoff="exponential", max_retry_delay_s=60)
    assert [retry_delay(task, n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 60, 60]


def test_fixed_delay_longer_than_max_retry_delay_is_capped() -> None:
    assert retry_delay(_task(retry_delay_s=600, max_retry_delay_s=120), 1) == timedelta(seconds=120)


def test_exponential_delay_is_capped_at_one_day_when_max_retry_delay_is_unset() -> None:
    task = _task(retry_delay_s=300, retry_backoff="exponential")
    assert DEFAULT_MAX_RETRY_DELAY == timedelta(days=1)
    assert retry_delay(task, 20) == timedelta(days=1)


def test_exponential_delay_stays_capped_for_very_high_try_numbers() -> None:
    # 2**1100 does not fit a float: the cap must apply before the arithmetic overflows
    task = _task(retry_delay_s=1, retry_backoff="exponential", max_retry_delay_s=3600)
    assert retry_delay(task, 1100) == timedelta(hours=1)


def test_zero_retry_delay_retries_at_once() -> None:
    assert retry_delay(_task(retry_delay_s=0, retry_backoff="exponential"), 3) == timedelta(0)


def test_may_retry_while_tries_remain() -> None:
    assert may_retry(try_number=1, max_tries=3)
    assert may_retry(try_number=2, max_tries=3)


def test_may_not_retry_after_the_last_try() -> None:
    assert not may_retry(try_number=3, max_tries=3)


def test_task_without_retries_gets_no_second_try() -> None:
    assert not may_retry(try_number=1, max_tries=1)
