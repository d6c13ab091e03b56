"""Run analytics (orchestrator.core.run_stats): counts, success rate, percentiles and the slowest steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.core.run_stats import RunSample, TrySample, percentile, run_stats

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(state: str, seconds: float | None) -> RunSample:
    return RunSample(state, T0 if seconds is not None else None, T0 + timedelta(seconds=seconds) if seconds is not None else None)


def attempt(task_id: str, seconds: float, state: str = "success") -> TrySample:
    return TrySample(task_id, state, T0, T0 + timedelta(seconds=seconds))


def test_percentiles_interpolate_between_closest_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 0), percentile(values, 100)) == (3.0, 4.8, 1.0, 5.0)


def test_a_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None


def test_success_rate_counts_finished_runs_only() -> None:
    stats = run_stats([run("success", 10), run("success", 20), run("failed", 30), run("running", None), run("queued", None)], [])
    assert (stats.runs, stats.finished, stats.succeeded, stats.success_rate) == (5, 3, 2, 2 / 3)
    assert stats.by_state == {"failed": 1, "queued": 1, "running": 1, "success": 2}


def test_run_durations_are_of_finished_runs() -> None:
    stats = run_stats([run("success", 10), run("failed", 30), run("running", None)], [])
    assert (stats.durations.count, stats.durations.p50, stats.durations.max, stats.durations.mean) == (2, 20.0, 30.0, 20.0)


def test_no_finished_run_has_no_success_rate() -> None:
    stats = run_stats([run("running", None)], [])
    assert (stats.success_rate, stats.durations.p50) == (None, None)


def test_the_slowest_steps_come_first_by_their_p95_try_duration() -> None:
    tries = [attempt("fast", 1), attempt("fast", 1), attempt("slow", 9), attempt("slow", 1, "failed"), attempt("middle", 5)]
    stats = run_stats([], tries, slowest=2)
    assert [(s.task_id, s.tries, s.failed_tries) for s in stats.slowest_steps] == [("slow", 2, 1), ("middle", 1, 0)]
    assert stats.slowest_steps[0].durations.p95 == 8.6


def test_runs_are_counted_by_the_version_they_are_pinned_to_newest_first() -> None:
    runs = [RunSample("success", T0, T0, 1), RunSample("failed", T0, T0, 2), RunSample("success", T0, T0, 2), RunSample("running", T0, None, 2)]
    stats = run_stats(runs, [])
    assert [(v.version, v.runs, v.finished, v.succeeded, v.success_rate) for v in stats.versions] == [(2, 3, 2, 1, 0.5), (1, 1, 1, 1, 1.0)]
