"""L1: how late due cron runs start with 1,000 scheduled DAGs loaded (issue 5, "Lateness").

1,000 one-task DAGs, all on `* * * * *`, so every minute the whole thousand falls due at the
same instant: the worst case for the scheduler's poll, not the average. The real scheduler and
a LocalCluster run for `MINUTES` minute boundaries after the DAGs are loaded; lateness is read
from the store against the interval end, which is when the run was due: for the run, its
`start_date` (when its poll began) plus that poll's duration, when the start was committed; for
its task, the task's `start_date` on the worker. The time of each scheduler poll (the pass that creates and starts
due runs) is recorded by wrapping `Scheduler._poll`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from statistics import median
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bench import dagfiles
from bench.env import fresh_env, now, running_scheduler

if TYPE_CHECKING:
    from bench.workloads import Figures, Options
    from scheduler.service import Scheduler

DAGS = 1_000
PER_FILE = 20
MINUTES = 2


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def _timed_polls(sched: Scheduler, durations: list[tuple[datetime, float]]) -> None:
    inner = sched._poll

    def poll(session, batch, at):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        inner(session, batch, at)
        durations.append((at, time.perf_counter() - started))

    sched._poll = poll  # type: ignore[method-assign]


def l1_lateness(opts: Options) -> Figures:
    """1,000 DAGs due together every minute: median / p99 lateness of run and task starts, poll time."""
    from orchestrator.store.models import DagRun, TaskInstance

    polls: list[tuple[datetime, float]] = []
    with fresh_env(opts.db, opts.workers) as env:
        for f in range(DAGS // PER_FILE):
            dagfiles.write(env.dags_folder, f"late_{f:03d}.py", dagfiles.minutely_dags(f"late_{f:03d}", PER_FILE))
        with running_scheduler(env, opts.workers, on_created=lambda s: _timed_polls(s, polls)):
            ready = now()
            first_due = ready.replace(second=0, microsecond=0) + timedelta(minutes=1)
            last_due = first_due + timedelta(minutes=MINUTES - 1)
            expected = DAGS * MINUTES
            deadline = time.monotonic() + (last_due - ready).total_seconds() + 120
            while True:
                with env.sessions() as session:
                    done = session.scalar(
                        select(func.count()).select_from(DagRun).where(
                            DagRun.data_interval_end >= first_due, DagRun.data_interval_end <= last_due,
                            DagRun.state.in_(("success", "failed")),
                        )
                    )
                if done >= expected:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"L1: {done} of {expected} due runs ended in time")
                time.sleep(1.0)
        with env.sessions() as session:
            rows = session.execute(
                select(DagRun.data_interval_end, DagRun.start_date, TaskInstance.start_date, DagRun.state)
                .join(TaskInstance, (TaskInstance.dag_id == DagRun.dag_id) & (TaskInstance.run_id == DagRun.run_id))
                .where(DagRun.data_interval_end >= first_due, DagRun.data_interval_end <= last_due)
            ).all()
    if len(rows) != expected or any(r.state != "success" for r in rows):
        raise RuntimeError(f"L1: expected {expected} successful runs, found {len(rows)} ({sum(r.state != 'success' for r in rows)} not successful)")
    # a run's start_date is the moment its poll began; it is committed when that poll ends
    poll_s = dict(polls)
    run_late = [(r[1] - r[0]).total_seconds() + poll_s.get(r[1], 0.0) for r in rows]
    task_late = [(r[2] - r[0]).total_seconds() for r in rows]
    window = [d for at, d in polls if first_due <= at <= last_due + timedelta(seconds=30)]
    return {
        "dags": DAGS,
        "due_runs": expected,
        "run_start_late_median_s": median(run_late),
        "run_start_late_p99_s": _percentile(run_late, 0.99),
        "run_start_late_max_s": max(run_late),
        "task_start_late_median_s": median(task_late),
        "task_start_late_p99_s": _percentile(task_late, 0.99),
        "poll_median_ms": 1000 * median(window),
        "poll_p99_ms": 1000 * _percentile(window, 0.99),
        "poll_max_ms": 1000 * max(window),
    }
