"""The pure core of state-machine workflows (orchestrator.core.machine): inputs in, decisions out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from orchestrator.core.machine import MachineRun, MachineSpec, StateSpec, TransitionSpec, advance, miss_sla, react, sla_due, start

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def review_machine() -> MachineSpec:
    return MachineSpec(
        initial="draft",
        states=(
            StateSpec(name="draft"),
            StateSpec(name="review", on_enter=("score",), on_exit=("log_exit",), sla_s=3600),
            StateSpec(name="rework"),
            StateSpec(name="escalated"),
            StateSpec(name="done", on_enter=("archive",), final=True),
        ),
        transitions=(
            TransitionSpec(source="draft", target="review", event="submit"),
            TransitionSpec(source="review", target="rework", on_action="score", guard="result.score < 2"),
            TransitionSpec(source="review", target="done", on_action="score", outcome="failed"),
            TransitionSpec(source="rework", target="review", event="submit"),
            TransitionSpec(source="review", target="done", event="approve", guard="'manager' in roles and data.score >= 2"),
            TransitionSpec(source="review", target="escalated", event="sla_missed"),
            TransitionSpec(source="draft", target="done", event="skip", guard="event.urgent == true", priority=5),
            TransitionSpec(source="draft", target="review", event="skip"),
        ),
    )


def in_state(state: str, awaiting: tuple[str, ...] = ()) -> MachineRun:
    return MachineRun(state=state, entered_at=T0, awaiting=awaiting)


def test_start_enters_the_initial_state_and_runs_its_entry_actions() -> None:
    machine = MachineSpec(initial="a", states=(StateSpec(name="a", on_enter=("x", "y")),))
    decision = start(machine, T0)
    assert (decision.run.state, decision.run.entered_at, decision.run_actions, decision.finish) == ("a", T0, ("x", "y"), None)
    assert decision.moved is not None and (decision.moved.source, decision.moved.target) == (None, "a")


def test_an_event_moves_the_run_and_runs_the_exit_then_entry_actions() -> None:
    machine = review_machine()
    decision = react(machine, in_state("review", ()), "approve", data={"score": 2}, roles=["manager"], now=T0 + timedelta(1))
    assert decision.accepted and decision.run.state == "done"
    assert decision.run_actions == ("log_exit", "archive")
    assert decision.run.awaiting == ("log_exit", "archive")
    assert decision.finish is None  # the final state's entry action still runs


def test_an_event_without_a_transition_is_refused_naming_the_accepted_ones() -> None:
    decision = react(review_machine(), in_state("draft"), "approve", now=T0)
    assert not decision.accepted and decision.run == in_state("draft")
    assert decision.reason == "no transition from 'draft' on event 'approve' (it accepts: skip, submit)"


def test_a_guard_that_does_not_hold_refuses_the_event_with_the_guard() -> None:
    decision = react(review_machine(), in_state("review"), "approve", data={"score": 2}, roles=["clerk"], now=T0)
    assert not decision.accepted
    assert "no guard holds: 'manager' in roles and data.score >= 2" in decision.reason


def test_a_guard_failing_on_its_data_counts_as_false_and_says_why() -> None:
    decision = react(review_machine(), in_state("review"), "approve", data={}, roles=["manager"], now=T0)
    assert not decision.accepted and decision.guard_errors and "score" in decision.guard_errors[0]


def test_higher_priority_transitions_are_tried_first_then_declaration_order() -> None:
    machine = review_machine()
    assert react(machine, in_state("draft"), "skip", {"urgent": True}, now=T0).run.state == "done"
    assert react(machine, in_state("draft"), "skip", {"urgent": False}, now=T0).run.state == "review"


def test_an_action_result_takes_a_loop_back_edge_when_its_guard_holds() -> None:
    decision = advance(review_machine(), in_state("review", ("score",)), "score", "success", {"score": 1}, now=T0)
    assert decision.accepted and decision.run.state == "rework" and decision.run_actions == ("log_exit",)


def test_an_action_result_no_guard_accepts_keeps_the_state_and_stops_awaiting_it() -> None:
    decision = advance(review_machine(), in_state("review", ("score",)), "score", "success", {"score": 3}, now=T0)
    assert not decision.accepted and decision.run == in_state("review", ())
    assert decision.finish is None


def test_a_failed_action_takes_its_failure_transition() -> None:
    decision = advance(review_machine(), in_state("review", ("score",)), "score", "failed", now=T0)
    assert decision.accepted and decision.run.state == "done"


def test_a_failed_action_no_transition_handles_fails_the_run() -> None:
    machine = MachineSpec(initial="a", states=(StateSpec(name="a", on_enter=("x",)),))
    decision = advance(machine, in_state("a", ("x",)), "x", "failed", now=T0)
    assert decision.finish == "failed" and decision.run.finished
    assert decision.reason == "action 'x' failed in 'a' and no transition handles it"


def test_the_run_finishes_once_the_final_state_awaits_no_action() -> None:
    decision = advance(review_machine(), in_state("done", ("archive",)), "archive", "success", "ok", now=T0)
    assert decision.finish == "success" and decision.run.finished


def test_a_final_initial_state_without_actions_finishes_at_start() -> None:
    machine = MachineSpec(initial="only", states=(StateSpec(name="only", final=True),))
    assert start(machine, T0).finish == "success"


def test_an_ended_run_refuses_events() -> None:
    ended = MachineRun(state="done", entered_at=T0, finished=True)
    assert react(review_machine(), ended, "submit", now=T0).reason == "the run ended in 'done'"


def test_sla_is_due_after_entering_a_state_with_one() -> None:
    machine = review_machine()
    assert sla_due(machine, in_state("review")) == T0 + timedelta(hours=1)
    assert sla_due(machine, in_state("draft")) is None


def test_a_missed_sla_sends_sla_missed_to_the_machine() -> None:
    decision = miss_sla(review_machine(), in_state("review"), now=T0 + timedelta(hours=1))
    assert decision.accepted and decision.run.state == "escalated"


def test_a_missed_sla_without_a_transition_is_recorded_once() -> None:
    machine = MachineSpec(initial="a", states=(StateSpec(name="a", sla_s=60),))
    decision = miss_sla(machine, in_state("a"), now=T0 + timedelta(minutes=1))
    assert not decision.accepted and decision.run.sla_missed and sla_due(machine, decision.run) is None


def test_the_run_state_round_trips_through_json() -> None:
    run = MachineRun(state="review", entered_at=T0, awaiting=("score",), sla_missed=True)
    assert MachineRun.from_json(run.to_json()) == run


def test_a_transition_needs_exactly_one_trigger() -> None:
    with pytest.raises(ValidationError, match="exactly one of event= or on_action="):
        TransitionSpec(source="a", target="b")


def test_a_guard_must_compile() -> None:
    with pytest.raises(ValidationError, match="guard .* calls something other than a known function"):
        TransitionSpec(source="a", target="b", event="e", guard="__import__('os')")


def test_transitions_must_join_declared_states() -> None:
    with pytest.raises(ValidationError, match="'c' is not a state"):
        MachineSpec(initial="a", states=(StateSpec(name="a"),), transitions=(TransitionSpec(source="a", target="c", event="e"),))


def test_same_events_replayed_give_the_same_final_state() -> None:
    machine = review_machine()
    run = start(machine, T0).run
    for step in (
        lambda r: react(machine, r, "submit", now=T0),
        lambda r: advance(machine, r, "score", "success", {"score": 1}, now=T0),
        lambda r: react(machine, r, "submit", now=T0),
        lambda r: advance(machine, r, "score", "success", {"score": 2}, now=T0),
        lambda r: react(machine, r, "approve", data={"score": 2}, roles=["manager"], now=T0),
    ):
        run = step(run).run
    assert run.state == "done"
