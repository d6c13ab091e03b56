"""Sensors end to end: the real scheduler loop on a 2-worker Dask LocalCluster (one thread each).

Each mode waits for real things: a file the test creates, a local HTTP server it starts, rows in
a SQLite or PostgreSQL table, another DAG's run. A reschedule-mode sensor frees its worker slot
between pokes (`up_for_reschedule`), a deferrable one waits in the scheduler's own event loop
with no Dask task at all; the key test shows both waiting while other work keeps both workers busy.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store import run_creation
from orchestrator.store import runs as run_store

from .harness import (
    SchedulerThread,
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

SIGNALS = 'os.path.join(os.path.dirname(__file__), "..", "signals", {name!r})'

DAGS = {
    "modes.py": f"""
        import os
        from orchestrator import DAG, PythonTask, Sensor
        from orchestrator.airflow import FileSensor
        from tests.fixtures import file_exists, file_text_when_there, upstream_value

        with DAG("poke_mode") as dag:
            Sensor(task_id="wait", python_callable=file_text_when_there, op_args=[{SIGNALS.format(name="poke")}],
                   poke_interval=0.1, timeout=120)

        with DAG("reschedule_mode") as dag:
            wait = Sensor(task_id="wait", python_callable=file_text_when_there, op_args=[{SIGNALS.format(name="reschedule")}],
                          mode="reschedule", poke_interval=0.2, timeout=120)
            wait >> PythonTask(task_id="after", python_callable=upstream_value, op_args=[wait.output])

        with DAG("shown") as dag:
            Sensor(task_id="wait", python_callable=file_exists, op_args=[{SIGNALS.format(name="shown")}],
                   mode="reschedule", poke_interval=0.3, timeout=300)
            FileSensor(task_id="deferred", filepath={SIGNALS.format(name="shown")}, deferrable=True, poke_interval=0.1, timeout=300)

        with DAG("deferrable_mode") as dag:
            FileSensor(task_id="wait", filepath={SIGNALS.format(name="deferred")}, deferrable=True, poke_interval=0.1, timeout=120)

        with DAG("times_out") as dag:
            Sensor(task_id="wait", python_callable=file_exists, op_args=[{SIGNALS.format(name="never")}],
                   mode="reschedule", poke_interval=0.1, timeout=0.6, retries=2)

        with DAG("never_comes") as dag:
            FileSensor(task_id="wait", filepath={SIGNALS.format(name="never")}, deferrable=True, poke_interval=0.1, timeout=300)

        with DAG("soft_fails") as dag:
            wait = Sensor(task_id="wait", python_callable=file_exists, op_args=[{SIGNALS.format(name="never")}],
                          mode="reschedule", poke_interval=0.1, timeout=0.6, soft_fail=True)
            deferred = FileSensor(task_id="deferred", filepath={SIGNALS.format(name="never")}, deferrable=True,
                                  poke_interval=0.1, timeout=0.6, soft_fail=True)
            PythonTask(task_id="after", python_callable=file_exists, op_args=["/"]).set_upstream([wait, deferred])
    """,
    "slots.py": f"""
        import os
        from orchestrator import DAG, PythonTask, Sensor
        from orchestrator.airflow import FileSensor
        from tests.fixtures import busy_interval, file_exists

        with DAG("slots", max_active_tasks=None) as dag:
            Sensor(task_id="rescheduled", python_callable=file_exists, op_args=[{SIGNALS.format(name="slots")}],
                   mode="reschedule", poke_interval=0.2, timeout=300)
            FileSensor(task_id="deferred", filepath={SIGNALS.format(name="slots")}, deferrable=True, poke_interval=0.1, timeout=300)
            for i in range(4):
                PythonTask(task_id=f"work_{{i}}", python_callable=busy_interval, op_args=[1.5])
    """,
    "airflow_sensors.py": f"""
        import os
        from datetime import timedelta
        from orchestrator.airflow import (
            DAG, DateTimeSensor, EmptyOperator, ExternalTaskSensor, FileSensor, HttpSensor, PythonSensor, SqlSensor,
            TimeDeltaSensor,
        )

        def ready_when(ti, params, **context):
            return os.path.exists(params["path"])

        with DAG("af_file", schedule=None) as dag:
            FileSensor(task_id="wait", filepath={SIGNALS.format(name="af_*.csv")}, mode="reschedule", poke_interval=0.2, timeout=120)

        with DAG("af_python", schedule=None) as dag:
            PythonSensor(task_id="wait", python_callable=ready_when, mode="reschedule", poke_interval=0.2, timeout=120)

        with DAG("af_http", schedule=None) as dag:
            HttpSensor(task_id="wait", http_conn_id="status_api", endpoint="/status", poke_interval=0.2, timeout=120,
                       response_check=lambda response: response.json()["status"] == "ready")
            HttpSensor(task_id="deferred", http_conn_id="status_api", endpoint="/status", deferrable=True, poke_interval=0.2,
                       timeout=120)

        with DAG("af_sql", schedule=None) as dag:
            SqlSensor(task_id="wait", conn_id="warehouse", sql="select count(*) from loads where day = :day",
                      parameters={{"day": "{{{{ params.day }}}}"}}, mode="reschedule", poke_interval=0.2, timeout=120)

        with DAG("af_sql_pg", schedule=None) as dag:
            SqlSensor(task_id="wait", conn_id="warehouse_pg", sql="select count(*) from loads", mode="reschedule",
                      poke_interval=0.2, timeout=120)

        with DAG("af_upstream", schedule=None) as dag:
            EmptyOperator(task_id="produce")

        with DAG("af_external", schedule=None) as dag:
            ExternalTaskSensor(task_id="wait", external_dag_id="af_upstream", external_task_id="produce",
                               mode="reschedule", poke_interval=0.2, timeout=120)

        with DAG("af_times", schedule=None) as dag:
            TimeDeltaSensor(task_id="delta", delta=timedelta(seconds=1), deferrable=True, timeout=120)
            DateTimeSensor(task_id="moment", target_time="{{{{ params.at }}}}", mode="reschedule", poke_interval=0.2, timeout=120)
    """,
    "plugin_trigger.py": """
        import os
        from orchestrator import DAG, Sensor

        class FlagSensor(Sensor):
            # waits for a flag file's text to say "up": on a worker, or deferred to the plugin's "flag" trigger
            def __init__(self, *, path, **kwargs):
                super().__init__(**kwargs)
                self.path = path

            def poke(self, context):
                return os.path.exists(self.path) and open(self.path).read() == "up"

            def defer_trigger(self):
                return "flag", {"path": self.path}

        with DAG("plugin_trigger") as dag:
            FlagSensor(task_id="wait", path=os.path.join(os.path.dirname(__file__), "..", "signals", "flag"), deferrable=True,
                       timeout=120)
    """,
}

FLAG_PLUGIN = """
import asyncio
import os

from orchestrator.execution.async_triggers import BaseTrigger, TriggerEvent
from orchestrator.plugins.hookspecs import hookimpl


class FlagTrigger(BaseTrigger):
    name = "flag"

    async def run(self):
        path = self.args["path"]
        while not (os.path.exists(path) and open(path).read() == "up"):
            await asyncio.sleep(0.05)
        return TriggerEvent({"flag": "up", "seen_by": "plugin"})


@hookimpl
def orchestrator_trigger_types():
    return [FlagTrigger]
"""


class StatusServer:
    """A local HTTP server: /status answers 404 until it is ready, then 200 with {"status": ...}."""

    def __init__(self) -> None:
        self.status: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path != "/status" or outer.status is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps({"status": outer.status}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StatusServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)


@dataclass
class Env:
    home: Path
    sessions: sessionmaker[Session]
    server: StatusServer
    scheduler: SchedulerThread
    url: str

    @property
    def signals(self) -> Path:
        return self.home / "signals"

    def signal(self, name: str, text: str = "") -> None:
        (self.signals / name).write_text(text)

    def state(self, dag_id: str, run_id: str, task_id: str = "wait") -> str | None:
        row = task_rows(self.sessions, dag_id, run_id).get(task_id)
        return None if row is None else row.state

    def reaches(self, dag_id: str, run_id: str, state: str, task_id: str = "wait") -> None:
        wait_until(lambda: self.state(dag_id, run_id, task_id) == state, timeout=60,
                   what=f"{dag_id}/{run_id}/{task_id} to be {state} (it is {self.state(dag_id, run_id, task_id)})")

    def finished(self, dag_id: str, run_id: str) -> str:
        self.scheduler.check()
        return wait_for_run(self.sessions, dag_id, run_id, timeout=90).state

    def try_states(self, dag_id: str, run_id: str, task_id: str = "wait") -> list[str]:
        return [t.state for t in tries_of(self.sessions, dag_id, run_id) if t.task_id == task_id]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The scheduler with its own 2-worker LocalCluster (one thread each), whose worker processes see
    this database (ExternalTaskSensor reads the other DAG's run from it, as a deployment's workers do)."""
    home = tmp_path_factory.mktemp("sensors")
    for name, source in DAGS.items():
        write_dag(home / "dags", name, source)
    (home / "signals").mkdir()
    (home / "plugins").mkdir()
    (home / "plugins" / "flag_trigger.py").write_text(FLAG_PLUGIN)
    with sqlite3.connect(home / "warehouse.db") as db:
        db.execute("create table loads (day text)")
    url = f"sqlite:///{home / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    with StatusServer() as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("ORCH_CONN_STATUS_API", f"http://127.0.0.1:{server.port}")
        mp.setenv("ORCH_CONN_WAREHOUSE", f"sqlite:///{home / 'warehouse.db'}")
        mp.setenv("ORCH_DATABASE_URL", url)
        with SchedulerThread(make_config(home, url), sessions, DaskExecutor(workers=2, threads_per_worker=1)) as scheduler:
            yield Env(home, sessions, server, scheduler, url)


pytestmark = pytest.mark.slow


# -- each mode ------------------------------------------------------------------------------------------
def test_a_poke_mode_sensor_waits_in_one_try_and_succeeds_with_its_value(env: Env) -> None:
    run_id = trigger(env.sessions, "poke_mode")
    env.reaches("poke_mode", run_id, "running")
    env.signal("poke", "arrived")
    assert env.finished("poke_mode", run_id) == "success"
    assert env.try_states("poke_mode", run_id) == ["success"]
    assert task_rows(env.sessions, "poke_mode", run_id)["wait"].result == "arrived"


def test_a_reschedule_mode_sensor_frees_its_slot_between_pokes_and_records_each(env: Env) -> None:
    run_id = trigger(env.sessions, "reschedule_mode")
    env.reaches("reschedule_mode", run_id, "up_for_reschedule")
    wait_until(lambda: len(env.try_states("reschedule_mode", run_id)) >= 3, timeout=60, what="three pokes")
    env.signal("reschedule", "42 rows")
    assert env.finished("reschedule_mode", run_id) == "success"
    tries = env.try_states("reschedule_mode", run_id)
    assert tries[-1] == "success" and set(tries[:-1]) == {"up_for_reschedule"}
    rows = task_rows(env.sessions, "reschedule_mode", run_id)
    assert (rows["wait"].result, rows["after"].result) == ("42 rows", "42 rows")
    # the UI and API read each poke from the event log
    kinds = [e.kind for e in events_of(env.sessions, "reschedule_mode", run_id) if e.task_id == "wait"]
    assert kinds.count("task.up_for_reschedule") == len(tries) - 1


def test_a_deferrable_sensor_waits_in_the_scheduler_with_no_dask_task(env: Env) -> None:
    run_id = trigger(env.sessions, "deferrable_mode")
    env.reaches("deferrable_mode", run_id, "waiting")
    env.signal("deferred")
    assert env.finished("deferrable_mode", run_id) == "success"
    (only,) = tries_of(env.sessions, "deferrable_mode", run_id)
    assert (only.state, only.worker) == ("success", "scheduler")
    assert only.log.startswith("trigger file fired")
    assert task_rows(env.sessions, "deferrable_mode", run_id)["wait"].result.endswith("signals/deferred")


def test_a_sensor_past_its_timeout_fails_without_retrying(env: Env) -> None:
    run_id = trigger(env.sessions, "times_out")
    assert env.finished("times_out", run_id) == "failed"
    row = task_rows(env.sessions, "times_out", run_id)["wait"]
    last = tries_of(env.sessions, "times_out", run_id)[-1]
    assert row.state == "failed" and "timeout of 0.6 s" in (last.error or "")
    assert set(env.try_states("times_out", run_id)[:-1]) == {"up_for_reschedule"}  # its 2 retries were not used


def test_soft_fail_sensors_past_their_timeout_are_skipped_with_their_downstream(env: Env) -> None:
    run_id = trigger(env.sessions, "soft_fails")
    assert env.finished("soft_fails", run_id) == "success"
    states = {tid: row.state for tid, row in task_rows(env.sessions, "soft_fails", run_id).items()}
    assert states == {"wait": "skipped", "deferred": "skipped", "after": "skipped"}


def test_a_trigger_type_from_a_plugin_wakes_a_deferred_sensor(env: Env) -> None:
    run_id = trigger(env.sessions, "plugin_trigger")
    env.reaches("plugin_trigger", run_id, "waiting")
    env.signal("flag", "down")
    env.signal("flag", "up")
    assert env.finished("plugin_trigger", run_id) == "success"
    assert task_rows(env.sessions, "plugin_trigger", run_id)["wait"].result == {"flag": "up", "seen_by": "plugin"}
    # `plugins list` and GET /api/v1/plugins name it beside the built-in ones
    assert {"flag", "time", "file", "http"} <= set(env.scheduler.scheduler.plugins.summary()["trigger_types"])


def test_the_api_and_the_task_page_show_a_sensor_waiting_between_pokes(env: Env) -> None:
    from orchestrator.store import users as user_store
    from orchestrator.store.users import Role
    from webui import create_app

    run_id = trigger(env.sessions, "shown")
    env.reaches("shown", run_id, "waiting", task_id="deferred")
    wait_until(lambda: env.try_states("shown", run_id)[:1] == ["up_for_reschedule"], timeout=60, what="a poke to end")
    now = datetime.now(UTC)
    with env.sessions.begin() as s:
        token = user_store.create_token(s, user_store.create_user(s, f"viewer-{run_id[-8:]}", Role.VIEWER, None, now), now)[1]
    client = create_app(make_config(env.home, env.url, secret_key="test"), sessions=env.sessions).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    api = client.get(f"/api/v1/dags/shown/runs/{run_id}/tasks/wait", headers=auth).get_json()
    assert api["tries"][0]["state"] == "up_for_reschedule", api
    deferred = client.get(f"/api/v1/dags/shown/runs/{run_id}/tasks/deferred", headers=auth).get_json()
    assert deferred["state"] == "waiting", deferred
    page = client.get(f"/dags/shown/runs/{run_id}/tasks/wait?try=1", headers=auth).get_data(as_text=True)
    assert '<span class="badge s-up_for_reschedule">up for reschedule</span>' in page
    reasons = [e.reason or "" for e in events_of(env.sessions, "shown", run_id)]
    assert any(r.startswith("poke 1: not yet; next poke in 0.3 s") for r in reasons), reasons
    assert any(r.startswith("deferred: waiting for trigger file") for r in reasons), reasons
    env.signal("shown")
    assert env.finished("shown", run_id) == "success"


# -- the sensors hold no slot --------------------------------------------------------------------------
def test_waiting_sensors_hold_no_slot_while_both_workers_run_other_work(env: Env) -> None:
    run_id = trigger(env.sessions, "slots")
    work = [f"work_{i}" for i in range(4)]
    wait_until(lambda: all(env.state("slots", run_id, w) == "success" for w in work), timeout=90, what="the work to be done")
    # all the work ran while both sensors were still waiting
    assert env.state("slots", run_id, "deferred") == "waiting"
    assert env.state("slots", run_id, "rescheduled") in ("up_for_reschedule", "queued", "running")
    rows = task_rows(env.sessions, "slots", run_id)
    spans = [rows[w].result for w in work]
    assert len({s["pid"] for s in spans}) == 2, spans  # on both single-thread workers ...
    overlapping = [(a, b) for a in spans for b in spans if a["pid"] != b["pid"] and a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, spans  # ... at the same time: neither worker's only slot was held by a sensor
    pokes_meanwhile = [t for t in tries_of(env.sessions, "slots", run_id) if t.task_id == "rescheduled"]
    assert pokes_meanwhile and all(t.state == "up_for_reschedule" for t in pokes_meanwhile if t.end_date)
    env.signal("slots")
    assert env.finished("slots", run_id) == "success"
    assert [t.worker for t in tries_of(env.sessions, "slots", run_id) if t.task_id == "deferred"] == ["scheduler"]


# -- Airflow's sensors against real things ---------------------------------------------------------
def test_file_sensor_finds_a_file_by_its_glob(env: Env) -> None:
    run_id = trigger(env.sessions, "af_file")
    env.reaches("af_file", run_id, "up_for_reschedule")
    env.signal("af_2026.csv", "a,b")
    assert env.finished("af_file", run_id) == "success"
    assert task_rows(env.sessions, "af_file", run_id)["wait"].result.endswith("signals/af_2026.csv")


def test_python_sensor_gets_airflows_context(env: Env) -> None:
    path = env.signals / "af_python"
    run_id = trigger(env.sessions, "af_python", conf={"path": str(path)})
    env.reaches("af_python", run_id, "up_for_reschedule")
    path.write_text("")
    assert env.finished("af_python", run_id) == "success"


def test_http_sensor_waits_for_its_response_check_and_the_deferred_one_for_a_2xx(env: Env) -> None:
    run_id = trigger(env.sessions, "af_http")
    env.reaches("af_http", run_id, "waiting", task_id="deferred")
    env.reaches("af_http", run_id, "running")  # 404: not yet
    env.server.status = "starting"  # 200, but the check says no: only the deferred one is done
    env.reaches("af_http", run_id, "success", task_id="deferred")
    assert env.state("af_http", run_id) == "running"
    env.server.status = "ready"
    assert env.finished("af_http", run_id) == "success"
    rows = task_rows(env.sessions, "af_http", run_id)
    assert (rows["wait"].result, rows["deferred"].result) == ({"status": "ready"}, {"status": "starting"})


def test_sql_sensor_waits_for_a_row_in_a_sqlite_table(env: Env) -> None:
    run_id = trigger(env.sessions, "af_sql", conf={"day": "2026-05-04"})
    env.reaches("af_sql", run_id, "up_for_reschedule")
    with sqlite3.connect(env.home / "warehouse.db") as db:
        db.execute("insert into loads values ('2026-05-03')")  # another day: still not there
    wait_until(lambda: len(env.try_states("af_sql", run_id)) >= 3, timeout=60, what="more pokes")
    assert env.state("af_sql", run_id) != "success"
    with sqlite3.connect(env.home / "warehouse.db") as db:
        db.execute("insert into loads values ('2026-05-04')")
    assert env.finished("af_sql", run_id) == "success"
    assert task_rows(env.sessions, "af_sql", run_id)["wait"].result == 1


@pytest.mark.postgres
def test_sql_sensor_waits_for_a_row_in_a_postgresql_table(env: Env, postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    from tests.conftest import temporary_postgres_database

    with temporary_postgres_database("orch_sensor") as url:
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        monkeypatch.setenv("ORCH_CONN_WAREHOUSE_PG", plain)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("create table loads (n int)")
        run_id = trigger(env.sessions, "af_sql_pg")
        env.reaches("af_sql_pg", run_id, "up_for_reschedule")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("insert into loads values (1)")
        assert env.finished("af_sql_pg", run_id) == "success"


def test_external_task_sensor_waits_for_the_other_dags_run_at_its_logical_date(env: Env) -> None:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    with env.sessions.begin() as s:
        run_id = run_creation.create_run(s, "af_external", run_id=None, run_type="manual", logical_date=when, data_interval=None,
                                      conf=None, now=datetime.now(UTC), actor="test").run_id
    env.reaches("af_external", run_id, "up_for_reschedule")
    with env.sessions.begin() as s:
        upstream = run_creation.create_run(s, "af_upstream", run_id=None, run_type="manual", logical_date=when, data_interval=None,
                                        conf=None, now=datetime.now(UTC), actor="test").run_id
    assert env.finished("af_upstream", upstream) == "success"
    assert env.finished("af_external", run_id) == "success"


def test_time_sensors_wait_for_their_moment(env: Env) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    run_id = trigger(env.sessions, "af_times", conf={"at": at})
    assert env.finished("af_times", run_id) == "success"
    rows = task_rows(env.sessions, "af_times", run_id)
    assert rows["moment"].result == at and rows["moment"].end_date >= datetime.fromisoformat(at)
    assert datetime.fromisoformat(rows["delta"].result) <= rows["delta"].end_date
    # the deferrable one waited in the scheduler's triggerer; read from the event log, because on a
    # loaded machine its second can pass before it starts, and then it waits too briefly to be seen
    moves = [e.to_state for e in events_of(env.sessions, "af_times", run_id) if e.task_id == "delta"]
    assert "waiting" in moves, moves


def test_a_sensor_cancelled_while_waiting_stops_waiting(env: Env) -> None:
    run_id = trigger(env.sessions, "never_comes")
    env.reaches("never_comes", run_id, "waiting")
    with env.sessions.begin() as s:
        run_store.cancel_run(s, "never_comes", run_id, datetime.now(UTC), actor="tester")
    assert env.finished("never_comes", run_id) == "cancelled"
    assert env.state("never_comes", run_id) == "cancelled"
    triggerer = env.scheduler.scheduler.triggerer
    wait_until(lambda: all(k.run.run_id != run_id for k in triggerer.watched()), timeout=30, what="the trigger to be cancelled")


def test_a_deferred_sensor_keeps_waiting_across_a_scheduler_restart(tmp_path: Path) -> None:
    from orchestrator.execution.executor import InProcessExecutor

    write_dag(tmp_path / "dags", "restart.py", f"""
        import os
        from orchestrator import DAG
        from orchestrator.airflow import FileSensor

        with DAG("restart") as dag:
            FileSensor(task_id="wait", filepath={SIGNALS.format(name="restart")}, deferrable=True, poke_interval=0.1, timeout=300)
    """)
    (tmp_path / "signals").mkdir()
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    config = make_config(tmp_path, url)
    with SchedulerThread(config, sessions, InProcessExecutor()):
        run_id = trigger(sessions, "restart")
        wait_until(lambda: getattr(task_rows(sessions, "restart", run_id).get("wait"), "state", None) == "waiting", timeout=60,
                   what="the sensor to wait")
    # stopped: the task still waits in the store; the next scheduler watches its trigger again
    assert task_rows(sessions, "restart", run_id)["wait"].state == "waiting"
    with SchedulerThread(config, sessions, InProcessExecutor()) as second:
        wait_until(lambda: second.scheduler.triggerer.watched(), timeout=60, what="the trigger to be watched again")
        (tmp_path / "signals" / "restart").write_text("")
        assert wait_for_run(sessions, "restart", run_id, timeout=60).state == "success"
    assert [t.state for t in tries_of(sessions, "restart", run_id)] == ["success"]
