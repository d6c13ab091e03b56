"""Which unstarted runs a poll starts (scheduler.run_starts.pick): a pure choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.change_feed import QueuedRun
from scheduler.run_starts import pick

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(dag_id: str, n: int, state: str = "queued") -> QueuedRun:
    return QueuedRun(dag_id, f"r{n}", state, T0 + timedelta(minutes=n))


def test_runs_are_picked_oldest_first_up_to_the_cap_and_more_is_said() -> None:
    queued = [run("a", 1), run("a", 2), run("b", 3)]
    chosen = pick(queued, {"a": None, "b": None}, {}, cap=2, recheck_waiting=False)
    assert [(q.dag_id, q.run_id) for q in chosen.runs] == [("a", "r1"), ("a", "r2")] and chosen.more


def test_everything_picked_says_no_more() -> None:
    assert not pick([run("a", 1)], {"a": None}, {}, cap=5, recheck_waiting=False).more


def test_max_active_runs_counts_the_running_runs_and_those_picked() -> None:
    queued = [run("a", 1), run("a", 2), run("a", 3), run("b", 4)]
    chosen = pick(queued, {"a": 2, "b": 1}, {"a": 1}, cap=10, recheck_waiting=False)
    assert [q.run_id for q in chosen.runs] == ["r1", "r4"] and not chosen.more


def test_a_run_of_a_dag_without_limits_entry_paused_or_unknown_is_left() -> None:
    assert pick([run("paused", 1)], {"a": None}, {}, cap=10, recheck_waiting=False).runs == []


def test_a_waiting_run_holds_its_slot_and_is_looked_at_again_only_when_asked() -> None:
    queued = [run("a", 1, "waiting"), run("a", 2)]
    assert pick(queued, {"a": 1}, {"a": 1}, cap=10, recheck_waiting=False).runs == []
    assert [q.run_id for q in pick(queued, {"a": 1}, {"a": 1}, cap=10, recheck_waiting=True).runs] == ["r1"]
