"""The Dask executor: a LocalCluster it starts, or an existing cluster by address.

Chained work is submitted with the upstream futures as arguments, so Dask starts a downstream
on the worker as soon as its upstream ends. Starts and (small) outcomes reach the scheduler
through Dask's event stream, which delivers them before the future's own completion, so no
result is fetched per task; a future that completes without its outcome event (a large
outcome, or one the worker could not send) is fetched, and one that errs is reported lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask
from distributed import Client, Future, LocalCluster

from orchestrator.code_bundle import BundleCache
from orchestrator.executor import Completed, EventSink, LogChunk, Started, WorkerInfo
from orchestrator.runtime import DONE_TOPIC, LOG_TOPIC, START_TOPIC, WorkItem, outcome_from_wire, run_task

log = logging.getLogger(__name__)


class DaskExecutor:
    """Submits tries to Dask; `address=None` starts a LocalCluster with `workers` processes."""

    chains = True

    def __init__(
        self, address: str | None = None, *, workers: int = 2, threads_per_worker: int = 1, ship_code_from: Path | None = None
    ) -> None:
        """`ship_code_from`: the DAG folder to send to the workers with the work (orchestrator.code_bundle),
        for workers that do not have it."""
        self.address = address
        self._bundles = BundleCache(ship_code_from) if ship_code_from is not None else None
        self._bundle_future: tuple[str, Future] | None = None
        self.n_workers = workers
        self.threads_per_worker = threads_per_worker
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._futures: dict[str, Future | None] = {}
        self._delivered: set[str] = set()
        self._lock = threading.Lock()
        self._sink: EventSink | None = None
        self._closing = False

    @property
    def client(self) -> Client:
        assert self._client is not None, "start() the executor first"
        return self._client

    def start(self, sink: EventSink) -> None:
        self._sink = sink
        if self.address:
            self._client = Client(self.address, timeout="30s")
        else:
            # the event topics keep only recent events: outcomes are not meant to pile up there
            with dask.config.set({"distributed.admin.low-level-log-length": 1000}):
                self._cluster = LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=True,
                    dashboard_address=":0",  # Dask always serves HTTP; a free port avoids clashes
                    silence_logs=logging.WARNING,
                )
            self._client = Client(self._cluster)
        self._client.subscribe_topic(START_TOPIC, self._on_start)
        self._client.subscribe_topic(DONE_TOPIC, self._on_outcome)
        self._client.subscribe_topic(LOG_TOPIC, self._on_log)

    def _on_start(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        if self._sink is not None and not self._closing:
            self._sink(Started(msg["key"], datetime.fromtimestamp(msg["start"], UTC), msg.get("worker")))

    def _on_log(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        if self._sink is not None and not self._closing:
            self._sink(LogChunk(msg["key"], msg["text"]))

    def _on_outcome(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        with self._lock:
            if msg["key"] not in self._futures:
                return
            self._delivered.add(msg["key"])
        if self._sink is not None and not self._closing:
            self._sink(Completed(msg["key"], outcome_from_wire(msg)))

    def _on_done(self, future: Future) -> None:
        """Runs in Dask's callback thread once the future ends."""
        key = future.key
        with self._lock:
            if key in self._delivered:
                self._delivered.discard(key)
                return
            if key not in self._futures:
                return  # released or cancelled meanwhile
        if self._sink is None or self._closing or future.status == "cancelled":
            return
        if future.status == "finished":
            self._sink(Completed(key, future.result()))
            return
        try:
            exc = future.exception()
        except Exception as err:  # noqa: BLE001 - the future's own failure to report
            exc = err
        self._sink(Completed(key, None, error=f"{type(exc).__name__}: {exc}"))

    def submit(self, work: WorkItem, after: Sequence[str] = ()) -> None:
        extra: dict[str, Any] = {}
        if self._bundles is not None and work.dags_root is not None:
            name, bundle = self._bundle()
            work, extra = replace(work, code_bundle=name), {"bundle": bundle}
        with self._lock:
            deps = [self._futures[k] for k in after]
            self._futures[work.key] = None  # known before its outcome can possibly arrive
        future = self.client.submit(run_task, work, *deps, key=work.key, pure=False, **extra)
        with self._lock:
            self._futures[work.key] = future
        future.add_done_callback(self._on_done)

    def _bundle(self) -> tuple[str, Future]:
        """The current code bundle's name and its future, scattered to every worker once per version.

        Tries still holding an older bundle keep it alive in Dask until they end."""
        assert self._bundles is not None
        bundle = self._bundles.current()
        if self._bundle_future is None or self._bundle_future[0] != bundle.name:
            self._bundle_future = (bundle.name, self.client.scatter(bundle.data, broadcast=True, hash=False))
        return self._bundle_future

    def release(self, key: str) -> None:
        with self._lock:
            self._futures.pop(key, None)
            self._delivered.discard(key)

    def cancel(self, key: str) -> None:
        with self._lock:
            future = self._futures.pop(key, None)
            self._delivered.discard(key)
        if future is not None:
            future.cancel()

    def workers(self) -> list[WorkerInfo]:
        info = self.client.scheduler_info(n_workers=-1).get("workers", {})
        workers = []
        for address, w in info.items():
            metrics = w.get("metrics", {})
            workers.append(
                WorkerInfo(
                    address=address,
                    nthreads=int(w.get("nthreads", 0)),
                    executing=int(metrics.get("task_counts", {}).get("executing", 0)),
                    memory_bytes=int(metrics.get("memory", 0)),
                )
            )
        return workers

    def close(self) -> None:
        self._closing = True
        with self._lock:
            futures = [f for f in self._futures.values() if f is not None]
            self._futures.clear()
        if self._client is not None:
            if futures:
                self._client.cancel(futures)
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
