"""Error transitions, saga compensation and loop-back through the real scheduler loop (SQLite,
tasks in-process, an injected clock). Tasks append to side-effect files, so the tests see what ran
and in which order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.store.models import DagRun

from .harness import (
    SchedulerThread,
    events_of,
    make_config,
    task_rows,
    tries_of,
    trigger,
    upgraded_sessions,
    wait_for_run,
    write_dag,
)

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
DAGS = """
    from orchestrator import DAG, LoopGroup, PythonTask, XComArg
    from tests.fixtures import is_approved, raise_error, record_execution, review, routed_error_seen, succeed, upstream_value

    SIDE = {side!r}

    with DAG("continues"):
        bad = PythonTask(task_id="bad", python_callable=raise_error, op_args=["ValueError"], on_failure="continue")
        PythonTask(task_id="after", python_callable=upstream_value, op_args=[XComArg(bad)])

    with DAG("stops"):
        PythonTask(task_id="bad", python_callable=raise_error, op_args=["ValueError"], on_failure="stop")
        first = PythonTask(task_id="first", python_callable=succeed)
        first >> PythonTask(task_id="second", python_callable=succeed) >> PythonTask(task_id="third", python_callable=succeed)

    with DAG("routes"):
        charge = PythonTask(task_id="charge", python_callable=raise_error, on_failure={{"TimeoutError": "notify_ops", "*": "cleanup"}})
        charge >> PythonTask(task_id="ship", python_callable=succeed)
        PythonTask(task_id="notify_ops", python_callable=routed_error_seen)
        PythonTask(task_id="cleanup", python_callable=routed_error_seen)

    with DAG("saga"):
        reserve = PythonTask(task_id="reserve", python_callable=record_execution, op_args=[SIDE + ".saga"], compensate="release")
        charge = PythonTask(task_id="charge", python_callable=record_execution, op_args=[SIDE + ".saga"], compensate="refund")
        ship = PythonTask(task_id="ship", python_callable=raise_error, op_args=["ValueError"], compensate="unship")
        for undo in ("release", "refund", "unship"):
            PythonTask(task_id=undo, python_callable=record_execution, op_args=[SIDE + ".saga"])
        reserve >> charge >> ship

    with DAG("resubmit"):
        with LoopGroup("approval", repeat_until=is_approved, max_iterations=5) as approval:
            submit = PythonTask(task_id="submit", python_callable=record_execution, op_args=[SIDE + ".submits"])
            submit >> PythonTask(task_id="review", python_callable=review, op_args=[SIDE + ".reviews", 3])
        approval >> PythonTask(task_id="publish", python_callable=succeed)

    with DAG("never_approved"):
        with LoopGroup("approval", repeat_until=is_approved, max_iterations=2) as approval:
            PythonTask(task_id="review", python_callable=review, op_args=[SIDE + ".refusals", 99])
        approval >> PythonTask(task_id="publish", python_callable=succeed)
"""


@dataclass
class Home:
    sessions: sessionmaker[Session]
    side: Path

    def run(self, dag_id: str, conf: dict | None = None) -> DagRun:
        return wait_for_run(self.sessions, dag_id, trigger(self.sessions, dag_id, conf))

    def states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {tid: ti.state for tid, ti in task_rows(self.sessions, dag_id, run_id).items()}

    def lines(self, suffix: str) -> list[str]:
        path = Path(f"{self.side}.{suffix}")
        return [line.rsplit("/", 1)[1] for line in path.read_text().split()] if path.exists() else []


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """One scheduler for the module's runs (each test starts its own)."""
    path = tmp_path_factory.mktemp("error_transitions")
    side = path / "side"
    write_dag(path / "dags", "patterns.py", DAGS.format(side=str(side)))
    url = f"sqlite:///{path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    with SchedulerThread(make_config(path, url), sessions, InProcessExecutor(), clock=lambda: NOW):
        yield Home(sessions, side)
    sessions.kw["bind"].dispose()


# -- continue ---------------------------------------------------------------------------------------------
def test_a_run_succeeds_when_its_failed_task_continues(home: Home) -> None:
    run = home.run("continues")
    assert (run.state, home.states("continues", run.run_id)) == ("success", {"bad": "failed", "after": "success"})


def test_the_downstream_of_a_task_that_continues_receives_its_error(home: Home) -> None:
    run = home.run("continues")
    after = task_rows(home.sessions, "continues", run.run_id)["after"]
    assert after.result == {"error": "ValueError: ValueError raised on purpose", "error_type": "ValueError", "on_failure": "continue"}


# -- stop -----------------------------------------------------------------------------------------------------
def test_a_task_that_stops_fails_the_run_and_cancels_what_has_not_run(home: Home) -> None:
    run = home.run("stops")
    assert (run.state, home.states("stops", run.run_id)) == (
        "failed", {"bad": "failed", "first": "success", "second": "cancelled", "third": "cancelled"},
    )


def test_the_cancelled_tasks_say_which_task_stopped_the_run(home: Home) -> None:
    run = home.run("stops")
    reasons = {e.task_id: e.reason for e in events_of(home.sessions, "stops", run.run_id) if e.kind == "task.cancelled"}
    assert reasons == {"second": "the run stopped: bad failed (on_failure=stop)", "third": "the run stopped: bad failed (on_failure=stop)"}


# -- routing to handlers ---------------------------------------------------------------------------------------
def test_an_error_is_handled_by_the_handler_named_for_its_type(home: Home) -> None:
    run = home.run("routes", {"error": "TimeoutError"})
    assert home.states("routes", run.run_id) == {"charge": "failed", "ship": "upstream_failed", "notify_ops": "success", "cleanup": "skipped"}


def test_an_error_of_another_type_goes_to_the_catch_all_handler(home: Home) -> None:
    run = home.run("routes", {"error": "ValueError"})
    assert home.states("routes", run.run_id) == {"charge": "failed", "ship": "upstream_failed", "notify_ops": "skipped", "cleanup": "success"}


def test_the_handler_sees_the_error_in_its_context(home: Home) -> None:
    run = home.run("routes", {"error": "TimeoutError"})
    handled = task_rows(home.sessions, "routes", run.run_id)["notify_ops"].result
    assert handled == {"task_id": "charge", "error": "TimeoutError: TimeoutError raised on purpose", "error_type": "TimeoutError"}


# -- compensation ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saga(home: Home) -> DagRun:
    return home.run("saga")


def test_a_failed_run_compensates_the_steps_that_succeeded_in_reverse_order(home: Home, saga: DagRun) -> None:
    compensations = [(e.task_id, e.payload) for e in events_of(home.sessions, "saga", saga.run_id) if e.kind == "compensation"]
    assert compensations == [
        ("refund", {"compensates": "charge", "position": 1, "of": 2}),
        ("release", {"compensates": "reserve", "position": 2, "of": 2}),
    ]


def test_the_compensations_ran_after_the_steps_they_undo(home: Home, saga: DagRun) -> None:
    assert home.lines("saga") == ["reserve", "charge", "refund", "release"]


def test_the_compensation_of_the_failed_step_is_skipped(home: Home, saga: DagRun) -> None:
    assert home.states("saga", saga.run_id) == {
        "reserve": "success", "charge": "success", "ship": "failed", "release": "success", "refund": "success", "unship": "skipped",
    }


def test_the_run_ends_failed_once_its_compensations_ran(home: Home, saga: DagRun) -> None:
    kinds = [(e.task_id, e.kind) for e in events_of(home.sessions, "saga", saga.run_id)]
    assert saga.state == "failed"
    assert kinds.index(("release", "task.success")) < kinds.index((None, "run.failed"))


# -- loop-back -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resubmitted(home: Home) -> DagRun:
    return home.run("resubmit")


def test_a_rejected_review_is_resubmitted_until_approved(home: Home, resubmitted: DagRun) -> None:
    assert (resubmitted.state, home.lines("submits")) == ("success", ["approval.submit"] * 3)


def test_each_iteration_is_recorded_with_its_number(home: Home, resubmitted: DagRun) -> None:
    iterations = [e.payload for e in events_of(home.sessions, "resubmit", resubmitted.run_id) if e.kind == "loop.iteration"]
    assert [(p["iteration"], p["done"]) for p in iterations] == [(1, False), (2, False), (3, True)]


def test_every_iterations_try_stays_in_the_history(home: Home, resubmitted: DagRun) -> None:
    reviews = [t for t in tries_of(home.sessions, "resubmit", resubmitted.run_id) if t.task_id == "approval.review"]
    assert [(t.try_number, t.state) for t in reviews] == [(1, "success"), (2, "success"), (3, "success")]


def test_the_tasks_after_the_loop_run_once_it_is_done(home: Home, resubmitted: DagRun) -> None:
    rows = task_rows(home.sessions, "resubmit", resubmitted.run_id)
    assert (rows["approval.review"].result, rows["approval.repeat_until"].result, rows["publish"].state) == (
        "approved", {"done": True, "iteration": 3}, "success",
    )


def test_a_loop_that_reaches_max_iterations_fails_with_the_reason(home: Home) -> None:
    run = home.run("never_approved")
    failed = [e for e in events_of(home.sessions, "never_approved", run.run_id) if e.kind == "task.failed"]
    assert (run.state, home.lines("refusals"), home.states("never_approved", run.run_id)["publish"]) == (
        "failed", ["approval.review"] * 2, "upstream_failed",
    )
    assert [(e.task_id, e.reason) for e in failed] == [
        ("approval.repeat_until", "loop approval reached max_iterations=2 without its repeat_until condition being met"),
    ]


# -- stop on Dask: work in flight is cancelled too ----------------------------------------------------------
STOP_ON_DASK = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import fail_once_file_exists, hold_until_file_exists

    with DAG("stops_in_flight"):
        PythonTask(task_id="slow", python_callable=hold_until_file_exists, op_args=[{started!r}, {release!r}])
        PythonTask(task_id="bad", python_callable=fail_once_file_exists, op_args=[{started!r}], on_failure="stop")
"""


def test_a_task_that_stops_the_run_cancels_the_work_in_flight(tmp_path: Path, dask_address: str) -> None:
    started, release = tmp_path / "slow_started", tmp_path / "release_slow"
    write_dag(tmp_path / "dags", "stops.py", STOP_ON_DASK.format(started=str(started), release=str(release)))
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    try:
        with SchedulerThread(make_config(tmp_path, url), sessions, DaskExecutor(dask_address)):
            # `bad` fails once `slow` runs; `slow` would hold its worker until `release` exists
            run = wait_for_run(sessions, "stops_in_flight", trigger(sessions, "stops_in_flight"))
    finally:
        release.touch()  # the worker's thread cannot be interrupted: let it end
    [slow] = [t for t in tries_of(sessions, "stops_in_flight", run.run_id) if t.task_id == "slow"]
    assert (run.state, task_rows(sessions, "stops_in_flight", run.run_id)["slow"].state) == ("failed", "cancelled")
    assert (slow.state, slow.error) == ("cancelled", "the run stopped: bad failed (on_failure=stop)")
