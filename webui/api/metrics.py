"""GET /metrics for Prometheus: runs and tasks by state, try durations, the scheduler's loop and queue.

Every scrape reads the store and fills a fresh registry through a collector, so no metric
state lives in the process: two apps (or tests) never see each other's figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.models import DagRun, TaskInstance
from orchestrator.states import RunState, TaskState
from orchestrator.store import circuits as circuit_store
from orchestrator.store import queries
from webui.api.system import newest_scheduler, scheduler_stats
from webui.state import web_state

metrics_blueprint = Blueprint("metrics", __name__)

DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)


@dataclass
class Snapshot:
    """The figures of one scrape, read in one transaction."""

    runs: dict[str, int]
    tasks: dict[str, int]
    bucket_counts: list[int]
    tries: int
    seconds: float
    heartbeat_age_s: float | None = None
    scheduler_running: bool = False
    loop_ms: float | None = None
    queue_depth: int | None = None
    active_runs: int | None = None
    dask_workers: list[tuple[str, int, int, int]] = field(default_factory=list)
    circuits: list[tuple[str, str, int]] = field(default_factory=list)  # key, state, consecutive failures


def take_snapshot() -> Snapshot:
    with web_state().read_sessions() as s:
        counts, tries, seconds = queries.try_duration_histogram(s, DURATION_BUCKETS)
        snap = Snapshot(
            runs=queries.count_by_state(s, DagRun), tasks=queries.count_by_state(s, TaskInstance),
            bucket_counts=counts, tries=tries, seconds=seconds,
        )
        job = newest_scheduler(s)
        snap.circuits = [(r.key, r.state, r.consecutive_failures) for r in circuit_store.list_rows(s)]
    if job is not None:
        stats = scheduler_stats(job)
        snap.heartbeat_age_s = (datetime.now(UTC) - job.last_heartbeat).total_seconds()
        snap.scheduler_running = job.state == "running"
        snap.loop_ms, snap.queue_depth, snap.active_runs = stats.loop_ms, stats.queue_depth, stats.active_runs
        snap.dask_workers = [(w.address, w.nthreads, w.executing, w.memory_bytes) for w in stats.dask_workers]
    return snap


class StoreCollector(Collector):
    """Turns one Snapshot into metric families."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def _by_state(self, name: str, doc: str, counts: dict[str, int], states: list[str]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=["state"])
        for state in sorted(set(states) | set(counts)):  # every known state, zeros included, so series do not vanish
            family.add_metric([state], counts.get(state, 0))
        return family

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        yield self._by_state("orchestrator_dag_runs", "DAG runs by state", snap.runs, [s.value for s in RunState])
        yield self._by_state("orchestrator_task_instances", "Task instances by state", snap.tasks, [s.value for s in TaskState])
        buckets = [(repr(b), n) for b, n in zip(DURATION_BUCKETS, snap.bucket_counts, strict=True)] + [("+Inf", snap.tries)]
        yield HistogramMetricFamily(
            "orchestrator_task_try_duration_seconds", "How long finished task tries took", buckets=buckets, sum_value=snap.seconds
        )
        yield GaugeMetricFamily("orchestrator_scheduler_up", "1 when a scheduler is registered as running", value=int(snap.scheduler_running))
        if snap.heartbeat_age_s is not None:
            yield GaugeMetricFamily(
                "orchestrator_scheduler_heartbeat_age_seconds", "Seconds since the scheduler's last heartbeat", value=snap.heartbeat_age_s
            )
        if snap.loop_ms is not None:
            yield GaugeMetricFamily("orchestrator_scheduler_loop_seconds", "Duration of the scheduler's last loop", value=snap.loop_ms / 1000)
        if snap.queue_depth is not None:
            yield GaugeMetricFamily("orchestrator_scheduler_queue_depth", "Work waiting in the scheduler", value=snap.queue_depth)
        if snap.active_runs is not None:
            yield GaugeMetricFamily("orchestrator_scheduler_active_runs", "Runs the scheduler drives", value=snap.active_runs)
        workers = GaugeMetricFamily("orchestrator_dask_worker_executing", "Tasks executing on each Dask worker", labels=["address"])
        threads = GaugeMetricFamily("orchestrator_dask_worker_threads", "Threads of each Dask worker", labels=["address"])
        memory = GaugeMetricFamily("orchestrator_dask_worker_memory_bytes", "Memory of each Dask worker", labels=["address"])
        for address, nthreads, executing, memory_bytes in snap.dask_workers:
            workers.add_metric([address], executing)
            threads.add_metric([address], nthreads)
            memory.add_metric([address], memory_bytes)
        yield from (workers, threads, memory)
        breaker = GaugeMetricFamily(
            "orchestrator_circuit_breaker_state", "1 for the state each circuit breaker is in", labels=["key", "state"]
        )
        failures = GaugeMetricFamily(
            "orchestrator_circuit_breaker_consecutive_failures", "Consecutive failed tries behind each breaker", labels=["key"]
        )
        for key, state, n_failed in snap.circuits:
            for candidate in ("closed", "open", "half_open"):
                breaker.add_metric([key, candidate], int(candidate == state))
            failures.add_metric([key], n_failed)
        yield from (breaker, failures)


@metrics_blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; 503 when the database cannot be read."""
    try:
        snap = take_snapshot()
    except SQLAlchemyError as exc:
        return Response(f"# the database is unreachable: {type(exc).__name__}\n", status=503, mimetype="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(snap))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
