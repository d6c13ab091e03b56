"""WAIT: 10,000 runs each waiting for an outside event (issue 6, "waiting tasks hold no worker slot").

One DAG whose only task is `WaitForEvent("invoice.approved", match="payload.invoice_id ==
params.invoice_id")`; 10,000 runs of it are queued in one transaction, each with its own
invoice_id. Once every task waits, the scheduler's polls are timed for a few seconds (what 10,000
waiting tasks cost each poll, against the polls timed before any run was queued), with the
process's resident memory before and after and the work in flight on Dask (none). Then 10,000
matching events are stored, as `POST /api/v1/events/batch` stores them (500 per transaction), and
the time until every run ended is measured from their commit. The time of each scheduler poll is
recorded by wrapping `Scheduler._poll` (as L1 does).
"""

from __future__ import annotations

import time
from datetime import datetime
from statistics import median
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bench import dagfiles
from bench.env import fresh_env, now, running_scheduler, wait_runs
from bench.lateness import _percentile, _timed_polls

if TYPE_CHECKING:
    from bench.workloads import Figures, Options

RUNS = 10_000
STEADY_S = 5.0  # how long the polls are timed while everything waits
DAG_ID = "wait_for_invoices"
DAG = f'''from orchestrator import DAG, WaitForEvent

with DAG("{DAG_ID}", schedule=None, params={{"invoice_id": None}}, max_active_runs=None):
    WaitForEvent("invoice.approved", match="payload.invoice_id == params.invoice_id")
'''


def _rss_mb() -> float:
    """This process's resident memory (the scheduler runs in it, in a thread)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def wait_workload(opts: Options) -> Figures:
    """10,000 waiting runs: poll time and memory while they wait, then how long until their events release them all."""
    from orchestrator.store import external_events, run_creation
    from orchestrator.store.models import Dag, TaskInstance

    polls: list[tuple[datetime, float]] = []
    with fresh_env(opts.db, opts.workers) as env:
        dagfiles.write(env.dags_folder, "wait_for_invoices.py", DAG)
        with running_scheduler(env, opts.workers, on_created=lambda s: _timed_polls(s, polls)) as sched:
            rss_before = _rss_mb()
            mark = len(polls)
            time.sleep(STEADY_S)  # the baseline: polls with nothing waiting
            empty = [d for _, d in polls[mark:]]
            at = now()
            with env.sessions.begin() as session:
                version = session.get(Dag, DAG_ID).version_hash  # type: ignore[union-attr]
                runs = [
                    run_creation.NewRun(DAG_ID, f"wait_{i:05d}", "manual", version, at, conf={"invoice_id": f"inv-{i}"}) for i in range(RUNS)
                ]
                run_creation.queue_runs(session, runs, at, actor="bench")
            queued = time.perf_counter()
            deadline = time.monotonic() + 600
            while True:
                with env.sessions() as session:
                    waiting = session.scalar(
                        select(func.count()).select_from(TaskInstance).where(TaskInstance.dag_id == DAG_ID, TaskInstance.state == "waiting")
                    )
                if waiting == RUNS:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"WAIT: {waiting} of {RUNS} tasks were waiting after 600 s")
                time.sleep(0.2)
            all_waiting_s = time.perf_counter() - queued
            mark = len(polls)
            time.sleep(STEADY_S)
            steady = [d for _, d in polls[mark:]]
            rss_waiting = _rss_mb()
            in_flight = len(sched.tracker.inflight_keys())
            posting = time.perf_counter()
            events = [external_events.NewEvent("invoice.approved", {"invoice_id": f"inv-{i}"}) for i in range(RUNS)]
            external_events.post_many(env.sessions, events, now(), "bench")  # as POST /api/v1/events/batch: 500 per transaction
            posted_at = now()
            post_s = time.perf_counter() - posting
            mark = len(polls)
            ended = wait_runs(env, DAG_ID, [r.run_id for r in runs], timeout_s=600, poll_s=0.2)
            releasing = [d for _, d in polls[mark:]]
    failed = [r.run_id for r in ended if r.state != "success"]
    if failed:
        raise RuntimeError(f"WAIT: {len(failed)} runs did not succeed, e.g. {failed[0]}")
    return {
        "waiting_runs": RUNS,
        "all_waiting_s": all_waiting_s,
        "rss_before_mb": rss_before,
        "rss_waiting_mb": rss_waiting,
        "rss_growth_mb": rss_waiting - rss_before,
        "dask_tasks_in_flight": in_flight,
        "poll_empty_median_ms": 1000 * median(empty),
        "poll_waiting_median_ms": 1000 * median(steady),
        "poll_ratio": median(steady) / median(empty),
        "poll_waiting_p99_ms": 1000 * _percentile(steady, 0.99),
        "post_events_s": post_s,
        "release_all_s": (max(r.end_date for r in ended) - posted_at).total_seconds(),
        "poll_releasing_median_ms": 1000 * median(releasing),
        "poll_releasing_max_ms": 1000 * max(releasing),
    }
