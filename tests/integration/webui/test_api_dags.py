"""GET /dags (filters, pagination), GET /dags/{dag_id}, PATCH /dags/{dag_id} (pause, unpause)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from orchestrator.store.models import Event

from .conftest import Api

ALL_DAGS = ["etl", "failing", "flaky", "quiet"]


def dag_ids(api: Api, query: str = "") -> list[str]:
    response = api.get(f"/dags{query}", role="viewer")
    assert response.status_code == 200, response.get_json()
    return [d["dag_id"] for d in response.get_json()["items"]]


def test_list_gives_every_active_dag_by_dag_id_with_the_total(api: Api) -> None:
    body = api.get("/dags").get_json()
    assert [d["dag_id"] for d in body["items"]] == ALL_DAGS
    assert body["total"] == 4


def test_list_shows_tags_schedule_and_next_run(api: Api) -> None:
    etl = api.get("/dags").get_json()["items"][0]
    assert etl["tags"] == ["etl", "daily"]
    assert etl["schedule"] == "@daily"
    assert etl["next_run_at"] is not None
    assert etl["task_count"] == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?tag=ops", ["failing", "flaky"]),
        ("?tag=daily&tag=ops", ["etl", "failing", "flaky"]),
        ("?tag=nothing", []),
        ("?paused=true", ["quiet"]),
        ("?paused=false", ["etl", "failing", "flaky"]),
        ("?search=FL", ["flaky"]),
        ("?search=i", ["failing", "quiet"]),
        ("?search=i&tag=ops", ["failing"]),
    ],
)
def test_list_filters_by_tag_paused_and_search(api: Api, query: str, expected: list[str]) -> None:
    assert dag_ids(api, query) == expected


@pytest.mark.parametrize("wildcard", ["%", "_", "e_l"])
def test_search_takes_like_wildcards_literally(api: Api, wildcard: str) -> None:
    assert dag_ids(api, f"?search={wildcard}") == []


def test_pagination_gives_a_slice_and_the_full_total(api: Api) -> None:
    body = api.get("/dags?limit=2&offset=1").get_json()
    assert [d["dag_id"] for d in body["items"]] == ALL_DAGS[1:3]
    assert body["total"] == 4


def test_an_offset_past_the_end_gives_no_items_but_the_total(api: Api) -> None:
    assert api.get("/dags?offset=10").get_json() == {"items": [], "total": 4}


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("?limit=1001", ["query", "limit"]),
        ("?limit=0", ["query", "limit"]),
        ("?limit=ten", ["query", "limit"]),
        ("?offset=-1", ["query", "offset"]),
        ("?offset=99999999999999999999", ["query", "offset"]),
        ("?paused=maybe", ["query", "paused"]),
        ("?search=%00", ["query", "search"]),
        ("?limit=1&limit=2", ["query", "limit"]),
        ("?colour=red", ["query", "colour"]),
    ],
)
def test_invalid_query_parameters_get_422_naming_them(api: Api, query: str, loc: list[str]) -> None:
    response = api.get(f"/dags{query}")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert loc in [d["loc"][:2] for d in error["details"]]


def test_get_dag_has_its_spec_version_and_next_run(api: Api) -> None:
    body = api.get("/dags/etl").get_json()
    assert [t["task_id"] for t in body["spec"]["tasks"]] == ["extract", "transform", "load"]
    assert body["spec"]["tasks"][1]["upstream"] == ["extract"]
    assert len(body["version_hash"]) == 16
    assert body["next_run_at"] is not None


def test_get_unknown_dag_is_404(api: Api) -> None:
    response = api.get("/dags/no_such_dag")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_dag_id_that_cannot_exist_is_422(api: Api) -> None:
    response = api.get("/dags/bad%20id!")
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["loc"] == ["path", "dag_id"]


def test_patch_pauses_and_unpauses(api: Api) -> None:
    paused = api.patch("/dags/etl", role="operator", json={"is_paused": True})
    assert paused.status_code == 200
    assert paused.get_json()["is_paused"] is True
    assert dag_ids(api, "?paused=true") == ["etl", "quiet"]
    unpaused = api.patch("/dags/quiet", role="operator", json={"is_paused": False})
    assert unpaused.get_json()["is_paused"] is False


def test_patch_is_audited_with_actor_target_and_source_ip(api: Api) -> None:
    api.patch("/dags/etl", role="operator", json={"is_paused": True})
    entry = api.get("/audit?action=dag.").get_json()["items"][0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("operator", "dag.pause", "dag:etl")
    assert entry["source_ip"] == "127.0.0.1"
    assert entry["details"] == {"was_paused": False}


def test_patch_appends_an_event_naming_the_user(api: Api) -> None:
    api.patch("/dags/etl", role="operator", json={"is_paused": True})
    with api.sessions() as s:
        event = s.scalars(select(Event).where(Event.kind == "dag.paused", Event.dag_id == "etl")).one()
    assert event.actor == "operator"


@pytest.mark.parametrize(
    "body",
    [{}, {"is_paused": "yes"}, {"is_paused": 1}, {"is_paused": True, "colour": "red"}, [True], "true", None],
    ids=["missing", "string", "number", "extra field", "array", "json string", "no body"],
)
def test_patch_with_an_invalid_body_is_422_and_changes_nothing(api: Api, body: object) -> None:
    response = api.patch("/dags/etl", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["loc"][0] == "body"
    assert api.get("/dags/etl").get_json()["is_paused"] is False
    assert api.get("/audit").get_json()["total"] == 0


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"is_paused": NaN}', b'{"is_paused": 1e400}', b'{"n": ' + b"9" * 5000 + b"}", b"[" * 100_000, b"\xff\xfe\x00",
     b'{"is_paused": "\\ud800"}'],
    ids=["garbage", "NaN", "infinite float", "5000-digit int", "deep nesting", "bad encoding", "lone surrogate"],
)
def test_patch_with_a_body_that_is_not_json_is_400(api: Api, raw: bytes) -> None:
    response = api.patch("/dags/etl", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_patch_unknown_dag_is_404_and_not_audited(api: Api) -> None:
    assert api.patch("/dags/nope", json={"is_paused": True}).status_code == 404
    assert api.get("/audit").get_json()["total"] == 0
