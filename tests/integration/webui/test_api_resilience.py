"""/circuits and /dead-letters over the seeded store: list, reset, retry, roles and audit."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from orchestrator.core.circuit import Breaker, BreakerState
from orchestrator.store import circuits as circuit_store
from orchestrator.store.models import AuditLog, Event

from .conftest import Api

OPENED = datetime(2026, 1, 1, tzinfo=UTC)


def open_breaker(api: Api, key: str = "billing_api") -> None:
    with api.sessions.begin() as s:
        circuit_store.save(s, [Breaker(key, BreakerState.OPEN, consecutive_failures=3, opened_at=OPENED)], OPENED)


def test_circuits_list_the_stored_breakers(api: Api) -> None:
    open_breaker(api)
    body = api.get("/circuits", role="viewer").get_json()
    assert body["total"] == 1
    item = body["items"][0]
    assert (item["key"], item["state"], item["consecutive_failures"], item["probe"]) == ("billing_api", "open", 3, None)
    assert datetime.fromisoformat(item["opened_at"]) == OPENED


def test_an_operator_resets_a_breaker_with_an_event_and_an_audit_entry(api: Api) -> None:
    open_breaker(api)
    response = api.post("/circuits/billing_api/reset", role="operator")
    assert response.status_code == 200 and response.get_json()["state"] == "closed"
    with api.sessions() as s:
        events = [e for e in s.scalars(select(Event).where(Event.kind == "circuit.closed"))]
        audits = [a.target for a in s.scalars(select(AuditLog).where(AuditLog.action == "circuit.reset"))]
    assert [(e.from_state, e.payload) for e in events] == [("open", {"key": "billing_api"})]
    assert audits == ["circuit:billing_api"]


def test_a_viewer_cannot_reset_a_breaker(api: Api) -> None:
    open_breaker(api)
    assert api.post("/circuits/billing_api/reset", role="viewer").status_code == 403


def test_resetting_an_unknown_breaker_is_404(api: Api) -> None:
    assert api.post("/circuits/nope/reset", role="operator").status_code == 404


def test_breaker_states_are_gauges_in_metrics(api: Api) -> None:
    open_breaker(api)
    text = api.client.get("/metrics").get_data(as_text=True)
    assert 'orchestrator_circuit_breaker_state{key="billing_api",state="open"} 1.0' in text
    assert 'orchestrator_circuit_breaker_state{key="billing_api",state="closed"} 0.0' in text


def test_dead_letters_list_tasks_failed_after_their_last_try(api: Api) -> None:
    body = api.get("/dead-letters", role="viewer").get_json()
    failing = [d for d in body["items"] if d["dag_id"] == "failing"]
    assert [(d["task_id"], d["run_id"]) for d in failing] == [("boom", api.seed.finished["failing"])]
    assert "this task always fails" in failing[0]["error"]


def test_retrying_a_dead_letter_queues_it_and_its_downstream_again(api: Api) -> None:
    run_id = api.seed.finished["failing"]
    response = api.post(f"/dead-letters/failing/{run_id}/boom/retry", role="operator")
    assert response.status_code == 200 and sorted(response.get_json()["cleared"]) == ["after", "boom"]
    assert not [d for d in api.get("/dead-letters").get_json()["items"] if d["dag_id"] == "failing"]
    assert api.get(f"/dags/failing/runs/{run_id}").get_json()["state"] == "queued"


def test_a_viewer_cannot_retry_a_dead_letter(api: Api) -> None:
    run_id = api.seed.finished["failing"]
    assert api.post(f"/dead-letters/failing/{run_id}/boom/retry", role="viewer").status_code == 403


def circuits_page(api: Api, role: str) -> str:
    page = api.client.get("/circuits", headers={"Authorization": f"Bearer {api.seed.tokens[role]}"})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_the_circuits_page_lists_breakers_with_a_reset_button_for_operators(api: Api) -> None:
    open_breaker(api)
    html = circuits_page(api, "operator")
    assert 'data-circuit="billing_api" data-state="open"' in html and 'data-reset="billing_api"' in html


def test_the_circuits_page_shows_viewers_no_buttons(api: Api) -> None:
    open_breaker(api)
    html = circuits_page(api, "viewer")
    assert 'data-circuit="billing_api"' in html
    assert "data-reset=" not in html and "data-retry-task=" not in html


def test_the_circuits_page_lists_dead_letters_with_a_retry_button(api: Api) -> None:
    run_id = api.seed.finished["failing"]
    html = circuits_page(api, "operator")
    assert f'data-dead-letter="failing/{run_id}/boom"' in html and "this task always fails" in html
    assert 'data-retry-dag="failing"' in html and 'data-retry-task="boom"' in html


def test_every_page_links_to_the_circuits_page(api: Api) -> None:
    html = api.client.get("/connections", headers={"Authorization": f"Bearer {api.seed.tokens['viewer']}"}).get_data(as_text=True)
    assert 'href="/circuits"' in html
