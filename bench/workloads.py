"""W1-W4: one repeat each; every function returns that repeat's figures as a flat dict."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from sqlalchemy import func, select

from bench import dagfiles, floor
from bench.env import Env, fresh_env, now, running_scheduler, trigger, trigger_batch, wait_runs
from bench.killw import kill_workers
from bench.lateness import l1_lateness
from bench.scaleout import adoption, scaleout
from bench.throughput import w5_tiny_tasks
from bench.waiting import wait_workload
from bench.webui import ui
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store.models import Dag, TaskInstance

Figures = dict[str, float]


@dataclass(frozen=True)
class Options:
    db: str
    workers: int
    width: int = 500
    """W2's fan-out width."""


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _task_times(env: Env, dag_id: str, run_id: str) -> dict[str, tuple[datetime, datetime, str]]:
    with env.sessions() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.start_date, TaskInstance.end_date, TaskInstance.state)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
    return {r.task_id: (r.start_date, r.end_date, r.state) for r in rows}


def _check_success(runs: list, what: str) -> None:
    bad = [r.run_id for r in runs if r.state != "success"]
    if bad:
        raise RuntimeError(f"{what}: {len(bad)} run(s) did not succeed, e.g. {bad[0]}")


def w1_chain(opts: Options, length: int = 50) -> Figures:
    """A 50-task chain: wall trigger->success, per-transition = median start(t[i+1]) - end(t[i])."""
    with floor.raw_cluster(opts.workers) as client:
        hop = floor.chain_hop(client, length)
    with fresh_env(opts.db, opts.workers) as env:
        dagfiles.write(env.dags_folder, "w1_chain.py", dagfiles.chain_dag("w1_chain", length))
        with running_scheduler(env, opts.workers):
            t0 = now()
            run_id = trigger(env, "w1_chain")
            runs = wait_runs(env, "w1_chain", [run_id], timeout_s=120)
        _check_success(runs, "W1")
        times = _task_times(env, "w1_chain", run_id)
    chain = [times[f"t{i}"] for i in range(length)]
    gaps = sorted(_seconds(chain[i + 1][0], chain[i][1]) for i in range(length - 1))
    per_transition_ms = median(gaps) * 1000
    return {
        "wall_s": _seconds(runs[0].end_date, t0),
        "per_transition_ms": per_transition_ms,
        "p90_transition_ms": gaps[int(0.9 * (len(gaps) - 1))] * 1000,
        "first_start_s": _seconds(chain[0][0], t0),
        **hop,
        "ratio": per_transition_ms / hop["floor_hop_ms"],
    }


def w2_fanout(opts: Options, floor_tasks: int = 10_000) -> Figures:
    """start >> [width] >> join: tasks/s = (width + 2) / wall, against raw Dask's independent no-op throughput."""
    width = opts.width
    with floor.raw_cluster(opts.workers) as client:
        floor_rate = floor.throughput(client, floor_tasks)
    with fresh_env(opts.db, opts.workers) as env:
        dagfiles.write(env.dags_folder, "w2_fanout.py", dagfiles.fanout_dag("w2_fanout", width))
        with running_scheduler(env, opts.workers):
            t0 = now()
            run_id = trigger(env, "w2_fanout")
            runs = wait_runs(env, "w2_fanout", [run_id], timeout_s=180 + width / 50)
        _check_success(runs, "W2")
        times = _task_times(env, "w2_fanout", run_id)
    wall = _seconds(runs[0].end_date, t0)
    # the same rate without the trigger pick-up: first task start -> run end
    busy = _seconds(runs[0].end_date, times["start"][0])
    tasks = width + 2
    return {
        "wall_s": wall,
        "tasks_per_s": tasks / wall,
        "tasks_per_s_from_first_start": tasks / busy,
        "first_start_s": _seconds(times["start"][0], t0),
        "floor_tasks_per_s": floor_rate,
        "ratio": (tasks / wall) / floor_rate,
    }


def w3_parse(opts: Options, files: int = 200, tasks: int = 10) -> Figures:
    """200 files of one 10-task chain each: cold sync on a fresh database, then a sync after one file changes."""
    with fresh_env(opts.db, opts.workers) as env:
        for i in range(files):
            dagfiles.write(env.dags_folder, f"dag_{i:03d}.py", dagfiles.chain_dag(f"w3_dag_{i:03d}", tasks))
        t = time.perf_counter()
        cold = sync_dag_folder(env.sessions, env.config)
        cold_s = time.perf_counter() - t
        if cold.errors or len(cold.parsed) != files:
            raise RuntimeError(f"W3 cold sync: {len(cold.parsed)} parsed, {len(cold.errors)} errors: {cold.errors[:1]}")
        with env.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Dag))
        if stored != files:
            raise RuntimeError(f"W3: {stored} DAGs stored, expected {files}")
        t = time.perf_counter()
        sync_dag_folder(env.sessions, env.config)
        unchanged_s = time.perf_counter() - t
        changed = env.dags_folder / "dag_100.py"
        changed.write_text(changed.read_text() + "\n# changed\n")
        t = time.perf_counter()
        again = sync_dag_folder(env.sessions, env.config)
        reparse_s = time.perf_counter() - t
        if len(again.parsed) != 1 or again.errors:
            raise RuntimeError(f"W3 re-parse: {len(again.parsed)} parsed (expected 1), errors {again.errors[:1]}")
    return {"cold_s": cold_s, "reparse_s": reparse_s, "unchanged_sync_s": unchanged_s}


def w4_many_runs(opts: Options, runs: int = 200, tasks: int = 3) -> Figures:
    """A 3-task DAG (max_active_runs=None) triggered 200 times in one batch (as `POST
    /dags/{dag_id}/runs/batch` and `orchestrator dags trigger --count 200` do); wall until all succeed."""
    with fresh_env(opts.db, opts.workers) as env:
        dagfiles.write(env.dags_folder, "w4_many.py", dagfiles.unlimited_chain_dag("w4_many", tasks))
        with running_scheduler(env, opts.workers):
            t0 = now()
            run_ids = trigger_batch(env, "w4_many", [f"manual__bench_{i:03d}" for i in range(runs)])
            trigger_s = _seconds(now(), t0)
            rows = wait_runs(env, "w4_many", run_ids, timeout_s=240)
        _check_success(rows, "W4")
    wall = _seconds(max(r.end_date for r in rows), t0)
    return {"wall_s": wall, "runs_per_s": runs / wall, "trigger_s": trigger_s}


WORKLOADS: dict[str, Callable[[Options], Figures]] = {
    "W1": w1_chain,
    "W2": w2_fanout,
    "W3": w3_parse,
    "W4": w4_many_runs,
    "W5": w5_tiny_tasks,
    "KILLW": kill_workers,
    "UI": ui,
    "L1": l1_lateness,
    "WAIT": wait_workload,
    "SCALE": scaleout,
    "ADOPT": adoption,
}

POSTGRES_ONLY = frozenset({"SCALE", "ADOPT"})
