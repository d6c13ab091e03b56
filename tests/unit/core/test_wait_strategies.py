"""Wait strategies (seed 004's all / any / majority, and N of M): how many upstreams must succeed."""

from __future__ import annotations

import pytest

from orchestrator.core.states import TaskState, UpstreamSummary, Verdict, evaluate_min_success, required_successes

T = TaskState
V = Verdict


@pytest.mark.parametrize(
    ("strategy", "total", "required"),
    [("all", 5, 5), ("any", 5, 1), ("majority", 5, 3), ("majority", 4, 3), ("majority", 1, 1), (2, 5, 2), ("any", 0, 0)],
)
def test_required_successes(strategy: object, total: int, required: int) -> None:
    assert required_successes(strategy, total) == required  # type: ignore[arg-type]


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="min_success"):
        required_successes("most", 3)  # type: ignore[arg-type]


# (strategy, upstream states, verdict, what the case shows)
CASES = [
    ("all", [T.SUCCESS, T.SUCCESS, T.SUCCESS], V.RUN, "every upstream succeeded"),
    ("all", [T.SUCCESS, T.SUCCESS, T.RUNNING], V.WAIT, "one is still running"),
    ("all", [T.SUCCESS, T.FAILED, T.RUNNING], V.UPSTREAM_FAILED, "one failed: all can no longer succeed"),
    ("all", [T.SUCCESS, T.SKIPPED, T.RUNNING], V.SKIP, "one was skipped, none failed"),
    ("any", [T.SUCCESS, T.RUNNING, T.RUNNING], V.RUN, "runs at the first success, without waiting"),
    ("any", [T.FAILED, T.RUNNING, T.QUEUED], V.WAIT, "no success yet, some may still succeed"),
    ("any", [T.FAILED, T.FAILED, T.SKIPPED], V.UPSTREAM_FAILED, "all ended, none succeeded"),
    ("any", [T.SKIPPED, T.SKIPPED, T.SKIPPED], V.SKIP, "every upstream was skipped"),
    ("majority", [T.SUCCESS, T.SUCCESS, T.RUNNING], V.RUN, "two of three succeeded: the third is not waited for"),
    ("majority", [T.SUCCESS, T.FAILED, T.RUNNING], V.WAIT, "the last one decides"),
    ("majority", [T.SUCCESS, T.FAILED, T.CANCELLED], V.UPSTREAM_FAILED, "only one of three can succeed"),
    ("majority", [T.SUCCESS, T.SKIPPED, T.SKIPPED], V.SKIP, "too few left, because of skips"),
    (2, [T.SUCCESS, T.PENDING, T.PENDING, T.PENDING], V.WAIT, "N of M: one more needed"),
    (2, [T.SUCCESS, T.UP_FOR_RETRY, T.SUCCESS, T.RUNNING], V.RUN, "N of M: two succeeded"),
    (2, [T.SUCCESS, T.FAILED, T.FAILED, T.UPSTREAM_FAILED], V.UPSTREAM_FAILED, "N of M: too many failed"),
]


@pytest.mark.parametrize(
    ("strategy", "upstream", "verdict"), [c[:3] for c in CASES], ids=[f"{c[0]}: {c[3]} -> {c[2].value}" for c in CASES]
)
def test_wait_strategy_verdict(strategy: object, upstream: list[TaskState], verdict: Verdict) -> None:
    summary = UpstreamSummary.of(upstream)
    assert evaluate_min_success(required_successes(strategy, summary.total), summary) is verdict  # type: ignore[arg-type]
