"""/health, /import-errors, /audit, /metrics and /openapi.json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.core.circuit import BreakerState, Change
from orchestrator.store import circuits, events, jobs
from orchestrator.store.db import make_engine, make_sessionmaker
from webui import create_app

from ..harness import make_config
from .conftest import Api

STATS = {
    "dask_workers": [
        {"address": "tcp://127.0.0.1:40001", "nthreads": 2, "executing": 1, "memory_bytes": 123456},
        {"address": "tcp://127.0.0.1:40002", "nthreads": 2, "executing": 0, "memory_bytes": 654321},
    ],
    "loop_ms": 12.5,
    "queue_depth": 7,
    "active_runs": 3,
}


def register_scheduler(api: Api, *, age_s: float = 0.0, stats: dict[str, Any] | None = None) -> int:
    """A scheduler job as the scheduler records it, heartbeating `age_s` seconds ago."""
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    with api.sessions.begin() as s:
        job_id = jobs.register(s, at, timedelta(seconds=api.config.scheduler_health_threshold_s), exclusive=False)
        jobs.heartbeat(s, job_id, at, stats)
    return job_id


# -- /health ----------------------------------------------------------------------------------
def test_health_is_503_without_a_scheduler(api: Api) -> None:
    response = api.get("/health", role=None)
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["database"]["status"], body["scheduler"]["status"]) == ("unhealthy", "healthy", "unhealthy")


def test_health_is_200_with_a_fresh_heartbeat_and_lists_dask_workers(api: Api) -> None:
    register_scheduler(api, stats=STATS)
    response = api.get("/health", role=None)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "healthy"
    assert body["scheduler"]["heartbeat_age_s"] < api.config.scheduler_health_threshold_s
    assert (body["scheduler"]["loop_ms"], body["scheduler"]["queue_depth"], body["scheduler"]["active_runs"]) == (12.5, 7, 3)
    assert body["dask_workers"] == STATS["dask_workers"]


def test_health_is_503_when_the_heartbeat_is_older_than_the_threshold(api: Api) -> None:
    register_scheduler(api, age_s=api.config.scheduler_health_threshold_s + 5, stats=STATS)
    response = api.get("/health", role=None)
    assert response.status_code == 503
    assert response.get_json()["scheduler"]["heartbeat_age_s"] > api.config.scheduler_health_threshold_s


def test_health_is_503_when_the_scheduler_stopped(api: Api) -> None:
    job_id = register_scheduler(api)
    with api.sessions.begin() as s:
        jobs.stop(s, job_id, datetime.now(UTC))
    assert api.get("/health", role=None).status_code == 503


@pytest.mark.parametrize("stats", [None, {"dask_workers": "many"}, {"loop_ms": "fast"}], ids=["null", "bad workers", "bad loop"])
def test_health_copes_with_missing_or_unexpected_stats(api: Api, stats: dict[str, Any] | None) -> None:
    register_scheduler(api, stats=stats)
    response = api.get("/health", role=None)
    assert response.status_code == 200
    assert response.get_json()["dask_workers"] == []


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    not_a_database = tmp_path / "garbage.db"
    not_a_database.write_bytes(b"this is not an SQLite file" * 100)
    config = make_config(tmp_path, f"sqlite:///{not_a_database}", secret_key="test")
    sessions = make_sessionmaker(make_engine(config.resolved_database_url))
    response = create_app(config, sessions=sessions).test_client().get("/api/v1/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["status"] == "unhealthy"
    assert "unreachable" in body["database"]["message"]


# -- /import-errors, /audit --------------------------------------------------------------------
def test_import_errors_list_the_broken_file_with_its_traceback(api: Api) -> None:
    body = api.get("/import-errors", role="viewer").get_json()
    assert body["total"] == 1
    error = body["items"][0]
    assert Path(error["filename"]).name == "broken.py"
    assert "SyntaxError" in error["message"]
    assert error["traceback"].startswith("Traceback")


def test_import_errors_page(api: Api) -> None:
    assert api.get("/import-errors?offset=1").get_json() == {"items": [], "total": 1}


def test_audit_is_newest_first_and_filters_by_actor_and_action_prefix(api: Api) -> None:
    api.patch("/dags/etl", role="operator", json={"is_paused": True})
    api.post("/dags/etl/runs", role="admin", json={})
    api.post("/dags/etl/runs/jan/cancel", role="operator")
    assert [e["action"] for e in api.get("/audit").get_json()["items"]] == ["run.cancel", "run.trigger", "dag.pause"]
    assert [e["action"] for e in api.get("/audit?actor=operator").get_json()["items"]] == ["run.cancel", "dag.pause"]
    assert [e["action"] for e in api.get("/audit?action=run.").get_json()["items"]] == ["run.cancel", "run.trigger"]
    page = api.get("/audit?limit=1&offset=1").get_json()
    assert ([e["action"] for e in page["items"]], page["total"]) == (["run.trigger"], 3)


def test_audit_action_prefix_takes_wildcards_literally(api: Api) -> None:
    api.post("/dags/etl/runs", json={})
    assert api.get("/audit?action=%25").get_json()["total"] == 0


# -- /metrics ----------------------------------------------------------------------------------
def scrape(api: Api) -> dict[str, float]:
    """`name{label="value"}` -> value for every sample."""
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_count_unfinished_runs_and_tasks_per_dag(api: Api) -> None:
    m = scrape(api)
    assert m['orchestrator_dag_runs{dag_id="etl",state="queued"}'] == 3
    # finished ones are counted from the event log, not by scanning every run ever kept
    assert not [k for k in m if k.startswith("orchestrator_dag_runs{") and 'state="success"' in k]
    assert not [k for k in m if k.startswith("orchestrator_task_instances{") and 'state="success"' in k]


def test_metrics_count_finished_runs_per_dag_and_end_state(api: Api) -> None:
    m = scrape(api)
    assert m['orchestrator_dag_runs_finished_total{dag_id="etl",state="success"}'] == 1
    assert m['orchestrator_dag_runs_finished_total{dag_id="flaky",state="success"}'] == 1
    assert m['orchestrator_dag_runs_finished_total{dag_id="failing",state="failed"}'] == 1


def test_metrics_follow_changes_made_through_the_api(api: Api) -> None:
    scrape(api)
    api.post("/dags/etl/runs/jan/cancel")
    m = scrape(api)
    assert m['orchestrator_dag_runs{dag_id="etl",state="queued"}'] == 2
    assert m['orchestrator_dag_runs_finished_total{dag_id="etl",state="cancelled"}'] == 1


def test_metrics_time_every_finished_try_and_run_per_dag(api: Api) -> None:
    m = scrape(api)
    # etl 3 tasks, flaky 2 tries, failing 1 (its downstream never started)
    tries = {d: m[f'orchestrator_task_duration_seconds_count{{dag_id="{d}"}}'] for d in ("etl", "flaky", "failing")}
    assert tries == {"etl": 3, "flaky": 2, "failing": 1}
    assert m['orchestrator_task_duration_seconds_bucket{dag_id="etl",le="+Inf"}'] == 3
    assert m['orchestrator_task_duration_seconds_bucket{dag_id="etl",le="0.1"}'] <= m['orchestrator_task_duration_seconds_bucket{dag_id="etl",le="1.0"}']
    assert m['orchestrator_dag_run_duration_seconds_count{dag_id="failing"}'] == 1
    assert m['orchestrator_dag_run_duration_seconds_sum{dag_id="etl"}'] > 0


def test_metrics_count_retries_per_dag(api: Api) -> None:
    m = scrape(api)
    assert m['orchestrator_task_retries_total{dag_id="flaky"}'] == 1
    assert m['orchestrator_task_retries_total{dag_id="etl"}'] == 0


def test_metrics_measure_how_late_each_run_started_after_it_was_due(api: Api) -> None:
    m = scrape(api)
    assert m['orchestrator_run_start_lateness_seconds_count{dag_id="etl"}'] == 1
    assert m['orchestrator_run_start_lateness_seconds_sum{dag_id="etl"}'] >= 0


def test_deadline_misses_start_at_zero_for_every_dag_and_count_per_dag(api: Api) -> None:
    assert scrape(api)['orchestrator_deadline_misses_total{dag_id="etl"}'] == 0
    with api.sessions.begin() as s:
        events.append(s, [events.deadline_missed("etl", "jan", datetime.now(UTC), deadline=datetime.now(UTC) - timedelta(minutes=5))])
    assert scrape(api)['orchestrator_deadline_misses_total{dag_id="etl"}'] == 1


def test_breaker_trips_are_counted_by_breaker_key(api: Api) -> None:
    change = Change("billing_api", BreakerState.CLOSED, BreakerState.OPEN, "5 failures in a row")
    with api.sessions.begin() as s:
        events.append(s, [circuits.change_event(change, datetime.now(UTC))])
    assert scrape(api)['orchestrator_circuit_breaker_trips_total{key="billing_api"}'] == 1


def test_a_scrape_reads_only_the_events_committed_since_the_previous_one(api: Api) -> None:
    scrape(api)
    statements: list[str] = []
    engine = api.sessions.kw["bind"]

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()))

    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    try:
        scrape(api)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", record)
    from_events = [q for q in statements if "FROM event" in q]
    assert from_events and all("event.id >" in q for q in from_events), from_events
    # nothing new happened: no run or try is looked up, and runs and tasks are counted by live state only
    assert not [q for q in statements if "FROM task_try" in q]
    assert all(" IN (" in q or "IN (__[POSTCOMPILE" in q for q in statements if "FROM dag_run" in q or "FROM task_instance" in q)


def test_metrics_report_the_schedulers_loop_time_and_queue_depth(api: Api) -> None:
    register_scheduler(api, stats=STATS)
    m = scrape(api)
    assert m["orchestrator_scheduler_up"] == 1
    assert m["orchestrator_scheduler_loop_seconds"] == pytest.approx(0.0125)
    assert m["orchestrator_scheduler_queue_depth"] == 7
    assert m['orchestrator_dask_worker_executing{address="tcp://127.0.0.1:40001"}'] == 1


def test_metrics_without_scheduler_stats_leave_those_gauges_out(api: Api) -> None:
    register_scheduler(api, stats=None)
    m = scrape(api)
    assert m["orchestrator_scheduler_up"] == 1
    assert "orchestrator_scheduler_loop_seconds" not in m


def test_repeated_scrapes_do_not_accumulate(api: Api) -> None:
    assert scrape(api) == scrape(api)


def test_the_first_scrape_of_a_new_web_process_counts_the_past_events_again(api: Api) -> None:
    before = scrape(api)
    app = create_app(api.config, sessions=api.sessions)
    again = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'orchestrator_dag_runs_finished_total{dag_id="etl",state="success"} 1.0' in again
    assert before['orchestrator_dag_runs_finished_total{dag_id="etl",state="success"}'] == 1


# -- /openapi.json -----------------------------------------------------------------------------
@pytest.fixture
def document(api: Api) -> dict[str, Any]:
    response = api.get("/openapi.json", role=None)
    assert response.status_code == 200
    return response.get_json()


def api_routes(api: Api) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route the app serves under /api/v1."""
    app = api.client.application
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
            out |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def test_openapi_document_describes_every_api_route(api: Api, document: dict[str, Any]) -> None:
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert described == api_routes(api)
    assert document["openapi"] == "3.1.0"


def test_openapi_operations_that_need_a_role_document_401_403_and_the_bearer_scheme(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "a token from `orchestrator tokens create`"
    }
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            if op["security"]:
                for status in ("401", "403"):
                    assert op["responses"][status]["content"]["application/json"]["schema"] == error_ref, (path, method)


def test_openapi_error_shape_is_code_message_details(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ErrorResponse"]["required"] == ["error"]
    assert set(schemas["ErrorDetail"]["properties"]) == {"code", "message", "details"}


def test_openapi_parameters_and_bodies_come_from_the_pydantic_models(document: dict[str, Any]) -> None:
    runs = document["paths"]["/dags/{dag_id}/runs"]
    params = {p["name"]: p for p in runs["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 1000
    assert params["state"]["in"] == "query" and params["state"]["schema"]["type"] == "array"
    assert params["dag_id"]["in"] == "path" and params["dag_id"]["required"] is True
    assert runs["post"]["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TriggerRun"}
    assert "201" in runs["post"]["responses"] and "409" in runs["post"]["responses"]


def test_openapi_documents_the_log_as_text_with_the_next_offset_header(document: dict[str, Any]) -> None:
    op = document["paths"]["/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs/{try_number}"]["get"]
    ok = op["responses"]["200"]
    assert list(ok["content"]) == ["text/plain"]
    assert "X-Next-Offset" in ok["headers"]


def test_openapi_health_documents_503_with_the_health_body(document: dict[str, Any]) -> None:
    health = document["paths"]["/health"]["get"]
    assert health["security"] == []
    assert health["responses"]["503"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}


def test_a_method_the_path_does_not_take_is_405_with_allow(api: Api) -> None:
    response = api.call("TRACE", "/dags")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
