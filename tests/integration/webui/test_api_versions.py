"""A DAG's versions through the API and the DAG page (listed, read, compared), and a workflow's
input schema refusing a run's conf with 422."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store.db import make_engine, make_sessionmaker
from webui import create_app

from ..harness import make_config, write_dag
from .conftest import Api, seed_store

V1 = """
    workflowId: orders
    version: "1.0"
    inputSchema:
      type: object
      properties:
        amount: {type: number, minimum: 0}
        region: {type: string, default: eu}
      required: [amount]
    steps:
      - {stepId: check, taskId: 'tests.fixtures:succeed', next: [{stepId: ship}]}
      - {stepId: ship, taskId: 'tests.fixtures:succeed'}
      - {stepId: legacy, taskId: 'tests.fixtures:succeed'}
"""
V2 = """
    workflowId: orders
    version: "2.0"
    inputSchema:
      type: object
      properties:
        amount: {type: number, minimum: 0}
        region: {type: string, default: us}
      required: [amount]
    steps:
      - {stepId: check, taskId: 'tests.fixtures:succeed', next: [{stepId: ship, condition: data != null}]}
      - {stepId: ship, taskId: 'tests.fixtures:succeed', retryPolicy: {maxAttempts: 3}}
      - {stepId: notify, taskId: 'tests.fixtures:succeed'}
"""


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A store whose DAG `orders` has two versions (a workflow file edited once)."""
    seed = seed_store(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", files={"orders.yaml": V1}, test_runs=())
    config = make_config(tmp_path, f"sqlite:///{seed.db_file}", secret_key="test", dags_folder=seed.dags_folder)
    sessions = make_sessionmaker(make_engine(config.resolved_database_url))
    write_dag(seed.dags_folder, "orders.yaml", V2)
    assert not sync_dag_folder(sessions, config).errors
    app = create_app(config, sessions=sessions)
    app.config["TESTING"] = True
    yield Api(app.test_client(), seed, sessions, config)
    sessions.kw["bind"].dispose()


def test_versions_are_listed_newest_first_with_the_current_one_marked(api: Api) -> None:
    assert api.post("/dags/orders/runs", json={"conf": {"amount": 1}}).status_code == 201
    body = api.get("/dags/orders/versions").get_json()
    assert body["total"] == 2
    assert [(v["number"], v["current"], v["version_label"], v["tasks"], v["runs"]) for v in body["items"]] == [
        (2, True, "2.0", 3, 1), (1, False, "1.0", 3, 0)
    ]
    assert body["items"][0]["version_hash"] == api.get("/dags/orders").get_json()["version_hash"]


def test_one_version_is_read_with_its_spec_as_stored(api: Api) -> None:
    body = api.get("/dags/orders/versions/1").get_json()
    assert (body["number"], body["current"]) == (1, False)
    assert {t["task_id"] for t in body["spec"]["tasks"]} == {"check", "ship", "legacy"}


def test_a_version_that_does_not_exist_is_404_naming_those_that_do(api: Api) -> None:
    response = api.get("/dags/orders/versions/7")
    assert response.status_code == 404
    assert "has no version 7: it has versions 1 to 2" in response.get_json()["error"]["message"]


def test_the_diff_lists_tasks_added_removed_and_changed_and_dag_fields(api: Api) -> None:
    body = api.get("/dags/orders/versions/diff?from=1&to=2").get_json()
    assert (body["from_version"], body["to_version"]) == (1, 2)
    assert (body["tasks_added"], body["tasks_removed"]) == (["notify"], ["legacy"])
    changed = {t["task_id"]: {c["field"]: (c["old"], c["new"]) for c in t["changes"]} for t in body["tasks_changed"]}
    assert changed == {
        "check": {"next_conditions.ship": (None, "data != null")},
        "ship": {"retries": (0, 2)},
    }
    dag_fields = {c["field"]: (c["old"], c["new"]) for c in body["dag"]}
    assert dag_fields["version_label"] == ("1.0", "2.0")
    assert dag_fields["params.region"] == ("eu", "us")
    assert dag_fields["input_schema.properties.region.default"] == ("eu", "us")


def test_the_diff_compares_the_current_version_with_the_one_before_by_default(api: Api) -> None:
    body = api.get("/dags/orders/versions/diff").get_json()
    assert (body["from_version"], body["to_version"], body["tasks_added"]) == (1, 2, ["notify"])


def test_a_conf_that_does_not_match_the_input_schema_is_refused_with_422_and_the_reasons(api: Api) -> None:
    response = api.post("/dags/orders/runs", json={"conf": {"amount": "lots"}})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert "does not match the input schema of DAG 'orders'" in error["message"]
    assert error["details"] == [{"loc": ["body", "conf", "amount"], "msg": "'lots' is not of type 'number'", "type": "input_schema"}]
    assert api.get("/dags/orders/runs").get_json()["total"] == 0


def test_a_batch_with_one_conf_that_does_not_match_the_input_schema_is_422_naming_it_and_queues_nothing(api: Api) -> None:
    response = api.post("/dags/orders/runs/batch", json={"runs": [{"conf": {"amount": 5}}, {"conf": {"amount": "lots"}}]})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["message"].startswith("runs[1]: the run's input does not match the input schema of DAG 'orders'")
    assert error["details"] == [{"loc": ["body", "runs", 1, "conf", "amount"], "msg": "'lots' is not of type 'number'", "type": "input_schema"}]
    assert api.get("/dags/orders/runs").get_json()["total"] == 0


def test_the_dag_page_lists_the_versions_and_shows_the_difference_between_two(api: Api) -> None:
    # the UI pages take the same bearer tokens as the API
    page = api.client.get("/dags/orders?from=1&to=2", headers={"Authorization": f"Bearer {api.seed.tokens['viewer']}"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-tab="versions"' in html
    assert html.count('<tr data-version="') == 2
    assert '<code class="diff-added">notify</code>' in html and '<code class="diff-removed">legacy</code>' in html
    assert 'data-where="ship"' in html and "<code>retries</code>" in html
