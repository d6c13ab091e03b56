"""W5: 100,000 no-op task executions, every state recorded (issue 11, "10,000 tiny task executions/s").

100 runs of `start >> [1,000 no-ops] >> join` are queued in one transaction and run together
(max_active_runs=None). The figure is task executions per second from the queue commit to the
last run's end, against raw Dask's independent no-op throughput in the same repeat. Afterwards
the store is checked: every task instance succeeded with one try row, and every transition has
its event row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bench import dagfiles, floor
from bench.env import fresh_env, now, running_scheduler, wait_runs

if TYPE_CHECKING:
    from bench.workloads import Figures, Options

RUNS = 100
WIDTH = 1000
DAG_ID = "w5_fanout"


def w5_tiny_tasks(opts: Options, runs: int = RUNS, width: int = WIDTH) -> Figures:
    from orchestrator.store import run_creation
    from orchestrator.store.models import Dag, Event, TaskInstance, TaskTry

    with floor.raw_cluster(opts.workers) as client:
        floor_rate = floor.throughput(client, 10_000)
    with fresh_env(opts.db, opts.workers) as env:
        dagfiles.write(env.dags_folder, "w5_fanout.py", dagfiles.fanout_dag(DAG_ID, width, max_active_runs="None"))
        with running_scheduler(env, opts.workers):
            t0 = now()
            with env.sessions.begin() as session:
                version = session.get(Dag, DAG_ID).version_hash  # type: ignore[union-attr]
                queued = run_creation.queue_runs(
                    session, [run_creation.NewRun(DAG_ID, f"manual__w5_{i:03d}", "manual", version, t0) for i in range(runs)], t0, "bench"
                )
            run_ids = [r.run_id for r in queued]
            rows = wait_runs(env, DAG_ID, run_ids, timeout_s=900, poll_s=0.2)
        bad = [r.run_id for r in rows if r.state != "success"]
        if bad:
            raise RuntimeError(f"W5: {len(bad)} run(s) did not succeed, e.g. {bad[0]}")
        tasks = runs * (width + 2)
        with env.sessions() as session:
            succeeded = session.scalar(select(func.count()).select_from(TaskInstance).where(TaskInstance.state == "success"))
            tries = session.scalar(select(func.count()).select_from(TaskTry).where(TaskTry.state == "success"))
            events = session.scalar(select(func.count()).select_from(Event).where(Event.kind.like("task.%")))
        # queued, running, success: three transitions each
        if succeeded != tasks or tries != tasks or events != 3 * tasks:
            raise RuntimeError(f"W5: {succeeded} successes, {tries} try rows, {events} task events for {tasks} tasks")
    wall = (max(r.end_date for r in rows) - t0).total_seconds()
    return {
        "wall_s": wall,
        "tasks_per_s": tasks / wall,
        "floor_tasks_per_s": floor_rate,
        "ratio": tasks / wall / floor_rate,
        "task_events": float(events),
    }
