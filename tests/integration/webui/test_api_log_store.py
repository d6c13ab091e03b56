"""The API reads a log that moved to the log store through the store: whole, in slices, with its full length."""

from __future__ import annotations

from sqlalchemy import select, update

from orchestrator.plugins.log_store import LogStores, offload
from orchestrator.store.models import TaskTry

from .conftest import Api

LONG = "".join(f"row {i} loaded\n" for i in range(300))


def moved_log_url(api: Api) -> str:
    """Give flaky's first try a long log and move it to the app's file log store."""
    with api.sessions.begin() as s:
        s.execute(update(TaskTry).where(TaskTry.dag_id == "flaky", TaskTry.try_number == 1).values(log=LONG))
    config = api.config.model_copy(update={"log_offload_chars": 1024, "log_head_chars": 50})
    offload(api.sessions, LogStores.configured(config))
    with api.sessions() as s:
        assert s.scalars(select(TaskTry.log_ref).where(TaskTry.dag_id == "flaky", TaskTry.try_number == 1)).one() is not None
    return f"/dags/flaky/runs/{api.seed.finished['flaky']}/tasks/flaky"


def test_a_moved_log_is_served_whole_from_the_store(api: Api) -> None:
    response = api.get(moved_log_url(api) + "/logs/1")
    assert response.get_data(as_text=True) == LONG
    assert response.headers["X-Next-Offset"] == str(len(LONG))


def test_a_moved_log_is_sliced_and_its_try_shows_the_full_length(api: Api) -> None:
    url = moved_log_url(api)
    assert api.get(url + "/logs/1?offset=2000&limit=30").get_data(as_text=True) == LONG[2000:2030]
    tries = api.get(url).get_json()["tries"]
    assert [t for t in tries if t["try_number"] == 1][0]["log_chars"] == len(LONG)


def test_the_task_page_shows_the_whole_moved_log(api: Api) -> None:
    page = api.client.get(moved_log_url(api) + "?try=1", headers={"Authorization": f"Bearer {api.seed.tokens['viewer']}"})
    assert page.status_code == 200
    assert "row 299 loaded" in page.get_data(as_text=True)
