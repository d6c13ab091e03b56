"""The pure decision on a try's end (orchestrator.core.outcomes): events in, the exact changes out."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.core.outcomes import (
    SCHEDULER,
    BreakerCall,
    Changes,
    Ended,
    KeySucceeded,
    KeyUnrendered,
    Lost,
    Move,
    Note,
    NotRun,
    Repeat,
    TryClosed,
    TryStarted,
    end_try,
    retry_question,
)
from orchestrator.core.planner import TaskView
from orchestrator.core.spec import DagSpec, LoopSpec, TaskSpec
from orchestrator.core.states import RunState, TaskState
from orchestrator.execution.runtime import Outcome
from orchestrator.store.runs import RunKey
from scheduler.active_runs import ActiveRun

T = TaskState
START = datetime(2026, 1, 1, 12, tzinfo=UTC)
END = START + timedelta(seconds=2)
NOW = START + timedelta(seconds=5)


def run_of(*tasks: TaskSpec, conf: dict[str, Any] | None = None, **views: TaskView) -> ActiveRun:
    spec = DagSpec(dag_id="d", fileloc="d.py", tasks=tasks)
    return ActiveRun(
        key=RunKey("d", "r1"), spec=spec, state=RunState.RUNNING, logical_date=None, data_interval_start=None,
        data_interval_end=None, conf=conf or {}, tasks={t.task_id: views.get(t.task_id, TaskView()) for t in tasks},
    )


def running(try_number: int = 1, max_tries: int = 1, **fields: Any) -> TaskView:
    return TaskView(state=T.RUNNING, try_number=try_number, max_tries=max_tries, start_date=START, worker="w1", **fields)


def ended(status: str = "success", **fields: Any) -> Outcome:
    values: dict[str, Any] = {"start": START, "end": END, "worker": "w1", "busy_s": 0.5, **fields}
    return Outcome(key="k", task_id="a", try_number=1, status=status, **values)  # type: ignore[arg-type]


def settled(task_id: str, to: TaskState, reason: str | None = None, *, result: Any = None, follow: Any = None,
            next_retry_at: datetime | None = None, map_index: int = -1) -> Move:
    """The move that settles a try ended at END."""
    changes = {"end_date": END, "next_retry_at": next_retry_at, "key": None, "result": result, "follow": follow}
    return Move(task_id, to, END, reason, map_index, changes)


def closed(task_id: str, state: TaskState, *, error: str | None = None, log: str = "", try_number: int = 1, map_index: int = -1) -> TryClosed:
    return TryClosed(task_id, try_number, {"state": state.value, "end_date": END, "error": error, "log": log, "worker": "w1"}, map_index)


# -- a try that ended --------------------------------------------------------------------------
def test_success_settles_the_task_closes_its_try_and_counts_a_good_call() -> None:
    run = run_of(TaskSpec(task_id="a"), a=running())
    assert end_try(run, "a", 1, Ended(ended(result=42, log="hi\n")), NOW) == Changes(
        moves=(settled("a", T.SUCCESS, result=42),),
        tries=(closed("a", T.SUCCESS, log="hi\n"),),
        breaker=BreakerCall(True, END),
        busy_s=0.5,
    )


def test_an_end_whose_start_was_never_reported_starts_the_try_first() -> None:
    run = run_of(TaskSpec(task_id="a"), a=TaskView(state=T.QUEUED, key="k"))
    changes = end_try(run, "a", 1, Ended(ended()), NOW)
    assert changes.moves == (
        Move("a", T.RUNNING, START, None, -1, {"try_number": 1, "start_date": START, "end_date": None, "worker": "w1"}),
        settled("a", T.SUCCESS),
    )
    assert changes.tries == (TryStarted("a", 1, START, "w1"), closed("a", T.SUCCESS))


def test_a_failure_with_tries_left_waits_for_its_retry() -> None:
    run = run_of(TaskSpec(task_id="a", retries=1, retry_delay_s=60), a=running(max_tries=2))
    changes = end_try(run, "a", 1, Ended(ended("failed", error="boom")), NOW)
    reason = "try 1 of 2 failed (boom); retrying in 60 s"
    assert changes.moves == (settled("a", T.UP_FOR_RETRY, reason, next_retry_at=END + timedelta(seconds=60)),)
    assert changes.tries == (closed("a", T.FAILED, error="boom"),)
    assert changes.breaker == BreakerCall(False, END)


def test_a_plugin_decision_not_to_retry_fails_the_task() -> None:
    run = run_of(TaskSpec(task_id="a", retries=3), a=running(max_tries=4))
    changes = end_try(run, "a", 1, Ended(ended("failed", error="boom"), decision=(False, None)), NOW)
    assert [(m.to, m.reason) for m in changes.moves] == [(T.FAILED, "boom (a plugin decided not to retry)")]


def test_the_retry_decision_is_asked_only_of_a_failure_with_tries_left() -> None:
    view = running(try_number=1, max_tries=2)
    assert retry_question(view, 1, ended("failed")) == 1
    assert retry_question(view, 1, ended("success")) is None
    assert retry_question(running(try_number=2, max_tries=2), 2, ended("failed")) is None
    # a try whose start was never reported is asked about as the try it is
    assert retry_question(TaskView(state=T.QUEUED, try_number=0, max_tries=2), 1, ended("failed")) == 1


def test_a_try_the_scheduler_settled_itself_is_no_call_to_a_breaker() -> None:
    run = run_of(TaskSpec(task_id="a"), a=running())
    changes = end_try(run, "a", 1, Ended(ended(worker=SCHEDULER)), NOW)
    assert (changes.breaker, changes.busy_s) == (BreakerCall(None, NOW), None)


def test_a_mapped_instance_settles_itself_only() -> None:
    task = TaskSpec(task_id="m", outlets=("s3://x",), idempotency_key="k")
    run = run_of(task, m=TaskView(state=T.RUNNING, instances=[running(), running()]))
    changes = end_try(run, "m", 1, Ended(ended(result=7)), NOW, map_index=1)
    assert changes == Changes(
        moves=(settled("m", T.SUCCESS, result=7, map_index=1),), tries=(closed("m", T.SUCCESS, map_index=1),),
        breaker=BreakerCall(True, END), busy_s=0.5,
    )


def test_a_success_updates_the_tasks_outlets_with_it() -> None:
    run = run_of(TaskSpec(task_id="a", outlets=("s3://bucket/x",)), a=running())
    assert end_try(run, "a", 1, Ended(ended()), NOW).outlets == END
    assert end_try(run, "a", 1, Ended(ended("failed")), NOW).outlets is None


def test_a_keyed_success_records_its_rendered_key() -> None:
    run = run_of(TaskSpec(task_id="a", idempotency_key="charge-{{ params.order }}"), conf={"order": 7}, a=running())
    assert end_try(run, "a", 1, Ended(ended(result={"ok": True})), NOW).key == KeySucceeded("charge-7", 1, {"ok": True}, END)


def test_a_key_that_cannot_be_rendered_is_not_recorded_and_says_why() -> None:
    run = run_of(TaskSpec(task_id="a", idempotency_key="charge-{{ params.order"), a=running())
    key = end_try(run, "a", 1, Ended(ended()), NOW).key
    assert isinstance(key, KeyUnrendered) and "cannot be rendered" in key.error


# -- conditional edges -------------------------------------------------------------------------
EDGES = (
    TaskSpec(task_id="check", next_conditions={"big": "data.amount > 1000", "small": "data.amount <= 1000"}),
    TaskSpec(task_id="big", upstream=("check",)),
    TaskSpec(task_id="small", upstream=("check",)),
)


def test_a_success_follows_the_edges_whose_condition_holds() -> None:
    run = run_of(*EDGES, check=running())
    changes = end_try(run, "check", 1, Ended(ended(result={"amount": 5000})), NOW)
    assert changes.moves == (settled("check", T.SUCCESS, result={"amount": 5000}, follow=("big",)),)


def test_an_edge_that_cannot_be_judged_is_not_followed_and_the_log_says_why() -> None:
    run = run_of(*EDGES, check=running())
    changes = end_try(run, "check", 1, Ended(ended(result={"total": 5})), NOW)
    assert changes.moves[0].changes["follow"] == ()
    log = changes.tries[0].values["log"]  # type: ignore[union-attr]
    assert log.count("could not be judged, so it is not followed") == 2 and "the edge to big" in log


def test_edge_conditions_are_compiled_once_per_spec() -> None:
    spec = run_of(*EDGES).spec
    assert spec.edges is spec.edges
    assert [e.downstream for e in spec.edges["check"]] == ["big", "small"]
    assert "edges" not in spec.model_copy(update={"dag_id": "other"}).__dict__


# -- loops -------------------------------------------------------------------------------------
LOOP = (
    TaskSpec(task_id="g.work"),
    TaskSpec(task_id="g.until", upstream=("g.work",), loop=LoopSpec(group_id="g", tasks=("g.work",), max_iterations=3)),
)


def test_a_loop_not_done_records_its_iteration_and_repeats_its_finished_tasks() -> None:
    run = run_of(*LOOP, **{"g.work": TaskView(state=T.SUCCESS), "g.until": running()})
    changes = end_try(run, "g.until", 1, Ended(ended(result=False)), NOW)
    record = {"done": False, "iteration": 1}
    reason = "loop g: iteration 1 of at most 3 is not done; repeating"
    assert changes.events == (Note("loop.iteration", END, "g.until", 1, reason, {"group_id": "g", "max_iterations": 3, **record}),)
    assert changes.repeat == Repeat(("g.work",), 2, "loop g: iteration 2 of at most 3", END)


def test_a_loop_done_records_its_last_iteration_and_does_not_repeat() -> None:
    run = run_of(*LOOP, **{"g.work": TaskView(state=T.SUCCESS), "g.until": running()})
    changes = end_try(run, "g.until", 1, Ended(ended(result=True)), NOW)
    assert [n.payload["done"] for n in changes.events] == [True] and changes.repeat is None


# -- a try lost with its worker, one that never ran ----------------------------------------------
def test_a_lost_running_try_fails_and_the_task_gets_a_new_try() -> None:
    run = run_of(TaskSpec(task_id="a"), a=running(max_tries=1))
    assert end_try(run, "a", 1, Lost("worker lost"), NOW) == Changes(
        moves=(Move("a", T.SCHEDULED, NOW, "worker lost; it gets a new try", -1, {"max_tries": 2, "key": None}),),
        tries=(TryClosed("a", 1, {"state": "failed", "end_date": NOW, "error": "worker lost"}),),
        breaker=BreakerCall(None, NOW),
        lost=True,
    )


def test_a_lost_try_that_had_not_started_goes_back_without_using_a_try() -> None:
    run = run_of(TaskSpec(task_id="a"), a=TaskView(state=T.QUEUED, key="k"))
    assert end_try(run, "a", 1, Lost("worker lost"), NOW) == Changes(
        moves=(Move("a", T.SCHEDULED, NOW, "worker lost; it had not started", -1, {"key": None}),),
        breaker=BreakerCall(None, NOW),
    )


def test_the_third_lost_try_fails_the_task() -> None:
    run = run_of(TaskSpec(task_id="a"), a=running(try_number=3, max_tries=3))
    changes = end_try(run, "a", 3, Lost("worker lost", losses=2), NOW)
    why = "worker lost; its tries were lost 3 times, so the task itself may be what kills its worker"
    assert changes.moves == (Move("a", T.FAILED, NOW, why, -1, {"end_date": NOW, "key": None}),)
    assert changes.lost


def test_a_try_that_never_ran_waits_for_its_upstream_again() -> None:
    run = run_of(TaskSpec(task_id="a"), TaskSpec(task_id="b", upstream=("a",)), b=TaskView(state=T.QUEUED, key="k"))
    assert end_try(run, "b", 1, NotRun(END), NOW) == Changes(
        moves=(Move("b", T.PENDING, END, "a chained upstream did not succeed", -1, {"key": None}),),
        breaker=BreakerCall(None, NOW),
    )


def test_deciding_changes_nothing_it_is_given() -> None:
    run = run_of(*LOOP, **{"g.work": TaskView(state=T.SUCCESS), "g.until": TaskView(state=T.QUEUED, key="k")})
    before = copy.deepcopy(run.tasks)
    end_try(run, "g.until", 1, Ended(ended(result=False)), NOW)
    end_try(run, "g.until", 1, Lost("worker lost"), NOW)
    assert run.tasks == before


def test_the_completion_path_does_not_import_the_workflow_file_module() -> None:
    code = (
        "import sys, scheduler.tracker, scheduler.admission, scheduler.keyed, scheduler.own_tasks, scheduler.callbacks, "
        "scheduler.work, orchestrator.core.outcomes, orchestrator.core.edges; "
        "print('orchestrator.declarative.workflow' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_the_fields_a_try_rendered_are_kept_with_it() -> None:
    run = run_of(TaskSpec(task_id="a"), a=running())
    (closed_try,) = end_try(run, "a", 1, Ended(ended(rendered={"bash_command": "echo 1"})), NOW).tries
    assert closed_try.values["rendered"] == {"bash_command": "echo 1"}  # type: ignore[union-attr]
