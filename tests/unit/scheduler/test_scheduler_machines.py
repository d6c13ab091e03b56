"""The scheduler's machine layer (scheduler/machines.py): a tracked run and its inputs in, the
commands and the batch's rows out. No database, no executor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.core.machine import MachineRun, MachineSpec, StateSpec, TransitionSpec
from orchestrator.core.planner import FinishRun, Settle, Submit, TaskView
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import RunState, TaskState
from orchestrator.execution.runtime import Outcome
from orchestrator.store.machines import SentEvent
from orchestrator.store.runs import Batch, RunKey
from scheduler import machines
from scheduler.active_runs import ActiveRun

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
MACHINE = MachineSpec(
    initial="draft",
    states=(
        StateSpec(name="draft", on_enter=("prepare",)),
        StateSpec(name="review", on_enter=("score",), sla_s=60),
        StateSpec(name="done", final=True),
    ),
    transitions=(
        TransitionSpec(source="draft", target="review", event="submit"),
        TransitionSpec(source="review", target="draft", on_action="score", guard="result < 2"),
        TransitionSpec(source="review", target="done", event="approve", guard="data.ok"),
    ),
)


def machine_run(**views: TaskView) -> ActiveRun:
    spec = DagSpec(dag_id="m", fileloc="m.py", tasks=(TaskSpec(task_id="prepare"), TaskSpec(task_id="score", retries=1)), machine=MACHINE)
    return ActiveRun(
        key=RunKey("m", "r1"), spec=spec, state=RunState.RUNNING, logical_date=None, data_interval_start=None,
        data_interval_end=None, conf={}, tasks={tid: views.get(tid, TaskView()) for tid in ("prepare", "score")},
    )


def in_state(run: ActiveRun, state: str, awaiting: tuple[str, ...] = (), inbox: list[SentEvent] | None = None) -> ActiveRun:
    run.machine = machines.MachineCopy(MachineRun(state=state, entered_at=T0, awaiting=awaiting), 0, inbox or [])
    return run


def kinds(batch: Batch) -> list[tuple[str, object]]:
    return [(e["kind"], (e["payload"] or {}).get("to")) for e in batch.events if e["kind"].startswith("machine.")]


def test_a_new_run_starts_in_the_initial_state_and_submits_its_entry_actions() -> None:
    batch, run = Batch(), machine_run()
    commands = machines.plan(run, None, batch, T0)
    assert commands == [Submit("prepare", reason="started in 'draft'")]
    assert kinds(batch) == [("machine.state", "draft")]


def test_a_sent_event_moves_the_run_and_moves_the_cursor() -> None:
    batch = Batch()
    run = in_state(machine_run(prepare=TaskView(state=TaskState.SUCCESS)), "draft", inbox=[SentEvent(7, "submit", actor="ann")])
    commands = machines.plan(run, None, batch, T0)
    assert commands == [Submit("score", reason="event 'submit': 'draft' -> 'review'")]
    assert (run.machine.run.state, run.machine.cursor) == ("review", 7)
    assert [e["actor"] for e in batch.events if e["kind"] == "machine.state"] == ["ann"]


def test_a_loop_back_runs_a_finished_entry_action_again_after_resetting_it() -> None:
    batch = Batch()
    run = in_state(machine_run(prepare=TaskView(state=TaskState.SUCCESS), score=TaskView(state=TaskState.SUCCESS, try_number=1, result=1)),
                   "review", ("score",))
    commands = machines.plan(run, ["score"], batch, T0)
    assert commands == [Submit("prepare", reason="action 'score' success: 'review' -> 'draft'")]
    assert run.tasks["prepare"].state is TaskState.PENDING  # reset, then submitted by the tracker
    assert kinds(batch) == [("machine.state", "draft")]


def test_an_event_no_transition_takes_any_more_is_recorded_as_rejected() -> None:
    batch = Batch()
    run = in_state(machine_run(), "draft", inbox=[SentEvent(3, "approve")])
    assert machines.plan(run, None, batch, T0) == []
    assert [e["kind"] for e in batch.events if e["kind"].startswith("machine.")] == ["machine.rejected"]


def test_a_failed_action_no_transition_handles_fails_the_run_and_skips_what_never_ran() -> None:
    batch = Batch()
    run = in_state(machine_run(score=TaskView(state=TaskState.FAILED, try_number=2)), "review", ("score",))
    commands = machines.plan(run, ["score"], batch, T0)
    assert commands == [Settle("prepare", TaskState.SKIPPED, "the machine ended: action 'score' failed in 'review' and no transition handles it"),
                        FinishRun(RunState.FAILED)]


def test_an_awaited_action_whose_retry_is_due_is_submitted_again() -> None:
    view = TaskView(state=TaskState.UP_FOR_RETRY, try_number=1, max_tries=2, next_retry_at=T0)
    run = in_state(machine_run(score=view), "review", ("score",))
    assert machines.plan(run, ["score"], Batch(), T0) == [Submit("score", reason="try 2 of 2")]


def test_a_missed_sla_is_recorded_once() -> None:
    run = in_state(machine_run(score=TaskView(state=TaskState.RUNNING, try_number=1)), "review", ("score",))
    batch = Batch()
    machines.plan(run, None, batch, T0 + timedelta(seconds=61))
    machines.plan(run, None, batch, T0 + timedelta(seconds=62))
    assert [e["kind"] for e in batch.events].count("machine.sla_missed") == 1
    assert machines.sla_due(run) is None


def test_run_data_a_try_set_is_kept_on_the_run_with_one_event_per_change() -> None:
    run, batch = machine_run(), Batch()
    outcome = Outcome("k", "score", 1, "success", data_changes={"ok": True, "n": 2})
    machines.record_data(run, "score", outcome, batch, T0)
    assert run.run_data == {"ok": True, "n": 2}
    assert [(e["kind"], e["payload"]) for e in batch.events] == [
        ("run_data.set", {"key": "ok", "value": True}), ("run_data.set", {"key": "n", "value": 2})]


def test_a_failed_run_cancels_a_scheduled_action_instead_of_submitting_it() -> None:
    run = in_state(machine_run(score=TaskView(state=TaskState.FAILED, try_number=1), prepare=TaskView(state=TaskState.SCHEDULED)),
                   "review", ("score", "prepare"))
    commands = machines.plan(run, ["score"], Batch(), T0)
    assert [type(c).__name__ for c in commands] == ["Settle", "FinishRun"]
    assert commands[0] == Settle("prepare", TaskState.CANCELLED, "the machine ended: action 'score' failed in 'review' and no transition handles it")
