"""The queries whose SQL differs between dialects (JSON tags, ILIKE, date arithmetic, log slices), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.store.db import make_engine, make_sessionmaker
from webui import create_app

from ..harness import make_config
from .conftest import Api, seed_store


@pytest.fixture(scope="module")
def db_api(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The seeded store in a database of each kind (read-only tests share it)."""
    home = tmp_path_factory.mktemp("webui_dialect")
    seed = seed_store(home, module_database_url)
    config = make_config(home, module_database_url, secret_key="test")
    sessions = make_sessionmaker(make_engine(module_database_url))
    yield Api(create_app(config, sessions=sessions).test_client(), seed, sessions, config)
    sessions.kw["bind"].dispose()


def test_dag_tag_and_search_filters(db_api: Api) -> None:
    ids = [d["dag_id"] for d in db_api.get("/dags?tag=ops&search=FA").get_json()["items"]]
    assert ids == ["failing"]
    assert db_api.get("/dags?search=_").get_json()["total"] == 0


def test_run_date_range(db_api: Api) -> None:
    body = db_api.get("/dags/etl/runs?logical_date_gte=2024-01-15T00:00:00Z&logical_date_lte=2024-02-15T00:00:00Z").get_json()
    assert [r["run_id"] for r in body["items"]] == ["feb"]


def test_log_slice(db_api: Api) -> None:
    url = f"/dags/flaky/runs/{db_api.seed.finished['flaky']}/tasks/flaky/logs/1"
    whole = db_api.get(url).get_data(as_text=True)
    part = db_api.get(f"{url}?offset=3&limit=10")
    assert (part.get_data(as_text=True), part.headers["X-Next-Offset"]) == (whole[3:13], "13")


def test_duration_histogram(db_api: Api) -> None:
    text = db_api.client.get("/metrics").get_data(as_text=True)
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    count = sum(s.value for s in samples if s.name == "orchestrator_task_duration_seconds_count")
    assert count == 6  # per DAG, read from the event log: etl 3 tries, flaky 2, failing 1
    assert sum(s.value for s in samples if s.name == "orchestrator_task_duration_seconds_sum") > 0
