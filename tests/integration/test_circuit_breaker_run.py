"""A failing outside system trips its circuit breaker instead of burning every task's retries.

A local HTTP server answers 500 until the test tells it to recover. Four tasks call it through
the connection `flaky_api` (two at a time: max_active_tasks=2). The first two fail, the breaker
opens, the others wait; the test then lets the server recover, the breaker half-opens after
its cool-down, the probe succeeds, the breaker closes and the run succeeds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.states import RunState
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store.models import CircuitBreaker, Event, TaskInstance, TaskTry

from .harness import SchedulerThread, events_of, make_config, task_rows, tries_of, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

TASKS = ["t0", "t1", "t2", "t3"]
COOLDOWN_S = 1.5


class FlakyServer:
    """Answers 500 until `recover()`; counts the answers of each kind."""

    def __init__(self) -> None:
        self.healthy = False
        self.answers = {200: 0, 500: 0}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with outer._lock:
                    status = 200 if outer.healthy else 500
                    outer.answers[status] += 1
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"down")

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def recover(self) -> None:
        with self._lock:
            self.healthy = True

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


DAG_FILE = """
    from datetime import timedelta
    from orchestrator import DAG, PythonTask
    from tests.fixtures import get_from_connection

    with DAG("flaky_api_calls", max_active_tasks=2) as dag:
        for i in range(4):
            PythonTask(task_id=f"t{i}", python_callable=get_from_connection, op_args=["flaky_api"], conn_id="flaky_api",
                       retries=3, retry_delay=timedelta(seconds=0.2))
"""


@dataclass
class World:
    sessions: sessionmaker[Session]
    run_id: str
    state: str
    server: FlakyServer
    tasks: dict[str, TaskInstance]
    tries: list[TaskTry]
    events: list[Event]
    circuit_events: list[Event]
    breaker: CircuitBreaker | None


def _breaker(sessions: sessionmaker[Session]) -> CircuitBreaker | None:
    with sessions() as s:
        return s.get(CircuitBreaker, "flaky_api")


@pytest.fixture(scope="module")
def world(module_database_url: str, dask_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home: Path = tmp_path_factory.mktemp("circuit")
    server = FlakyServer()
    config = make_config(home, module_database_url, circuit_failure_threshold=2, circuit_cooldown_s=COOLDOWN_S)
    write_dag(config.resolved_dags_folder, "flaky_api_calls.py", DAG_FILE)
    sessions = upgraded_sessions(module_database_url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ORCH_CONN_FLAKY_API", f"http://127.0.0.1:{server.port}")
        try:
            with SchedulerThread(config, sessions, DaskExecutor(dask_address)) as sched:
                run_id = trigger(sessions, "flaky_api_calls")
                wait_until(lambda: (b := _breaker(sessions)) is not None and b.state == "open", timeout=60, what="the breaker to open")
                server.recover()
                run = wait_for_run(sessions, "flaky_api_calls", run_id, timeout=60)
                sched.check()
            with sessions() as s:
                circuit_events = [e for e in s.query(Event).order_by(Event.id) if e.kind.startswith("circuit.")]
            yield World(
                sessions, run_id, run.state, server, task_rows(sessions, "flaky_api_calls", run_id),
                tries_of(sessions, "flaky_api_calls", run_id), events_of(sessions, "flaky_api_calls", run_id),
                circuit_events, _breaker(sessions),
            )
        finally:
            server.close()


def test_the_run_succeeds_once_the_outside_system_recovers(world: World) -> None:
    assert world.state == RunState.SUCCESS.value
    assert all(t.state == "success" for t in world.tasks.values())


def test_the_breaker_opens_half_opens_and_closes_with_an_event_each(world: World) -> None:
    kinds = [e.kind for e in world.circuit_events if (e.payload or {}).get("key") == "flaky_api"]
    assert kinds[:1] == ["circuit.open"] and kinds[-2:] == ["circuit.half_open", "circuit.closed"]
    assert world.breaker is not None and world.breaker.state == "closed"


def test_tasks_wait_with_the_reason_while_the_breaker_is_open(world: World) -> None:
    waits = [e for e in world.events if e.to_state == "waiting"]
    # t2 may take the slot t0's failure frees before t1's failure opens the breaker; t3 needs a
    # second free slot, which only that second failure gives: by then the breaker is open
    assert "t3" in {e.task_id for e in waits}
    assert all("circuit flaky_api is" in (e.reason or "") for e in waits)


def test_tasks_that_waited_before_their_first_try_ran_only_once(world: World) -> None:
    first_failures = {t.task_id for t in world.tries if t.state == "failed"}
    untouched = set(TASKS) - first_failures
    assert untouched, "every task failed once: the breaker held none back"
    assert all(world.tasks[tid].try_number == 1 for tid in untouched)


def test_every_failed_try_is_a_real_500_and_no_retry_was_used_up_by_waiting(world: World) -> None:
    failed = [t for t in world.tries if t.state == "failed"]
    assert len(failed) == world.server.answers[500]
    assert len(world.tries) == len(TASKS) + len(failed)
    assert all(t.try_number < t.max_tries for t in world.tasks.values())
