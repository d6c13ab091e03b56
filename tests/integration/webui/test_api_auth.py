"""Who may call what: no credentials give 401, too low a role 403, the least role needed succeeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from orchestrator.store.models import User

from .conftest import ROLES, Api


@dataclass(frozen=True)
class Call:
    method: str
    url: str  # `{etl}` and `{failing}` stand for the finished test runs of those DAGs
    least: str
    ok: int
    body: Any = None

    def resolve(self, api: Api) -> str:
        return self.url.format(**api.seed.finished)


CALLS = [
    Call("GET", "/dags", "viewer", 200),
    Call("GET", "/dags/etl", "viewer", 200),
    Call("PATCH", "/dags/etl", "operator", 200, {"is_paused": True}),
    Call("POST", "/dags/etl/runs", "operator", 201, {"conf": {}}),
    Call("GET", "/dags/etl/runs", "viewer", 200),
    Call("GET", "/dags/etl/runs/jan", "viewer", 200),
    Call("POST", "/dags/etl/runs/jan/cancel", "operator", 200),
    Call("GET", "/dags/etl/runs/{etl}/events", "viewer", 200),
    Call("GET", "/dags/etl/runs/{etl}/tasks", "viewer", 200),
    Call("GET", "/dags/etl/runs/{etl}/tasks/load", "viewer", 200),
    Call("POST", "/dags/failing/runs/{failing}/tasks/boom/clear", "operator", 200, {"downstream": True}),
    Call("GET", "/dags/etl/runs/{etl}/tasks/load/logs/1", "viewer", 200),
    Call("GET", "/import-errors", "viewer", 200),
    Call("GET", "/audit", "admin", 200),
]
IDS = [f"{c.method} {c.url}" for c in CALLS]
TOO_LOW = [(c, role) for c in CALLS for role in ROLES[: ROLES.index(c.least)]]


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_without_credentials_the_answer_is_401(api: Api, call: Call) -> None:
    response = api.call(call.method, call.resolve(api), role=None, json=call.body)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(("call", "role"), TOO_LOW, ids=[f"{c.method} {c.url} as {r}" for c, r in TOO_LOW])
def test_a_role_below_the_least_needed_gets_403(api: Api, call: Call, role: str) -> None:
    response = api.call(call.method, call.resolve(api), role=role, json=call.body)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_the_least_role_needed_succeeds(api: Api, call: Call) -> None:
    response = api.call(call.method, call.resolve(api), role=call.least, json=call.body)
    assert response.status_code == call.ok, response.get_data(as_text=True)


@pytest.mark.parametrize("header", ["Bearer orch_not_a_real_token", "Basic dXNlcjpwYXNz", "Bearer "])
def test_an_unknown_or_malformed_authorization_header_gets_401(api: Api, header: str) -> None:
    response = api.get("/dags", role=None, headers={"Authorization": header})
    assert response.status_code == 401
    assert set(response.get_json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("url", ["/health", "/openapi.json"])
def test_health_and_the_openapi_document_need_no_credentials(api: Api, url: str) -> None:
    assert api.get(url, role=None).status_code in (200, 503)


def _log_in_as(api: Api, username: str) -> None:
    """A UI session cookie, as the login form leaves it."""
    with api.sessions() as s:
        user_id = s.scalar(select(User.id).where(User.username == username))
    with api.client.session_transaction() as session:
        session["user_id"] = user_id


def test_a_ui_session_may_read_the_api_without_a_token(api: Api) -> None:
    _log_in_as(api, "viewer")
    assert api.get("/dags", role=None).status_code == 200


def test_a_ui_session_changing_something_without_the_csrf_token_is_400(api: Api) -> None:
    _log_in_as(api, "operator")
    response = api.patch("/dags/etl", role=None, json={"is_paused": True})
    assert response.status_code == 400
    assert api.get("/dags/etl").get_json()["is_paused"] is False
