"""GET /metrics for Prometheus: per-DAG runs, tasks, durations, retries, lateness and deadline
misses; breaker trips; the scheduler's loop and queue.

No scrape scans history. Unfinished runs and task instances are counted through the state index
(their number follows what is live, not what is kept); everything else comes from the event log
read forward from a cursor (webui.api.event_metrics), each scrape reading only what is new. The
scrape fills a fresh registry through a collector, so nothing registers twice; the counters of
the event log live in the app (app.extensions), one set per web process.

Metric names (all with a `dag_id` label unless said):
- orchestrator_dag_runs{dag_id,state}: runs queued, waiting or running now (gauge)
- orchestrator_dag_runs_finished_total{dag_id,state}: runs that ended, by how
- orchestrator_dag_run_duration_seconds{dag_id}: start to end of finished runs (histogram)
- orchestrator_task_instances{dag_id,state}: unfinished task instances (gauge)
- orchestrator_task_duration_seconds{dag_id}: each finished try, start to end (histogram)
- orchestrator_task_retries_total{dag_id}: tries that failed and are retried
- orchestrator_run_start_lateness_seconds{dag_id}: from due (a scheduled run's interval end, any
  other run's queueing) to its start (histogram)
- orchestrator_deadline_misses_total{dag_id}: `deadline.missed` events
  (orchestrator.store.events.deadline_missed makes them)
- orchestrator_circuit_breaker_trips_total{key}: breakers that opened (a breaker guards a
  connection or a step type, shared by DAGs: labelled by its key)
- orchestrator_scheduler_*: from the newest scheduler's heartbeat
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.core.states import RUN_ACTIVE, TASK_TERMINAL, TaskState
from orchestrator.store import circuits as circuit_store
from orchestrator.store import queries
from orchestrator.store.models import DagRun, TaskInstance
from webui.api.event_metrics import DagFigures, EventMetrics, Histogram
from webui.api.system import newest_scheduler, scheduler_stats
from webui.state import web_state

metrics_blueprint = Blueprint("metrics", __name__)

RUN_STATES_LIVE = sorted(s.value for s in RUN_ACTIVE)
TASK_STATES_LIVE = sorted(s.value for s in TaskState if s not in TASK_TERMINAL)
_EXTENSION = "orchestrator.event_metrics"


@dataclass
class Snapshot:
    """The figures of one scrape."""

    runs: list[tuple[str, str, int]]  # dag_id, state, n: unfinished runs
    tasks: list[tuple[str, str, int]]  # dag_id, state, n: unfinished task instances
    figures: DagFigures
    dag_ids: list[str] = field(default_factory=list)  # every DAG: counters start at 0 for each
    heartbeat_age_s: float | None = None
    scheduler_running: bool = False
    loop_ms: float | None = None
    queue_depth: int | None = None
    active_runs: int | None = None
    dask_workers: list[tuple[str, int, int, int]] = field(default_factory=list)
    circuits: list[tuple[str, str, int]] = field(default_factory=list)  # key, state, consecutive failures


def event_metrics() -> EventMetrics:
    found = current_app.extensions.get(_EXTENSION)
    if found is None:
        found = current_app.extensions[_EXTENSION] = EventMetrics()
    return found  # type: ignore[no-any-return]


def take_snapshot() -> Snapshot:
    with web_state().read_sessions() as s:
        snap = Snapshot(
            runs=[tuple(r) for r in queries.count_in_states(s, DagRun, RUN_STATES_LIVE)],
            tasks=[tuple(r) for r in queries.count_in_states(s, TaskInstance, TASK_STATES_LIVE)],
            figures=event_metrics().advance(s),
            dag_ids=queries.active_dag_ids(s),
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

    @staticmethod
    def _live(name: str, doc: str, rows: list[tuple[str, str, int]]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=["dag_id", "state"])
        for dag_id, state, n in sorted(rows):
            family.add_metric([dag_id, state], n)
        return family

    @staticmethod
    def _histograms(name: str, doc: str, table: dict[str, Histogram]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=["dag_id"])
        for dag_id, hist in sorted(table.items()):
            family.add_metric([dag_id], hist.cumulative(), hist.total)
        return family

    @staticmethod
    def _counter(name: str, doc: str, label: str, counts: dict[str, int], zeros: Sequence[str] = ()) -> CounterMetricFamily:
        """A counter per label value; those in `zeros` show 0 before they count anything, so an
        alert on `increase()` works from the start."""
        family = CounterMetricFamily(name, doc, labels=[label])
        for key in sorted(set(counts) | set(zeros)):
            family.add_metric([key], counts.get(key, 0))
        return family

    def collect(self) -> Iterator[Metric]:
        snap, fig = self.snap, self.snap.figures
        yield self._live("orchestrator_dag_runs", "Runs queued, waiting or running now", snap.runs)
        finished = CounterMetricFamily("orchestrator_dag_runs_finished", "Runs that ended, by their end state", labels=["dag_id", "state"])
        for (dag_id, state), n in sorted(fig.runs_finished.items()):
            finished.add_metric([dag_id, state], n)
        yield finished
        yield self._histograms("orchestrator_dag_run_duration_seconds", "Start to end of finished runs", fig.run_durations)
        yield self._live("orchestrator_task_instances", "Task instances not finished yet", snap.tasks)
        yield self._histograms("orchestrator_task_duration_seconds", "Start to end of each finished task try", fig.task_durations)
        yield self._counter("orchestrator_task_retries", "Task tries that failed and are tried again", "dag_id", fig.retries, snap.dag_ids)
        yield self._histograms(
            "orchestrator_run_start_lateness_seconds",
            "From when a run was due (a scheduled run's interval end, any other's queueing) to its start", fig.lateness,
        )
        yield self._counter("orchestrator_deadline_misses", "Runs and tasks that missed their deadline", "dag_id", fig.deadline_misses, snap.dag_ids)
        yield self._counter("orchestrator_circuit_breaker_trips", "Times a circuit breaker opened", "key", fig.breaker_trips)
        yield GaugeMetricFamily("orchestrator_scheduler_up", "1 when a scheduler is registered as running", value=int(snap.scheduler_running))
        if snap.heartbeat_age_s is not None:
            yield GaugeMetricFamily(
                "orchestrator_scheduler_heartbeat_age_seconds", "Seconds since the scheduler's last heartbeat", value=snap.heartbeat_age_s
            )
        if snap.loop_ms is not None:
            yield GaugeMetricFamily(
                "orchestrator_scheduler_loop_seconds", "Mean duration of the scheduler's passes since its previous heartbeat", value=snap.loop_ms / 1000
            )
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
