"""Trigger rules judged from upstream states, and a finished run's outcome judged by its leaves."""

from __future__ import annotations

import pytest

from orchestrator.core.states import (
    RunState,
    TaskState,
    TriggerRule,
    UpstreamSummary,
    Verdict,
    evaluate_trigger_rule,
    run_outcome,
)

T = TaskState
V = Verdict
TR = TriggerRule

# (rule, upstream states, verdict, what the case shows)
CASES = [
    (TR.ALL_SUCCESS, [T.SUCCESS, T.SUCCESS], V.RUN, "every upstream succeeded"),
    (TR.ALL_SUCCESS, [T.SUCCESS, T.RUNNING], V.WAIT, "an upstream is still running"),
    (TR.ALL_SUCCESS, [T.SUCCESS, T.UP_FOR_RETRY], V.WAIT, "an upstream waits for its retry"),
    (TR.ALL_SUCCESS, [T.SUCCESS, T.FAILED], V.UPSTREAM_FAILED, "an upstream failed"),
    (TR.ALL_SUCCESS, [T.SUCCESS, T.UPSTREAM_FAILED], V.UPSTREAM_FAILED, "an upstream's upstream failed"),
    (TR.ALL_SUCCESS, [T.SUCCESS, T.CANCELLED], V.UPSTREAM_FAILED, "an upstream was cancelled"),
    (TR.ALL_SUCCESS, [T.SUCCESS, T.SKIPPED], V.SKIP, "an upstream was skipped"),
    # as in Airflow, one failure settles the verdict without waiting for the others
    (TR.ALL_SUCCESS, [T.FAILED, T.RUNNING], V.UPSTREAM_FAILED, "a failure settles it at once"),
    (TR.ALL_SUCCESS, [T.SKIPPED, T.RUNNING], V.SKIP, "a skip settles it at once"),
    (TR.ALL_FAILED, [T.FAILED, T.FAILED], V.RUN, "every upstream failed"),
    (TR.ALL_FAILED, [T.FAILED, T.UPSTREAM_FAILED], V.RUN, "upstream_failed counts as failed"),
    (TR.ALL_FAILED, [T.FAILED, T.SUCCESS], V.SKIP, "one upstream succeeded"),
    (TR.ALL_FAILED, [T.FAILED, T.SKIPPED], V.SKIP, "one upstream was skipped"),
    (TR.ALL_FAILED, [T.FAILED, T.RUNNING], V.WAIT, "an upstream is still running"),
    (TR.ALL_FAILED, [T.SUCCESS, T.RUNNING], V.SKIP, "a success settles it at once"),
    (TR.ALL_DONE, [T.SUCCESS, T.FAILED, T.SKIPPED, T.UPSTREAM_FAILED], V.RUN, "every upstream is done"),
    (TR.ALL_DONE, [T.FAILED, T.QUEUED], V.WAIT, "an upstream is queued"),
    (TR.ALL_DONE, [T.FAILED, T.UP_FOR_RETRY], V.WAIT, "an upstream waits for its retry"),
    (TR.ONE_SUCCESS, [T.SUCCESS, T.RUNNING], V.RUN, "fires at the first success without waiting"),
    (TR.ONE_SUCCESS, [T.FAILED, T.RUNNING], V.WAIT, "no success yet, not all done"),
    (TR.ONE_SUCCESS, [T.FAILED, T.FAILED], V.UPSTREAM_FAILED, "all done, none succeeded"),
    (TR.ONE_SUCCESS, [T.FAILED, T.SKIPPED], V.UPSTREAM_FAILED, "all done, a failure among skips"),
    (TR.ONE_SUCCESS, [T.SKIPPED, T.SKIPPED], V.SKIP, "every upstream was skipped"),
    (TR.ONE_FAILED, [T.FAILED, T.RUNNING], V.RUN, "fires at the first failure without waiting"),
    (TR.ONE_FAILED, [T.UPSTREAM_FAILED, T.RUNNING], V.RUN, "upstream_failed counts as a failure"),
    (TR.ONE_FAILED, [T.SUCCESS, T.RUNNING], V.WAIT, "no failure yet, not all done"),
    (TR.ONE_FAILED, [T.SUCCESS, T.SKIPPED], V.SKIP, "all done, nothing failed"),
    (TR.NONE_FAILED, [T.SUCCESS, T.SKIPPED], V.RUN, "skips are fine"),
    (TR.NONE_FAILED, [T.SUCCESS, T.FAILED], V.UPSTREAM_FAILED, "an upstream failed"),
    (TR.NONE_FAILED, [T.SUCCESS, T.UPSTREAM_FAILED], V.UPSTREAM_FAILED, "an upstream's upstream failed"),
    (TR.NONE_FAILED, [T.SUCCESS, T.RUNNING], V.WAIT, "an upstream is still running"),
    (TR.NONE_FAILED, [T.FAILED, T.RUNNING], V.UPSTREAM_FAILED, "a failure settles it at once"),
    (TR.NONE_SKIPPED, [T.SUCCESS, T.FAILED], V.RUN, "failures are fine"),
    (TR.NONE_SKIPPED, [T.SUCCESS, T.SKIPPED], V.SKIP, "an upstream was skipped"),
    (TR.NONE_SKIPPED, [T.SUCCESS, T.RUNNING], V.WAIT, "an upstream is still running"),
    (TR.NONE_SKIPPED, [T.SKIPPED, T.RUNNING], V.SKIP, "a skip settles it at once"),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [T.SUCCESS, T.SKIPPED], V.RUN, "the branch taken succeeded, the other was skipped"),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [T.SKIPPED, T.SKIPPED], V.SKIP, "no path was taken"),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [T.SUCCESS, T.FAILED], V.UPSTREAM_FAILED, "an upstream failed"),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [T.SUCCESS, T.RUNNING], V.WAIT, "an upstream is still running"),
    (TR.ALWAYS, [T.PENDING, T.RUNNING], V.RUN, "runs at once whatever the upstreams do"),
    (TR.ALWAYS, [T.FAILED, T.SKIPPED], V.RUN, "runs after failures and skips"),
]


@pytest.mark.parametrize(
    ("rule", "upstream", "verdict"),
    [c[:3] for c in CASES],
    ids=[f"{c[0].value}: {c[3]} -> {c[2].value}" for c in CASES],
)
def test_trigger_rule_verdict(rule: TriggerRule, upstream: list[TaskState], verdict: Verdict) -> None:
    assert evaluate_trigger_rule(rule, UpstreamSummary.of(upstream)) is verdict


def test_every_rule_has_a_verdict_case() -> None:
    assert {c[0] for c in CASES} == set(TriggerRule)


@pytest.mark.parametrize("rule", list(TriggerRule), ids=str)
def test_task_without_upstreams_runs_whatever_its_rule(rule: TriggerRule) -> None:
    assert evaluate_trigger_rule(rule, UpstreamSummary.of([])) is Verdict.RUN


def test_upstream_summary_counts_outcomes_and_not_done_states() -> None:
    summary = UpstreamSummary.of([T.SUCCESS, T.SUCCESS, T.FAILED, T.UP_FOR_RETRY, T.RUNNING, T.SKIPPED])
    assert (summary.total, summary.success, summary.failed, summary.skipped) == (6, 2, 1, 1)
    assert summary.done == 4
    assert not summary.all_done


def test_run_succeeds_when_every_leaf_succeeded() -> None:
    assert run_outcome([T.SUCCESS, T.SUCCESS]) is RunState.SUCCESS


def test_run_succeeds_when_leaves_are_skipped() -> None:
    assert run_outcome([T.SUCCESS, T.SKIPPED]) is RunState.SUCCESS


def test_run_fails_when_a_leaf_failed() -> None:
    assert run_outcome([T.SUCCESS, T.FAILED]) is RunState.FAILED


def test_run_fails_when_a_leaf_is_upstream_failed() -> None:
    assert run_outcome([T.UPSTREAM_FAILED, T.SUCCESS]) is RunState.FAILED


def test_run_fails_when_a_leaf_was_cancelled() -> None:
    assert run_outcome([T.CANCELLED, T.SUCCESS]) is RunState.FAILED


def test_run_outcome_reads_a_generator_of_leaf_states() -> None:
    assert run_outcome(s for s in [T.SKIPPED, T.FAILED]) is RunState.FAILED
