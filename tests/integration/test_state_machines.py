"""State-machine workflows end to end: the real scheduler on Dask, SQLite and PostgreSQL, events sent
through the REST API and the CLI. A machine with a loop-back edge (an action's result sends the run
back) and guards over run data, the event payload and the sender's roles; the history of states and
the run data events are checked, and the final state against what the pure core predicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from orchestrator.core import machine as core
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import access as access_store
from orchestrator.store import runs as run_store
from orchestrator.store import users as user_store
from orchestrator.store.permissions import DagPermission, Grant
from orchestrator.store.users import Role
from webui import create_app

from .harness import (
    SchedulerThread,
    cli_env,
    events_of,
    make_config,
    orch,
    run_row,
    task_rows,
    upgraded_sessions,
    wait_for_run,
    wait_until,
    write_dag,
)
from .harness import (
    trigger as queue_run,
)
from .test_dag_dependencies import Clock

pytestmark = pytest.mark.slow

DAGS = """
    from orchestrator import DAG, Action, EventTrigger, PythonTask, State, StateMachine, Transition
    from tests.fixtures import always_fail, archive_document, score_document, succeed

    review = Action(score_document, id="review")
    StateMachine(
        "document",
        initial="draft",
        states=[
            State("draft"),
            State("review", on_enter=review),
            State("rework"),
            State("done", on_enter=Action(archive_document, id="archive"), final=True),
        ],
        transitions=[
            Transition("draft", "review", event="submit"),
            Transition("review", "rework", on_action=review, guard="result.score < 2"),  # the loop back
            Transition("rework", "review", event="submit"),
            Transition("review", "done", event="approve", guard="'admin' in roles and data.score >= 2 and event.ok == true"),
        ],
    )
    StateMachine(
        "order_flow", triggers=[EventTrigger("order.*")],
        states=[State("new"), State("paid", final=True)], transitions=[Transition("new", "paid", event="pay")],
    )
    boom = Action(always_fail, id="boom")
    StateMachine("fragile", states=[State("trying", on_enter=boom), State("recovered"), State("never", final=True)],
                 transitions=[Transition("trying", "recovered", on_action=boom, outcome="failed", guard="params.recover == true"),
                              Transition("recovered", "never", event="finish")])
    with DAG("plain") as plain:
        PythonTask(task_id="only", python_callable=succeed)
    with DAG("plain_data") as plain_data:
        first = PythonTask(task_id="first", python_callable=score_document)
        first >> PythonTask(task_id="second", python_callable=score_document)
"""
MACHINE_FILE = """
    machineId: ticket
    initial: open
    actions:
      - {actionId: triage, taskId: "tests.fixtures:score_document"}
    states:
      - {name: open}
      - {name: triaged, onEnter: [triage]}
      - {name: closed, final: true}
    transitions:
      - {from: open, to: triaged, event: triage}
      - {from: triaged, to: closed, event: close}
      - {from: open, to: closed, event: waive, guard: "'finance' in roles"}
"""
USERS = {"ada": Role.ADMIN, "olga": Role.OPERATOR, "vic": Role.VIEWER}


@dataclass
class World:
    home: Path
    url: str
    sessions: sessionmaker[Session]
    client: FlaskClient
    tokens: dict[str, str]

    def call(self, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> TestResponse:
        return self.client.open(f"/api/v1{path}", method=method, json=body, headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def send(self, dag_id: str, run_id: str, event: str, user: str = "olga", **payload: Any) -> TestResponse:
        return self.call("POST", f"/dags/{dag_id}/runs/{run_id}/machine/events", user, {"event": event, "payload": payload})

    def machine(self, dag_id: str, run_id: str) -> dict[str, Any]:
        res = self.call("GET", f"/dags/{dag_id}/runs/{run_id}/machine", "vic")
        assert res.status_code == 200, res.get_json()
        return res.get_json()

    def settled_in(self, dag_id: str, run_id: str, state: str) -> dict[str, Any]:
        """The machine once it is in `state` with no action running."""
        return wait_until(
            lambda: (m := self.machine(dag_id, run_id))["state"] == state and not m["awaiting"] and m,
            timeout=60, what=f"{dag_id}/{run_id} to settle in {state!r}",
        )

    def cli(self, *args: str) -> Any:
        return orch(list(args), cli_env(self.home, database_url=self.url))


@pytest.fixture(scope="module")
def world(module_database_url: str, dask_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("machines")
    write_dag(home / "dags", "machines.py", DAGS)
    write_dag(home / "dags", "ticket.yaml", MACHINE_FILE)
    config = make_config(home, module_database_url)
    sessions = upgraded_sessions(module_database_url)
    sync_dag_folder(sessions, config)
    now = datetime.now(UTC)
    tokens = {}
    with sessions.begin() as s:
        for name, role in USERS.items():
            tokens[name] = user_store.create_token(s, user_store.create_user(s, name, role, None, now), now)[1]
        # a DAG role's name is one of the roles guards see
        tokens["fin"] = user_store.create_token(s, user_store.create_user(s, "fin", Role.OPERATOR, None, now), now)[1]
        access_store.create_role(s, "finance", None, now)
        access_store.add_grant(s, "finance", Grant(DagPermission.TRIGGER, dag_id="ticket"), now)
        access_store.add_member(s, "finance", "fin")
    client = create_app(config, sessions=sessions).test_client()
    with SchedulerThread(config, sessions, DaskExecutor(dask_address), sync_folder=False):
        yield World(home, module_database_url, sessions, client, tokens)


def trigger(w: World, dag_id: str, **body: Any) -> str:
    res = w.call("POST", f"/dags/{dag_id}/runs", "olga", body)
    assert res.status_code == 201, res.get_json()
    return res.get_json()["run_id"]


def test_a_machine_loops_back_and_ends_where_the_pure_core_predicts(world: World) -> None:
    run_id = trigger(world, "document", correlation_id="order-42")
    world.settled_in("document", run_id, "draft")

    assert world.send("document", run_id, "submit").status_code == 202
    # the review scores 1: its result takes the loop-back edge to rework
    world.settled_in("document", run_id, "rework")
    sent = world.cli("runs", "send-event", "document", run_id, "submit", "--payload", '{"note": "fixed"}')
    assert sent.returncode == 0, sent.stderr
    assert "accepted" in sent.stdout
    # the second review scores 2: no guard takes it back, the run waits in review
    world.settled_in("document", run_id, "review")

    refused = world.send("document", run_id, "approve", user="olga", ok=True)  # an operator is not an admin
    assert refused.status_code == 409
    assert "no guard holds" in refused.get_json()["error"]["message"]
    assert world.send("document", run_id, "approve", user="ada", ok=True).status_code == 202
    run = wait_for_run(world.sessions, "document", run_id)

    machine = world.machine("document", run_id)
    assert (run.state, machine["state"], machine["finished"]) == ("success", "done", True)
    assert [h["state"] for h in machine["history"]] == ["draft", "review", "rework", "review", "done"]
    assert [h["via"] for h in machine["history"]] == ["start", "submit", "review:success", "submit", "approve"]
    assert [h["actor"] for h in machine["history"]][-1] == "ada"
    assert machine["data"] == {"score": 2, "reviews": [1, 2], "archived": True}
    assert [(c["key"], c["value"], c["task_id"]) for c in machine["data_changes"]] == [
        ("score", 1, "review"), ("reviews", [1], "review"), ("score", 2, "review"), ("reviews", [1, 2], "review"),
        ("archived", True, "archive"),
    ]
    data_events = [(e.kind, e.task_id, (e.payload or {}).get("key")) for e in events_of(world.sessions, "document", run_id)
                   if e.kind == "run_data.set"]
    assert data_events == [("run_data.set", "review", "score"), ("run_data.set", "review", "reviews")] * 2 + [
        ("run_data.set", "archive", "archived")]
    tasks = task_rows(world.sessions, "document", run_id)
    assert (tasks["review"].state, tasks["review"].try_number, tasks["archive"].state) == ("success", 2, "success")

    # the pure core, fed the same inputs, predicts the same path and the same final state
    with world.sessions() as session:
        spec = run_store.spec_for_version(session, "document", run.version_hash)
    assert spec.machine is not None
    now = datetime.now(UTC)
    path, predicted = ["draft"], core.start(spec.machine, now).run
    for step in (
        lambda r: core.react(spec.machine, r, "submit", now=now),
        lambda r: core.advance(spec.machine, r, "review", "success", {"score": 1}, data={"score": 1}, now=now),
        lambda r: core.react(spec.machine, r, "submit", {"note": "fixed"}, now=now),
        lambda r: core.advance(spec.machine, r, "review", "success", {"score": 2}, data={"score": 2}, now=now),
        lambda r: core.react(spec.machine, r, "approve", {"ok": True}, data={"score": 2}, roles=["admin"], now=now),
        lambda r: core.advance(spec.machine, r, "archive", "success", "archived", now=now),
    ):
        decision = step(predicted)
        predicted = decision.run
        if decision.moved is not None:
            path.append(decision.moved.target)
    assert (predicted.state, predicted.finished) == (machine["state"], True)
    assert path == [h["state"] for h in machine["history"]]

    image = world.call("GET", f"/dags/document/runs/{run_id}/replay", "vic").get_json()
    assert (image["machine_state"], image["run_data"], image["correlation_id"], image["differences"]) == (
        "done", machine["data"], "order-42", [])
    replayed = world.cli("runs", "replay", "document", run_id)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "the replayed state matches the stored rows" in replayed.stderr

    shown = world.cli("runs", "machine", "document", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert [h["state"] for h in json.loads(shown.stdout)["history"]] == path


def test_runs_are_filtered_by_the_correlation_id_given_at_trigger_time(world: World) -> None:
    tagged = trigger(world, "document", correlation_id="invoice-7")
    trigger(world, "document")
    found = world.call("GET", "/dags/document/runs?correlation_id=invoice-7", "vic").get_json()
    assert [(r["run_id"], r["correlation_id"]) for r in found["items"]] == [(tagged, "invoice-7")]
    cli_run = world.cli("dags", "trigger", "ticket", "--correlation-id", "case-9")
    assert cli_run.returncode == 0, cli_run.stderr
    found = world.call("GET", "/dags/ticket/runs?correlation_id=case-9", "vic").get_json()
    assert [r["run_id"] for r in found["items"]] == [cli_run.stdout.strip()]
    listed = world.cli("runs", "list", "ticket", "--correlation-id", "case-9", "--json")
    assert [(r["run_id"], r["correlation_id"]) for r in json.loads(listed.stdout)] == [(cli_run.stdout.strip(), "case-9")]


def test_an_event_payload_gives_a_run_its_correlation_id_and_a_yaml_machine_runs(world: World) -> None:
    run_id = trigger(world, "ticket")
    assert world.send("ticket", run_id, "triage", correlation_id="case-1").status_code == 202
    world.settled_in("ticket", run_id, "triaged")
    assert world.call("GET", f"/dags/ticket/runs/{run_id}", "vic").get_json()["correlation_id"] == "case-1"
    assert world.send("ticket", run_id, "close").status_code == 202
    assert wait_for_run(world.sessions, "ticket", run_id).state == "success"
    assert [h["state"] for h in world.machine("ticket", run_id)["history"]] == ["open", "triaged", "closed"]


def test_an_event_no_transition_takes_is_refused_with_the_reason(world: World) -> None:
    run_id = trigger(world, "ticket")
    refused = world.send("ticket", run_id, "close")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["message"] == "no transition from 'open' on event 'close' (it accepts: triage, waive)"
    sent = world.cli("runs", "send-event", "ticket", run_id, "reopen")
    assert sent.returncode != 0 and "no transition from 'open' on event 'reopen'" in sent.stderr


def test_a_dag_that_is_no_machine_takes_no_events(world: World) -> None:
    run_id = trigger(world, "plain")
    refused = world.send("plain", run_id, "go")
    assert (refused.status_code, refused.get_json()["error"]["message"]) == (409, "DAG 'plain' is not a state machine: its runs take no events")
    shown = world.call("GET", f"/dags/plain/runs/{run_id}/machine", "vic")
    assert shown.status_code == 404 and "is not a state machine's" in shown.get_json()["error"]["message"]


def test_sending_an_event_needs_the_operator_role(world: World) -> None:
    run_id = trigger(world, "ticket")
    assert world.send("ticket", run_id, "triage", user="vic").status_code == 403


def test_the_ui_shows_the_state_history_and_draws_states_with_guarded_transitions(world: World) -> None:
    run_id = trigger(world, "document", correlation_id="ui-1")
    world.settled_in("document", run_id, "draft")
    assert world.send("document", run_id, "submit").status_code == 202
    world.settled_in("document", run_id, "rework")
    auth = {"Authorization": f"Bearer {world.tokens['vic']}"}

    page = world.client.get(f"/dags/document/runs/{run_id}", headers=auth).get_data(as_text=True)
    assert "State machine" in page and '<strong id="machine-state">rework</strong>' in page and "ui-1" in page
    live = world.client.get(f"/data/dags/document/runs/{run_id}", headers=auth).get_json()["machine"]
    assert (live["state"], [h["state"] for h in live["history"]]) == ("rework", ["draft", "review", "rework"])

    graph = world.client.get("/data/dags/document/graph", headers=auth).get_json()
    assert {n["task_id"]: n["kind"] for n in graph["nodes"]} == {"draft": "initial", "review": "state", "rework": "state", "done": "final"}
    labels = {(e["source"], e["target"]): e["label"] for e in graph["edges"]}
    assert labels[("review", "rework")] == "review:success [result.score < 2]"
    assert labels[("rework", "review")] == "submit"  # the loop back, drawn as an arc under the states
    assert labels[("review", "done")] == "approve ['admin' in roles and data.score >= 2 and event.ok == true]"

    listed = world.client.get("/dags/document/runs?correlation_id=ui-1", headers=auth).get_data(as_text=True)
    assert f'data-run="{run_id}"' in listed and listed.count("data-run=") == 1


def test_an_outside_event_starts_a_machine_run_carrying_its_correlation_id(world: World) -> None:
    posted = world.call("POST", "/events", "olga", {"type": "order.created", "payload": {"correlation_id": "ord-5"}})
    assert posted.status_code in (201, 202), posted.get_json()
    found = wait_until(
        lambda: world.call("GET", "/dags/order_flow/runs?correlation_id=ord-5", "vic").get_json()["items"],
        timeout=60, what="the run the order event starts",
    )
    [run] = found
    world.settled_in("order_flow", run["run_id"], "new")
    assert world.send("order_flow", run["run_id"], "pay").status_code == 202
    assert wait_for_run(world.sessions, "order_flow", run["run_id"]).state == "success"


SLA_DAGS = """
    from orchestrator import State, StateMachine, Transition

    StateMachine("escalating", states=[State("waiting", sla=600), State("escalated", final=True)],
                 transitions=[Transition("waiting", "escalated", event="sla_missed")])
    StateMachine("lenient", states=[State("waiting", sla=600), State("done", final=True)],
                 transitions=[Transition("waiting", "done", event="finish")])
"""


def test_a_missed_state_sla_escalates_or_is_recorded_once(tmp_path: Path) -> None:
    t0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    write_dag(tmp_path / "dags", "slas.py", SLA_DAGS)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    config = make_config(tmp_path, url)
    sessions = upgraded_sessions(url)
    sync_dag_folder(sessions, config)
    clock = Clock(t0)
    with SchedulerThread(config, sessions, InProcessExecutor(), clock=clock, sync_folder=False):
        escalating, lenient = queue_run(sessions, "escalating"), queue_run(sessions, "lenient")
        for dag_id, run_id in (("escalating", escalating), ("lenient", lenient)):
            wait_until(lambda: (run_row(sessions, dag_id, run_id).machine or {}).get("state") == "waiting", timeout=30, what="the start")
        clock.at = t0 + timedelta(seconds=601)
        assert wait_for_run(sessions, "escalating", escalating).state == "success"
        wait_until(lambda: (run_row(sessions, "lenient", lenient).machine or {}).get("sla_missed"), timeout=30, what="the lenient miss")
    kinds = [(e.kind, (e.payload or {}).get("to")) for e in events_of(sessions, "escalating", escalating) if e.kind.startswith("machine.")]
    assert kinds == [("machine.state", "waiting"), ("machine.sla_missed", None), ("machine.state", "escalated")]
    lenient_row = run_row(sessions, "lenient", lenient)
    assert (lenient_row.state, lenient_row.machine["state"]) == ("running", "waiting")
    assert [e.kind for e in events_of(sessions, "lenient", lenient)].count("machine.sla_missed") == 1


def test_dags_test_refuses_a_machine_saying_how_to_run_one(world: World) -> None:
    tested = world.cli("dags", "test", "document")
    assert tested.returncode != 0
    assert "is a state machine: its runs move on events" in tested.stderr and "runs send-event" in tested.stderr


def test_tasks_of_a_plain_dag_read_and_set_run_data_each_change_an_event(world: World) -> None:
    run_id = trigger(world, "plain_data")
    assert wait_for_run(world.sessions, "plain_data", run_id).state == "success"
    row = run_row(world.sessions, "plain_data", run_id)
    assert row.run_data == {"score": 2, "reviews": [1, 2]}  # the second task saw what the first set
    changes = [(e.task_id, e.payload) for e in events_of(world.sessions, "plain_data", run_id) if e.kind == "run_data.set"]
    assert changes == [
        ("first", {"key": "score", "value": 1}), ("first", {"key": "reviews", "value": [1]}),
        ("second", {"key": "score", "value": 2}), ("second", {"key": "reviews", "value": [1, 2]}),
    ]


def test_guards_see_the_senders_dag_roles(world: World) -> None:
    run_id = trigger(world, "ticket")
    refused = world.send("ticket", run_id, "waive", user="olga")
    assert refused.status_code == 409 and "'finance' in roles" in refused.get_json()["error"]["message"]
    assert world.send("ticket", run_id, "waive", user="fin").status_code == 202
    assert wait_for_run(world.sessions, "ticket", run_id).state == "success"


def test_a_failed_action_no_transition_handles_fails_the_run(world: World) -> None:
    run_id = trigger(world, "fragile")
    assert wait_for_run(world.sessions, "fragile", run_id).state == "failed"
    machine = world.machine("fragile", run_id)
    assert (machine["state"], machine["finished"], [h["state"] for h in machine["history"]]) == ("trying", True, ["trying"])
    assert task_rows(world.sessions, "fragile", run_id)["boom"].state == "failed"


def test_a_failed_action_takes_its_failure_transition_when_the_guard_holds(world: World) -> None:
    run_id = trigger(world, "fragile", conf={"recover": True})
    world.settled_in("fragile", run_id, "recovered")
    assert world.send("fragile", run_id, "finish").status_code == 202
    assert wait_for_run(world.sessions, "fragile", run_id).state == "success"
    assert [h["via"] for h in world.machine("fragile", run_id)["history"]] == ["start", "boom:failed", "finish"]
