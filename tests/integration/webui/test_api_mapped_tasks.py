"""A mapped task in the REST API: its instances in the task list, under the task, one by map_index, and their logs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.store.db import make_engine, make_sessionmaker
from webui import create_app

from ..harness import make_config
from .conftest import Api, seed_store

FILES = {
    "mapped.py": """
        from orchestrator import DAG, task
        from tests.fixtures import numbers, square_flaky_on, total

        with DAG("mapped") as dag:
            squares = task(square_flaky_on, retries=1, retry_delay=0).partial(flaky=2).expand(x=task(numbers)(3))
            task(total)(squares)
    """,
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A store with one finished run of a mapped DAG (read-only tests share it)."""
    home = tmp_path_factory.mktemp("webui_mapped")
    url = f"sqlite:///{home / 'orchestrator.db'}"
    seed = seed_store(home, url, files=FILES, test_runs=("mapped",))
    config = make_config(home, url, secret_key="test")
    sessions = make_sessionmaker(make_engine(url))
    yield Api(create_app(config, sessions=sessions).test_client(), seed, sessions, config)
    sessions.kw["bind"].dispose()


def tasks_url(api: Api, task_id: str = "") -> str:
    base = f"/dags/mapped/runs/{api.seed.finished['mapped']}/tasks"
    return f"{base}/{task_id}" if task_id else base


def test_the_task_list_has_the_mapped_task_followed_by_its_instances(api: Api) -> None:
    items = api.get(tasks_url(api)).get_json()["items"]
    assert [(t["task_id"], t["map_index"], t["state"]) for t in items] == [
        ("numbers", -1, "success"),
        ("square_flaky_on", -1, "success"),
        ("square_flaky_on", 0, "success"),
        ("square_flaky_on", 1, "success"),
        ("square_flaky_on", 2, "success"),
        ("total", -1, "success"),
    ]


def test_a_mapped_task_lists_its_instances_and_has_their_results_as_its_own(api: Api) -> None:
    task = api.get(tasks_url(api, "square_flaky_on")).get_json()
    assert [(i["map_index"], i["state"], i["try_number"]) for i in task["instances"]] == [(0, "success", 1), (1, "success", 2), (2, "success", 1)]
    assert (task["map_index"], task["result_preview"], task["tries"]) == (-1, "[1, 4, 9]", [])
    assert task["spec"]["mapped"] == [{"arg": "x", "task_id": "numbers", "key": None, "values": None}]


def test_one_instance_by_map_index_has_its_own_tries_and_result(api: Api) -> None:
    instance = api.get(tasks_url(api, "square_flaky_on") + "?map_index=1").get_json()
    assert (instance["map_index"], instance["state"], instance["result_preview"], instance["instances"]) == (1, "success", "4", [])
    assert [(t["try_number"], t["state"]) for t in instance["tries"]] == [(1, "failed"), (2, "success")]
    assert "instance 1 fails its first try on purpose" in instance["tries"][0]["error"]


def test_an_instance_that_does_not_exist_is_404(api: Api) -> None:
    response = api.get(tasks_url(api, "square_flaky_on") + "?map_index=7")
    assert response.status_code == 404
    assert "no mapped instance 7" in response.get_json()["error"]["message"]


def test_a_map_index_below_minus_one_is_422(api: Api) -> None:
    assert api.get(tasks_url(api, "square_flaky_on") + "?map_index=-2").status_code == 422


def test_an_instances_log_is_read_with_its_map_index(api: Api) -> None:
    response = api.get(tasks_url(api, "square_flaky_on") + "/logs/1?map_index=1")
    assert response.status_code == 200
    assert "instance 1 fails its first try on purpose" in response.get_data(as_text=True)
