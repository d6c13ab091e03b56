"""Definitions through the API, end to end: a real Flask server (werkzeug, over HTTP), the real
scheduler loop with a Dask LocalCluster, on SQLite and PostgreSQL; and the CLI on the same flow.

A definition is validated (every problem with its JSON path), created, published (the scheduler
loads it from the DAG folder and runs it), updated and published again while a run of version 1
is still going: a new run uses version 2, the old run finishes on version 1. Versions are diffed
and restored; deprecating refuses new triggers while the run in flight finishes.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store import access as access_store
from orchestrator.store import users as user_store
from orchestrator.store.models import AuditLog, Dag, DagRun, DagVersion
from orchestrator.store.permissions import DagPermission, Grant
from orchestrator.store.users import Role
from webui import create_app

from ..harness import SchedulerThread, cli_env, make_config, orch, task_rows, upgraded_sessions, wait_for_run, wait_until, write_dag
from .conftest import SEEDED_DEFINITION, Api

DEFINITION = "orders_flow"


def workflow(home: Path, label: str, *, hold: bool) -> dict[str, Any]:
    """Version documents: with `hold`, a first step that waits until the test releases it."""
    steps: list[dict[str, Any]] = []
    if hold:
        steps.append({
            "stepId": "hold", "taskId": "tests.fixtures:hold_until_file_exists",
            "input": {"started": str(home / "started"), "release": str(home / "release")}, "next": [{"stepId": "label"}],
        })
    steps.append({"stepId": "label", "taskId": "tests.fixtures:upstream_value", "input": {"value": label}})
    return {"workflowId": DEFINITION, "name": "Orders", "tags": ["orders"], "steps": steps}


BROKEN = {
    "workflowId": DEFINITION,
    "steps": [
        {"stepId": "a", "taskId": "tests.fixtures:succeed", "next": [{"stepId": "b"}]},
        {"stepId": "b", "taskId": "tests.fixtures:succeed", "retryPolicy": {"maxAttempts": 3, "delay": "PT5X"}, "colour": "red"},
        {"stepId": "c", "taskId": "tests.fixtures:succeed", "retryPolicy": {"maxAttempts": 0}},
    ],
}


@dataclass
class Live:
    """The server's /api/v1 URL, its store and a token per role."""

    url: str
    home: Path
    sessions: sessionmaker[Session]
    tokens: dict[str, str]

    def call(self, method: str, path: str, body: Any = None, role: str = "operator") -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.tokens[role]}", "Content-Type": "application/json",
        })
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def dag(self) -> Dag | None:
        with self.sessions() as s:
            return s.get(Dag, DEFINITION)


@pytest.fixture(scope="module")
def live(module_database_url: str, tmp_path_factory: pytest.TempPathFactory, dask_address: str) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("definitions")
    (home / "dags").mkdir()
    config = make_config(home, module_database_url, secret_key="test", dag_dir_scan_interval_s=0.2)
    sessions = upgraded_sessions(module_database_url)
    now = datetime.now(UTC)
    with sessions.begin() as s:
        tokens = {role.value: user_store.create_token(s, user_store.create_user(s, role.value, role, None, now), now)[1] for role in Role}
    server = make_server("127.0.0.1", 0, create_app(config, sessions=sessions), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-api", daemon=True)
    thread.start()
    try:
        with SchedulerThread(config, sessions, DaskExecutor(dask_address)):
            yield Live(f"http://127.0.0.1:{server.server_port}/api/v1", home, sessions, tokens)
    finally:
        server.shutdown()
        thread.join(10)
        sessions.kw["bind"].dispose()


def loaded_version(live: Live) -> str | None:
    """The version file the scheduler loaded as the DAG (v1.json...), None while it is not loaded."""
    dag = live.dag()
    return Path(dag.fileloc).name if dag is not None and dag.is_active else None


def trigger(live: Live) -> str:
    status, body = live.call("POST", f"/dags/{DEFINITION}/runs", {})
    assert status == 201, body
    return body["run_id"]


def pinned_file(live: Live, run_id: str) -> str:
    """The version file of the DAG version the run is pinned to."""
    with live.sessions() as s:
        run = s.get(DagRun, (DEFINITION, run_id))
        assert run is not None
        version = s.get(DagVersion, (DEFINITION, run.version_hash))
        assert version is not None
        return Path(version.spec["fileloc"]).name


@pytest.mark.slow
def test_a_definition_goes_from_draft_to_runs_of_two_versions_to_deprecated(live: Live) -> None:
    # every problem, each at its JSON path, and nothing stored
    status, checked = live.call("POST", "/definitions:validate", {"document": BROKEN})
    assert status == 200 and checked["valid"] is False
    assert {p["path"] for p in checked["problems"]} == {
        "$.steps[1].retryPolicy.delay", "$.steps[1].colour", "$.steps[2].retryPolicy.maxAttempts",
    }
    assert live.call("GET", f"/definitions/{DEFINITION}")[0] == 404

    # a draft does not run
    status, created = live.call("POST", "/definitions", {"document": workflow(live.home, "v1", hold=True), "message": "first"})
    assert status == 201, created
    assert (created["status"], created["version"]["number"], created["version"]["status"], created["problems"]) == ("draft", 1, "draft", [])
    status, refused = live.call("POST", f"/dags/{DEFINITION}/runs", {})
    assert (status, "is a draft" in refused["error"]["message"]) == (409, True)

    # published: the scheduler loads version 1 from the DAG folder and runs it on Dask
    status, published = live.call("POST", f"/definitions/{DEFINITION}:publish", {})
    assert (status, published["status"], published["published_version"]) == (200, "published", 1), published
    wait_until(lambda: loaded_version(live) == "v1.json", timeout=60, what="the scheduler to load version 1")
    first = trigger(live)
    wait_until(lambda: (live.home / "started").exists(), timeout=60, what="the first run's hold step to start")

    # version 2 while the first run still holds: a new run uses it
    status, updated = live.call("PATCH", f"/definitions/{DEFINITION}", {"document": workflow(live.home, "v2", hold=False)})
    assert (status, updated["version"]["number"], updated["version"]["status"], updated["published_version"]) == (200, 2, "draft", 1)
    status, published = live.call("POST", f"/definitions/{DEFINITION}:publish", {"version": 2})
    assert (status, published["published_version"]) == (200, 2), published
    wait_until(lambda: loaded_version(live) == "v2.json", timeout=60, what="the scheduler to load version 2")
    second = trigger(live)
    assert wait_for_run(live.sessions, DEFINITION, second).state == "success"
    assert task_rows(live.sessions, DEFINITION, second)["label"].result == "v2"
    versions = {v["number"]: v["status"] for v in live.call("GET", f"/definitions/{DEFINITION}/versions")[1]["items"]}
    assert versions == {1: "superseded", 2: "published"}

    status, diff = live.call("GET", f"/definitions/{DEFINITION}/versions/1/diff/2")
    assert status == 200
    paths = {c["path"] for c in diff["changes"]}
    assert "$.steps[0].stepId" in paths and "$.steps[1]" in paths
    assert next(c for c in diff["changes"] if c["path"] == "$.steps[0].stepId") == {"path": "$.steps[0].stepId", "old": "hold", "new": "label"}

    # deprecated: new triggers are refused, saying why; the run in flight finishes on version 1
    status, deprecated = live.call("POST", f"/definitions/{DEFINITION}:deprecate")
    assert (status, deprecated["status"], deprecated["published_version"]) == (200, "deprecated", None)
    for _ in ("before the scheduler unloads it", "after"):
        status, refused = live.call("POST", f"/dags/{DEFINITION}/runs", {})
        assert status == 409 and "is deprecated: it takes no new runs" in refused["error"]["message"], refused
        wait_until(lambda: loaded_version(live) is None, timeout=60, what="the scheduler to unload the deprecated definition")
    (live.home / "release").touch()
    assert wait_for_run(live.sessions, DEFINITION, first).state == "success"
    assert task_rows(live.sessions, DEFINITION, first)["label"].result == "v1"
    assert (pinned_file(live, first), pinned_file(live, second)) == ("v1.json", "v2.json")

    # restore makes a new draft of the old version; publishing it makes the definition run again
    status, restored = live.call("POST", f"/definitions/{DEFINITION}/versions/1:restore", {})
    assert (status, restored["version"]["number"], restored["version"]["restored_from"], restored["status"]) == (201, 3, 1, "deprecated")
    assert restored["version"]["document"] == workflow(live.home, "v1", hold=True)
    assert live.call("GET", f"/definitions/{DEFINITION}/versions/1/diff/3")[1]["changes"] == []

    # analytics of the definition's runs
    status, stats = live.call("GET", f"/definitions/{DEFINITION}/stats", role="viewer")
    assert status == 200, stats
    assert (stats["runs"], stats["succeeded"], stats["success_rate"]) == (2, 2, 1.0)
    assert stats["durations"]["count"] == 2 and stats["durations"]["p95"] >= stats["durations"]["p50"] > 0
    assert stats["slowest_steps"][0]["task_id"] == "hold"
    assert [(v["version"], v["runs"], v["success_rate"]) for v in stats["versions"]] == [(2, 1, 1.0), (1, 1, 1.0)]
    assert live.call("GET", f"/dags/{DEFINITION}/stats")[1]["runs"] == 2

    with live.sessions() as s:
        audited = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.target == f"definition:{DEFINITION}").order_by(AuditLog.id))]
    assert audited == [
        "definition.create", "definition.publish", "definition.update", "definition.publish", "definition.deprecate", "definition.restore",
    ]


@pytest.mark.slow
def test_publishing_a_draft_with_problems_is_refused_with_each_json_path(live: Live) -> None:
    document = {**BROKEN, "workflowId": "broken_flow"}
    status, created = live.call("POST", "/definitions", {"document": document})
    assert status == 201 and {p["path"] for p in created["problems"]} >= {"$.steps[1].retryPolicy.delay"}
    status, refused = live.call("POST", "/definitions/broken_flow:publish", {})
    assert status == 422
    assert {d["path"] for d in refused["error"]["details"]} == {p["path"] for p in created["problems"]}
    assert live.call("GET", "/definitions/broken_flow")[1]["status"] == "draft"
    assert not (live.home / "dags" / "_definitions" / "broken_flow" / "v1.json").exists()


@pytest.mark.slow
def test_a_viewer_reads_definitions_but_cannot_change_them(live: Live) -> None:
    status, _ = live.call("POST", "/definitions", {"document": {**workflow(live.home, "x", hold=False), "workflowId": "viewer_flow"}}, role="viewer")
    assert status == 403
    assert live.call("GET", "/definitions", role="viewer")[0] == 200


@pytest.mark.slow
def test_the_cli_creates_validates_publishes_and_diffs_definitions(tmp_path: Path) -> None:
    env = cli_env(tmp_path, database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    assert orch(["db", "upgrade"], env).returncode == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("workflowId: cli_flow\nsteps:\n  - stepId: a\n    taskId: shell\n    input: {command: 'echo 1'}\n"
                      "    retryPolicy: {maxAttempts: 2, delay: PT5X}\n")
    checked = orch(["definitions", "validate", str(broken)], env)
    assert checked.returncode == 1 and "$.steps[0].retryPolicy.delay: 'PT5X' is not an ISO 8601 duration" in checked.stderr
    created = orch(["definitions", "create", str(broken)], env)
    assert created.returncode == 0, created.stderr
    refused = orch(["definitions", "publish", "cli_flow"], env)
    assert refused.returncode == 1 and "$.steps[0].retryPolicy.delay" in refused.stderr

    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({"workflowId": "cli_flow", "steps": [
        {"stepId": "a", "taskId": "shell", "input": {"command": "echo 1"}, "retryPolicy": {"maxAttempts": 2, "delay": "PT5S"}},
    ]}))
    assert orch(["definitions", "update", "cli_flow", str(fixed), "-m", "fix the delay"], env).returncode == 0
    published = orch(["definitions", "publish", "cli_flow"], env)
    assert published.returncode == 0 and "version 2 published" in published.stdout, published.stderr
    assert (tmp_path / "dags" / "_definitions" / "cli_flow" / "v2.json").exists()
    listed = json.loads(orch(["definitions", "list", "--json"], env).stdout)
    assert [(d["id"], d["status"], d["published_version"]) for d in listed] == [("cli_flow", "published", 2)]
    diff = json.loads(orch(["definitions", "diff", "cli_flow", "1", "2", "--json"], env).stdout)
    assert diff == [{"path": "$.steps[0].retryPolicy.delay", "old": "PT5X", "new": "PT5S"}]
    assert "version 3 restored from version 1" in orch(["definitions", "restore", "cli_flow", "1"], env).stdout
    stats = json.loads(orch(["definitions", "stats", "cli_flow", "--json"], env).stdout)
    assert (stats["runs"], stats["success_rate"]) == (0, None)
    assert orch(["definitions", "deprecate", "cli_flow"], env).returncode == 0
    triggered = orch(["dags", "trigger", "cli_flow"], env)
    assert triggered.returncode != 0 and "definition 'cli_flow' is deprecated" in triggered.stderr


@pytest.mark.slow
def test_the_cli_shows_the_analytics_of_any_dag(tmp_path: Path) -> None:
    env = cli_env(tmp_path, database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    write_dag(tmp_path / "dags", "hello.py", """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("hello") as dag:
            PythonTask(task_id="first", python_callable=succeed) >> PythonTask(task_id="second", python_callable=succeed)
    """)
    assert orch(["db", "upgrade"], env).returncode == 0
    tested = orch(["dags", "test", "hello"], env)
    assert tested.returncode == 0, tested.stderr
    stats = json.loads(orch(["definitions", "stats", "hello", "--json"], env).stdout)
    assert (stats["runs"], stats["success_rate"], stats["durations"]["count"]) == (1, 1.0, 1)
    assert sorted(s["task_id"] for s in stats["slowest_steps"]) == ["first", "second"]
    assert [(v["version"], v["runs"]) for v in stats["versions"]] == [(1, 1)]


# -- DAG roles (the seeded store, through the test client) ---------------------------------------------
def _member_of(api: Api, *grants: Grant) -> dict[str, str]:
    """Headers of `ada`, an operator in a DAG role with `grants` (so restricted to what they grant)."""
    now = datetime.now(UTC)
    with api.sessions.begin() as s:
        user = user_store.create_user(s, "ada", Role.OPERATOR, None, now)
        access_store.create_role(s, "finance", None, now)
        for grant in grants:
            access_store.add_grant(s, "finance", grant, now)
        access_store.add_member(s, "finance", "ada")
        return {"Authorization": f"Bearer {user_store.create_token(s, user, now)[1]}"}


def test_a_dag_role_granting_edit_by_tag_allows_only_definitions_with_that_tag(api: Api) -> None:
    ada = _member_of(api, Grant(DagPermission.EDIT, tag="finance"))
    tagged = {"workflowId": "ledger", "tags": ["finance"], "steps": [{"stepId": "a", "taskId": "shell", "input": {"command": "true"}}]}
    assert api.client.post("/api/v1/definitions", json={"document": tagged}, headers=ada).status_code == 201
    untagged = {**tagged, "workflowId": "payroll", "tags": []}
    refused = api.client.post("/api/v1/definitions", json={"document": untagged}, headers=ada)
    assert refused.status_code == 403 and "none of your DAG roles grants edit" in refused.get_json()["error"]["message"]
    assert api.client.patch(f"/api/v1/definitions/{SEEDED_DEFINITION}", json={"document": untagged | {"workflowId": SEEDED_DEFINITION}},
                            headers=ada).status_code == 403
    assert [d["id"] for d in api.client.get("/api/v1/definitions", headers=ada).get_json()["items"]] == ["ledger"]


def test_a_read_grant_shows_a_definition_but_does_not_publish_it(api: Api) -> None:
    ada = _member_of(api, Grant(DagPermission.READ, dag_id=SEEDED_DEFINITION))
    assert api.client.get(f"/api/v1/definitions/{SEEDED_DEFINITION}/versions", headers=ada).get_json()["total"] == 2
    assert api.client.post(f"/api/v1/definitions/{SEEDED_DEFINITION}:publish", json={}, headers=ada).status_code == 403
