"""/variables: operators set and delete Variables, viewers read them; sensitive values are masked; every change audited."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.store.models import AuditLog

from .conftest import Api


def _actions(api: Api) -> list[str]:
    with api.sessions() as s:
        return [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.like("variable.%")).order_by(AuditLog.id))]


def test_an_operator_creates_replaces_and_deletes_a_variable_audited(api: Api) -> None:
    created = api.call("PUT", "/variables/region", role="operator", json={"value": {"name": "eu", "zones": [1, 2]}, "description": "where"})
    assert created.status_code == 200, created.get_json()
    assert created.get_json()["value"] == {"name": "eu", "zones": [1, 2]}
    replaced = api.call("PUT", "/variables/region", role="operator", json={"value": "us"}).get_json()
    assert (replaced["value"], replaced["description"]) == ("us", "where")
    assert api.call("DELETE", "/variables/region", role="operator").status_code == 200
    assert api.get("/variables/region", role="viewer").status_code == 404
    assert _actions(api) == ["variable.create", "variable.update", "variable.delete"]


def test_a_sensitive_value_is_masked_for_every_reader(api: Api) -> None:
    api.call("PUT", "/variables/billing_api_key", role="operator", json={"value": "sk-123456"})
    one = api.get("/variables/billing_api_key", role="admin").get_json()
    listed = api.get("/variables", role="viewer").get_json()
    assert (one["value"], one["sensitive"]) == ("***", True)
    assert listed["items"][0]["value"] == "***"
    assert "sk-123456" not in str(listed)


def test_a_viewer_reads_variables_but_cannot_change_them(api: Api) -> None:
    api.call("PUT", "/variables/limit", role="operator", json={"value": 5})
    assert api.call("PUT", "/variables/limit", role="viewer", json={"value": 6}).status_code == 403
    assert api.call("DELETE", "/variables/limit", role="viewer").status_code == 403
    assert api.get("/variables/limit", role="viewer").get_json()["value"] == 5


def test_a_key_with_a_space_is_refused_as_a_bad_path(api: Api) -> None:
    response = api.call("PUT", "/variables/has%20space", role="operator", json={"value": 1})
    assert response.status_code == 422
    assert "path" in response.get_json()["error"]["message"]


def test_deleting_an_unknown_variable_is_not_found(api: Api) -> None:
    assert api.call("DELETE", "/variables/nope", role="operator").status_code == 404
