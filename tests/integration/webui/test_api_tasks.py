"""A run's tasks, one task with its tries and result, clearing tasks, and reading logs."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from orchestrator.store.models import TaskTry

from .conftest import Api


def task_url(api: Api, dag_id: str, task_id: str = "") -> str:
    base = f"/dags/{dag_id}/runs/{api.seed.finished[dag_id]}/tasks"
    return f"{base}/{task_id}" if task_id else base


def test_list_tasks_in_the_dags_order(api: Api) -> None:
    body = api.get(task_url(api, "etl")).get_json()
    assert [(t["task_id"], t["state"]) for t in body["items"]] == [("extract", "success"), ("transform", "success"), ("load", "success")]
    assert body["total"] == 3


def test_list_tasks_filters_by_state_and_pages(api: Api) -> None:
    failed = api.get(task_url(api, "failing") + "?state=upstream_failed").get_json()
    assert [t["task_id"] for t in failed["items"]] == ["after"]
    page = api.get(task_url(api, "etl") + "?limit=1&offset=1").get_json()
    assert ([t["task_id"] for t in page["items"]], page["total"]) == (["transform"], 3)


def test_a_run_not_started_has_no_task_instances_yet(api: Api) -> None:
    assert api.get("/dags/etl/runs/jan/tasks").get_json() == {"items": [], "total": 0}


def test_list_tasks_with_an_unknown_state_is_422(api: Api) -> None:
    assert api.get(task_url(api, "etl") + "?state=green").status_code == 422


def test_list_tasks_of_an_unknown_run_is_404(api: Api) -> None:
    assert api.get("/dags/etl/runs/never/tasks").status_code == 404


def test_get_task_has_every_try_and_a_result_preview(api: Api) -> None:
    task = api.get(task_url(api, "flaky", "flaky")).get_json()
    assert (task["state"], task["try_number"]) == ("success", 2)
    assert [(t["try_number"], t["state"]) for t in task["tries"]] == [(1, "failed"), (2, "success")]
    assert "failing on purpose" in task["tries"][0]["error"]
    assert task["tries"][0]["log_chars"] > 0
    assert task["result_preview"] == '"succeeded on try 2"'
    assert task["result_truncated"] is False
    assert task["spec"]["retries"] == 1


def test_get_task_of_a_run_not_started_has_its_spec_but_no_state(api: Api) -> None:
    task = api.get("/dags/etl/runs/jan/tasks/load").get_json()
    assert (task["state"], task["tries"], task["spec"]["upstream"]) == (None, [], ["transform"])


@pytest.mark.parametrize("url", ["/dags/etl/runs/jan/tasks/nope", "/dags/etl/runs/never/tasks/load"])
def test_get_unknown_task_or_run_is_404(api: Api, url: str) -> None:
    assert api.get(url).status_code == 404


def test_clear_with_downstream_requeues_the_task_its_downstream_and_the_run(api: Api) -> None:
    response = api.post(task_url(api, "failing", "boom") + "/clear", role="operator", json={"downstream": True})
    assert response.status_code == 200
    assert response.get_json() == {"cleared": ["boom", "after"]}
    states = {t["task_id"]: t["state"] for t in api.get(task_url(api, "failing")).get_json()["items"]}
    assert states == {"boom": "pending", "after": "pending"}
    assert api.get(f"/dags/failing/runs/{api.seed.finished['failing']}").get_json()["state"] == "queued"


def test_clear_without_downstream_leaves_the_downstream(api: Api) -> None:
    assert api.post(task_url(api, "etl", "transform") + "/clear").get_json() == {"cleared": ["transform"]}
    states = {t["task_id"]: t["state"] for t in api.get(task_url(api, "etl")).get_json()["items"]}
    assert states == {"extract": "success", "transform": "pending", "load": "success"}


def test_clear_is_audited(api: Api) -> None:
    api.post(task_url(api, "failing", "boom") + "/clear", role="operator", json={"downstream": True})
    entry = api.get("/audit").get_json()["items"][0]
    run_id = api.seed.finished["failing"]
    assert (entry["actor"], entry["action"], entry["target"]) == ("operator", "task.clear", f"task:failing/{run_id}/boom")
    assert entry["details"] == {"downstream": True, "cleared": ["boom", "after"]}


def test_clear_an_unfinished_task_is_409(api: Api) -> None:
    api.post(task_url(api, "etl", "transform") + "/clear")
    response = api.post(task_url(api, "etl", "transform") + "/clear")
    assert response.status_code == 409
    assert api.get("/audit?action=task.clear").get_json()["total"] == 1


def test_clear_in_a_run_not_started_is_409(api: Api) -> None:
    assert api.post("/dags/etl/runs/jan/tasks/load/clear").status_code == 409


@pytest.mark.parametrize("url", ["/dags/etl/runs/jan/tasks/nope/clear", "/dags/etl/runs/never/tasks/load/clear"])
def test_clear_unknown_task_or_run_is_404(api: Api, url: str) -> None:
    assert api.post(url).status_code == 404


@pytest.mark.parametrize("body", [{"downstream": "yes"}, {"downstream": None}, {"recursive": True}])
def test_clear_with_an_invalid_body_is_422(api: Api, body: dict) -> None:
    assert api.post(task_url(api, "etl", "load") + "/clear", json=body).status_code == 422


def test_log_is_plain_text_with_the_next_offset(api: Api) -> None:
    response = api.get(task_url(api, "flaky", "flaky") + "/logs/1")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "flaky running try 1" in text
    assert "RuntimeError: failing on purpose on try 1" in text
    assert response.headers["X-Next-Offset"] == str(len(text))
    assert response.headers["X-Try-State"] == "failed"


def test_each_try_has_its_own_log(api: Api) -> None:
    assert "running try 2" in api.get(task_url(api, "flaky", "flaky") + "/logs/2").get_data(as_text=True)


def test_log_offset_follows_a_growing_log(api: Api) -> None:
    url = task_url(api, "flaky", "flaky") + "/logs/2"
    first = api.get(url)
    offset = int(first.headers["X-Next-Offset"])
    assert api.get(f"{url}?offset={offset}").get_data(as_text=True) == ""
    with api.sessions.begin() as s:
        s.execute(update(TaskTry).where(TaskTry.dag_id == "flaky", TaskTry.try_number == 2).values(log=TaskTry.log + "more é\n"))
    tail = api.get(f"{url}?offset={offset}")
    assert tail.get_data(as_text=True) == "more é\n"
    assert tail.headers["X-Next-Offset"] == str(offset + len("more é\n"))


def test_log_offset_and_limit_count_characters(api: Api) -> None:
    url = task_url(api, "flaky", "flaky") + "/logs/1"
    whole = api.get(url).get_data(as_text=True)
    part = api.get(f"{url}?offset=3&limit=10")
    assert part.get_data(as_text=True) == whole[3:13]
    assert part.headers["X-Next-Offset"] == "13"


@pytest.mark.parametrize("try_number", ["3", "0", "-1", "one"])
def test_log_of_a_missing_or_impossible_try_is_404_or_422(api: Api, try_number: str) -> None:
    response = api.get(task_url(api, "flaky", "flaky") + f"/logs/{try_number}")
    assert response.status_code == (404 if try_number == "3" else 422)
    assert "error" in response.get_json()


@pytest.mark.parametrize("query", ["?offset=-5", "?offset=x", "?limit=0", "?from=1"])
def test_log_with_an_invalid_offset_is_422(api: Api, query: str) -> None:
    assert api.get(task_url(api, "flaky", "flaky") + f"/logs/1{query}").status_code == 422
