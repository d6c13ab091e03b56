"""Fixtures of the integration tests: one Dask LocalCluster shared by the in-process scheduler tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def dask_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a 2-worker LocalCluster (one thread each), started once per test session.

    Schedulers under test reach it by address, as `ORCH_DASK_ADDRESS` would, so each test pays
    for a client connection rather than a cluster start.
    """
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        local_directory=str(tmp_path_factory.mktemp("dask")),
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
