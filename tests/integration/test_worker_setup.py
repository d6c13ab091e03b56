"""Every Dask worker the executor uses is set up for tries (orchestrator.execution.dask_executor.WorkerSetup),
those that join later included: the collector is set as orchestrator.execution.collector says."""

from __future__ import annotations

import gc

from orchestrator.execution.collector import THRESHOLDS
from orchestrator.execution.dask_executor import DaskExecutor


def _collector() -> tuple[tuple[int, int, int], int]:
    return gc.get_threshold(), gc.get_freeze_count()


def test_each_worker_runs_tries_with_the_collector_set_for_them(dask_address: str) -> None:
    executor = DaskExecutor(dask_address)
    executor.start(lambda _event: None)
    try:
        settings = executor.client.run(_collector)
    finally:
        executor.close()
    assert settings and all(threshold == THRESHOLDS and frozen > 0 for threshold, frozen in settings.values())


def test_a_worker_that_joins_later_is_set_up_too(dask_address: str) -> None:
    executor = DaskExecutor(dask_address)
    executor.start(lambda _event: None)
    try:
        executor.client.restart()  # every worker process is replaced by a new one
        settings = executor.client.run(_collector)
    finally:
        executor.close()
    assert settings and all(threshold == THRESHOLDS for threshold, _ in settings.values())
