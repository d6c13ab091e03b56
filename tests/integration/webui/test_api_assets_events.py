"""/assets and /events: operators post asset updates and outside events (audited), viewers read them
with the DAGs and runs they concern; bad input is a 422 naming the field; the UI pages list them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from orchestrator import DAG, AnyOf, Asset, EventTrigger, PythonTask
from orchestrator.store import dags as dag_store
from orchestrator.store.models import AuditLog, ExternalEvent
from scheduler.triggering import create_event_runs

from .conftest import Api

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ORDER = {"type": "order.created", "payload": {"id": "A-1", "amount": 1500}, "id": "shop-42"}


def noop() -> None:
    return None


def add_dags(api: Api, *dags: DAG) -> None:
    """Store DAGs as the folder sync would (their code is never run here)."""
    with api.sessions.begin() as s:
        for dag in dags:
            dag.fileloc = f"/dags/{dag.dag_id}.py"
            dag_store.upsert_dag(s, dag.to_spec(), NOW, paused_default=False)


def audited(api: Api, prefix: str) -> list[tuple[str, str | None]]:
    with api.sessions() as s:
        rows = s.execute(select(AuditLog.action, AuditLog.target).where(AuditLog.action.startswith(prefix)).order_by(AuditLog.id))
        return [(a, t) for a, t in rows]


# -- who may do what ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "body"), [("/assets/events", {"uri": "orders"}), ("/events", ORDER)])
def test_posting_needs_the_operator_role(api: Api, url: str, body: dict) -> None:
    assert api.post(url, role=None, json=body).status_code == 401
    assert api.post(url, role="viewer", json=body).status_code == 403


@pytest.mark.parametrize("url", ["/assets", "/assets/events", "/events"])
def test_reading_needs_the_viewer_role(api: Api, url: str) -> None:
    assert api.get(url, role=None).status_code == 401
    assert api.get(url, role="viewer").status_code == 200


# -- assets ------------------------------------------------------------------------------------------
def test_an_operator_records_an_asset_update_audited(api: Api) -> None:
    response = api.post("/assets/events", role="operator", json={"uri": "warehouse.orders", "extra": {"rows": 42}})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["uri"], body["actor"], body["extra"], body["source_dag_id"]) == ("warehouse.orders", "operator", {"rows": 42}, None)
    assert audited(api, "asset.") == [("asset.update", "asset:warehouse.orders")]


@pytest.mark.parametrize("uri", ["", "has space", "x" * 501])
def test_an_invalid_asset_uri_is_refused_naming_the_field(api: Api, uri: str) -> None:
    response = api.post("/assets/events", role="operator", json={"uri": uri})
    assert response.status_code == 422
    assert [d["loc"] for d in response.get_json()["error"]["details"]] == [["body", "uri"]]
    assert audited(api, "asset.") == []


def test_assets_list_their_last_update_producers_and_consumers(api: Api) -> None:
    with DAG("producer") as producer:
        PythonTask(task_id="load", python_callable=noop, outlets=[Asset("warehouse.orders")])
    add_dags(api, producer, DAG("consumer", schedule=AnyOf(Asset("warehouse.orders"), Asset("warehouse.customers"))))
    first = api.post("/assets/events", role="operator", json={"uri": "warehouse.orders"}).get_json()
    second = api.post("/assets/events", role="operator", json={"uri": "warehouse.orders"}).get_json()
    body = api.get("/assets", role="viewer").get_json()
    assert [a["uri"] for a in body["items"]] == ["warehouse.customers", "warehouse.orders"] and body["total"] == 2
    customers, orders = body["items"]
    assert (customers["updates"], customers["last_event_id"], customers["producers"], customers["consumers"]) == (0, None, [], ["consumer"])
    assert (orders["updates"], orders["last_event_id"]) == (2, second["id"]) and first["id"] < second["id"]
    assert (orders["producers"], orders["consumers"]) == ([{"dag_id": "producer", "task_id": "load"}], ["consumer"])


def test_asset_updates_are_listed_newest_first_and_filtered_by_uri(api: Api) -> None:
    for uri in ("a", "b", "a"):
        api.post("/assets/events", role="operator", json={"uri": uri})
    everything = api.get("/assets/events", role="viewer").get_json()
    only_a = api.get("/assets/events?uri=a", role="viewer").get_json()
    assert [e["uri"] for e in everything["items"]] == ["a", "b", "a"]
    assert (only_a["total"], [e["id"] for e in only_a["items"]]) == (2, [3, 1])


def test_an_asset_scheduled_dag_shows_its_assets_as_its_schedule(api: Api) -> None:
    add_dags(api, DAG("consumer", schedule=[Asset("warehouse.orders"), Asset("warehouse.customers")]))
    body = api.get("/dags/consumer", role="viewer").get_json()
    assert body["schedule"] == "assets: warehouse.orders, warehouse.customers"
    assert body["spec"]["asset_schedule"] == {"mode": "all", "uris": ["warehouse.orders", "warehouse.customers"]}


# -- outside events -----------------------------------------------------------------------------------
def test_an_operator_posts_an_event_audited(api: Api) -> None:
    response = api.post("/events", role="operator", json=ORDER)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["type"], body["payload"], body["event_id"], body["processed_at"], body["runs"]) == (
        "order.created", ORDER["payload"], "shop-42", None, []
    )
    assert audited(api, "event.") == [("event.post", f"event:{body['id']}")]


def test_posting_the_same_event_id_again_answers_the_stored_event_and_changes_nothing(api: Api) -> None:
    first = api.post("/events", role="operator", json=ORDER)
    again = api.post("/events", role="operator", json={**ORDER, "payload": {"id": "other"}})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    with api.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExternalEvent)) == 1
    assert len(audited(api, "event.")) == 1


def test_events_without_a_sender_id_are_each_stored(api: Api) -> None:
    bare = {"type": "ping"}
    assert [api.post("/events", role="operator", json=bare).status_code for _ in range(2)] == [201, 201]


def test_a_batch_of_events_is_stored_in_order_in_audited_chunks(api: Api) -> None:
    api.post("/events", role="operator", json=ORDER)
    events = [{"type": "order.paid", "payload": {"n": i}} for i in range(501)] + [ORDER]
    response = api.post("/events/batch", role="operator", json={"events": events})
    assert response.status_code == 201, response.get_json()
    items = response.get_json()["items"]
    assert [i["created"] for i in items] == [True] * 501 + [False]
    with api.sessions() as s:
        stored = s.scalars(select(ExternalEvent).where(ExternalEvent.type == "order.paid").order_by(ExternalEvent.id)).all()
    assert [e.payload["n"] for e in stored] == list(range(501)) and [e.id for e in stored] == [i["id"] for i in items[:501]]
    chunks = [target for action, target in audited(api, "event.post_batch")]
    assert sorted(chunks) == sorted([f"event:{items[0]['id']}..{items[499]['id']}", f"event:{items[500]['id']}..{items[500]['id']}"])


def test_a_batch_with_an_invalid_event_is_refused_naming_it_and_stores_nothing(api: Api) -> None:
    response = api.post("/events/batch", role="operator", json={"events": [{"type": "ok"}, {"type": "has space"}]})
    assert response.status_code == 422
    assert [d["loc"] for d in response.get_json()["error"]["details"]] == [["body", "events", 1, "type"]]
    with api.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExternalEvent)) == 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [({"payload": {}}, ["body", "type"]), ({"type": "has space"}, ["body", "type"]), ({"type": "t", "payload": [1]}, ["body", "payload"]),
     ({"type": "t", "id": ""}, ["body", "id"]), ({"type": "t", "extra": 1}, ["body", "extra"])],
    ids=["no type", "type with a space", "payload not an object", "empty id", "unknown field"],
)
def test_an_invalid_event_is_refused_naming_the_field(api: Api, body: dict, loc: list[str]) -> None:
    response = api.post("/events", role="operator", json=body)
    assert response.status_code == 422
    assert [d["loc"] for d in response.get_json()["error"]["details"]] == [loc]


def test_events_show_the_runs_they_started_and_the_triggers_that_failed(api: Api) -> None:
    add_dags(
        api,
        DAG("big_orders", triggers=[EventTrigger("order.*", condition="payload.amount > `1000`", transform="{order_id: payload.id}")]),
        DAG("broken", triggers=[EventTrigger("order.*", transform="payload.id")]),
    )
    pk = api.post("/events", role="operator", json=ORDER).get_json()["id"]
    with api.sessions.begin() as s:
        create_event_runs(s, NOW)
    one = api.get(f"/events/{pk}", role="viewer").get_json()
    [run] = one["runs"]
    [failure] = one["trigger_failures"]
    assert (run["dag_id"], run["state"], one["processed_at"]) == ("big_orders", "queued", "2026-03-10T12:00:00Z")
    assert failure["dag_id"] == "broken" and "must be a JSON object" in failure["reason"]
    assert api.get(f"/dags/big_orders/runs/{run['run_id']}", role="viewer").get_json()["conf"] == {"order_id": "A-1"}
    assert api.get("/events?type=order.created", role="viewer").get_json()["items"] == [one]


def test_an_unknown_event_is_not_found(api: Api) -> None:
    assert api.get("/events/999", role="viewer").status_code == 404


def test_events_are_listed_newest_first_and_filtered_by_type(api: Api) -> None:
    for kind in ("order.created", "order.paid", "order.created"):
        api.post("/events", role="operator", json={"type": kind})
    body = api.get("/events?type=order.created&limit=1", role="viewer").get_json()
    assert (body["total"], [e["id"] for e in body["items"]]) == (2, [3])


# -- UI pages --------------------------------------------------------------------------------------------
def test_the_events_page_links_each_event_to_the_runs_it_started(api: Api) -> None:
    add_dags(api, DAG("big_orders", triggers=[EventTrigger("order.*")]))
    api.post("/events", role="operator", json=ORDER)
    with api.sessions.begin() as s:
        create_event_runs(s, NOW)
    page = api.client.get("/events", headers={"Authorization": f"Bearer {api.seed.tokens['viewer']}"}).get_data(as_text=True)
    assert "order.created" in page and "/dags/big_orders/runs/event__" in page


def test_the_assets_page_lists_assets_with_their_producers_and_consumers(api: Api) -> None:
    with DAG("producer") as producer:
        PythonTask(task_id="load", python_callable=noop, outlets=[Asset("warehouse.orders")])
    add_dags(api, producer, DAG("consumer", schedule=[Asset("warehouse.orders")]))
    api.post("/assets/events", role="operator", json={"uri": "warehouse.orders"})
    page = api.client.get("/assets", headers={"Authorization": f"Bearer {api.seed.tokens['viewer']}"}).get_data(as_text=True)
    assert 'data-asset="warehouse.orders"' in page and 'href="/dags/producer"' in page and 'href="/dags/consumer"' in page


def test_the_dag_page_links_an_asset_schedule_to_the_assets_page(api: Api) -> None:
    add_dags(api, DAG("consumer", schedule=AnyOf(Asset("warehouse.orders"))))
    page = api.client.get("/dags/consumer", headers={"Authorization": f"Bearer {api.seed.tokens['viewer']}"}).get_data(as_text=True)
    assert "any of:" in page and 'href="/assets?uri=warehouse.orders"' in page
