"""Run controls, dagrun_timeout and deadlines with a real scheduler on a Dask LocalCluster: the
scheduler notices each user action through the change cursor and acts on it; a run past its
timeout fails; a late run is recorded, called back and notified by e-mail and webhook."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.states import RunState, TaskState
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store import run_controls
from orchestrator.store.events import DEADLINE_MISSED
from orchestrator.store.run_history import replay_run
from orchestrator.store.runs import RunKey
from scheduler.active_runs import ActiveRun

from .harness import SchedulerThread, events_of, make_config, run_row, task_rows, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag
from .steps_harness import HttpServer, SmtpServer

# `hold` starts, writes <home>/<run_id>.started, then waits for <home>/<run_id>.release (20 s at most)
HOLD = """
import os
from orchestrator import get_context
HOME = os.path.join(os.path.dirname(__file__), "..")

def hold():
    run_id = get_context().run_id
    from tests.fixtures import hold_until_file_exists
    return hold_until_file_exists(os.path.join(HOME, run_id + ".started"), os.path.join(HOME, run_id + ".release"), 20)
"""

DAGS = {
    "held.py": HOLD + """
from orchestrator import DAG, PythonTask
from tests.fixtures import succeed

with DAG("held") as dag:
    PythonTask(task_id="first", python_callable=hold) >> PythonTask(task_id="second", python_callable=succeed)
""",
    "fan_after_held.py": HOLD + """
from orchestrator import DAG, PythonTask
from tests.fixtures import succeed

# a fan-out: nothing is chained to `first` (a chain goes to Dask with it, in flight as one unit)
with DAG("fan_after_held") as dag:
    PythonTask(task_id="first", python_callable=hold) >> [PythonTask(task_id="second", python_callable=succeed),
                                                          PythonTask(task_id="third", python_callable=succeed)]
""",
    "timed.py": HOLD + """
from datetime import timedelta
from orchestrator import DAG, PythonTask

with DAG("timed", dagrun_timeout=timedelta(seconds=1)) as dag:
    PythonTask(task_id="first", python_callable=hold)
""",
    "late.py": HOLD + """
import os
from datetime import timedelta
from orchestrator import DAG, Deadline, PythonTask

def note_late(context):
    with open(os.path.join(HOME, "late.txt"), "a", encoding="utf-8") as f:
        f.write(context.run_id + "\\n")

NOTIFY = [{"channel": "email", "conn_id": "mail", "to": ["oncall@example.com"]},
          {"channel": "webhook", "url": "HOOK_URL/late"}]

with DAG("late", deadline=Deadline(after=timedelta(seconds=1), reference="run_start", notify=NOTIFY),
         on_deadline_miss=note_late) as dag:
    PythonTask(task_id="first", python_callable=hold, deadline=Deadline(after=timedelta(seconds=1)))
""",
}


@dataclass
class Env:
    home: Path
    sessions: sessionmaker[Session]
    smtp: SmtpServer
    hooks: HttpServer
    scheduler: SchedulerThread

    def tracked(self, dag_id: str, run_id: str) -> ActiveRun | None:
        """The scheduler's copy of the run, if it drives it."""
        return self.scheduler.scheduler.tracker.runs.get(RunKey(dag_id, run_id))

    def started(self, dag_id: str, run_id: str, *, recorded: bool = True) -> None:
        """Wait until the held task `first` runs on its worker and, with `recorded`, in the store."""
        wait_until(lambda: (self.home / f"{run_id}.started").exists(), timeout=60, what=f"{run_id}'s first task to start")
        if recorded:
            wait_until(lambda: task_rows(self.sessions, dag_id, run_id)["first"].state == "running", timeout=60, what="the start to be recorded")

    def release(self, run_id: str) -> None:
        (self.home / f"{run_id}.release").write_text("go")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, dask_address: str) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("run_controls")
    smtp, hooks = SmtpServer().start(), HttpServer().start()
    mp = pytest.MonkeyPatch()
    mp.setenv("ORCH_CONN_MAIL", f"smtp://127.0.0.1:{smtp.port}?from=orchestrator%40example.com")
    for name, source in DAGS.items():
        # the URL is written into the file: a parse in a process started earlier would not see a new environment variable
        write_dag(home / "dags", name, source.replace("HOOK_URL", hooks.url))
    url = f"sqlite:///{home / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    try:
        with SchedulerThread(make_config(home, url), sessions, DaskExecutor(dask_address)) as scheduler:
            yield Env(home, sessions, smtp, hooks, scheduler)
    finally:
        for started in home.glob("*.started"):  # free every worker still holding
            started.with_suffix(".release").write_text("go")
        mp.undo()
        smtp.stop()
        hooks.stop()


def _now() -> datetime:
    return datetime.now(UTC)


def _states(env: Env, dag_id: str, run_id: str) -> dict[str, str]:
    return {tid: ti.state for tid, ti in task_rows(env.sessions, dag_id, run_id).items()}


@pytest.mark.parametrize(("mark", "run_state", "states"), [
    (TaskState.SUCCESS, "success", {"first": "success", "second": "success"}),  # its downstream then ran
    (TaskState.FAILED, "failed", {"first": "failed", "second": "upstream_failed"}),
], ids=["success lets the downstream run", "failed makes the downstream upstream_failed"])
def test_marking_a_running_task_settles_its_downstream_by_the_trigger_rules(env: Env, mark: TaskState, run_state: str, states: dict) -> None:
    run_id = trigger(env.sessions, "held")
    env.started("held", run_id)
    with env.sessions.begin() as s:
        run_controls.mark_task(s, "held", run_id, "first", mark, now=_now(), actor="tester")
    assert wait_for_run(env.sessions, "held", run_id).state == run_state
    assert _states(env, "held", run_id) == states
    env.release(run_id)


@pytest.mark.parametrize(("mark", "states"), [
    (RunState.FAILED, {"first": "failed", "second": "skipped"}),  # the running task fails, the rest is skipped
    (RunState.SUCCESS, {"first": "success", "second": "success"}),
], ids=["failed", "success"])
def test_marking_a_running_run_sets_its_unfinished_tasks_and_the_scheduler_lets_it_go(env: Env, mark: RunState, states: dict) -> None:
    run_id = trigger(env.sessions, "held")
    env.started("held", run_id)
    with env.sessions.begin() as s:
        run_controls.mark_run(s, "held", run_id, mark, now=_now(), actor="tester")
    wait_until(lambda: env.tracked("held", run_id) is None, timeout=30, what="the scheduler to drop the run")
    env.release(run_id)  # the cancelled try may still end on its worker: nobody hears it
    assert run_row(env.sessions, "held", run_id).state == mark.value
    assert _states(env, "held", run_id) == states


def test_a_run_paused_resumed_and_marked_replays_from_its_events(env: Env) -> None:
    run_id = trigger(env.sessions, "held")
    env.started("held", run_id)
    with env.sessions.begin() as s:
        run_controls.set_run_paused(s, "held", run_id, True, now=_now(), actor="tester")
    with env.sessions.begin() as s:
        run_controls.set_run_paused(s, "held", run_id, False, now=_now(), actor="tester")
    with env.sessions.begin() as s:
        run_controls.mark_task(s, "held", run_id, "first", TaskState.FAILED, now=_now(), actor="tester")
    assert wait_for_run(env.sessions, "held", run_id).state == "failed"
    env.release(run_id)
    with env.sessions() as s:
        assert replay_run(s, "held", run_id).differences == []


def test_a_paused_run_dispatches_nothing_new_until_resumed(env: Env) -> None:
    run_id = trigger(env.sessions, "fan_after_held")
    env.started("fan_after_held", run_id)
    with env.sessions.begin() as s:
        run_controls.set_run_paused(s, "fan_after_held", run_id, True, now=_now(), actor="tester")
    wait_until(lambda: getattr(env.tracked("fan_after_held", run_id), "paused", False), timeout=30, what="the scheduler to see the pause")
    env.release(run_id)  # the try in flight finishes ...
    wait_until(lambda: _states(env, "fan_after_held", run_id)["first"] == "success", timeout=60, what="the try in flight to finish")
    # ... and the scheduler, which wrote that success, queued nothing after it
    assert _states(env, "fan_after_held", run_id) == {"first": "success", "second": "pending", "third": "pending"}
    assert run_row(env.sessions, "fan_after_held", run_id).state == "running"
    with env.sessions.begin() as s:
        run_controls.set_run_paused(s, "fan_after_held", run_id, False, now=_now(), actor="tester")
    assert wait_for_run(env.sessions, "fan_after_held", run_id).state == "success"
    assert set(_states(env, "fan_after_held", run_id).values()) == {"success"}


def test_a_run_past_its_dagrun_timeout_fails_and_its_task_fails(env: Env) -> None:
    run_id = trigger(env.sessions, "timed")
    # not `recorded`: with a 1 s dagrun_timeout, a loaded machine can record the start after the run
    # already failed, and the task is then never seen running
    env.started("timed", run_id, recorded=False)
    run = wait_for_run(env.sessions, "timed", run_id)
    env.release(run_id)
    assert run.state == "failed"
    assert "dagrun_timeout" in (run.state_reason or "")
    assert _states(env, "timed", run_id) == {"first": "failed"}


def test_a_late_run_and_task_are_recorded_called_back_and_notified_by_email_and_webhook(env: Env) -> None:
    run_id = trigger(env.sessions, "late")
    env.started("late", run_id)

    def misses() -> list[tuple[str | None, dict]] | None:
        found = [(e.task_id, e.payload) for e in events_of(env.sessions, "late", run_id) if e.kind == DEADLINE_MISSED]
        return found if len(found) == 2 else None

    found = wait_until(misses, timeout=60, what="the run's and the task's deadline misses")
    assert sorted(task_id or "" for task_id, _ in found) == ["", "first"]
    wait_until(lambda: (env.home / "late.txt").exists() and run_id in (env.home / "late.txt").read_text(), timeout=60,
               what="the DAG's on_deadline_miss callback")
    mail = wait_until(lambda: next((m for m in env.smtp.messages if run_id in m["data"]), None), timeout=30, what="the e-mail")
    assert "oncall@example.com" in " ".join(mail["rcpt"])
    hook = wait_until(lambda: next((r for r in env.hooks.received if r["body"]["run_id"] == run_id), None), timeout=30, what="the webhook")
    assert hook["path"] == "/late" and hook["body"]["event"] == "deadline.missed"
    env.release(run_id)
    assert wait_for_run(env.sessions, "late", run_id).state == "success"
    kinds = [e.kind for e in events_of(env.sessions, "late", run_id)]
    assert kinds.count(DEADLINE_MISSED) == 2  # recorded once each, though the run went on after it
