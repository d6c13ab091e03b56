"""The circuit breaker state machine, driven by an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.core.circuit import Breaker, BreakerPolicy, BreakerState, admit, breaker_key, record, release_probe, reset
from orchestrator.core.spec import TaskSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = BreakerPolicy(failure_threshold=3, cooldown_s=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fail_times(breaker: Breaker, n: int, policy: BreakerPolicy = POLICY, start: float = 0) -> Breaker:
    for i in range(n):
        breaker, _ = record(breaker, policy, False, at(start + i))
    return breaker


def opened() -> Breaker:
    return fail_times(Breaker("api"), 3)


def test_stays_closed_below_the_consecutive_failure_threshold() -> None:
    assert fail_times(Breaker("api"), 2).state is BreakerState.CLOSED


def test_opens_after_the_consecutive_failure_threshold() -> None:
    b, change = record(fail_times(Breaker("api"), 2), POLICY, False, at(5))
    assert b.state is BreakerState.OPEN and b.opened_at == at(5)
    assert change is not None and change.to_state is BreakerState.OPEN and "3 consecutive failures" in change.reason


def test_a_success_resets_the_consecutive_count() -> None:
    b = fail_times(Breaker("api"), 2)
    b, _ = record(b, POLICY, True, at(3))
    assert fail_times(b, 2, start=4).state is BreakerState.CLOSED


def test_opens_when_the_failure_rate_over_the_window_is_reached() -> None:
    policy = BreakerPolicy(failure_threshold=100, failure_rate=0.5, window_s=60, min_calls=4)
    b = Breaker("api")
    for i, ok in enumerate([True, False, True]):
        b, _ = record(b, policy, ok, at(i))
    assert b.state is BreakerState.CLOSED  # 3 outcomes, under min_calls
    b, change = record(b, policy, False, at(3))
    assert b.state is BreakerState.OPEN and change is not None and "failure rate 50%" in change.reason


def test_outcomes_older_than_the_window_do_not_count_for_the_rate() -> None:
    policy = BreakerPolicy(failure_threshold=100, failure_rate=0.5, window_s=10, min_calls=4)
    b = fail_times(Breaker("api"), 3, policy)
    for i in range(3):
        b, _ = record(b, policy, True, at(100 + i))
    assert b.state is BreakerState.CLOSED and len(b.window) == 3


def test_open_breaker_holds_tasks_until_the_cooldown_ends() -> None:
    b, change, reason = admit(opened(), POLICY, at(20), "d/r/t1")
    assert change is None and reason is not None and "open until" in reason
    assert b.state is BreakerState.OPEN


def test_after_the_cooldown_one_probe_goes_through_and_the_rest_wait() -> None:
    b, change, reason = admit(opened(), POLICY, at(40), "d/r/t1")
    assert reason is None and b.state is BreakerState.HALF_OPEN and b.probe == "d/r/t1"
    assert change is not None and change.to_state is BreakerState.HALF_OPEN
    b2, _, reason2 = admit(b, POLICY, at(41), "d/r/t2")
    assert reason2 is not None and "probe" in reason2 and b2 == b


def test_a_successful_probe_closes_the_breaker() -> None:
    b, _, _ = admit(opened(), POLICY, at(40), "d/r/t1")
    b, change = record(b, POLICY, True, at(42), "d/r/t1")
    assert b.state is BreakerState.CLOSED and b.consecutive_failures == 0
    assert change is not None and change.from_state is BreakerState.HALF_OPEN


def test_a_failed_probe_opens_the_breaker_again_for_a_new_cooldown() -> None:
    b, _, _ = admit(opened(), POLICY, at(40), "d/r/t1")
    b, change = record(b, POLICY, False, at(45), "d/r/t1")
    assert b.state is BreakerState.OPEN and b.opened_at == at(45) and b.reopens_at(POLICY) == at(75)
    assert change is not None and change.to_state is BreakerState.OPEN


def test_a_late_outcome_of_another_task_does_not_decide_a_half_open_breaker() -> None:
    b, _, _ = admit(opened(), POLICY, at(40), "d/r/t1")
    after, change = record(b, POLICY, True, at(41), "d/r/old")
    assert after.state is BreakerState.HALF_OPEN and change is None


def test_failures_while_open_do_not_restart_the_cooldown() -> None:
    b = fail_times(opened(), 5, start=10)
    assert b.state is BreakerState.OPEN and b.opened_at == at(2)


def test_a_probe_that_never_ran_lets_another_task_probe() -> None:
    b, _, _ = admit(opened(), POLICY, at(40), "d/r/t1")
    b = release_probe(b, "d/r/t1")
    _, _, reason = admit(b, POLICY, at(41), "d/r/t2")
    assert reason is None


def test_reset_closes_and_forgets_failures() -> None:
    b, change = reset(opened(), "reset by admin")
    assert b == Breaker("api") and change is not None and change.to_state is BreakerState.CLOSED


def test_connection_extras_override_the_thresholds_and_bad_values_are_ignored() -> None:
    policy = POLICY.with_extras({"circuit_failure_threshold": "2", "circuit_cooldown_s": "oops", "other": 1})
    assert policy.failure_threshold == 2 and policy.cooldown_s == POLICY.cooldown_s


def test_the_key_is_the_connection_else_the_step_type() -> None:
    assert breaker_key(TaskSpec(task_id="a", conn_id="billing_api")) == "billing_api"
    assert breaker_key(TaskSpec(task_id="a", step_type="http")) == "step:http"
