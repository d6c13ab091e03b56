"""Several schedulers on PostgreSQL (issue 7): W2 and W4 with 1, 2 and 3 `orchestrator scheduler`
processes, and how long the runs of a killed replica take to be adopted.

The schedulers are real processes sharing one PostgreSQL database and one Dask LocalCluster
(`--workers` processes, started by the harness and reached by address, code not shipped since
they share the disk), so the Dask capacity is the same whatever the number of schedulers.
Figures come from the store, as for W2 and W4.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bench import dagfiles
from bench.env import Env, fresh_env, now, trigger, wait_runs

if TYPE_CHECKING:
    from bench.workloads import Figures, Options

ORCHESTRATOR = Path(sys.executable).parent / "orchestrator"
REPLICAS = (1, 2, 3)
GRACE_S = 5.0  # the adoption grace (ORCH_SCHEDULER_HEALTH_THRESHOLD_S) of the ADOPT workload


@contextmanager
def _cluster(workers: int) -> Iterator[str]:
    import dask
    from distributed import LocalCluster

    from orchestrator.execution.dask_executor import NO_QUEUING

    with dask.config.set(NO_QUEUING):  # as the README asks of an outside cluster
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@contextmanager
def _schedulers(env: Env, address: str, replicas: int, **settings: object) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`replicas` scheduler processes on env's database and DAG folder, each registered before this yields."""
    from orchestrator.store.models import SchedulerJob

    values = {
        "HOME": str(env.home), "DAGS_FOLDER": str(env.dags_folder), "DATABASE_URL": env.config.resolved_database_url,
        "DASK_ADDRESS": address, "SHIP_CODE": "never", **{k.upper(): str(v) for k, v in settings.items()},
    }
    proc_env = {**{k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}, **{f"ORCH_{k}": v for k, v in values.items()}}
    log = (env.home / "schedulers.log").open("ab")
    procs = [
        subprocess.Popen([str(ORCHESTRATOR), "scheduler"], env=proc_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(replicas)
    ]
    try:
        deadline = time.monotonic() + 120
        while True:
            with env.sessions() as session:
                running = session.scalar(select(func.count()).select_from(SchedulerJob).where(SchedulerJob.state == "running"))
            if running == replicas:
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"only {running} of {replicas} schedulers registered; see {env.home / 'schedulers.log'}")
            time.sleep(0.1)
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def _wait_parsed(env: Env, dag_ids: set[str]) -> None:
    from orchestrator.store.models import Dag

    deadline = time.monotonic() + 120
    while True:
        with env.sessions() as session:
            if set(session.scalars(select(Dag.dag_id))) >= dag_ids:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the schedulers did not parse {sorted(dag_ids)}")
        time.sleep(0.1)


def _owners(env: Env) -> int:
    from orchestrator.store.models import DagRun

    with env.sessions() as session:
        return len(set(session.scalars(select(DagRun.owner_job_id).where(DagRun.owner_job_id.is_not(None)))))


def scaleout(opts: Options, width: int = 500, runs: int = 200) -> Figures:
    """W2 (start >> 500 >> join) and W4 (3-task DAG x 200) with 1, 2 and 3 schedulers."""
    if opts.db != "postgres":
        raise RuntimeError("several schedulers need PostgreSQL: run with --db postgres")
    figures: Figures = {}
    with _cluster(opts.workers) as address:
        for replicas in REPLICAS:
            with fresh_env(opts.db, opts.workers) as env:
                dagfiles.write(env.dags_folder, "w2_fanout.py", dagfiles.fanout_dag("w2_fanout", width))
                dagfiles.write(env.dags_folder, "w4_many.py", dagfiles.unlimited_chain_dag("w4_many", 3))
                with _schedulers(env, address, replicas):
                    _wait_parsed(env, {"w2_fanout", "w4_many"})
                    t0 = now()
                    run_id = trigger(env, "w2_fanout")
                    w2 = wait_runs(env, "w2_fanout", [run_id], timeout_s=240)
                    w2_wall = (w2[0].end_date - t0).total_seconds()
                    t0 = now()
                    ids = [trigger(env, "w4_many", run_id=f"manual__bench_{i:03d}") for i in range(runs)]
                    w4 = wait_runs(env, "w4_many", ids, timeout_s=240)
                    w4_wall = (max(r.end_date for r in w4) - t0).total_seconds()
                    owners = _owners(env)
                if any(r.state != "success" for r in [*w2, *w4]):
                    raise RuntimeError(f"{replicas} schedulers: a run did not succeed")
            figures[f"w2_tasks_per_s_{replicas}"] = (width + 2) / w2_wall
            figures[f"w4_runs_per_s_{replicas}"] = runs / w4_wall
            figures[f"schedulers_with_runs_{replicas}"] = owners
    return figures


def adoption(opts: Options, runs: int = 20) -> Figures:
    """Two schedulers; one is killed (kill -9) while it drives runs: seconds until the other adopts
    them, and until all of them ended, with an adoption grace of GRACE_S."""
    from orchestrator.store.models import DagRun, Event, SchedulerJob

    if opts.db != "postgres":
        raise RuntimeError("several schedulers need PostgreSQL: run with --db postgres")
    with _cluster(opts.workers) as address, fresh_env(opts.db, opts.workers) as env:
        dagfiles.write(env.dags_folder, "adopt.py", dagfiles.sleeping_chain_dag("adopt", 5, 0.5))
        with _schedulers(env, address, 2, scheduler_health_threshold_s=GRACE_S, heartbeat_interval_s=0.5) as procs:
            _wait_parsed(env, {"adopt"})
            ids = [trigger(env, "adopt", run_id=f"manual__bench_{i:03d}") for i in range(runs)]
            victim = procs[0]
            deadline = time.monotonic() + 60
            while True:
                with env.sessions() as session:
                    driving = session.scalar(
                        select(func.count()).select_from(DagRun).join(SchedulerJob, SchedulerJob.id == DagRun.owner_job_id)
                        .where(DagRun.state == "running", SchedulerJob.pid == victim.pid)
                    )
                if driving:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the first scheduler never drove a run")
                time.sleep(0.05)
            killed_at = now()
            os.killpg(victim.pid, signal.SIGKILL)
            rows = wait_runs(env, "adopt", ids, timeout_s=240)
            with env.sessions() as session:
                adopted = list(session.scalars(select(Event.at).where(Event.kind == "run.adopted")))
    if any(r.state != "success" for r in rows) or not adopted:
        raise RuntimeError(f"ADOPT: {len(adopted)} runs adopted, states {sorted({r.state for r in rows})}")
    first = (min(adopted) - killed_at).total_seconds()
    return {
        "grace_s": GRACE_S,
        "runs_adopted": len(adopted),
        "adopted_after_s": first,
        "adopted_after_grace_s": first - GRACE_S,
        "all_ended_after_s": (max(r.end_date for r in rows) - killed_at).total_seconds(),
    }
