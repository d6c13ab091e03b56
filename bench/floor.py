"""The floor: raw Dask on a LocalCluster configured like the executor's (N workers, 1 thread)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from statistics import median

from distributed import Client, LocalCluster, wait


def noop(_: int) -> None:
    return None


def stamped_noop(_: int) -> tuple[float, float]:
    """A no-op that says when it ran, so hops are measured like the system's: start(i+1) - end(i)."""
    start = time.time()
    return start, time.time()


@contextmanager
def raw_cluster(workers: int) -> Iterator[Client]:
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.WARNING
    )
    client = Client(cluster)
    try:
        client.gather(client.map(noop, range(4 * workers), pure=False))  # warm-up: imports on every worker
        yield client
    finally:
        client.close()
        cluster.close()


def chain_hop(client: Client, length: int = 50) -> dict[str, float]:
    """A client-side chain: each no-op submitted once the previous result is back.

    hop = start of call i+1 - end of call i (worker clocks, same definition as W1's
    per-transition); round_trip = submit to result on the client.
    """
    stamps: list[tuple[float, float]] = []
    trips: list[float] = []
    for i in range(length):
        t = time.perf_counter()
        stamps.append(client.submit(stamped_noop, i, pure=False).result())
        trips.append(time.perf_counter() - t)
    hops = [stamps[i + 1][0] - stamps[i][1] for i in range(length - 1)]
    return {"floor_hop_ms": median(hops) * 1000, "floor_round_trip_ms": median(trips) * 1000}


def throughput(client: Client, count: int = 10_000) -> float:
    """Tasks per second for `count` independent no-op submits, submit of the first to end of the last."""
    t = time.perf_counter()
    futures = [client.submit(noop, i, pure=False) for i in range(count)]
    wait(futures)
    elapsed = time.perf_counter() - t
    del futures
    return count / elapsed
