"""UI: the web UI and API under a realistic store (issue 3's speed goals).

1,000 DAGs and 10,000 runs (with their task instances) in a fresh database, one DAG with 100
runs x 50 tasks for the grid; `orchestrator webui` runs as its own process. Server time comes
from the app's `Server-Timing` header (median of 20 requests per page); the trigger rate is
POST /api/v1/dags/{id}/runs from 4 client threads for 3 s.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from statistics import median

from sqlalchemy import insert

from bench.env import Env, fresh_env, now
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.store import users as user_store
from orchestrator.store.models import Dag, DagRun, DagVersion, TaskInstance

DAGS = 1_000
RUNS = 10_000
GRID_RUNS, GRID_TASKS = 100, 50
SMALL_TASKS = 5


def _spec(dag_id: str, tasks: int) -> DagSpec:
    ids = [f"t{i:02d}" for i in range(tasks)]
    return DagSpec(
        dag_id=dag_id, fileloc=f"/nowhere/{dag_id}.py", schedule="@hourly", tags=("bench", dag_id[-1]),
        tasks=tuple(TaskSpec(task_id=t, upstream=(ids[i - 1],) if i else ()) for i, t in enumerate(ids)),
    )


def seed(env: Env) -> None:
    """The DAGs, runs and task instances, inserted in bulk."""
    stamp = now()
    specs = [_spec("grid_dag", GRID_TASKS)] + [_spec(f"dag_{i:04d}", SMALL_TASKS) for i in range(1, DAGS)]
    runs_per_dag = {s.dag_id: (RUNS - GRID_RUNS) // (DAGS - 1) for s in specs[1:]}
    runs_per_dag["grid_dag"] = GRID_RUNS
    with env.sessions.begin() as s:
        s.execute(insert(Dag), [
            {"dag_id": sp.dag_id, "fileloc": sp.fileloc, "is_paused": False, "is_active": True, "schedule": sp.schedule,
             "timezone": "UTC", "version_hash": sp.version_hash, "spec": sp.model_dump(mode="json"), "last_parsed_at": stamp,
             "next_run_at": stamp + timedelta(hours=1)}
            for sp in specs
        ])
        s.execute(insert(DagVersion), [
            {"dag_id": sp.dag_id, "version_hash": sp.version_hash, "spec": sp.model_dump(mode="json"), "created_at": stamp}
            for sp in specs
        ])
        runs, tis = [], []
        for sp in specs:
            for r in range(runs_per_dag[sp.dag_id]):
                at = stamp - timedelta(hours=r + 1)
                run_id = f"scheduled__{at.isoformat()}"
                state = "failed" if r % 7 == 3 else "success"
                runs.append({"dag_id": sp.dag_id, "run_id": run_id, "state": state, "run_type": "scheduled",
                             "version_hash": sp.version_hash, "logical_date": at, "data_interval_start": at,
                             "data_interval_end": at + timedelta(hours=1), "conf": {}, "queued_at": at,
                             "start_date": at, "end_date": at + timedelta(seconds=30), "ext_change": 0})
                for i, t in enumerate(sp.tasks):
                    tis.append({"dag_id": sp.dag_id, "run_id": run_id, "task_id": t.task_id, "map_index": -1,
                                "state": "failed" if state == "failed" and i == len(sp.tasks) - 1 else "success",
                                "try_number": 1, "max_tries": 1, "start_date": at + timedelta(seconds=i),
                                "end_date": at + timedelta(seconds=i + 0.5), "next_retry_at": None, "worker": "w1", "result": None})
        s.execute(insert(DagRun), runs)
        for i in range(0, len(tis), 20_000):
            s.execute(insert(TaskInstance), tis[i : i + 20_000])
        admin = user_store.create_user(s, "bench", user_store.Role.ADMIN, None, stamp)
        _, token = user_store.create_token(s, admin, stamp)
    env.home.joinpath("token").write_text(token)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(port: int, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, float]:
    """Status and the server's own time in ms (Server-Timing)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    resp.read()
    timing = resp.getheader("Server-Timing", "app;dur=nan")
    conn.close()
    return resp.status, float(timing.split("dur=")[1])


def _server_ms(port: int, path: str, token: str, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        status, ms = _request(port, "GET", path, token)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        times.append(ms)
    return median(times)


def _trigger_rate(port: int, token: str, threads: int = 4, seconds: float = 3.0) -> float:
    created = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            status, _ = _request(port, "POST", "/api/v1/dags/dag_0001/runs", token, {"run_id": f"bench-{n}-{i}", "conf": {"n": i}})
            if status == 201:
                created[n] += 1
            i += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(created) / (time.perf_counter() - started)


def ui(opts: object) -> dict[str, float]:
    """One repeat of the UI workload on SQLite."""
    with fresh_env("sqlite", 1) as env:
        t = time.perf_counter()
        seed(env)
        seed_s = time.perf_counter() - t
        token = env.home.joinpath("token").read_text()
        port = _free_port()
        exe = Path(sys.executable).with_name("orchestrator")
        proc = subprocess.Popen(
            [str(exe), "webui", "--port", str(port)],
            env={**os.environ, "ORCH_HOME": str(env.home), "ORCH_DATABASE_URL": env.config.resolved_database_url},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _request(port, "GET", "/api/v1/health", token)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the web UI did not start") from None
                    time.sleep(0.1)
            return {
                "seed_s": seed_s,
                "dag_list_page_ms": _server_ms(port, "/", token),
                "api_dags_ms": _server_ms(port, "/api/v1/dags?limit=100", token),
                "dag_page_ms": _server_ms(port, "/dags/grid_dag", token),
                "grid_100x50_ms": _server_ms(port, f"/data/dags/grid_dag/grid?runs={GRID_RUNS}", token),
                "trigger_per_s": _trigger_rate(port, token),
            }
        finally:
            proc.terminate()
            proc.wait(30)
