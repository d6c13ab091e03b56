"""`orchestrator approvals ...`: list approval requests, and decide on them as a user of the store.

The CLI reaches the database directly, so it acts as the user named by `--user` (default:
$ORCH_USER, else the login name), who must exist (`orchestrator users create`); the request's
rules apply to that user as they do in the API. Each decision is audited as `cli:<os user>`.
"""

from __future__ import annotations

import os
from typing import Any

import click
from sqlalchemy.orm import Session

from orchestrator.cli.common import CliState, emit_rows, handle_errors, iso, os_user, pass_state, readable_dag_ids, record_audit, utcnow
from orchestrator.core.approvals import Decision, tally
from orchestrator.core.errors import NotFoundError
from orchestrator.plugins.listeners import ListenerThread, publishing
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import approvals as approval_store
from orchestrator.store import users as user_store
from orchestrator.store.approvals import RequestView
from orchestrator.store.models import User


def _default_user() -> str:
    return os.environ.get("ORCH_USER") or os_user()


def _acting_user(session: Session, username: str) -> User:
    """The store user the command acts as; when there is none, say how to name one."""
    try:
        return user_store.get_user(session, username)
    except NotFoundError:
        raise NotFoundError(
            f"no orchestrator user named {username!r} (by default the CLI acts as $ORCH_USER, else your login name): "
            "pass --user NAME or set ORCH_USER=NAME; `orchestrator users create` adds a user"
        ) from None


def _user_option(fn: Any) -> Any:
    return click.option("--user", "username", default=_default_user, show_default="$ORCH_USER or your login name",
                        help="The orchestrator user to act as.")(fn)


def _row(view: RequestView) -> dict[str, Any]:
    row, spec = view.row, approval_store.spec_of(view.row)
    return {
        "id": row.id, "dag_id": row.dag_id, "run_id": row.run_id, "task_id": row.task_id, "approvers": ", ".join(row.approvers),
        "approvals": f"{tally(view.decisions):g}/{spec.needed():g}", "strategy": spec.strategy.value, "requested_by": row.requested_by, "requested_at": iso(row.requested_at),
        "state": row.outcome or row.state, "reason": row.outcome_reason,
        "decisions": [c.as_dict() for c in view.decisions],
    }


def _decide(state: CliState, request_id: int, username: str, decision: Decision, comment: str | None, delegate_to: str | None) -> None:
    listeners = ListenerThread(load_plugins(state.config))
    now = utcnow()
    try:
        with publishing(state.sessions(), listeners) as session:
            user = _acting_user(session, username)
            row = approval_store.decide(session, request_id, user, decision, comment, delegate_to, now)
            record_audit(session, "approval.decide", f"approval:{row.id}", {"as": username, "decision": decision.value, "delegate_to": delegate_to})
            message = _said(session, row.id, username, decision, delegate_to)
    finally:
        listeners.close()
    click.echo(message)


def _said(session: Session, request_id: int, username: str, decision: Decision, delegate_to: str | None) -> str:
    view = approval_store.get(session, request_id)
    did = {Decision.APPROVE: "approved", Decision.REJECT: "rejected", Decision.REQUEST_CHANGES: "requested changes",
           Decision.DELEGATE: f"delegated to {delegate_to}"}[decision]
    if view.row.outcome is not None:
        return f"approval {request_id}: {username} {did}; the request is {view.row.outcome} ({view.row.outcome_reason})"
    spec = approval_store.spec_of(view.row)
    note = "".join(f" ({c.note()})" for c in view.decisions[-1:] if c.note())
    return f"approval {request_id}: {username} {did}{note}; {tally(view.decisions):g} of {spec.needed():g} votes so far"


@click.group()
def approvals() -> None:
    """Approval requests of ApprovalTasks: list them, approve, reject, request changes or delegate."""


@approvals.command("list")
@click.option("--mine", is_flag=True, help="Only the requests you may approve now (your inbox).")
@click.option("--state", "wanted", type=click.Choice(["open", "decided", "closed", "all"]), default="open", show_default=True)
@click.option("--dag", "dag_id", help="Only requests of this DAG.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (with each request's decisions).")
@_user_option
@pass_state
@handle_errors
def approvals_list(state: CliState, mine: bool, wanted: str, dag_id: str | None, as_json: bool, username: str) -> None:
    """List approval requests, oldest first (open ones unless --state says otherwise)."""
    with state.sessions(readonly=True)() as session:
        me = approval_store.decider(_acting_user(session, username)) if mine else None
        views, _ = approval_store.page(
            session, state=None if wanted == "all" else wanted, dag_id=dag_id, mine=me, limit=100_000, offset=0,
            among=readable_dag_ids(session),
        )
        rows = [_row(v) for v in views]
    emit_rows(rows, ["id", "dag_id", "run_id", "task_id", "approvers", "approvals", "requested_by", "requested_at", "state"], as_json)


def _decision_command(name: str, decision: Decision, summary: str) -> None:
    @approvals.command(name, help=summary)
    @click.argument("request_id", type=click.IntRange(min=1), metavar="ID")
    @click.option("--comment", help="Why (required when the task asks for comments).")
    @_user_option
    @pass_state
    @handle_errors
    def command(state: CliState, request_id: int, comment: str | None, username: str) -> None:
        _decide(state, request_id, username, decision, comment, None)


_decision_command("approve", Decision.APPROVE, "Approve request ID.")
_decision_command("reject", Decision.REJECT, "Reject request ID: its task fails (or ends with the rejection, as the task says).")
_decision_command("request-changes", Decision.REQUEST_CHANGES, "Send request ID back with changes requested.")


@approvals.command("delegate")
@click.argument("request_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--to", "delegate_to", required=True, help="The user who decides instead of you.")
@click.option("--comment", help="Why (required when the task asks for comments).")
@_user_option
@pass_state
@handle_errors
def approvals_delegate(state: CliState, request_id: int, delegate_to: str, comment: str | None, username: str) -> None:
    """Hand your decision on request ID to another user."""
    _decide(state, request_id, username, Decision.DELEGATE, comment, delegate_to)
