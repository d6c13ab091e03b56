"""Circuit breakers: a pure state machine, one breaker per outside system. No clock reads, no I/O.

closed    -> open       after `failure_threshold` consecutive failures, or when the failure rate
                        over the last `window_s` seconds (with at least `min_calls` outcomes)
                        reaches `failure_rate`;
open      -> half_open  once `cooldown_s` has passed, when a task asks to run: it is the probe;
half_open -> closed     when the probe succeeds;  half_open -> open when it fails.

While open (and while the probe runs) every other task of that breaker is held, without using
a try. The scheduler keeps breakers in the store (orchestrator/store/circuits.py) so several
schedulers and the UI agree; this module only decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from orchestrator.core.spec import TaskSpec


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class BreakerPolicy:
    """Thresholds of one breaker (config defaults, overridden by the connection's extras)."""

    failure_threshold: int = 5
    failure_rate: float | None = None
    window_s: float = 60.0
    min_calls: int = 10
    cooldown_s: float = 30.0

    # connection extras that override the defaults, e.g. {"circuit_failure_threshold": 3}
    EXTRA_PREFIX = "circuit_"

    def with_extras(self, extra: Mapping[str, Any] | None) -> BreakerPolicy:
        """This policy with the `circuit_*` keys of a connection's extras applied (bad values ignored)."""
        if not extra:
            return self
        changes: dict[str, Any] = {}
        for name, kind in (("failure_threshold", int), ("failure_rate", float), ("window_s", float), ("min_calls", int), ("cooldown_s", float)):
            raw = extra.get(self.EXTRA_PREFIX + name)
            if raw is None:
                continue
            try:
                changes[name] = kind(raw)
            except (TypeError, ValueError):
                continue
        return replace(self, **changes)


@dataclass(frozen=True)
class Breaker:
    """The state of one breaker. `window` holds (epoch seconds, succeeded) of recent outcomes."""

    key: str
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    window: tuple[tuple[float, bool], ...] = ()
    opened_at: datetime | None = None
    probe: str | None = None  # the task (run/task id) let through while half-open

    def reopens_at(self, policy: BreakerPolicy) -> datetime | None:
        """When an open breaker lets a probe through."""
        if self.state is not BreakerState.OPEN or self.opened_at is None:
            return None
        return self.opened_at + timedelta(seconds=policy.cooldown_s)


@dataclass(frozen=True)
class Change:
    """A state change, to record as an event."""

    key: str
    from_state: BreakerState
    to_state: BreakerState
    reason: str


def breaker_key(task: TaskSpec) -> str:
    """The breaker of a task: its connection, else its step type."""
    return task.conn_id if task.conn_id else f"step:{task.step_type}"


def _trim(window: tuple[tuple[float, bool], ...], now_ts: float, policy: BreakerPolicy) -> tuple[tuple[float, bool], ...]:
    return tuple(w for w in window if w[0] > now_ts - policy.window_s)


def _rate_tripped(window: tuple[tuple[float, bool], ...], policy: BreakerPolicy) -> float | None:
    """The failure rate when it is over the policy's limit, else None."""
    if policy.failure_rate is None or len(window) < max(policy.min_calls, 1):
        return None
    rate = sum(1 for _, ok in window if not ok) / len(window)
    return rate if rate >= policy.failure_rate else None


def record(breaker: Breaker, policy: BreakerPolicy, succeeded: bool, at: datetime, who: str | None = None) -> tuple[Breaker, Change | None]:
    """Account for one try's outcome at `at`; `who` is the task that ran (to recognise the probe)."""
    window = _trim(breaker.window + ((at.timestamp(), succeeded),), at.timestamp(), policy)
    failures = 0 if succeeded else breaker.consecutive_failures + 1
    b = replace(breaker, window=window, consecutive_failures=failures)
    if breaker.state is BreakerState.HALF_OPEN:
        if who is not None and who != breaker.probe:
            return b, None  # a try that started before the breaker opened: the probe decides
        if succeeded:
            return replace(b, state=BreakerState.CLOSED, opened_at=None, probe=None, window=()), Change(
                b.key, BreakerState.HALF_OPEN, BreakerState.CLOSED, "the probe succeeded"
            )
        return replace(b, state=BreakerState.OPEN, opened_at=at, probe=None), Change(
            b.key, BreakerState.HALF_OPEN, BreakerState.OPEN, f"the probe failed; open for {policy.cooldown_s:g} s"
        )
    if breaker.state is BreakerState.OPEN or succeeded:
        return b, None
    why: str | None = None
    if failures >= policy.failure_threshold:
        why = f"{failures} consecutive failures"
    else:
        rate = _rate_tripped(window, policy)
        if rate is not None:
            why = f"failure rate {rate:.0%} over the last {policy.window_s:g} s"
    if why is None:
        return b, None
    return replace(b, state=BreakerState.OPEN, opened_at=at), Change(
        b.key, BreakerState.CLOSED, BreakerState.OPEN, f"{why}; open for {policy.cooldown_s:g} s"
    )


def admit(breaker: Breaker, policy: BreakerPolicy, now: datetime, who: str) -> tuple[Breaker, Change | None, str | None]:
    """May task `who` start now? Returns the breaker after deciding, a change, and a hold reason
    (None: it may start). An open breaker whose cool-down is over lets `who` through as the probe."""
    if breaker.state is BreakerState.CLOSED:
        return breaker, None, None
    if breaker.state is BreakerState.HALF_OPEN:
        if breaker.probe in (None, who):
            return replace(breaker, probe=who), None, None
        return breaker, None, f"circuit {breaker.key} is half-open: waiting for its probe ({breaker.probe})"
    reopens = breaker.reopens_at(policy)
    if reopens is not None and now < reopens:
        return breaker, None, f"circuit {breaker.key} is open until {reopens.isoformat(timespec='seconds')}"
    probing = replace(breaker, state=BreakerState.HALF_OPEN, probe=who)
    return probing, Change(breaker.key, BreakerState.OPEN, BreakerState.HALF_OPEN, f"cool-down over; {who} is the probe"), None


def release_probe(breaker: Breaker, who: str) -> Breaker:
    """The probe never ran (cancelled, lost before it started): let another task probe."""
    if breaker.state is BreakerState.HALF_OPEN and breaker.probe == who:
        return replace(breaker, probe=None)
    return breaker


def reset(breaker: Breaker, reason: str) -> tuple[Breaker, Change | None]:
    """Close by hand, forgetting the failures."""
    closed = Breaker(breaker.key)
    if breaker.state is BreakerState.CLOSED:
        return closed, None
    return closed, Change(breaker.key, breaker.state, BreakerState.CLOSED, reason)
