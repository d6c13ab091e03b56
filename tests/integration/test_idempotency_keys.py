"""Idempotency keys through the real scheduler: a key that succeeded is not run again, across runs,
clears and scheduler restarts (kill -9, on SQLite and PostgreSQL). Tasks append to a side-effect
file, so the tests count how often each really ran."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.execution.executor import InProcessExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import clearing as clearing_store
from orchestrator.store.models import DagRun, IdempotencyKey, SchedulerJob

from .harness import (
    SchedulerProcess,
    SchedulerThread,
    cli_env,
    events_of,
    make_config,
    task_rows,
    tries_of,
    trigger,
    upgraded_sessions,
    wait_for_run,
    wait_until,
    write_dag,
)

DAGS = """
    from orchestrator import DAG, PythonTask, XComArg
    from tests.fixtures import charge_order, fail_on_first_try, record_execution, sleep_for, upstream_value

    SIDE = {side!r}

    with DAG("shop"):
        charge = PythonTask(task_id="charge", python_callable=charge_order, op_args=[SIDE], idempotency_key="charge-{{{{ params.order_id }}}}")
        charge >> PythonTask(task_id="receipt", python_callable=upstream_value, op_args=[XComArg(charge)])

    with DAG("refund_shop"):
        PythonTask(task_id="charge", python_callable=charge_order, op_args=[SIDE], idempotency_key="charge-{{{{ params.order_id }}}}")

    with DAG("flaky_shop"):
        PythonTask(task_id="charge", python_callable=fail_on_first_try, retries=1, retry_delay=0, idempotency_key="flaky-{{{{ params.order_id }}}}")

    with DAG("slow_shop"):
        charge = PythonTask(task_id="charge", python_callable=charge_order, op_args=[SIDE], idempotency_key="slow-{{{{ params.order_id }}}}")
        charge >> PythonTask(task_id="pack", python_callable=sleep_for, op_args=[{pack_s}])
"""


@dataclass
class Home:
    sessions: sessionmaker[Session]
    side: Path

    def run(self, dag_id: str, order_id: object) -> DagRun:
        return wait_for_run(self.sessions, dag_id, trigger(self.sessions, dag_id, {"order_id": order_id}))

    def executions(self) -> list[str]:
        """dag/task of every try that really ran."""
        if not self.side.exists():
            return []
        return ["/".join(line.split("/")[::2]) for line in self.side.read_text().split()]


def _home(path: Path, pack_s: float = 0.0) -> tuple[Path, str]:
    side = path / "side_effects.txt"
    write_dag(path / "dags", "shop.py", DAGS.format(side=str(side), pack_s=pack_s))
    return side, f"sqlite:///{path / 'orchestrator.db'}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    path = tmp_path_factory.mktemp("idempotency")
    side, url = _home(path)
    sessions = upgraded_sessions(url)
    # the scheduler's own clock: a retry is due at the real end of the try before it
    with SchedulerThread(make_config(path, url), sessions, InProcessExecutor()):
        yield Home(sessions, side)
    sessions.kw["bind"].dispose()


def test_a_key_that_succeeded_is_not_run_again_in_another_run(home: Home) -> None:
    home.run("shop", 1)
    second = home.run("shop", 1)
    assert (second.state, home.executions().count("shop/charge")) == ("success", 1)


def test_the_task_whose_key_succeeded_gets_the_stored_result(home: Home) -> None:
    home.run("shop", 2)
    second = home.run("shop", 2)
    rows = task_rows(home.sessions, "shop", second.run_id)
    assert (rows["charge"].state, rows["charge"].result, rows["receipt"].result) == ("success", {"charge_id": "ch_2"}, {"charge_id": "ch_2"})


def test_a_skipped_try_is_recorded_as_skipped_by_idempotency(home: Home) -> None:
    first = home.run("shop", 3)
    second = home.run("shop", 3)
    [skipped] = [e for e in events_of(home.sessions, "shop", second.run_id) if e.kind == "skipped_by_idempotency"]
    [charge] = [t for t in tries_of(home.sessions, "shop", second.run_id) if t.task_id == "charge"]
    assert (skipped.task_id, skipped.payload) == ("charge", {"key": "charge-3", "dag_id": "shop", "run_id": first.run_id, "task_id": "charge", "try_number": 1})
    assert (charge.state, charge.worker, charge.log) == (
        "success", "scheduler", f"skipped_by_idempotency: key 'charge-3' already succeeded in shop/{first.run_id}/charge try 1\n",
    )


def test_a_key_holds_across_dags(home: Home) -> None:
    home.run("shop", 4)
    home.run("refund_shop", 4)
    assert home.executions().count("refund_shop/charge") == 0


def test_another_key_runs(home: Home) -> None:
    before = home.executions().count("shop/charge")
    home.run("shop", 5)
    home.run("shop", 6)
    assert home.executions().count("shop/charge") == before + 2


def test_clearing_a_task_whose_key_succeeded_does_not_run_it_again(home: Home) -> None:
    run = home.run("shop", 7)
    ran = home.executions().count("shop/charge")
    with home.sessions.begin() as s:
        clearing_store.clear_task(s, "shop", run.run_id, "charge", downstream=True, now=datetime.now(UTC), actor="test")
    again = wait_for_run(home.sessions, "shop", run.run_id)
    charge = [t for t in tries_of(home.sessions, "shop", run.run_id) if t.task_id == "charge"]
    assert (again.state, home.executions().count("shop/charge")) == ("success", ran)
    assert [(t.try_number, t.worker) for t in charge][1:] == [(2, "scheduler")]


def test_a_failed_try_records_no_key_so_its_retry_runs(home: Home) -> None:
    first = home.run("flaky_shop", 8)
    second = home.run("flaky_shop", 8)
    assert [t.state for t in tries_of(home.sessions, "flaky_shop", first.run_id)] == ["failed", "success"]
    assert [t.worker for t in tries_of(home.sessions, "flaky_shop", second.run_id)] == ["scheduler"]


def test_the_key_of_the_first_success_is_stored_with_its_run(home: Home) -> None:
    first = home.run("shop", 9)
    home.run("shop", 9)
    with home.sessions() as s:
        row = s.get(IdempotencyKey, "charge-9")
    assert row is not None
    assert (row.run_id, row.task_id, row.result) == (first.run_id, "charge", {"charge_id": "ch_9"})


def test_a_key_that_cannot_be_rendered_fails_the_task_without_running_it(home: Home) -> None:
    before = home.executions().count("shop/charge")
    run = wait_for_run(home.sessions, "shop", trigger(home.sessions, "shop", {}))
    [charge] = [t for t in tries_of(home.sessions, "shop", run.run_id) if t.task_id == "charge"]
    assert (run.state, home.executions().count("shop/charge")) == ("failed", before)
    assert charge.error.startswith("the idempotency key cannot be rendered: template 'charge-{{ params.order_id }}' cannot be rendered")


# -- a scheduler restart (kill -9) ---------------------------------------------------------------------------------
HEALTH_THRESHOLD_S = 2.0


@pytest.fixture
def restarted(tmp_path: Path, database_url: str) -> Iterator[tuple[Home, DagRun, DagRun]]:
    """kill -9 the scheduler once the keyed task succeeded and the next one runs; restart; then a
    second run with the same key. Yields the home and both runs."""
    side, _ = _home(tmp_path, pack_s=3.0)
    sessions = upgraded_sessions(database_url)
    sync_dag_folder(sessions, make_config(tmp_path, database_url))
    env = cli_env(tmp_path, database_url=database_url, heartbeat_interval_s=0.2, scheduler_health_threshold_s=HEALTH_THRESHOLD_S)
    home = Home(sessions, side)
    first, second = SchedulerProcess(env, tmp_path / "first.log"), SchedulerProcess(env, tmp_path / "second.log")
    try:
        first.start().wait_registered(sessions)
        run_id = trigger(sessions, "slow_shop", {"order_id": 100})

        def charged_and_packing() -> bool:
            states = {tid: ti.state for tid, ti in task_rows(sessions, "slow_shop", run_id).items()}
            return states == {"charge": "success", "pack": "running"}

        wait_until(charged_and_packing, timeout=90, what="the charge to succeed and the packing to run")
        first.kill9()
        first.cleanup()
        with sessions() as s:
            last_beat = s.scalar(select(SchedulerJob.last_heartbeat).where(SchedulerJob.pid == first.pid))
        assert last_beat is not None
        wait_until(
            lambda: datetime.now(UTC) - last_beat > timedelta(seconds=HEALTH_THRESHOLD_S + 0.5),
            timeout=30, what="the killed scheduler's heartbeat to go stale",
        )
        second.start()
        before = wait_for_run(sessions, "slow_shop", run_id, timeout=120)
        after = home.run("slow_shop", 100)
        yield home, before, after
    finally:
        first.cleanup()
        second.cleanup()
        sessions.kw["bind"].dispose()


def test_a_key_holds_across_a_scheduler_killed_and_restarted(restarted: tuple[Home, DagRun, DagRun]) -> None:
    home, before, after = restarted
    skipped = [e.task_id for e in events_of(home.sessions, "slow_shop", after.run_id) if e.kind == "skipped_by_idempotency"]
    assert (before.state, after.state, skipped) == ("success", "success", ["charge"])
    assert home.executions().count("slow_shop/charge") == 1
