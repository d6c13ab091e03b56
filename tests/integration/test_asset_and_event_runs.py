"""Runs that asset updates and outside events start: through the real scheduler loop (injected
clock, Dask), and pass by pass through create_asset_runs / create_event_runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.states import RunState
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import assets as asset_store
from orchestrator.store import dags as dag_store
from orchestrator.store import external_events as event_store
from orchestrator.store import runs as run_store
from orchestrator.store import users as user_store
from orchestrator.store.models import AssetCursor, DagRun, Event, ExternalEvent, ExternalEventRun
from orchestrator.store.users import Role
from scheduler.triggering import create_asset_runs, create_event_runs
from webui import create_app

from .harness import make_config, task_rows, trigger, upgraded_sessions, wait_until, write_dag

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PRODUCER = """
    from orchestrator import DAG, Asset, PythonTask
    from tests.fixtures import succeed

    with DAG("producer") as dag:
        PythonTask(task_id="load", python_callable=succeed, outlets=[Asset("warehouse.orders")])
"""
CONSUMER = """
    from orchestrator import DAG, Asset, PythonTask
    from tests.fixtures import context_params

    with DAG("consumer", schedule=[Asset("warehouse.orders")], max_active_runs=1) as dag:
        PythonTask(task_id="report", python_callable=context_params)
"""
BOTH = """
    from orchestrator import DAG, Asset, PythonTask
    from tests.fixtures import succeed

    with DAG("both", schedule=[Asset("orders"), Asset("customers")]) as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""
EITHER = """
    from orchestrator import DAG, AnyOf, Asset, PythonTask
    from tests.fixtures import succeed

    with DAG("either", schedule=AnyOf(Asset("orders"), Asset("customers"))) as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""
BIG_ORDERS = """
    from orchestrator import DAG, EventTrigger, PythonTask
    from tests.fixtures import context_params

    with DAG("big_orders", triggers=[EventTrigger("order.*", condition="payload.amount > `1000`", transform="{order_id: payload.id}")]) as dag:
        PythonTask(task_id="handle", python_callable=context_params)
"""
BROKEN_TRANSFORM = """
    from orchestrator import DAG, EventTrigger, PythonTask
    from tests.fixtures import succeed

    with DAG("broken_transform", triggers=[EventTrigger("order.*", transform="payload.lines")]) as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""


@dataclass
class Store:
    config: Config
    sessions: sessionmaker[Session]


def make_store(home: Path, url: str, *sources: str) -> Store:
    for i, source in enumerate(sources):
        write_dag(home / "dags", f"dag_{i}.py", source)
    config = make_config(home, url, secret_key="test")
    sessions = upgraded_sessions(url)
    sync_dag_folder(sessions, config)
    return Store(config, sessions)


@contextmanager
def scheduler_running(store: Store, dask_address: str) -> Iterator[None]:
    """The real scheduler loop in a thread, its clock fixed at NOW."""
    from scheduler.service import Scheduler

    scheduler = Scheduler(store.config, store.sessions, DaskExecutor(dask_address), clock=lambda: NOW, sync_folder=False)
    thread = threading.Thread(target=scheduler.run, name="test-scheduler", daemon=True)
    thread.start()
    try:
        yield
    finally:
        scheduler.stop()
        thread.join(60)
    assert not thread.is_alive(), "the scheduler thread did not stop within 60 s"


def runs_of(sessions: sessionmaker[Session], dag_id: str) -> list[DagRun]:
    with sessions() as s:
        return list(s.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.queued_at, DagRun.run_id)))


def states(sessions: sessionmaker[Session], dag_id: str) -> list[str]:
    return [r.state for r in runs_of(sessions, dag_id)]


def update(sessions: sessionmaker[Session], *uris: str) -> None:
    with sessions.begin() as s:
        for uri in uris:
            asset_store.post_event(s, uri, {}, NOW, "test")


def asset_pass(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        return create_asset_runs(s, NOW)


def post_event(sessions: sessionmaker[Session], type: str, payload: dict, event_id: str | None = None) -> int:
    with sessions.begin() as s:
        return event_store.post(s, type, payload, event_id, NOW, "test")[0].id


def event_pass(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        return create_event_runs(s, NOW)


# -- assets end to end ---------------------------------------------------------------------------------
def test_a_task_s_outlet_update_runs_the_asset_scheduled_dag_end_to_end(tmp_path: Path, database_url: str, dask_address: str) -> None:
    store = make_store(tmp_path, database_url, PRODUCER, CONSUMER)
    with scheduler_running(store, dask_address):
        trigger(store.sessions, "producer")
        wait_until(lambda: states(store.sessions, "consumer") == ["success"], timeout=60, what="the asset-triggered run to succeed")
    [run] = runs_of(store.sessions, "consumer")
    [event] = run.conf["asset_events"]
    assert run.run_type == "asset"
    assert (event["uri"], event["source_dag_id"], event["source_task_id"]) == ("warehouse.orders", "producer", "load")
    assert task_rows(store.sessions, "consumer", run.run_id)["report"].result["asset_events"] == run.conf["asset_events"]
    with store.sessions() as s:
        assert s.get(AssetCursor, ("consumer", "warehouse.orders")).last_event_id == event["id"]  # type: ignore[union-attr]


def test_an_asset_update_posted_through_the_api_runs_the_dag(tmp_path: Path, dask_address: str) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", CONSUMER)
    with store.sessions.begin() as s:
        token = user_store.create_token(s, user_store.create_user(s, "feeder", Role.OPERATOR, None, NOW), NOW)[1]
    client = create_app(store.config, sessions=store.sessions).test_client()
    with scheduler_running(store, dask_address):
        posted = client.post(
            "/api/v1/assets/events", json={"uri": "warehouse.orders", "extra": {"rows": 42}}, headers={"Authorization": f"Bearer {token}"}
        )
        assert posted.status_code == 201, posted.get_json()
        wait_until(lambda: states(store.sessions, "consumer") == ["success"], timeout=60, what="the asset-triggered run to succeed")
    [event] = runs_of(store.sessions, "consumer")[0].conf["asset_events"]
    assert (event["actor"], event["extra"]) == ("feeder", {"rows": 42})


# -- assets, pass by pass ----------------------------------------------------------------------------
def test_all_of_waits_until_every_asset_was_updated(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", BOTH)
    update(store.sessions, "orders")
    assert asset_pass(store.sessions) == 0
    update(store.sessions, "customers")
    assert asset_pass(store.sessions) == 1
    assert [r.run_type for r in runs_of(store.sessions, "both")] == ["asset"]


def test_any_of_runs_when_one_asset_was_updated(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", EITHER)
    update(store.sessions, "customers")
    assert asset_pass(store.sessions) == 1
    [run] = runs_of(store.sessions, "either")
    assert [e["uri"] for e in run.conf["asset_events"]] == ["customers"]


def test_several_updates_before_the_run_make_one_run(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", BOTH)
    update(store.sessions, "orders", "orders", "customers", "orders")
    assert asset_pass(store.sessions) == 1
    assert asset_pass(store.sessions) == 0
    [run] = runs_of(store.sessions, "both")
    assert [e["id"] for e in run.conf["asset_events"]] == [4, 3, 2, 1]
    with store.sessions() as s:
        assert asset_store.cursors(s, ["both"]) == {"both": {"orders": 4, "customers": 3}}


def test_updates_after_a_run_make_the_next_one(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", EITHER)
    update(store.sessions, "orders")
    asset_pass(store.sessions)
    update(store.sessions, "orders")
    assert asset_pass(store.sessions) == 1
    assert [[e["id"] for e in r.conf["asset_events"]] for r in runs_of(store.sessions, "either")] == [[1], [2]]


def test_a_paused_asset_dag_waits_and_runs_once_for_the_updates_when_unpaused(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", EITHER)
    with store.sessions.begin() as s:
        dag_store.set_paused(s, "either", True, NOW)
    update(store.sessions, "orders", "customers")
    assert asset_pass(store.sessions) == 0
    with store.sessions.begin() as s:
        dag_store.set_paused(s, "either", False, NOW)
    assert asset_pass(store.sessions) == 1


def test_an_asset_dag_at_max_active_runs_waits_for_its_run_to_end(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", CONSUMER)
    update(store.sessions, "warehouse.orders")
    assert asset_pass(store.sessions) == 1
    update(store.sessions, "warehouse.orders")
    assert asset_pass(store.sessions) == 0
    with store.sessions.begin() as s:
        run_store.cancel_run(s, "consumer", runs_of(store.sessions, "consumer")[0].run_id, NOW, "test")
    assert asset_pass(store.sessions) == 1


# -- outside events ----------------------------------------------------------------------------------
def test_an_event_starts_a_run_with_the_transformed_conf_end_to_end(tmp_path: Path, dask_address: str) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", BIG_ORDERS)
    with scheduler_running(store, dask_address):
        big = post_event(store.sessions, "order.created", {"id": "A-1", "amount": 1500})
        post_event(store.sessions, "order.created", {"id": "A-2", "amount": 20})
        wait_until(lambda: states(store.sessions, "big_orders") == ["success"], timeout=60, what="the event-triggered run to succeed")
    [run] = runs_of(store.sessions, "big_orders")
    assert (run.run_type, run.conf) == ("event", {"order_id": "A-1"})
    assert task_rows(store.sessions, "big_orders", run.run_id)["handle"].result["order_id"] == "A-1"
    with store.sessions() as s:
        assert [(link.event_pk, link.run_id) for link in s.scalars(select(ExternalEventRun))] == [(big, run.run_id)]
        assert all(e.processed_at == NOW for e in s.scalars(select(ExternalEvent)))


def test_events_already_processed_start_nothing_again(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", BIG_ORDERS)
    post_event(store.sessions, "order.created", {"id": "A-1", "amount": 1500})
    assert event_pass(store.sessions) == 1
    assert event_pass(store.sessions) == 0
    assert len(runs_of(store.sessions, "big_orders")) == 1


def test_events_start_runs_in_the_order_they_were_posted(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", BIG_ORDERS)
    for order in ("A-1", "A-2", "A-3"):
        post_event(store.sessions, "order.created", {"id": order, "amount": 5000})
    assert event_pass(store.sessions) == 3
    assert [r.conf["order_id"] for r in runs_of(store.sessions, "big_orders")] == ["A-1", "A-2", "A-3"]


def test_a_trigger_that_fails_is_recorded_and_other_dags_still_start(tmp_path: Path, database_url: str) -> None:
    # on both dialects: the failures are found through a JSON path into the event log's payload
    store = make_store(tmp_path, database_url, BIG_ORDERS, BROKEN_TRANSFORM)
    pk = post_event(store.sessions, "order.created", {"id": "A-1", "amount": 1500, "lines": [1, 2]})
    assert event_pass(store.sessions) == 1
    assert runs_of(store.sessions, "broken_transform") == [] and len(runs_of(store.sessions, "big_orders")) == 1
    with store.sessions() as s:
        [failed] = s.scalars(select(Event).where(Event.kind == event_store.TRIGGER_FAILED))
        runs, failures = event_store.outcomes(s, [pk])
    assert (failed.dag_id, failed.payload) == ("broken_transform", {"external_event": pk, "type": "order.created"})
    assert "must be a JSON object" in (failed.reason or "")
    assert [f.dag_id for f in failures[pk]] == ["broken_transform"] and [r.dag_id for r in runs[pk]] == ["big_orders"]


def test_a_paused_dag_is_not_started_by_an_event(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", BIG_ORDERS)
    with store.sessions.begin() as s:
        dag_store.set_paused(s, "big_orders", True, NOW)
    post_event(store.sessions, "order.created", {"id": "A-1", "amount": 1500})
    assert event_pass(store.sessions) == 0
    with store.sessions() as s:
        assert s.scalar(select(ExternalEvent.processed_at)) == NOW


def test_an_event_run_beyond_max_active_runs_is_queued_not_dropped(tmp_path: Path) -> None:
    store = make_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", BIG_ORDERS.replace('triggers=', "max_active_runs=1, triggers="))
    for order in ("A-1", "A-2"):
        post_event(store.sessions, "order.created", {"id": order, "amount": 5000})
    assert event_pass(store.sessions) == 2
    assert states(store.sessions, "big_orders") == [RunState.QUEUED.value, RunState.QUEUED.value]
