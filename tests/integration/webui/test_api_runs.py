"""Triggering, listing, reading and cancelling runs, and a run's event timeline."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from orchestrator.store.models import DagRun, Event, TaskInstance

from .conftest import Api


def nested(depth: int) -> dict:
    """{"k": {"k": ... {}}} with `depth` levels."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def run_ids(api: Api, query: str = "") -> list[str]:
    response = api.get(f"/dags/etl/runs{query}", role="viewer")
    assert response.status_code == 200, response.get_json()
    return [r["run_id"] for r in response.get_json()["items"]]


def test_trigger_queues_a_run_with_its_conf(api: Api) -> None:
    response = api.post("/dags/flaky/runs", role="operator", json={"conf": {"rows": 5}})
    assert response.status_code == 201
    run = response.get_json()
    assert (run["state"], run["run_type"], run["conf"]) == ("queued", "manual", {"rows": 5})
    assert run["run_id"].startswith("manual__")
    with api.sessions() as s:
        row = s.get(DagRun, ("flaky", run["run_id"]))
        assert row is not None and row.state == "queued"


def test_trigger_takes_a_run_id_and_logical_date(api: Api) -> None:
    body = {"run_id": "backfill-2023.12", "logical_date": "2023-12-01T06:00:00+02:00"}
    run = api.post("/dags/flaky/runs", json=body).get_json()
    assert run["run_id"] == "backfill-2023.12"
    assert run["logical_date"] == "2023-12-01T04:00:00Z"


def test_trigger_without_a_body_uses_the_defaults(api: Api) -> None:
    response = api.post("/dags/quiet/runs")
    assert response.status_code == 201
    assert response.get_json()["conf"] == {}


def test_trigger_is_audited_in_the_same_transaction(api: Api) -> None:
    run_id = api.post("/dags/flaky/runs", role="operator", json={"conf": {"a": 1}}).get_json()["run_id"]
    entry = api.get("/audit").get_json()["items"][0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("operator", "run.trigger", f"run:flaky/{run_id}")
    assert entry["details"] == {"conf": {"a": 1}}
    with api.sessions() as s:
        queued = s.scalars(select(Event).where(Event.kind == "run.queued", Event.run_id == run_id)).one()
    assert queued.actor == "operator"


def test_trigger_with_a_taken_run_id_is_409_and_not_audited(api: Api) -> None:
    response = api.post("/dags/etl/runs", json={"run_id": "jan"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert api.get("/audit").get_json()["total"] == 0


def test_trigger_of_an_unknown_dag_is_404(api: Api) -> None:
    assert api.post("/dags/nope/runs", json={}).status_code == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"conf": [1, 2]}, ["body", "conf"]),
        ({"conf": "x"}, ["body", "conf"]),
        ({"logical_date": "2024-01-01T00:00:00"}, ["body", "logical_date"]),
        ({"logical_date": "yesterday"}, ["body", "logical_date"]),
        ({"logical_date": "9999-12-31T23:00:00-14:00"}, ["body", "logical_date"]),
        ({"run_id": "a/b"}, ["body", "run_id"]),
        ({"run_id": ""}, ["body", "run_id"]),
        ({"run_id": "x" * 251}, ["body", "run_id"]),
        ({"conf": {}, "state": "success"}, ["body", "state"]),
        ({"conf": nested(40)}, ["body", "conf"]),
    ],
    ids=["conf list", "conf string", "naive date", "not a date", "date beyond 9999 in UTC", "slash", "empty run_id", "long run_id", "extra field", "deep conf"],
)
def test_trigger_with_an_invalid_body_is_422_and_creates_nothing(api: Api, body: dict, loc: list[str]) -> None:
    response = api.post("/dags/flaky/runs", json=body)
    assert response.status_code == 422
    assert loc in [d["loc"][:2] for d in response.get_json()["error"]["details"]]
    with api.sessions() as s:
        assert s.scalars(select(DagRun).where(DagRun.dag_id == "flaky")).all() == [s.get(DagRun, ("flaky", api.seed.finished["flaky"]))]


def test_list_runs_is_newest_logical_date_first(api: Api) -> None:
    assert run_ids(api) == [api.seed.finished["etl"], "mar", "feb", "jan"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?state=queued", ["mar", "feb", "jan"]),
        ("?state=success", ["{etl}"]),
        ("?state=success&state=queued", ["{etl}", "mar", "feb", "jan"]),
        ("?state=failed", []),
        ("?logical_date_gte=2024-02-01T00:00:00Z", ["{etl}", "mar", "feb"]),
        ("?logical_date_lte=2024-02-01T00:00:00%2B00:00", ["feb", "jan"]),
        ("?logical_date_gte=2024-01-15T00:00:00Z&logical_date_lte=2024-02-15T00:00:00Z", ["feb"]),
        ("?limit=2&offset=1", ["mar", "feb"]),
    ],
)
def test_list_runs_filters_by_state_and_date_range_and_pages(api: Api, query: str, expected: list[str]) -> None:
    assert run_ids(api, query) == [r.format(**api.seed.finished) for r in expected]


def test_list_runs_total_counts_every_match(api: Api) -> None:
    assert api.get("/dags/etl/runs?state=queued&limit=1").get_json()["total"] == 3


@pytest.mark.parametrize("query", ["?state=done", "?logical_date_gte=2024-01-01", "?logical_date_lte=0001-01-01T00:00:00%2B14:00", "?logical_date_lte=soon", "?limit=5000"])
def test_list_runs_with_invalid_filters_is_422(api: Api, query: str) -> None:
    assert api.get(f"/dags/etl/runs{query}").status_code == 422


def test_list_runs_of_an_unknown_dag_is_404(api: Api) -> None:
    assert api.get("/dags/nope/runs").status_code == 404


def test_get_run(api: Api) -> None:
    run = api.get(f"/dags/etl/runs/{api.seed.finished['etl']}").get_json()
    assert run["state"] == "success"
    assert run["duration_s"] is not None and run["duration_s"] >= 0


def test_get_unknown_run_is_404(api: Api) -> None:
    assert api.get("/dags/etl/runs/never").status_code == 404


def test_cancel_a_queued_run(api: Api) -> None:
    response = api.post("/dags/etl/runs/jan/cancel", role="operator")
    assert response.status_code == 200
    assert response.get_json()["state"] == "cancelled"
    assert api.get("/dags/etl/runs/jan").get_json()["end_date"] is not None


def test_cancel_is_audited(api: Api) -> None:
    api.post("/dags/etl/runs/feb/cancel", role="operator")
    entry = api.get("/audit").get_json()["items"][0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("operator", "run.cancel", "run:etl/feb")


def test_cancel_a_finished_run_is_409_and_not_audited(api: Api) -> None:
    response = api.post(f"/dags/etl/runs/{api.seed.finished['etl']}/cancel")
    assert response.status_code == 409
    assert api.get("/audit").get_json()["total"] == 0


def test_cancel_a_running_run_cancels_its_unfinished_tasks(api: Api) -> None:
    run_id = api.seed.finished["failing"]
    api.post(f"/dags/failing/runs/{run_id}/tasks/boom/clear", json={"downstream": True})
    assert api.post(f"/dags/failing/runs/{run_id}/cancel").status_code == 200
    with api.sessions() as s:
        states = {ti.task_id: ti.state for ti in s.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id))}
    assert states == {"boom": "cancelled", "after": "cancelled"}


def test_cancel_unknown_run_is_404(api: Api) -> None:
    assert api.post("/dags/etl/runs/never/cancel").status_code == 404


def test_events_are_the_runs_timeline_oldest_first(api: Api) -> None:
    body = api.get(f"/dags/flaky/runs/{api.seed.finished['flaky']}/events").get_json()
    kinds = [e["kind"] for e in body["items"]]
    assert kinds[0] == "run.queued" and kinds[-1] == "run.success"
    assert "task.up_for_retry" in kinds
    assert body["total"] == len(kinds)
    ids = [e["id"] for e in body["items"]]
    assert ids == sorted(ids)


def test_events_page(api: Api) -> None:
    url = f"/dags/flaky/runs/{api.seed.finished['flaky']}/events"
    everything = api.get(url).get_json()["items"]
    assert api.get(f"{url}?limit=2&offset=1").get_json()["items"] == everything[1:3]


def test_events_of_an_unknown_run_is_404(api: Api) -> None:
    assert api.get("/dags/etl/runs/never/events").status_code == 404


def test_trigger_with_a_body_over_the_size_limit_is_413(api: Api) -> None:
    response = api.post("/dags/flaky/runs", json={"conf": {"blob": "x" * 3_000_000}})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


# -- batches of triggers -----------------------------------------------------------------------------
def test_a_batch_trigger_queues_every_run_in_order_with_one_audit_entry(api: Api) -> None:
    body = {"runs": [{"conf": {"n": 1}}, {"run_id": "batch-b", "conf": {"n": 2}}, {}]}
    response = api.post("/dags/flaky/runs/batch", role="operator", json=body)
    assert response.status_code == 201, response.get_json()
    out = response.get_json()
    assert out["dag_id"] == "flaky" and out["run_ids"][1] == "batch-b"
    assert out["run_ids"][0].startswith("manual__") and out["run_ids"][0].endswith("__1")
    with api.sessions() as s:
        rows = {r.run_id: r for r in s.scalars(select(DagRun).where(DagRun.dag_id == "flaky", DagRun.run_id.in_(out["run_ids"])))}
        queued = s.scalars(select(Event).where(Event.kind == "run.queued", Event.run_id.in_(out["run_ids"]))).all()
    assert {r: (rows[r].state, rows[r].conf) for r in out["run_ids"]} == {
        out["run_ids"][0]: ("queued", {"n": 1}), "batch-b": ("queued", {"n": 2}), out["run_ids"][2]: ("queued", {}),
    }
    assert {e.actor for e in queued} == {"operator"} and len(queued) == 3
    entry = api.get("/audit").get_json()["items"][0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("operator", "run.trigger_batch", "dag:flaky")
    assert entry["details"] == {"count": 3, "run_ids": out["run_ids"]}


def test_a_batch_with_a_run_id_given_twice_is_409_naming_both_and_queues_nothing(api: Api) -> None:
    before = api.get("/dags/flaky/runs").get_json()["total"]
    response = api.post("/dags/flaky/runs/batch", json={"runs": [{"run_id": "twice"}, {}, {"run_id": "twice"}]})
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == "runs[2]: run_id 'twice' is also given by runs[0]; nothing was queued"
    assert api.get("/dags/flaky/runs").get_json()["total"] == before
    assert api.get("/audit").get_json()["total"] == 0


def test_a_batch_with_a_taken_run_id_is_409_naming_it_and_queues_nothing(api: Api) -> None:
    response = api.post("/dags/etl/runs/batch", json={"runs": [{"run_id": "fresh-1"}, {"run_id": "jan"}]})
    assert response.status_code == 409
    assert response.get_json()["error"]["message"].startswith("runs[1]: DAG 'etl' already has a run with run_id 'jan'")
    assert "fresh-1" not in run_ids(api)


def test_a_batch_of_an_unknown_dag_is_404_and_an_empty_one_422(api: Api) -> None:
    assert api.post("/dags/nope/runs/batch", json={"runs": [{}]}).status_code == 404
    response = api.post("/dags/etl/runs/batch", json={"runs": []})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["loc"] == ["body", "runs"]


@pytest.mark.parametrize("when", [0, 1.5, "0.5", "1700000000"])
def test_a_logical_date_that_is_not_an_iso_date_is_refused_not_read_as_unix_time(api: Api, when: object) -> None:
    response = api.post("/dags/etl/runs", role="operator", json={"logical_date": when})
    assert response.status_code == 422
    assert "ISO 8601" in response.get_json()["error"]["details"][0]["msg"]
