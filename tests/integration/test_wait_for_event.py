"""WaitForEvent end to end: the real scheduler loop (injected clock, tasks in-process) and outside
events posted through the REST API. A waiting task holds no slot, takes the payload of the first
matching event posted after it began to wait, fails at its timeout, and survives a restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.event_waits import EventWaitSpec
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.store import event_waits as wait_store
from orchestrator.store import external_events
from orchestrator.store import users as user_store
from orchestrator.store.models import DagRun, EventWait
from orchestrator.store.users import Role
from webui import create_app

from .harness import SchedulerThread, make_config, task_rows, tries_of, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag
from .test_dag_dependencies import Clock

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
DAGS = """
    from orchestrator import DAG, EventTrigger, PythonTask, WaitForEvent
    from tests.fixtures import context_params, succeed

    with DAG("invoice", params={"invoice_id": None}, max_active_runs=None, max_active_tasks=1) as invoice:
        WaitForEvent("invoice.approved", match="payload.invoice_id == params.invoice_id", timeout="PT2H") >> PythonTask(
            task_id="book", python_callable=succeed)
    with DAG("any_invoice_news") as news:
        WaitForEvent("invoice.*", task_id="news")
    with DAG("on_invoice", triggers=[EventTrigger("invoice.approved")]) as on_invoice:
        PythonTask(task_id="handle", python_callable=context_params)
"""
WAIT = "wait_for_invoice.approved"


@dataclass
class Store:
    config: Config
    sessions: sessionmaker[Session]
    clock: Clock
    client: FlaskClient
    token: str

    def post(self, type: str, payload: dict[str, Any]) -> int:
        res = self.client.post("/api/v1/events", json={"type": type, "payload": payload}, headers={"Authorization": f"Bearer {self.token}"})
        assert res.status_code == 201, res.get_json()
        return res.get_json()["id"]

    def event(self, pk: int) -> dict[str, Any]:
        return self.client.get(f"/api/v1/events/{pk}", headers={"Authorization": f"Bearer {self.token}"}).get_json()

    def waiting(self, dag_id: str, run_id: str, task_id: str = WAIT) -> None:
        wait_until(lambda: getattr(task_rows(self.sessions, dag_id, run_id).get(task_id), "state", None) == "waiting",
                   timeout=30, what=f"{dag_id}/{run_id}/{task_id} to wait")

    @contextmanager
    def scheduler(self) -> Iterator[None]:
        with SchedulerThread(self.config, self.sessions, InProcessExecutor(), clock=self.clock):
            yield


@pytest.fixture
def store(tmp_path: Path) -> Store:
    write_dag(tmp_path / "dags", "waits.py", DAGS)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    config = make_config(tmp_path, url, secret_key="test")
    sessions = upgraded_sessions(url)
    with sessions.begin() as s:
        token = user_store.create_token(s, user_store.create_user(s, "erp", Role.OPERATOR, None, T0), T0)[1]
    return Store(config, sessions, Clock(T0), create_app(config, sessions=sessions).test_client(), token)


def test_each_waiting_run_takes_the_payload_of_the_event_that_matches_its_params(store: Store) -> None:
    with store.scheduler():
        first, second = trigger(store.sessions, "invoice", {"invoice_id": "inv-1"}), trigger(store.sessions, "invoice", {"invoice_id": "inv-2"})
        store.waiting("invoice", first)
        store.waiting("invoice", second)
        store.post("invoice.approved", {"invoice_id": "inv-2", "by": "ann"})
        assert wait_for_run(store.sessions, "invoice", second).state == "success"
        assert task_rows(store.sessions, "invoice", first)[WAIT].state == "waiting"
        store.post("invoice.approved", {"invoice_id": "inv-1", "by": "bo"})
        assert wait_for_run(store.sessions, "invoice", first).state == "success"
    assert task_rows(store.sessions, "invoice", second)[WAIT].result == {"invoice_id": "inv-2", "by": "ann"}
    assert task_rows(store.sessions, "invoice", first)[WAIT].result == {"invoice_id": "inv-1", "by": "bo"}


def test_waiting_tasks_hold_no_slot_so_runs_of_a_one_task_dag_all_wait_at_once(store: Store) -> None:
    with store.scheduler():
        runs = [trigger(store.sessions, "invoice", {"invoice_id": f"inv-{i}"}) for i in range(5)]
        for run_id in runs:
            store.waiting("invoice", run_id)  # max_active_tasks=1 holds none of them back


def test_an_event_posted_before_the_task_began_to_wait_does_not_match(store: Store) -> None:
    early = store.post("invoice.approved", {"invoice_id": "inv-9"})
    with store.scheduler():
        run_id = trigger(store.sessions, "invoice", {"invoice_id": "inv-9"})
        store.waiting("invoice", run_id)
        wait_until(lambda: store.event(early)["processed_at"], timeout=30, what="the early event to be matched")
        assert task_rows(store.sessions, "invoice", run_id)[WAIT].state == "waiting"
        late = store.post("invoice.approved", {"invoice_id": "inv-9", "n": 2})
        assert wait_for_run(store.sessions, "invoice", run_id).state == "success"
    [try_] = [t for t in tries_of(store.sessions, "invoice", run_id) if t.task_id == WAIT]
    assert late > early and try_.log == f"event {late} (invoice.approved) matched\n"


def test_one_event_starts_a_run_through_a_trigger_and_releases_waiting_tasks(store: Store) -> None:
    with store.scheduler():
        waiter = trigger(store.sessions, "any_invoice_news")
        store.waiting("any_invoice_news", waiter, "news")
        store.post("invoice.approved", {"invoice_id": "inv-3"})
        assert wait_for_run(store.sessions, "any_invoice_news", waiter).state == "success"
        started = wait_until(lambda: task_rows_of_dag(store, "on_invoice"), timeout=30, what="the triggered run")
    assert task_rows(store.sessions, "any_invoice_news", waiter)["news"].result == {"invoice_id": "inv-3"}
    assert started["handle"].result["invoice_id"] == "inv-3"


def task_rows_of_dag(store: Store, dag_id: str) -> dict[str, Any] | None:
    """The tasks of the DAG's successful run, once there is one."""
    with store.sessions() as s:
        run_id = s.scalar(select(DagRun.run_id).where(DagRun.dag_id == dag_id, DagRun.state == "success"))
    return task_rows(store.sessions, dag_id, run_id) if run_id else None


def test_the_timeout_fails_the_task_with_the_reason_by_the_scheduler_s_clock(store: Store) -> None:
    with store.scheduler():
        run_id = trigger(store.sessions, "invoice", {"invoice_id": "inv-4"})
        store.waiting("invoice", run_id)
        store.clock.at = T0 + timedelta(hours=2)
        assert wait_for_run(store.sessions, "invoice", run_id).state == "failed"
    [try_] = [t for t in tries_of(store.sessions, "invoice", run_id) if t.task_id == WAIT]
    assert try_.error == "no invoice.approved event where payload.invoice_id == params.invoice_id came within 2:00:00 (the timeout)"
    assert task_rows(store.sessions, "invoice", run_id)["book"].state == "upstream_failed"


def test_a_waiting_task_is_matched_after_a_scheduler_restart(store: Store) -> None:
    with store.scheduler():
        run_id = trigger(store.sessions, "invoice", {"invoice_id": "inv-5"})
        store.waiting("invoice", run_id)
    store.post("invoice.approved", {"invoice_id": "inv-5"})  # while no scheduler runs
    with store.scheduler():
        assert wait_for_run(store.sessions, "invoice", run_id).state == "success"
    assert task_rows(store.sessions, "invoice", run_id)[WAIT].result == {"invoice_id": "inv-5"}


# -- the store, pass by pass --------------------------------------------------------------------------------------
def register(store: Store, run_id: str, invoice_id: str) -> EventWait:
    spec = EventWaitSpec(type="invoice.approved", match="payload.invoice_id == params.invoice_id")
    with store.sessions.begin() as s:
        [row] = wait_store.register(s, [wait_store.NewWait("invoice", run_id, WAIT, 1, spec, {"invoice_id": invoice_id})], T0)
        return row


def match_pending(store: Store) -> dict[int, int | None]:
    """Match the unprocessed events as the scheduler's pass does; each wait's matched event."""
    with store.sessions.begin() as s:
        wait_store.match(s, external_events.unprocessed(s, 500), T0)
        return {w.id: w.event_pk for w in s.scalars(select(EventWait))}


def test_an_event_stored_before_the_wait_began_does_not_match_it_even_if_not_yet_processed(store: Store) -> None:
    store.post("invoice.approved", {"invoice_id": "inv-1"})
    wait = register(store, "r1", "inv-1")
    assert match_pending(store) == {wait.id: None}


def test_an_event_matches_only_the_waits_its_fields_correlate_with(store: Store) -> None:
    waits = [register(store, f"r{i}", f"inv-{i}") for i in range(3)]
    assert all(w.corr_key is not None for w in waits)
    event = store.post("invoice.approved", {"invoice_id": "inv-1"})
    assert match_pending(store) == {waits[0].id: None, waits[1].id: event, waits[2].id: None}
