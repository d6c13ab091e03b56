"""The Dask executor: a LocalCluster it starts, or an existing cluster by address.

Each pack (orchestrator.execution.packs) is one Dask task; no Dask task depends on another, so Dask never
recomputes our work: upstream results travel in the work items, from the store. Starts and
outcomes reach the scheduler through Dask's event stream (orchestrator.execution.wire), which delivers
them before the Dask task's own completion, so nothing is fetched per try. Once a pack ended,
the items it never reported are reported lost (their worker died, or Dask ran the pack again
and the claim stopped it).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask
from distributed import Client, Future, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from orchestrator.execution.code_bundle import BundleCache
from orchestrator.execution.collector import set_for_tries
from orchestrator.execution.executor import WORKER_LOST, Completed, EventSink, LogChunk, Started, WorkerInfo
from orchestrator.execution.packs import DUPLICATE, ClaimBook, run_pack, seal
from orchestrator.execution.runtime import Outcome, WorkItem
from orchestrator.execution.wire import DONE_TOPIC, LOG_TOPIC, START_TOPIC, OutcomeParts

log = logging.getLogger(__name__)

NO_QUEUING = {"distributed.scheduler.worker-saturation": "inf"}
"""The Dask scheduler setting under which every pack goes to a worker at once, whose queue runs
higher priorities first. With queuing on, Dask queues a task on the scheduler only when its task
group (Dask's, by key prefix: here a run and its date) has more tasks than twice the worker threads,
and sends the others on; a higher-priority run's later packs then wait behind a lower one's."""
SATURATION_ENV = "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION"


def _worker_saturation(dask_scheduler: Any) -> float:
    """Runs on the Dask scheduler: its worker-saturation (inf: queuing is off)."""
    return float(dask_scheduler.WORKER_SATURATION)


def _warn_if_queuing(client: Client) -> None:
    """Warn when the cluster at the address queues tasks (see NO_QUEUING)."""
    try:
        saturation = client.run_on_scheduler(_worker_saturation)
    except Exception:  # noqa: BLE001 - a scheduler that runs no functions: nothing to tell
        return
    if saturation != float("inf"):
        log.warning(
            "the Dask scheduler queues tasks (worker-saturation %s): a higher-priority run's tasks may wait behind "
            "a lower one's; start `dask scheduler` with %s=inf", saturation, SATURATION_ENV,
        )


@dataclass
class _Pack:
    waiting: set[str]
    """Item keys not yet reported."""
    future: Future | None = None
    cancelled: set[str] = field(default_factory=set)


class WorkerSetup(WorkerPlugin):
    """On every worker, those that join later included: what tries need is imported before the
    first one arrives, and the collector is set for packs of tries (orchestrator.execution.collector)."""

    name = "orchestrator-worker-setup"
    idempotent = True

    def setup(self, worker: Any) -> None:
        importlib.import_module("orchestrator.execution.packs")
        importlib.import_module("orchestrator.execution.dagfile")
        set_for_tries()


class DaskExecutor:
    """Submits packs to Dask; `address=None` starts a LocalCluster with `workers` processes."""

    chains = True

    def __init__(
        self, address: str | None = None, *, workers: int = 2, threads_per_worker: int = 1, ship_code_from: Path | None = None
    ) -> None:
        """`ship_code_from`: the DAG folder to send to the workers with the work (orchestrator.execution.code_bundle),
        for workers that do not have it."""
        self.address = address
        self._bundles = BundleCache(ship_code_from) if ship_code_from is not None else None
        self._bundle_future: tuple[str, Future] | None = None
        self.n_workers = workers
        self.threads_per_worker = threads_per_worker
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._packs: dict[str, _Pack] = {}
        self._pack_of: dict[str, str] = {}  # item key -> pack key
        self._parts = OutcomeParts()
        self._lock = threading.Lock()
        self._sink: EventSink | None = None
        self._closing = False
        self._slots: tuple[float, int] = (0.0, 1)

    @property
    def client(self) -> Client:
        assert self._client is not None, "start() the executor first"
        return self._client

    def start(self, sink: EventSink) -> None:
        self._sink = sink
        if self.address:
            self._client = Client(self.address, timeout="30s")
        else:
            # the event topics keep only recent events: outcomes are not meant to pile up there; the
            # workers' statistical profiler (a stack walk every 10 ms, for Dask's dashboard) is off:
            # a try's own duration is what we record; queuing is off (see NO_QUEUING)
            with dask.config.set({
                "distributed.admin.low-level-log-length": 1000, "distributed.worker.profile.enabled": False, **NO_QUEUING,
            }):
                self._cluster = LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=True,
                    dashboard_address=":0",  # Dask always serves HTTP; a free port avoids clashes
                    silence_logs=logging.WARNING,
                )
            self._client = Client(self._cluster)
        if self.address:
            _warn_if_queuing(self._client)
        try:
            self._client.register_plugin(ClaimBook(), name=ClaimBook.name)
        except Exception:  # noqa: BLE001 - a scheduler that refuses plugins: Dask may then run a pack twice
            log.exception("cannot install the pack claims on the Dask scheduler; a pack Dask re-runs may run twice")
        self._client.subscribe_topic(START_TOPIC, self._on_start)
        self._client.subscribe_topic(DONE_TOPIC, self._on_outcome)
        self._client.subscribe_topic(LOG_TOPIC, self._on_log)
        try:
            self._client.register_plugin(WorkerSetup(), name=WorkerSetup.name)
        except Exception:  # noqa: BLE001 - a worker that cannot import them fails its tries instead, with the reason
            log.exception("could not prepare the Dask workers for tries")

    @property
    def slots(self) -> int:
        """Worker threads in the cluster, looked up at most every 5 s."""
        at, count = self._slots
        if time.monotonic() - at > 5.0:
            try:
                count = max(1, sum(self.client.nthreads().values()))
            except Exception:  # noqa: BLE001 - a cluster restarting: keep the last count
                pass
            self._slots = (time.monotonic(), count)
        return count

    def _on_start(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        if self._sink is not None and not self._closing and msg["key"] in self._pack_of:
            self._sink(Started(msg["key"], datetime.fromtimestamp(msg["start"], UTC), msg.get("worker")))

    def _on_log(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        if self._sink is not None and not self._closing:
            self._sink(LogChunk(msg["key"], msg["text"]))

    def _on_outcome(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        # a pack of tiny tries reports many in one message: they go to the scheduler as one list
        outcomes = self._parts.take(msg)
        with self._lock:
            ends = [c for o in outcomes if (c := self._end(o.key, o)) is not None]
        if ends and self._sink is not None and not self._closing:
            self._sink(ends)

    def _report(self, key: str, outcome: Outcome | None, error: str | None = None) -> None:
        """Hand one item's end to the scheduler, once; a pack whose items all ended is let go."""
        with self._lock:
            end = self._end(key, outcome, error)
        if end is not None and self._sink is not None and not self._closing:
            self._sink(end)

    def _end(self, key: str, outcome: Outcome | None, error: str | None = None) -> Completed | None:
        """The item's end to report (None: reported already, or cancelled); call holding the lock."""
        pack_key = self._pack_of.pop(key, None)
        pack = self._packs.get(pack_key) if pack_key is not None else None
        if pack is None or key not in pack.waiting:
            return None
        pack.waiting.discard(key)
        cancelled = key in pack.cancelled
        if not pack.waiting:
            del self._packs[pack_key]  # type: ignore[arg-type]
        return None if cancelled else Completed(key, outcome, error=error)

    def _on_done(self, future: Future) -> None:
        """Runs in Dask's callback thread once the pack's Dask task ended: every event it sent
        was handled before, so the items it did not report are lost."""
        with self._lock:
            pack = self._packs.get(future.key)
            left = sorted(pack.waiting) if pack is not None else []
        if not left or self._closing:
            return
        why = f"{WORKER_LOST}: the pack ended without reporting it"
        try:
            # a finished pack's result can still be lost with its worker before it is fetched
            result = future.result(timeout=30) if future.status == "finished" else None
            if future.status == "error":
                exc = future.exception(timeout=30)
                why = f"{WORKER_LOST}: {type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - whatever Dask says, these tries are lost
            result, why = None, f"{WORKER_LOST}: {type(exc).__name__}: {exc}"
        if result == DUPLICATE:
            why = f"{WORKER_LOST}: its worker died while it ran"
        elif isinstance(result, list):
            for outcome in result:
                if outcome.key in left:
                    self._report(outcome.key, outcome)
        for key in left:
            self._parts.drop(key)
            self._report(key, None, error=why)

    def submit(self, pack: Sequence[WorkItem], *, tiny: bool = False) -> None:
        extra: dict[str, Any] = {}
        items = list(pack)
        if self._bundles is not None and items[0].dags_root is not None:
            name, bundle = self._bundle()
            items, extra = [replace(w, code_bundle=name) for w in items], {"bundle": bundle}
        pack_key = f"pack:{items[0].key}"
        with self._lock:
            # known before any outcome can possibly arrive
            self._packs[pack_key] = _Pack(waiting={w.key for w in items})
            self._pack_of.update((w.key, pack_key) for w in items)
        # Dask runs higher priorities first when the workers are busy: the pack's most urgent run decides
        priority = max(w.priority for w in items)
        future = self.client.submit(run_pack, pack_key, seal(items), tiny=tiny, key=pack_key, pure=False, priority=priority, **extra)
        with self._lock:
            state = self._packs.get(pack_key)
            if state is not None:
                state.future = future
        future.add_done_callback(self._on_done)

    def _bundle(self) -> tuple[str, Future]:
        """The current code bundle's name and its future, scattered to every worker once per version.

        Tries still holding an older bundle keep it alive in Dask until they end. Dask may keep one
        replica only, so a worker's death can lose it: it is scattered again."""
        assert self._bundles is not None
        bundle = self._bundles.current()
        # a bundle whose last replica died with its worker is scattered again
        if self._bundle_future is None or self._bundle_future[0] != bundle.name or self._bundle_future[1].status != "finished":
            self._bundle_future = (bundle.name, self.client.scatter(bundle.data, broadcast=True, hash=False))
        return self._bundle_future

    def cancel(self, key: str) -> None:
        """No completion is reported for `key`; its pack's Dask task is cancelled once every item of
        it is (a try already running cannot be stopped: its outcome is ignored)."""
        with self._lock:
            pack_key = self._pack_of.get(key)
            pack = self._packs.get(pack_key) if pack_key is not None else None
            if pack is None:
                return
            pack.cancelled.add(key)
            future = None
            if pack.waiting <= pack.cancelled:
                del self._packs[pack_key]  # type: ignore[arg-type]
                for k in pack.waiting:
                    self._pack_of.pop(k, None)
                future = pack.future
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
            futures = [p.future for p in self._packs.values() if p.future is not None]
            self._packs.clear()
            self._pack_of.clear()
        if self._client is not None:
            if futures:
                self._client.cancel(futures)
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
