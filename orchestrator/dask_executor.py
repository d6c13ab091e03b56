"""The Dask executor: a LocalCluster it starts, or an existing cluster by address.

Chained work is submitted with the upstream futures as arguments, so Dask starts a downstream
on the worker as soon as its upstream ends; completions reach the scheduler through future
callbacks and starts through Dask's event log, both without polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from distributed import Client, Future, LocalCluster

from orchestrator.executor import Completed, EventSink, Started
from orchestrator.runtime import START_TOPIC, WorkItem, run_task

log = logging.getLogger(__name__)


class DaskExecutor:
    """Submits tries to Dask; `address=None` starts a LocalCluster with `workers` processes."""

    chains = True

    def __init__(self, address: str | None = None, *, workers: int = 2, threads_per_worker: int = 1) -> None:
        self.address = address
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._futures: dict[str, Future] = {}
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
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=self.threads_per_worker,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            self._client = Client(self._cluster)
        self._client.subscribe_topic(START_TOPIC, self._on_start)

    def _on_start(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        if self._sink is not None and not self._closing:
            self._sink(Started(msg["key"], datetime.fromtimestamp(msg["start"], UTC), msg.get("worker")))

    def _on_done(self, future: Future) -> None:
        if self._sink is None or self._closing or future.status == "cancelled":
            return
        if future.status == "finished":
            self._sink(Completed(future.key, future.result()))
            return
        try:
            exc = future.exception()
        except Exception as err:  # noqa: BLE001 - the future's own failure to report
            exc = err
        self._sink(Completed(future.key, None, error=f"{type(exc).__name__}: {exc}"))

    def submit(self, work: WorkItem, after: Sequence[str] = ()) -> None:
        with self._lock:
            deps = [self._futures[k] for k in after]
        future = self.client.submit(run_task, work, *deps, key=work.key, pure=False)
        with self._lock:
            self._futures[work.key] = future
        future.add_done_callback(self._on_done)

    def release(self, key: str) -> None:
        with self._lock:
            self._futures.pop(key, None)

    def cancel(self, key: str) -> None:
        with self._lock:
            future = self._futures.pop(key, None)
        if future is not None:
            future.cancel()

    def worker_count(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def close(self) -> None:
        self._closing = True
        with self._lock:
            futures = list(self._futures.values())
            self._futures.clear()
        if self._client is not None:
            if futures:
                self._client.cancel(futures)
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
