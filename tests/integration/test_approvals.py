"""ApprovalTask end to end: the real scheduler loop (injected clock, tasks in-process), the REST API
and the CLI on one store. Users approve, reject, request changes and delegate; escalation steps and
the timeout fall due as the scheduler's clock moves."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from orchestrator.core.config import Config
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.store import users as user_store
from orchestrator.store.models import AuditLog
from orchestrator.store.users import Role
from webui import create_app

from .harness import SchedulerThread, cli_env, events_of, make_config, orch, task_rows, tries_of, upgraded_sessions, wait_for_run, wait_until, write_dag
from .test_dag_dependencies import Clock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAGS = """
    from datetime import timedelta
    from orchestrator import DAG, ApprovalTask, Escalate, PythonTask
    from tests.fixtures import routed_error_seen, succeed

    with DAG("purchase") as purchase:
        sign_off = ApprovalTask(task_id="sign_off", approvers=["alice", "role:operator"], min_approvals=2)
        sign_off >> PythonTask(task_id="order", python_callable=succeed)
    with DAG("strict") as strict:
        ApprovalTask(task_id="sign_off", approvers=["alice", "bob"], require_comment=True)
    with DAG("routed") as routed:
        ApprovalTask(task_id="sign_off", approvers=["alice"], fail_on_reject=False)
    with DAG("routed_rejection") as routed_rejection:
        ApprovalTask(task_id="sign_off", approvers=["alice"], on_failure={{"ApprovalRejected": "tell_requester"}}) >> PythonTask(
            task_id="order", python_callable=succeed)
        PythonTask(task_id="tell_requester", python_callable=routed_error_seen)
    with DAG("pair") as pair:
        ApprovalTask(task_id="sign_off", approvers=["alice", "bob"], min_approvals=2) >> PythonTask(task_id="order", python_callable=succeed)
    with DAG("board") as board:
        ApprovalTask(task_id="sign_off", approvers=["alice", "bob", "role:operator"], strategy="weighted",
                     weights={{"alice": 3}}, threshold=4)
    with DAG("everyone") as everyone:
        ApprovalTask(task_id="sign_off", approvers=["alice", "bob", "carol"], strategy="unanimous")
    with DAG("patient") as patient:
        ApprovalTask(task_id="sign_off", approvers=["alice"], timeout="PT30M")
    with DAG("escalating") as escalating:
        ApprovalTask(task_id="sign_off", approvers=["alice"], timeout=timedelta(hours=8), escalation=[
            Escalate(after=timedelta(hours=1), action="notify", to=["alice"], channel="webhook", url={webhook!r}),
            Escalate(after=timedelta(hours=2), action="reassign", to=["carol"]),
            Escalate(after=timedelta(hours=3), action="reject"),
        ])
"""
WORKFLOW = """
    workflowId: yaml_sign_off
    name: Sign-off from a workflow file
    version: "1"
    steps:
      - stepId: sign_off
        taskId: approval
        input: {approvers: [alice], fail_on_reject: false}
        next:
          - {stepId: go, condition: "data.decision == 'approved'"}
          - {stepId: stop, condition: "data.decision != 'approved'"}
      - stepId: go
        taskId: tests.fixtures:succeed
      - stepId: stop
        taskId: tests.fixtures:succeed
"""
USERS = {"alice": Role.VIEWER, "bob": Role.OPERATOR, "carol": Role.VIEWER, "dave": Role.ADMIN}


class Webhook:
    """A local HTTP endpoint that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class World:
    home: Path
    config: Config
    sessions: sessionmaker[Session]
    clock: Clock
    client: FlaskClient
    tokens: dict[str, str]
    webhook: Webhook
    scheduler: SchedulerThread | None = None

    def start(self) -> None:
        self.scheduler = SchedulerThread(self.config, self.sessions, InProcessExecutor(), clock=self.clock).__enter__()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.__exit__(None, None, None)
            self.scheduler = None

    def call(self, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> TestResponse:
        return self.client.open(f"/api/v1{path}", method=method, json=body, headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def trigger(self, dag_id: str, user: str = "dave") -> str:
        res = self.call("POST", f"/dags/{dag_id}/runs", user, {})
        assert res.status_code == 201, res.get_json()
        return res.get_json()["run_id"]

    def request(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The run's approval request, once its task waits for it."""

        def found() -> dict[str, Any] | None:
            items = self.call("GET", f"/approvals?dag_id={dag_id}", "dave").get_json()["items"]
            return next((i for i in items if i["run_id"] == run_id), None)

        return wait_until(found, timeout=30, what=f"the approval request of {dag_id}/{run_id}")

    def decide(self, request_id: int, user: str, decision: str, **fields: Any) -> TestResponse:
        return self.call("POST", f"/approvals/{request_id}/decisions", user, {"decision": decision, **fields})

    def inbox(self, user: str) -> list[int]:
        return [i["id"] for i in self.call("GET", "/approvals?mine=true", user).get_json()["items"]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}") as w:
        yield w


@contextmanager
def running(home: Path, url: str) -> Iterator[World]:
    """The DAGs above, four users with tokens, the scheduler on its clock at T0, and an API client."""
    webhook = Webhook()
    write_dag(home / "dags", "approvals.py", DAGS.format(webhook=webhook.url))
    write_dag(home / "dags", "sign_off.yaml", WORKFLOW)
    config = make_config(home, url, secret_key="test")
    sessions = upgraded_sessions(url)
    tokens = {}
    with sessions.begin() as s:
        for name, role in USERS.items():
            tokens[name] = user_store.create_token(s, user_store.create_user(s, name, role, None, T0), T0)[1]
    world = World(home, config, sessions, Clock(T0), create_app(config, sessions=sessions).test_client(), tokens, webhook)
    world.start()
    try:
        yield world
    finally:
        world.stop()
        webhook.server.shutdown()


def task_of(w: World, dag_id: str, run_id: str) -> Any:
    return task_rows(w.sessions, dag_id, run_id)["sign_off"]


# -- deciding -----------------------------------------------------------------------------------------------------
def test_two_approvers_one_rejecting_fail_the_task_with_the_rejection_on_sqlite_and_postgres(tmp_path: Path, database_url: str) -> None:
    with running(tmp_path, database_url) as w:
        run_id = w.trigger("purchase")
        request = w.request("purchase", run_id)
        assert (request["approvers"], request["min_approvals"], request["requested_by"]) == (["alice", "role:operator"], 2, "dave")
        assert task_of(w, "purchase", run_id).state == "waiting"
        assert w.decide(request["id"], "alice", "approve", comment="fine by me").status_code == 201
        rejected = w.decide(request["id"], "bob", "reject", comment="over budget")
        assert rejected.status_code == 201, rejected.get_json()
        assert (rejected.get_json()["outcome"], rejected.get_json()["outcome_reason"]) == ("rejected", "rejected by bob: over budget")
        run = wait_for_run(w.sessions, "purchase", run_id)
    tasks = task_rows(w.sessions, "purchase", run_id)
    [try_] = [t for t in tries_of(w.sessions, "purchase", run_id) if t.task_id == "sign_off"]
    assert (run.state, tasks["sign_off"].state, tasks["order"].state) == ("failed", "failed", "upstream_failed")
    assert try_.error == "rejected by bob: over budget"
    assert tasks["sign_off"].result["decision"] == "rejected"
    assert [(d["by"], d["decision"], d["comment"]) for d in tasks["sign_off"].result["decisions"]] == [
        ("alice", "approve", "fine by me"), ("bob", "reject", "over budget"),
    ]
    kinds = [(e.kind, e.actor) for e in events_of(w.sessions, "purchase", run_id) if e.kind.startswith("approval.")]
    assert kinds == [("approval.requested", "scheduler"), ("approval.approve", "alice"), ("approval.reject", "bob"), ("approval.decided", "bob")]
    with w.sessions() as s:
        audited = [(a.actor, a.action, a.details["decision"]) for a in s.scalars(select(AuditLog).where(AuditLog.action == "approval.decide"))]
    assert audited == [("alice", "approval.decide", "approve"), ("bob", "approval.decide", "reject")]


def test_min_approvals_distinct_approvals_let_the_run_go_on(world: World) -> None:
    run_id = world.trigger("purchase")
    request = world.request("purchase", run_id)
    world.decide(request["id"], "alice", "approve")
    assert world.call("GET", f"/approvals/{request['id']}", "dave").get_json()["approvals"] == 1
    assert task_of(world, "purchase", run_id).state == "waiting"
    world.decide(request["id"], "bob", "approve")
    assert wait_for_run(world.sessions, "purchase", run_id).state == "success"
    result = task_of(world, "purchase", run_id).result
    assert (result["decision"], result["reason"]) == ("approved", "approved by alice, bob")


def test_the_inbox_lists_what_each_user_may_approve_now(world: World) -> None:
    run_id = world.trigger("purchase")
    request = world.request("purchase", run_id)
    assert request["id"] in world.inbox("alice") and request["id"] in world.inbox("bob")
    assert world.inbox("carol") == []  # not an approver
    assert world.inbox("dave") == []  # an admin (role:operator), but he started the run
    world.decide(request["id"], "alice", "approve")
    assert world.inbox("alice") == [] and world.inbox("bob") == [request["id"]]


def test_the_rules_refuse_outsiders_self_approval_missing_comments_and_second_decisions(world: World) -> None:
    request = world.request("purchase", world.trigger("purchase"))
    outsider = world.decide(request["id"], "carol", "approve")
    assert (outsider.status_code, outsider.get_json()["error"]["code"]) == (403, "forbidden")
    assert "started this run" in world.decide(request["id"], "dave", "approve").get_json()["error"]["message"]
    strict = world.request("strict", world.trigger("strict"))
    missing = world.decide(strict["id"], "alice", "approve")
    assert (missing.status_code, missing.get_json()["error"]["details"][0]["loc"]) == (422, ["body", "comment"])
    assert world.decide(strict["id"], "alice", "approve", comment="checked").status_code == 201
    again = world.decide(strict["id"], "alice", "reject", comment="second thoughts")
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "conflict")


def test_a_delegate_decides_instead_of_who_delegated(world: World) -> None:
    run_id = world.trigger("strict")
    request = world.request("strict", run_id)
    unknown = world.decide(request["id"], "alice", "delegate", comment="away", delegate_to="nobody")
    assert (unknown.status_code, unknown.get_json()["error"]["details"][0]["loc"]) == (422, ["body", "delegate_to"])
    assert world.decide(request["id"], "alice", "delegate", comment="I am away", delegate_to="carol").status_code == 201
    assert world.inbox("carol") == [request["id"]] and world.inbox("alice") == []
    assert world.decide(request["id"], "carol", "approve", comment="done").status_code == 201
    assert wait_for_run(world.sessions, "strict", run_id).state == "success"
    assert [e.kind for e in events_of(world.sessions, "strict", run_id) if e.kind.startswith("approval.")][1:3] == ["approval.delegate", "approval.approve"]


def test_delegating_to_a_co_approver_counts_the_vote_through_them_so_the_quorum_is_reached(world: World) -> None:
    run_id = world.trigger("pair")
    request = world.request("pair", run_id)
    delegated = world.decide(request["id"], "alice", "delegate", delegate_to="bob")
    assert delegated.status_code == 201, delegated.get_json()
    assert delegated.get_json()["decisions"][0]["note"] == "alice's vote (1) counts through bob: their decision carries it"
    approved = world.decide(request["id"], "bob", "approve").get_json()
    assert (approved["votes"], approved["votes_needed"]) == (2, 2)
    assert wait_for_run(world.sessions, "pair", run_id).state == "success"
    assert task_of(world, "pair", run_id).result["reason"] == "approved by bob (with alice's vote)"


def test_a_delegation_to_someone_who_already_decided_is_refused_and_says_why(world: World) -> None:
    run_id = world.trigger("pair")
    request = world.request("pair", run_id)
    assert world.decide(request["id"], "bob", "approve").status_code == 201
    refused = world.decide(request["id"], "alice", "delegate", delegate_to="bob")
    assert refused.status_code == 422
    assert "bob already decided on this request, so your vote could never be cast through them" in refused.get_json()["error"]["message"]
    assert world.decide(request["id"], "alice", "approve").status_code == 201
    assert wait_for_run(world.sessions, "pair", run_id).state == "success"


def test_weighted_approval_waits_until_the_weights_reach_the_threshold(world: World) -> None:
    run_id = world.trigger("board")
    request = world.request("board", run_id)
    assert (request["strategy"], request["votes_needed"]) == ("weighted", 4)
    assert world.decide(request["id"], "alice", "approve").get_json()["votes"] == 3
    assert task_of(world, "board", run_id).state == "waiting"
    world.decide(request["id"], "bob", "approve")
    assert wait_for_run(world.sessions, "board", run_id).state == "success"
    assert task_of(world, "board", run_id).result["reason"] == "approved by alice, bob: weight 4 of 4"


def test_unanimous_approval_waits_for_every_named_approver(world: World) -> None:
    run_id = world.trigger("everyone")
    request = world.request("everyone", run_id)
    world.decide(request["id"], "alice", "approve")
    world.decide(request["id"], "bob", "approve")
    assert task_of(world, "everyone", run_id).state == "waiting"
    world.decide(request["id"], "carol", "approve")
    assert wait_for_run(world.sessions, "everyone", run_id).state == "success"


def test_without_fail_on_reject_the_decision_is_the_result_for_a_branch_to_follow(world: World) -> None:
    run_id = world.trigger("routed")
    request = world.request("routed", run_id)
    world.decide(request["id"], "alice", "request_changes", comment="add the PO number")
    assert wait_for_run(world.sessions, "routed", run_id).state == "success"
    result = task_of(world, "routed", run_id).result
    assert (result["decision"], result["reason"]) == ("changes_requested", "changes requested by alice: add the PO number")


@pytest.mark.parametrize(("decision", "followed"), [("approve", "go"), ("reject", "stop")])
def test_a_workflow_file_branches_on_the_decision(world: World, decision: str, followed: str) -> None:
    run_id = world.trigger("yaml_sign_off")
    world.decide(world.request("yaml_sign_off", run_id)["id"], "alice", decision)
    assert wait_for_run(world.sessions, "yaml_sign_off", run_id).state == "success"
    states = {tid: t.state for tid, t in task_rows(world.sessions, "yaml_sign_off", run_id).items()}
    assert states == {"sign_off": "success", followed: "success", ({"go", "stop"} - {followed}).pop(): "skipped"}


def test_on_failure_routes_a_rejection_to_its_handler_by_error_type(world: World) -> None:
    run_id = world.trigger("routed_rejection")
    world.decide(world.request("routed_rejection", run_id)["id"], "alice", "reject", comment="no budget")
    wait_for_run(world.sessions, "routed_rejection", run_id)
    tasks = task_rows(world.sessions, "routed_rejection", run_id)
    assert {tid: t.state for tid, t in tasks.items()} == {"sign_off": "failed", "order": "upstream_failed", "tell_requester": "success"}
    assert tasks["tell_requester"].result == {"task_id": "sign_off", "error": "rejected by alice: no budget", "error_type": "ApprovalRejected"}
    assert (tasks["sign_off"].result["decision"], tasks["sign_off"].result["routed_to"]) == ("rejected", "tell_requester")


def test_a_cancelled_run_s_request_leaves_the_inbox_and_takes_no_decision(world: World) -> None:
    run_id = world.trigger("routed")
    request = world.request("routed", run_id)
    assert world.call("POST", f"/dags/routed/runs/{run_id}/cancel", "dave").status_code == 200
    assert world.inbox("alice") == []
    late = world.decide(request["id"], "alice", "approve")
    assert late.status_code == 409


def test_a_cancelled_run_closes_its_request_with_an_approval_closed_event(world: World) -> None:
    run_id = world.trigger("routed")
    request = world.request("routed", run_id)
    assert world.call("POST", f"/dags/routed/runs/{run_id}/cancel", "dave").status_code == 200
    after = world.call("GET", f"/approvals/{request['id']}", "dave").get_json()
    assert (after["state"], after["waiting"]) == ("closed", False)
    closed = [e for e in events_of(world.sessions, "routed", run_id) if e.kind == "approval.closed"]
    assert [(e.from_state, e.to_state, e.reason) for e in closed] == [("open", "closed", "the run ended cancelled")]
    assert world.call("GET", "/approvals?state=open&dag_id=routed", "dave").get_json()["items"] == []


# -- escalation and timeout, by the scheduler's clock -------------------------------------------------------------
def test_escalation_steps_notify_reassign_then_reject_as_the_clock_moves(world: World) -> None:
    run_id = world.trigger("escalating")
    request = world.request("escalating", run_id)
    assert datetime.fromisoformat(request["next_escalation_at"]) == T0 + timedelta(hours=1)
    world.clock.at = T0 + timedelta(hours=1)
    posted = wait_until(lambda: world.webhook.received, timeout=30, what="the escalation's webhook")
    assert posted[0]["request_id"] == request["id"] and "escalation step 1: notify alice" in posted[0]["message"]
    world.clock.at = T0 + timedelta(hours=2)
    wait_until(lambda: world.call("GET", f"/approvals/{request['id']}", "dave").get_json()["approvers"] == ["carol"], timeout=30, what="the reassignment")
    assert world.decide(request["id"], "alice", "approve").status_code == 403
    assert world.inbox("carol") == [request["id"]]
    world.clock.at = T0 + timedelta(hours=3)
    assert wait_for_run(world.sessions, "escalating", run_id).state == "failed"
    [try_] = tries_of(world.sessions, "escalating", run_id)
    assert try_.error == "rejected by escalation step 3: no decision within 3:00:00"
    steps = [(e.payload["step"], e.payload["action"]) for e in events_of(world.sessions, "escalating", run_id) if e.kind == "approval.escalated"]
    assert steps == [(1, "notify"), (2, "reassign"), (3, "reject")]


def test_the_timeout_fails_a_task_nobody_decided(world: World) -> None:
    run_id = world.trigger("patient")
    world.request("patient", run_id)
    world.clock.at = T0 + timedelta(minutes=29)
    assert task_of(world, "patient", run_id).state == "waiting"
    world.clock.at = T0 + timedelta(minutes=30)
    assert wait_for_run(world.sessions, "patient", run_id).state == "failed"
    assert task_of(world, "patient", run_id).result["decision"] == "timed_out"
    assert tries_of(world.sessions, "patient", run_id)[0].error == "no decision within 0:30:00 (the timeout)"


def test_a_request_taken_over_after_a_scheduler_restart_keeps_its_deadline_and_its_decisions(world: World) -> None:
    run_id = world.trigger("purchase")
    request = world.request("purchase", run_id)
    world.stop()
    world.decide(request["id"], "alice", "approve")  # while no scheduler runs
    world.start()
    world.decide(request["id"], "bob", "approve")
    assert wait_for_run(world.sessions, "purchase", run_id).state == "success"
    patient = world.trigger("patient")
    world.request("patient", patient)
    world.stop()
    world.start()
    world.clock.at = T0 + timedelta(minutes=30)
    assert wait_for_run(world.sessions, "patient", patient).state == "failed"


# -- the CLI ---------------------------------------------------------------------------------------------------
def test_the_cli_lists_a_user_s_inbox_and_decides_as_that_user(world: World) -> None:
    run_id = world.trigger("purchase")
    request = world.request("purchase", run_id)
    env = cli_env(world.home, database_url=f"sqlite:///{world.home / 'orchestrator.db'}")
    listed = orch(["approvals", "list", "--mine", "--user", "bob", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert [(r["id"], r["approvals"]) for r in json.loads(listed.stdout)] == [(request["id"], "0/2")]
    refused = orch(["approvals", "approve", str(request["id"]), "--user", "carol"], env)
    assert (refused.returncode, "carol is not one of the approvers" in refused.stderr) == (1, True)
    first = orch(["approvals", "approve", str(request["id"]), "--user", "bob", "--comment", "ok"], env)
    assert first.stdout.strip() == f"approval {request['id']}: bob approved; 1 of 2 votes so far"
    second = orch(["approvals", "approve", str(request["id"]), "--user", "alice"], {**env, "ORCH_USER": "alice"})
    assert second.returncode == 0, second.stderr
    assert "the request is approved (approved by bob, alice)" in second.stdout
    assert wait_for_run(world.sessions, "purchase", run_id).state == "success"
